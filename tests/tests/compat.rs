//! Old and new peers, over every binding: compatible schema change works, and what cannot
//! work (a variant the reader does not know) is a clear error, never garbage.
//! `compat_v2` is `tests/compat.svc` plus a variant, an optional field and a method.

use svcgen::{Code, Context, Dispatch, Status};
use svcgen_tests::fixture_compat::compat as v1;
use svcgen_tests::fixture_compat_v2::compat as v2;

struct V1;

impl v1::Compat for V1 {
    async fn echo(&self, _ctx: &Context, shape: v1::Shape) -> Result<v1::Shape, Status> {
        Ok(shape)
    }
    async fn store(&self, _ctx: &Context, thing: v1::Thing) -> Result<v1::Thing, Status> {
        Ok(thing)
    }
    async fn newest(&self, _ctx: &Context) -> Result<v1::Thing, Status> {
        Ok(v1::Thing { name: "old".into(), shape: v1::Shape::Square })
    }
}

struct V2;

impl v2::Compat for V2 {
    async fn echo(&self, _ctx: &Context, shape: v2::Shape) -> Result<v2::Shape, Status> {
        Ok(shape)
    }
    async fn store(&self, _ctx: &Context, thing: v2::Thing) -> Result<v2::Thing, Status> {
        Ok(v2::Thing { color: Some("red".into()), ..thing })
    }
    async fn newest(&self, _ctx: &Context) -> Result<v2::Thing, Status> {
        Ok(v2::Thing { name: "new".into(), shape: v2::Shape::Triangle, color: None })
    }
    async fn added(&self, _ctx: &Context) -> Result<String, Status> {
        Ok("only in v2".into())
    }
}

/// Serves `service` over a binding; returns the address (URL for REST, host:port for RPC).
async fn serve(
    binding: &str,
    service: impl Dispatch,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound").to_string();
    match binding {
        "rest" => (
            format!("http://{addr}"),
            tokio::spawn(svcgen::rest::RestServer::new().service(service).serve(listener)),
        ),
        _ => (addr, tokio::spawn(svcgen::rpc::RpcServer::new().service(service).serve(listener))),
    }
}

fn v1_client(binding: &str, addr: &str) -> v1::CompatClient {
    if binding == "rest" { v1::CompatClient::rest(addr).expect("URL") } else { v1::CompatClient::rpc(addr) }
}

fn v2_client(binding: &str, addr: &str) -> v2::CompatClient {
    if binding == "rest" { v2::CompatClient::rest(addr).expect("URL") } else { v2::CompatClient::rpc(addr) }
}

async fn new_client_old_server(binding: &str) {
    let (addr, server) = serve(binding, v1::CompatServer::new(V1)).await;
    let client = v2_client(binding, &addr);
    // A new method: the old server does not have it.
    assert_eq!(client.added().await.expect_err("no such method").code(), Code::Unimplemented);
    // A new optional field: ignored by the old server, absent in its answer.
    let thing = v2::Thing { name: "t".into(), shape: v2::Shape::Circle, color: Some("blue".into()) };
    let back = client.store(thing).await.expect("the old server accepts it");
    assert_eq!((back.name.as_str(), back.color), ("t", None));
    // A new variant: the old server refuses it clearly.
    let status = client.echo(v2::Shape::Triangle).await.expect_err("the old server does not know triangles");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    assert!(status.message().contains("TRIANGLE"), "{status}");
    // Known values still work.
    assert_eq!(client.echo(v2::Shape::Square).await.expect("a known variant"), v2::Shape::Square);
    server.abort();
}

async fn old_client_new_server(binding: &str) {
    let (addr, server) = serve(binding, v2::CompatServer::new(V2)).await;
    let client = v1_client(binding, &addr);
    // A new optional field in the answer: ignored by the old client.
    let back = client.store(v1::Thing { name: "t".into(), shape: v1::Shape::Circle }).await.expect("works");
    assert_eq!(back, v1::Thing { name: "t".into(), shape: v1::Shape::Circle });
    // A new variant in the answer: a clear error on the old client, not garbage.
    let status = client.newest().await.expect_err("the old client does not know triangles");
    assert!(status.message().contains("TRIANGLE"), "{status}");
    server.abort();
}

#[tokio::test]
async fn new_client_old_server_over_rest() {
    new_client_old_server("rest").await;
}

#[tokio::test]
async fn new_client_old_server_over_rpc() {
    new_client_old_server("rpc").await;
}

#[tokio::test]
async fn old_client_new_server_over_rest() {
    old_client_new_server("rest").await;
}

#[tokio::test]
async fn old_client_new_server_over_rpc() {
    old_client_new_server("rpc").await;
}
