#[svcgen::service(package = "shop")]
pub trait Catalog {
    async fn find(&self, name: &str, range: (u32, u32), size: usize) -> String;
}

fn main() {}
