#[svcgen::service(package = "shop")]
pub mod shop {
    #[derive(Debug, serde::Serialize)]
    pub struct Product {
        pub id: u64,
    }
}

fn main() {}
