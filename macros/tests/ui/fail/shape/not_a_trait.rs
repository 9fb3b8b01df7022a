#[svcgen::service(package = "shop")]
pub struct Catalog {
    id: u64,
}

fn main() {}
