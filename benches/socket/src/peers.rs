//! One closed-loop caller of each peer, for `svcgen_bench_rpc::load::closed_loop_each`.

use std::sync::Arc;

use svcgen_bench_rpc::load::Call;

use crate::raw::RawClient;
use crate::sbench::{BenchClient, Blob};

/// A client of one peer. Each is one connection (the benchmark gives each one caller).
#[derive(Clone)]
pub enum Client {
    /// The generated client over the socket binding (`BenchClient::socket`), JSON text mode.
    Socket(BenchClient),
    /// The raw tokio-tungstenite client.
    Raw(RawClient),
    /// The generated client over the RPC binding (`BenchClient::rpc`): the reference of the
    /// socket binding's binary mode.
    Rpc(BenchClient),
    /// The generated client over the socket binding in binary mode (`Channel::socket_binary`:
    /// the RPC frames in WebSocket binary messages), compared with `Rpc`.
    SocketBinary(BenchClient),
}

/// A client with the blob each of its calls sends.
#[derive(Clone)]
pub struct Caller {
    /// Who is called.
    pub client: Client,
    /// What every call sends (cloned per call, as a caller builds an owned request).
    pub payload: Arc<Blob>,
}

impl Caller {
    /// One `echo`: the whole echoed blob.
    ///
    /// # Errors
    /// The call's failure, as text.
    pub async fn echo(&self) -> Result<Blob, String> {
        let msg = (*self.payload).clone();
        match &self.client {
            Client::Socket(client) | Client::Rpc(client) | Client::SocketBinary(client) => {
                client.echo(msg).await.map_err(|e| e.to_string())
            }
            Client::Raw(client) => client.echo(msg).await,
        }
    }
}

impl Call for Caller {
    async fn call(&self) -> Result<(), String> {
        let echoed = self.echo().await?;
        if echoed.data.len() == self.payload.data.len() {
            Ok(())
        } else {
            Err("the echo came back different".to_owned())
        }
    }
}
