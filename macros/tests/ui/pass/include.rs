//! `include_svc!`: a module per package, tracked so editing the file rebuilds.
#![deny(warnings, missing_docs, clippy::pedantic)]

svcgen::include_svc!("svc/good.svc");

struct Hello;

impl greeting::Greeter for Hello {
    async fn hello(&self, _ctx: &svcgen::Context, name: String) -> Result<String, svcgen::Status> {
        Ok(format!("hello {name}"))
    }
}

fn main() {
    let _server = greeting::GreeterServer::new(Hello);
}
