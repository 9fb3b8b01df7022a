#[svcgen::service(package = "shop")]
pub mod shop {
    pub struct Product {
        pub id: u64,
        pub address: std::net::IpAddr,
        pub related: Vec<Prodcut>,
    }

    pub trait Catalog {
        async fn get(&self, id: u64) -> Product;
    }
}

fn main() {}
