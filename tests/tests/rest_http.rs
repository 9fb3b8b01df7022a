//! The REST binding as any HTTP client sees it: status codes, RFC 9457 problem documents,
//! headers, Server-Sent Events. The server keeps serving after every bad request.

use std::time::Duration;

use serde_json::{Value, json};
use svcgen::rest::RestServer;
use svcgen_tests::conformance::ConformanceImpl;
use svcgen_tests::fixture_conformance::conformance::ConformanceServer;

struct Server {
    url: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let rest =
        RestServer::new().body_limit(64 * 1024).service(ConformanceServer::new(ConformanceImpl::default()));
    let task = tokio::spawn(rest.serve(listener));
    Server { url, http: reqwest::Client::new(), task }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A good call still works.
    async fn still_serving(&self) {
        let response = self.http.post(self.url("/conformance/whoami")).send().await.expect("sent");
        assert_eq!(response.status(), 200);
    }
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    (status, response.json().await.expect("a JSON problem"))
}

#[tokio::test]
async fn ok_call_and_typed_error_as_problem_json() {
    let s = server().await;
    let item = json!({"item": {"name": "pen", "count": 3}});
    let created = s.http.post(s.url("/items")).json(&item).send().await.expect("sent");
    assert_eq!(created.status(), 200);
    let body: Value = created.json().await.expect("json");
    assert_eq!(body, json!({"name": "pen", "count": 3, "tags": []}));

    let response =
        s.http.get(s.url("/items/nope")).header("x-correlation-id", "trace-me").send().await.expect("sent");
    assert_eq!(response.headers()["x-correlation-id"], "trace-me");
    let (status, p) = problem(response).await;
    assert_eq!(status, 404);
    assert_eq!(p["type"], "urn:svcgen:error:conformance.NoSuchItem");
    assert_eq!(p["title"], "NoSuchItem");
    assert_eq!(p["status"], 404);
    assert_eq!(p["code"], "not_found");
    assert_eq!(p["correlation_id"], "trace-me");
    assert_eq!(p["error"], json!({"name": "nope"}));

    let (status, p) = problem(
        s.http
            .post(s.url("/items"))
            .json(&json!({"item": {"name": "forbidden", "count": 1}}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, p["type"].as_str()), (400, Some("urn:svcgen:error:conformance.Refused")));
}

#[tokio::test]
async fn invalid_input_names_every_field() {
    let s = server().await;
    let bad = json!({"item": {"name": "", "count": 5000, "tags": ["ok"]}});
    let (status, p) = problem(s.http.post(s.url("/items")).json(&bad).send().await.expect("sent")).await;
    assert_eq!(status, 400);
    assert_eq!(p["code"], "invalid_argument");
    let fields: Vec<&str> =
        p["violations"].as_array().expect("violations").iter().filter_map(|v| v["field"].as_str()).collect();
    assert_eq!(fields, ["item.name", "item.count"]);
    // Path and query text of the wrong type: each parameter named.
    let (status, p) = problem(s.http.get(s.url("/slow/abc")).send().await.expect("sent")).await;
    assert_eq!((status, p["violations"][0]["field"].as_str()), (400, Some("millis")));
    let (status, p) =
        problem(s.http.get(s.url("/items?limit=lots&limit=0")).send().await.expect("sent")).await;
    assert_eq!(status, 400, "{p}");
    s.still_serving().await;
}

#[tokio::test]
async fn malformed_json_and_wrong_shapes_are_400() {
    let s = server().await;
    for body in ["{not json", "[1, 2]", "{\"item\": 7}", "\u{0}\u{1}"] {
        let response = s
            .http
            .post(s.url("/items"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        let (status, p) = problem(response).await;
        assert_eq!((status, p["code"].as_str()), (400, Some("invalid_argument")), "{body:?}: {p}");
    }
    s.still_serving().await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_large_bodies() {
    let s = server().await;
    let (status, p) = problem(s.http.get(s.url("/no/such/route")).send().await.expect("sent")).await;
    assert_eq!((status, p["code"].as_str()), (404, Some("unimplemented")));

    let response = s.http.put(s.url("/items")).send().await.expect("sent");
    let allow = response.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (status, _) = problem(response).await;
    assert_eq!(status, 405);
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");

    let huge = json!({"item": {"name": "x", "count": 1, "note": "n".repeat(100 * 1024)}});
    let (status, p) = problem(s.http.post(s.url("/items")).json(&huge).send().await.expect("sent")).await;
    assert_eq!((status, p["code"].as_str()), (413, Some("payload_too_large")));
    s.still_serving().await;
}

#[tokio::test]
async fn the_deadline_header_is_honoured() {
    let s = server().await;
    let started = std::time::Instant::now();
    let response = s.http.get(s.url("/slow/5000")).header("x-deadline-ms", "100").send().await.expect("sent");
    let (status, p) = problem(response).await;
    assert_eq!((status, p["code"].as_str()), (504, Some("deadline_exceeded")));
    assert!(started.elapsed() < Duration::from_secs(2));
    let ok = s.http.get(s.url("/slow/1")).header("x-deadline-ms", "5000").send().await.expect("sent");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn correlation_ids_are_made_when_missing_and_always_echoed() {
    let s = server().await;
    let response = s.http.post(s.url("/conformance/whoami")).send().await.expect("sent");
    let header = response.headers()["x-correlation-id"].to_str().expect("text").to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["correlation_id"], header.as_str());
    assert!(header.len() >= 16);
}

#[tokio::test]
async fn empty_and_oneway_replies() {
    let s = server().await;
    s.http
        .post(s.url("/items"))
        .json(&json!({"item": {"name": "gone", "count": 1}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(s.http.delete(s.url("/items/gone")).send().await.expect("sent").status(), 204);
    let response =
        s.http.post(s.url("/conformance/record")).json(&json!({"note": "n1"})).send().await.expect("sent");
    assert_eq!(response.status(), 202);
    // A oneway call is checked before it is accepted: bad input is a 400, not a 202.
    let bad = s.http.post(s.url("/conformance/record")).json(&json!({"note": 7})).send().await.expect("sent");
    let (status, p) = problem(bad).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("invalid_argument")));
}

#[tokio::test]
async fn defaults_apply_when_parameters_are_left_out() {
    let s = server().await;
    for i in 0..12 {
        s.http
            .post(s.url("/items"))
            .json(&json!({"item": {"name": format!("i{i:02}"), "count": i}}))
            .send()
            .await
            .expect("sent");
    }
    let all: Vec<Value> = s.http.get(s.url("/items")).send().await.expect("sent").json().await.expect("json");
    assert_eq!(all.len(), 10, "the default limit is 10");
    let some: Vec<Value> =
        s.http.get(s.url("/items?limit=3&prefix=i0")).send().await.expect("sent").json().await.expect("json");
    assert_eq!(some.len(), 3);
}

#[tokio::test]
async fn streams_are_server_sent_events() {
    let s = server().await;
    let response =
        s.http.post(s.url("/conformance/count")).json(&json!({"up_to": 3})).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("text").starts_with("text/event-stream"));
    let text = response.text().await.expect("body");
    let events: Vec<(String, String)> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let field =
                |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("").trim().to_owned();
            (field("event:"), field("data:"))
        })
        .collect();
    let expected: Vec<(String, String)> = [("item", "1"), ("item", "2"), ("item", "3"), ("end", "")]
        .iter()
        .map(|(e, d)| ((*e).into(), (*d).into()))
        .collect();
    assert_eq!(events, expected);

    let failing = s
        .http
        .post(s.url("/conformance/count"))
        .json(&json!({"up_to": 3, "fail_at": 2}))
        .send()
        .await
        .expect("sent");
    let text = failing.text().await.expect("body");
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("urn:svcgen:error:conformance.Refused"), "{text}");
    assert!(!text.contains("event: end"), "{text}");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_goes_on() {
    let s = server().await;
    let (status, p) = problem(s.http.post(s.url("/conformance/explode")).send().await.expect("sent")).await;
    assert_eq!((status, p["code"].as_str()), (500, Some("internal")));
    s.still_serving().await;
}
