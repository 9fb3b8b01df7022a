// One mistake in the module: the names it declares still exist for the code around it.
#[svcgen::service(package = "shop")]
pub mod shop {
    pub struct Product {
        pub id: u64,
        pub name: &'static str,
    }

    pub trait Catalog {
        async fn get(&self, id: u64) -> Product;
    }
}

pub fn uses(_p: Option<shop::Product>) -> Option<&'static dyn shop::Catalog> {
    None
}

fn main() {}
