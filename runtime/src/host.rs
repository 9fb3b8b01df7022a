//! [`Host`]: one process serving its services on several bindings at once.

#[cfg(any(feature = "rest", feature = "rpc"))]
use std::net::SocketAddr;
use std::sync::Arc;

use crate::dispatch::Dispatch;

/// Serves services on every binding it is given, until one shutdown signal stops them all.
///
/// ```no_run
/// # async fn run(catalog: impl svcgen::Dispatch) -> std::io::Result<()> {
/// let host = svcgen::Host::new()
///     .rest("0.0.0.0:8080")
///     .socket("0.0.0.0:8080") // the same port as REST: ws://…:8080/ws
///     .rpc("0.0.0.0:9090")
///     .service(catalog)
///     .bind()
///     .await?;
/// println!("REST on {:?}, RPC on {:?}", host.rest_addr(), host.rpc_addr());
/// host.serve_until(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await
/// # }
/// ```
#[derive(Default)]
pub struct Host {
    services: Vec<Arc<dyn Dispatch>>,
    #[cfg(feature = "rest")]
    rest: Option<String>,
    #[cfg(feature = "rpc")]
    rpc: Option<String>,
    #[cfg(feature = "socket")]
    socket: Option<String>,
    queues: Vec<Arc<dyn crate::queue::Broker>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|s| s.descriptor().name).collect();
        f.debug_struct("Host").field("services", &names).finish_non_exhaustive()
    }
}

impl Host {
    /// A host with no binding and no service yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves REST (HTTP/JSON) on `addr` (`0.0.0.0:8080`; port 0 picks a free one).
    #[cfg(feature = "rest")]
    #[must_use]
    pub fn rest(mut self, addr: &str) -> Self {
        self.rest = Some(addr.to_owned());
        self
    }

    /// Serves RPC on `addr`.
    #[cfg(feature = "rpc")]
    #[must_use]
    pub fn rpc(mut self, addr: &str) -> Self {
        self.rpc = Some(addr.to_owned());
        self
    }

    /// Serves the socket binding (JSON-RPC 2.0 over WebSocket, at `/ws`) on `addr`. The address
    /// given to [`Host::rest`] shares REST's port: one listener, both bindings. With a
    /// [`Host::queue`] broker, the events published there are pushed to subscribed connections.
    #[cfg(feature = "socket")]
    #[must_use]
    pub fn socket(mut self, addr: &str) -> Self {
        self.socket = Some(addr.to_owned());
        self
    }

    /// Serves the queue binding through `broker` (may be given more than once: one server
    /// per broker).
    #[must_use]
    pub fn queue(mut self, broker: impl crate::queue::Broker) -> Self {
        self.queues.push(Arc::new(broker));
        self
    }

    /// Adds a service (a generated `…Server`), served on every binding of the host.
    #[must_use]
    pub fn service(mut self, service: impl Dispatch) -> Self {
        self.services.push(Arc::new(service));
        self
    }

    /// Binds every listener and subscribes on every broker, so addresses are known and
    /// requests are taken before serving.
    ///
    /// # Errors
    /// When an address cannot be bound or a broker cannot be reached.
    pub async fn bind(self) -> std::io::Result<BoundHost> {
        #[cfg(feature = "rest")]
        let rest = match &self.rest {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        #[cfg(feature = "rpc")]
        let rpc = match &self.rpc {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        #[cfg(feature = "socket")]
        let socket = match &self.socket {
            Some(addr) if self.rest.as_ref() == Some(addr) => Some(SocketListener::OnRest),
            Some(addr) => Some(SocketListener::Own(tokio::net::TcpListener::bind(addr).await?)),
            None => None,
        };
        // The socket binding pushes the events published on the host's (first) broker.
        #[cfg(feature = "socket")]
        let events = self.queues.first().cloned();
        let mut queues = Vec::with_capacity(self.queues.len());
        for broker in self.queues {
            let mut server = crate::queue::QueueServer::shared(broker);
            for service in &self.services {
                server = server.shared_service(service.clone());
            }
            queues.push(server.listen().await.map_err(std::io::Error::other)?);
        }
        Ok(BoundHost {
            queues,
            services: self.services,
            #[cfg(feature = "rest")]
            rest,
            #[cfg(feature = "rpc")]
            rpc,
            #[cfg(feature = "socket")]
            socket,
            #[cfg(feature = "socket")]
            events,
        })
    }

    /// Binds and serves until `shutdown` completes.
    ///
    /// # Errors
    /// When an address cannot be bound or a server fails.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.bind().await?.serve_until(shutdown).await
    }
}

/// A [`Host`] whose listeners are bound.
pub struct BoundHost {
    services: Vec<Arc<dyn Dispatch>>,
    #[cfg(feature = "rest")]
    rest: Option<tokio::net::TcpListener>,
    #[cfg(feature = "rpc")]
    rpc: Option<tokio::net::TcpListener>,
    #[cfg(feature = "socket")]
    socket: Option<SocketListener>,
    #[cfg(feature = "socket")]
    events: Option<Arc<dyn crate::queue::Broker>>,
    queues: Vec<crate::queue::ListeningQueueServer>,
}

/// Where the socket binding listens.
#[cfg(feature = "socket")]
enum SocketListener {
    /// A listener of its own.
    Own(tokio::net::TcpListener),
    /// REST's: one port, both bindings.
    OnRest,
}

impl std::fmt::Debug for BoundHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|s| s.descriptor().name).collect();
        f.debug_struct("BoundHost").field("services", &names).finish_non_exhaustive()
    }
}

