//! The conformance suite over the queue binding, on each broker: in memory, NATS and
//! `RabbitMQ` (real servers on 127.0.0.1), with the event scenarios. Each test has its own
//! namespace on the broker.

use svcgen::queue::{Broker, QueueServer};
use svcgen_tests::brokers;
use svcgen_tests::conformance::{ConformanceImpl, Fixture};
use svcgen_tests::fixture_conformance::conformance::{ConformanceClient, ConformanceServer};
use svcgen_tests::fixture_conformance_v2::conformance as v2;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve<B: Broker + Clone>(broker: B) -> Fixture {
    let server = QueueServer::new(broker.clone())
        .service(ConformanceServer::new(ConformanceImpl::default()))
        .listen()
        .await
        .expect("the server subscribes");
    let task = tokio::spawn(server.serve_until(std::future::pending()));
    Fixture {
        client: ConformanceClient::queue(broker.clone()),
        v2: v2::ConformanceClient::queue(broker.clone()),
        broker: std::sync::Arc::new(broker),
        guard: Box::new(AbortOnDrop(task)),
    }
}

async fn memory() -> Fixture {
    serve(brokers::isolated(svcgen::queue::MemoryBroker::new())).await
}

async fn nats() -> Fixture {
    serve(brokers::isolated(brokers::nats().await)).await
}

async fn amqp() -> Fixture {
    serve(brokers::isolated(brokers::amqp().await)).await
}

mod in_memory {
    svcgen_tests::conformance_suite!(super::memory);
    svcgen_tests::events_suite!(super::memory);
}

mod on_nats {
    svcgen_tests::conformance_suite!(super::nats);
    svcgen_tests::events_suite!(super::nats);
}

mod on_rabbitmq {
    svcgen_tests::conformance_suite!(super::amqp);
    svcgen_tests::events_suite!(super::amqp);
}
