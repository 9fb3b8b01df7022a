#[svcgen::service(package = "shop")]
pub trait Catalog {
    #[http(GET, "/products/{product_id}")]
    async fn get_product(&self, id: u64) -> String;

    #[http(GET, "/tags/{tags}")]
    async fn by_tags(&self, tags: Vec<String>) -> String;
}

fn main() {}
