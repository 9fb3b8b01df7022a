#[svcgen::service(package = "shop")]
pub trait Catalog {
    #[http(FETCH, "/products")]
    async fn list(&self, #[range(min = 10, max = 1)] limit: u32) -> Vec<String>;

    #[http(GET, "products")]
    async fn count(&self, #[length(min = "one")] prefix: String) -> u64;
}

fn main() {}
