//! The bare-trait form: a service whose types are all scalars and std containers.
#![deny(warnings, missing_docs, clippy::pedantic)]

/// Adds numbers.
#[svcgen::service(package = "math")]
pub trait Adder {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Sums a list.
    #[http(POST, "/sum")]
    async fn sum(&self, values: Vec<i64>, #[default(0)] start: i64) -> i64;
}

struct Local;

impl Adder for Local {
    async fn add(&self, _ctx: &svcgen::Context, a: i64, b: i64) -> Result<i64, svcgen::Status> {
        Ok(a + b)
    }

    async fn sum(&self, _ctx: &svcgen::Context, values: Vec<i64>, start: i64) -> Result<i64, svcgen::Status> {
        Ok(values.into_iter().fold(start, |a, b| a + b))
    }
}

fn main() {
    let _server = AdderServer::new(Local);
    let _client = AdderClient::rpc("127.0.0.1:9");
}
