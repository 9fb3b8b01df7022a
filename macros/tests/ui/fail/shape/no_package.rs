#[svcgen::service]
pub trait Catalog {
    async fn ping(&self);
}

#[svcgen::service(package = "not a package")]
pub trait Other {
    async fn ping(&self);
}

fn main() {}
