//! Arbitrary bytes from a client, after a valid handshake, into a live
//! `svcgen::rpc::serve_connection` (over an in-memory duplex pipe, on a runtime with paused
//! time, so keepalive and drain timers pass at once).
//!
//! The server must not panic, must close the connection once the input ends (a hang is a
//! libFuzzer timeout), and everything it writes must be its handshake followed by whole,
//! well-formed frames of the kinds a server sends; every `Error` frame must carry a readable
//! problem document.

#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use svcgen::descriptor::{HttpMethod, MethodDescriptor, MethodKind, ServiceDescriptor};
use svcgen::dispatch::{BoxFuture, Codec, Payload, Reply};
use svcgen::rpc::frame::{Frame, HANDSHAKE};
use svcgen::rpc::{RpcConfig, serve_connection};
use svcgen::{Context, Dispatch, Problem, Status};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const fn method(name: &'static str, subject: &'static str, kind: MethodKind) -> MethodDescriptor {
    MethodDescriptor {
        service: "fuzz.Echo",
        name,
        subject,
        kind,
        http_method: HttpMethod::Post,
        http_path: "/",
        params: &[],
        errors: &[],
    }
}

/// `echo`: the payload back; `drip`: the payload three times as a stream; `note`: oneway;
/// `fail`: an error. Method names the fuzzer can find in the seeds.
static ECHO: ServiceDescriptor = ServiceDescriptor {
    package: "fuzz",
    name: "Echo",
    wire_name: "echo",
    subject: "fuzz.echo",
    methods: &[
        method("echo", "fuzz.echo.echo", MethodKind::Unary),
        method("drip", "fuzz.echo.drip", MethodKind::ServerStream),
        method("note", "fuzz.echo.note", MethodKind::Oneway),
        method("fail", "fuzz.echo.fail", MethodKind::Unary),
    ],
    events: &[],
};

struct Echo;

impl Dispatch for Echo {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &ECHO
    }

    fn dispatch(
        &self,
        method: &str,
        payload: Payload,
        _codec: Codec,
        _ctx: Context,
    ) -> BoxFuture<'_, Result<Reply, Status>> {
        let method = method.to_owned();
        Box::pin(async move {
            let Payload::Encoded(_, bytes) = payload else { return Err(Status::internal("not bytes")) };
            match method.as_str() {
                "echo" => Ok(Reply::Value(bytes)),
                "drip" => {
                    let items = futures_util::stream::iter([Ok(bytes.clone()), Ok(bytes.clone()), Ok(bytes)]);
                    Ok(Reply::Stream(Box::pin(items)))
                }
                "note" => Ok(Reply::Empty),
                _ => Err(Status::invalid_argument("no")),
            }
        })
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("a runtime")
});

fuzz_target!(|data: &[u8]| {
    let services: Arc<HashMap<String, Arc<dyn Dispatch>>> =
        Arc::new(HashMap::from([("fuzz.Echo".to_owned(), Arc::new(Echo) as Arc<dyn Dispatch>)]));
    let config = RpcConfig { max_frame: 1024, max_in_flight: 4, ..RpcConfig::default() };
    let output = RUNTIME.block_on(async move {
        let (mut client, server) = tokio::io::duplex(4096);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn(serve_connection(server, services, config, stop));
        let mut input = HANDSHAKE.to_vec();
        input.extend_from_slice(data);
        let (mut reader, mut writer) = tokio::io::split(&mut client);
        let write = async move {
            // The server may close before reading everything: a failed write is fine.
            let _ = writer.write_all(&input).await;
            let _ = writer.shutdown().await;
        };
        let mut output = Vec::new();
        let read = reader.read_to_end(&mut output);
        let ((), read) = tokio::join!(write, read);
        read.expect("reading the server's bytes");
        serving.await.expect("serve_connection does not panic");
        output
    });

    assert_eq!(output.get(..8), Some(&HANDSHAKE[..]), "the server's handshake");
    let mut buf = BytesMut::from(&output[8..]);
    loop {
        match Frame::decode(&mut buf, usize::MAX) {
            Ok(Some(Frame::Error { problem, .. })) => {
                let _: Problem = Codec::MsgPack.decode(&problem).expect("a readable problem");
            }
            Ok(Some(
                Frame::Reply { .. }
                | Frame::StreamItem { .. }
                | Frame::StreamEnd { .. }
                | Frame::Ping { .. }
                | Frame::Pong { .. }
                | Frame::GoAway { .. },
            )) => {}
            Ok(Some(frame)) => panic!("a server sent a client frame: {frame:?}"),
            Ok(None) => break,
            Err(e) => panic!("the server wrote a malformed frame: {e}"),
        }
    }
    assert!(buf.is_empty(), "the server's output ends with {} bytes of a cut frame", buf.len());
});
