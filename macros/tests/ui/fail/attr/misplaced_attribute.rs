#[svcgen::service(package = "shop")]
pub mod shop {
    #[oneway]
    pub struct Product {
        pub id: u64,
    }

    pub trait Catalog {
        #[status(404)]
        async fn get_product(&self, id: u64) -> Product;
    }
}

fn main() {}