impl BoundHost {
    /// Where REST is served, if it is.
    #[cfg(feature = "rest")]
    #[must_use]
    pub fn rest_addr(&self) -> Option<SocketAddr> {
        self.rest.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where RPC is served, if it is.
    #[cfg(feature = "rpc")]
    #[must_use]
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the socket binding is served (REST's address when they share a port), if it is.
    #[cfg(feature = "socket")]
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.socket.as_ref()? {
            SocketListener::Own(listener) => listener.local_addr().ok(),
            SocketListener::OnRest => self.rest_addr(),
        }
    }

    /// Serves every binding until `shutdown` completes; each then drains its calls in flight.
    ///
    /// # Errors
    /// When a server fails (the first failure; the others are stopped).
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let signal = |stop: &tokio::sync::broadcast::Sender<()>| {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let mut servers = tokio::task::JoinSet::new();
        #[cfg(feature = "rest")]
        let rest_server = || {
            let mut server = crate::rest::RestServer::new();
            for service in &self.services {
                server = server.shared_service(service.clone());
            }
            server
        };
        #[cfg(all(feature = "rest", not(feature = "socket")))]
        if let Some(listener) = self.rest {
            servers.spawn(rest_server().serve_until(listener, signal(&stop)));
        }
        #[cfg(feature = "socket")]
        {
            let socket_server = || {
                let mut server = crate::socket::SocketServer::new();
                for service in &self.services {
                    server = server.shared_service(service.clone());
                }
                match &self.events {
                    Some(broker) => server.events(broker.clone()),
                    None => server,
                }
            };
            let drain = crate::socket::SocketConfig::default().drain;
            let on_rest = matches!(self.socket, Some(SocketListener::OnRest));
            if let Some(listener) = self.rest {
                if on_rest {
                    let (ws, closer) = socket_server().router();
                    let router = rest_server().router().map_err(std::io::Error::other)?.merge(ws);
                    servers.spawn(crate::socket::serve_router(
                        listener,
                        router,
                        closer,
                        drain,
                        signal(&stop),
                    ));
                } else {
                    servers.spawn(rest_server().serve_until(listener, signal(&stop)));
                }
            }
            if let Some(SocketListener::Own(listener)) = self.socket {
                servers.spawn(socket_server().serve_until(listener, signal(&stop)));
            }
        }
        #[cfg(feature = "rpc")]
        if let Some(listener) = self.rpc {
            let mut server = crate::rpc::RpcServer::new();
            for service in &self.services {
                server = server.shared_service(service.clone());
            }
            servers.spawn(server.serve_until(listener, signal(&stop)));
        }
        for server in self.queues {
            let stopped = signal(&stop);
            servers.spawn(async move {
                server.serve_until(stopped).await;
                Ok(())
            });
        }
        let stopper = stop.clone();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            let _ = stopper.send(());
        });
        let mut result = Ok(());
        while let Some(done) = servers.join_next().await {
            let outcome = done.map_err(std::io::Error::other).and_then(|r| r);
            if outcome.is_err() && result.is_ok() {
                // One binding failed: stop the others too.
                result = outcome;
                let _ = stop.send(());
            }
        }
        watcher.abort();
        result
    }
}
