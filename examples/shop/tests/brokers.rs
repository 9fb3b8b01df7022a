//! The example's tour with its queue binding on the real brokers (NATS and `RabbitMQ` on
//! 127.0.0.1, started by `.ci/run` when they are down): every method works through each, and
//! the `product_created` events travel through each to the indexer that hydrates them.

use std::process::Command;

fn tour_on(broker: &str) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_shop")).args(["--broker", broker]).output().expect("shop runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the tour on {broker} failed (is it running?):\n{stdout}\n{stderr}");
    let queue = stdout.split("== Catalog over the queue ==").nth(1).expect("a queue tour");
    for line in [
        "create_product   -> AlreadyExists { name: \"Ink (queue)\" } (typed)",
        "get_product      -> NotFound { id: 999 } (typed)",
        "watch_prices     -> 6 ticks, stream ended",
        "reindex          -> accepted (oneway)",
        "delete_product   -> NotFound (typed)",
    ] {
        assert!(queue.contains(line), "missing `{line}` in the queue tour on {broker}:\n{queue}");
    }
    // The six product_created events went through the broker and were hydrated over RPC.
    let events = stdout.split("== Events:").nth(1).expect("an events section");
    assert!(events.contains("product_created  -> #5 hydrated: Fountain pen (queue)"), "{events}");
    assert!(events.contains("product_created  -> 8 events hydrated"), "{events}");
}

#[test]
fn the_tour_runs_on_nats() {
    tour_on("nats");
}

#[test]
fn the_tour_runs_on_rabbitmq() {
    tour_on("amqp");
}
