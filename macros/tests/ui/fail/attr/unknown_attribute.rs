#[svcgen::service(package = "shop")]
pub trait Catalog {
    #[htp(GET, "/products/{id}")]
    async fn get_product(&self, id: u64) -> String;
}

fn main() {}
