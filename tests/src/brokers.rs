//! The real brokers tests run against: NATS and `RabbitMQ` on 127.0.0.1 (`.ci/run` starts them
//! when they are down). A test that needs one fails, loudly, when it cannot reach it: it never
//! passes without having talked to the broker.
#![allow(clippy::missing_panics_doc)] // a missing broker is a test failure

use svcgen::queue::{AmqpBroker, Namespace, NatsBroker};

/// Where NATS is (`SVCGEN_NATS_URL`, default `nats://127.0.0.1:4222`).
#[must_use]
pub fn nats_url() -> String {
    std::env::var("SVCGEN_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Where `RabbitMQ` is (`SVCGEN_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`).
#[must_use]
pub fn amqp_url() -> String {
    std::env::var("SVCGEN_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn missing(broker: &str, url: &str, error: &svcgen::Status) -> ! {
    let required = std::env::var("SVCGEN_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
    panic!(
        "this test needs {broker} at {url}, which cannot be reached ({error}){}. \
         Start it as .ci/run does, or point the test at it with the environment variable.",
        if required { "; SVCGEN_REQUIRE_BROKERS=1 requires every broker" } else { "" }
    )
}

/// A connection to NATS.
pub async fn nats() -> NatsBroker {
    let url = nats_url();
    NatsBroker::connect(&url).await.unwrap_or_else(|e| missing("NATS", &url, &e))
}

/// A connection to `RabbitMQ`.
pub async fn amqp() -> AmqpBroker {
    let url = amqp_url();
    AmqpBroker::connect(&url).await.unwrap_or_else(|e| missing("RabbitMQ", &url, &e))
}

/// A broker under a namespace of its own, so concurrent tests sharing one server never
/// see each other's requests.
pub fn isolated<B: svcgen::queue::Broker>(broker: B) -> Namespace<B> {
    Namespace::new(&format!("t{}", svcgen::Uuid::new_v4().simple()), broker)
}

/// Closes the `RabbitMQ` connection named `name` (`AmqpBroker::connect_named`) from the broker's
/// side, as a broker restart or a network cut would; only that one: other tests share the
/// broker. Panics unless exactly that connection was found and closed.
pub fn cut_amqp_connection(name: &str, reason: &str) {
    let listed = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "--quiet", "--no-table-headers", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl runs");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let ours: Vec<&str> =
        listed.lines().filter(|l| l.contains(name)).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(ours.len(), 1, "our one connection is listed:\n{listed}");
    let closed = std::process::Command::new("rabbitmqctl")
        .args(["close_connection", ours[0], reason])
        .output()
        .expect("rabbitmqctl runs");
    assert!(closed.status.success(), "{}", String::from_utf8_lossy(&closed.stderr));
}
