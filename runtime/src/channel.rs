//! The client side of every binding behind one type: a generated client holds a
//! [`Channel`], so switching from REST to another binding is the constructor, nothing else.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::Streaming;
use crate::status::Status;

/// A connection to a service, over one binding.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Channel {
    /// HTTP/JSON.
    #[cfg(feature = "rest")]
    Rest(crate::rest::RestClient),
    /// Binary frames over TCP.
    #[cfg(feature = "rpc")]
    Rpc(crate::rpc::RpcClient),
    /// Request/reply through a message broker.
    Queue(crate::queue::QueueClient),
    /// JSON-RPC 2.0 over WebSocket.
    #[cfg(feature = "socket")]
    Socket(crate::socket::SocketClient),
    /// A socket server calling back a connected client (calls in the other direction).
    #[cfg(feature = "socket")]
    SocketPeer(crate::socket::SocketPeer),
}

#[cfg(feature = "socket")]
impl From<crate::socket::SocketPeer> for Channel {
    fn from(peer: crate::socket::SocketPeer) -> Self {
        Channel::SocketPeer(peer)
    }
}

#[cfg(feature = "socket")]
impl From<crate::socket::SocketClient> for Channel {
    fn from(client: crate::socket::SocketClient) -> Self {
        Channel::Socket(client)
    }
}

impl From<crate::queue::QueueClient> for Channel {
    fn from(client: crate::queue::QueueClient) -> Self {
        Channel::Queue(client)
    }
}

#[cfg(feature = "rpc")]
impl From<crate::rpc::RpcClient> for Channel {
    fn from(client: crate::rpc::RpcClient) -> Self {
        Channel::Rpc(client)
    }
}

#[cfg(feature = "rest")]
impl From<crate::rest::RestClient> for Channel {
    fn from(client: crate::rest::RestClient) -> Self {
        Channel::Rest(client)
    }
}

impl Channel {
    /// A REST channel to `base_url`.
    ///
    /// # Errors
    /// When the URL is not an `http` or `https` URL.
    #[cfg(feature = "rest")]
    pub fn rest(base_url: &str) -> Result<Self, Status> {
        crate::rest::RestClient::new(base_url).map(Channel::Rest)
    }

    /// An RPC channel to `addr` (`host:port`); it connects on the first call.
    #[cfg(feature = "rpc")]
    #[must_use]
    pub fn rpc(addr: &str) -> Self {
        Channel::Rpc(crate::rpc::RpcClient::new(addr))
    }

    /// A queue channel: requests through `broker` (in-memory, NATS or `RabbitMQ`).
    #[must_use]
    pub fn queue(broker: impl crate::queue::Broker) -> Self {
        Channel::Queue(crate::queue::QueueClient::new(broker))
    }

    /// A socket channel to `url` (`ws://host:port/ws`); it connects on the first call.
    ///
    /// # Errors
    /// When the URL is not a `ws` URL.
    #[cfg(feature = "socket")]
    pub fn socket(url: &str) -> Result<Self, Status> {
        crate::socket::SocketClient::new(url).map(Channel::Socket)
    }

    /// A socket channel to `url` (`ws://host:port/ws`) in binary mode: the RPC binding's frames
    /// in WebSocket binary messages (subprotocol `svcgen.envelope.v1`), for Rust-to-Rust speed
    /// through the socket's port. It connects on the first call. Limits and timings:
    /// [`RpcClient::websocket`](crate::rpc::RpcClient::websocket).
    ///
    /// # Errors
    /// When the URL is not a `ws` URL.
    #[cfg(feature = "socket")]
    pub fn socket_binary(url: &str) -> Result<Self, Status> {
        let config = crate::socket::SocketConfig::default();
        crate::rpc::RpcClient::websocket(url, &config).map(Channel::Rpc)
    }

    /// Every event of type `T` (a generated event struct) published from now on, as a stream,
    /// on the bindings that carry events: the queue (a lone consumer on the client's broker)
    /// and the socket (the server pushes them; the stream subscribes again after a
    /// reconnect). Each is an [`Event`](crate::queue::events::Event) with the publisher's
    /// context, so `event.hydrate(&client)` works; data that is no valid `T` is logged and
    /// skipped. This is for watching: work that must not be lost (acknowledged only once
    /// handled, retried, dead-lettered) is a `Subscriber` of the generated `{Service}Events`.
    ///
    /// # Errors
    /// `unimplemented` on REST and RPC, which have no push; `unavailable` when the broker or
    /// the server cannot be reached.
    pub async fn events<T: crate::queue::events::EventData>(
        &self,
    ) -> Result<crate::queue::events::EventStream<T>, Status> {
        match self {
            Channel::Queue(client) => client.events::<T>().await,
            #[cfg(feature = "socket")]
            Channel::Socket(client) => client.events::<T>().await,
            #[allow(unreachable_patterns)]
            _ => Err(Status::unimplemented(format!(
                "events travel on the queue and socket bindings, not this one (`{}`)",
                T::DESCRIPTOR.subject
            ))),
        }
    }

    /// Calls a method that returns one value.
    ///
    /// # Errors
    /// The call's status.
    pub async fn unary<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Resp, Status> {
        match self {
            #[cfg(feature = "rest")]
            Channel::Rest(client) => client.unary(method, ctx, request).await,
            #[cfg(feature = "rpc")]
            Channel::Rpc(client) => client.unary(method, ctx, request).await,
            Channel::Queue(client) => client.unary(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::Socket(client) => client.unary(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::SocketPeer(peer) => peer.unary(method, ctx, request).await,
        }
    }

    /// Calls a method that returns nothing, or a oneway one.
    ///
    /// # Errors
    /// The call's status.
    pub async fn empty<Req: Serialize + Sync>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        match self {
            #[cfg(feature = "rest")]
            Channel::Rest(client) => client.empty(method, ctx, request).await,
            #[cfg(feature = "rpc")]
            Channel::Rpc(client) => client.empty(method, ctx, request).await,
            Channel::Queue(client) => client.empty(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::Socket(client) => client.empty(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::SocketPeer(peer) => peer.empty(method, ctx, request).await,
        }
    }

    /// Calls a method that streams values.
    ///
    /// # Errors
    /// The call's status; errors during the stream are its items.
    pub async fn stream<Req: Serialize + Sync, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        match self {
            #[cfg(feature = "rest")]
            Channel::Rest(client) => client.stream(method, ctx, request).await,
            #[cfg(feature = "rpc")]
            Channel::Rpc(client) => client.stream(method, ctx, request).await,
            Channel::Queue(client) => client.stream(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::Socket(client) => client.stream(method, ctx, request).await,
            #[cfg(feature = "socket")]
            Channel::SocketPeer(peer) => peer.stream(method, ctx, request).await,
        }
    }
}
