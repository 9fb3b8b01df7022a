//! Correlation everywhere: one request followed by its log lines through a call over the queue
//! and an event hydrated by a call. The correlation id and trace id ride in the messages and
//! appear in the spans on the caller's side, on the server's side and in the event handler.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use svcgen::Context;
use svcgen::queue::events::Event;
use svcgen::queue::{MemoryBroker, QueueServer};
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::{
    ConformanceClient, ConformanceEvents, ConformanceServer, Stored,
};
use tracing_subscriber::fmt::format::FmtSpan;

/// Every log line of the process, as text.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines that mention `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_followed_through_a_call_and_an_event() {
    let lines = Lines::default();
    let writer = lines.clone();
    tracing_subscriber::fmt()
        .with_env_filter("svcgen=debug,correlation=info")
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let broker = MemoryBroker::new();
    let server = QueueServer::new(broker.clone())
        .service(ConformanceServer::new(ConformanceImpl::default()))
        .listen()
        .await
        .expect("the server subscribes");
    let serving = tokio::spawn(server.serve_until(std::future::pending()));
    let client = ConformanceClient::queue(broker.clone());

    // A call: the caller's span and the server's span carry the same ids.
    let call = Context::new().with_correlation_id("corr-call-17");
    let caller = client.with_context(&call).whoami().await.expect("whoami works");
    assert_eq!(caller.correlation_id, "corr-call-17");

    // An event published as part of another request, handled and hydrated by a subscriber.
    let events = ConformanceEvents::new(broker.clone());
    let hydrating = client.clone();
    let _indexer = events
        .stored()
        .group("indexer")
        .start(move |event: Event<Stored>| {
            let client = hydrating.clone();
            async move {
                tracing::info!(name = %event.data.name, "indexing");
                // Not stored: the hydrating call fails with the typed error, which is fine here.
                let _ = event.hydrate(&client).await;
                Ok(())
            }
        })
        .await
        .expect("subscribed");
    let publish = Context::new().with_correlation_id("corr-event-23");
    events.stored().publish(&publish, &Stored { name: "lamp".into() }).await.expect("published");

    let started = Instant::now();
    while lines_with(&lines.text(), "corr-event-23").iter().filter(|l| l.contains("svcgen.call")).count() < 1
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no hydrating call logged:\n{}", lines.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serving.abort();
    let text = lines.text();

    let call_trace = call.trace_id();
    let call_lines = lines_with(&text, "corr-call-17");
    for span in ["svcgen.client", "svcgen.call"] {
        let line =
            call_lines.iter().find(|l| l.contains(span)).unwrap_or_else(|| panic!("no {span}:\n{text}"));
        assert!(line.contains(call_trace), "the {span} span has the trace id {call_trace}: {line}");
    }

    let event_trace = publish.trace_id();
    let event_lines = lines_with(&text, "corr-event-23");
    let expect = |what: &str, needle: &str| {
        let line = event_lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {what} line with the event's correlation id:\n{text}"));
        assert!(line.contains(event_trace), "the {what} line has the trace id {event_trace}: {line}");
    };
    expect("publish", "publishing an event");
    expect("handler", "indexing");
    expect("hydrating call (client side)", "svcgen.client");
    expect("hydrating call (server side)", "svcgen.call");
}
