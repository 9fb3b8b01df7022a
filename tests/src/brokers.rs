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

/// A NATS server of the test's own (`nats-server -js`, on a free port of 127.0.0.1, its
/// `JetStream` store in a directory of its own), so a test can kill and restart it without
/// disturbing the shared one. Killed when dropped; the store directory is removed.
#[derive(Debug)]
pub struct PrivateNats {
    port: u16,
    store: std::path::PathBuf,
    process: Option<std::process::Child>,
}

/// The `nats-server` binary (`SVCGEN_NATS_SERVER`, else `/usr/sbin/nats-server` when it exists,
/// else `nats-server` on the `PATH`).
fn nats_server_binary() -> String {
    std::env::var("SVCGEN_NATS_SERVER").unwrap_or_else(|_| {
        if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server".to_owned()
        } else {
            "nats-server".to_owned()
        }
    })
}

impl PrivateNats {
    /// Starts one, and waits until it accepts connections.
    #[must_use]
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = std::env::temp_dir().join(format!("svcgen-nats-{}", svcgen::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&store).expect("a store directory");
        let mut server = Self { port, store, process: None };
        server.restart();
        server
    }

    /// Its URL, `nats://127.0.0.1:{port}`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server process (`SIGKILL`: no goodbye to its clients) and waits for it to end.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().expect("nats-server killed");
            process.wait().expect("nats-server ended");
        }
    }

    /// Starts the server (again) on the same port and store directory, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let binary = nats_server_binary();
        let process = std::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test runs its own NATS server, `{binary}`, which cannot start: {e}")
            });
        self.process = Some(process);
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < std::time::Duration::from_secs(15), "nats-server did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
