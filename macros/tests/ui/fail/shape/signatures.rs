#[svcgen::service(package = "shop")]
pub trait Catalog {
    async fn no_self(id: u64) -> u64;

    async fn mutable(&mut self) -> u64;

    async fn with_body(&self) -> u64 {
        1
    }

    #[oneway]
    async fn reindex(&self) -> u64;

    const LIMIT: u32;
}

fn main() {}
