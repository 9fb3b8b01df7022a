//! The shop example: the `Catalog` service of `shop.svc`, implemented in memory, served over
//! REST, RPC and the queue at once, and called method by method by the generated client over
//! each.
//!
//! `cargo run -p shop` runs the whole tour and exits; `cargo run -p shop -- --serve
//! 127.0.0.1:8080 127.0.0.1:9090` keeps serving (try it with curl, see the README).
//! `--broker nats` (or `nats://host:port`) and `--broker amqp` (or `amqp://...`) put the
//! queue binding and the events on NATS or `RabbitMQ` instead of the in-memory broker.
//!
//! Each new product is announced with a thin `product_created { id }` event; a
//! `search-indexer` group hydrates each one into the full `Product` by calling `get_product`
//! over RPC.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use svcgen::queue::{AmqpBroker, Broker, MemoryBroker, NatsBroker};
use svcgen::{Code, Context, Status, Streaming};

svcgen::include_generated!();

use shop_catalog::{
    AlreadyExists, Catalog, CatalogClient, CatalogEvents, CatalogServer, CreateProductError, GetProductError,
    NewProduct, NotFound, Payment, PriceTick, Product, ProductCreated, Sort,
};
use shop_money::{Currency, Money};

/// The catalogue, in memory; it announces new products on its events.
#[derive(Debug)]
struct Shop {
    products: Mutex<BTreeMap<u64, Product>>,
    next_id: AtomicU64,
    events: CatalogEvents,
}

impl Shop {
    fn new(events: CatalogEvents) -> Self {
        Self { products: Mutex::default(), next_id: AtomicU64::new(0), events }
    }

    fn products(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Product>> {
        self.products.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a new product under the next id, unless its name is taken.
    fn insert(&self, product: NewProduct) -> Result<Product, CreateProductError> {
        let mut products = self.products();
        if products.values().any(|p| p.name == product.name) {
            return Err(CreateProductError::AlreadyExists(AlreadyExists { name: product.name }));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let created = Product {
            id,
            name: product.name,
            price: product.price,
            tags: product.tags,
            attributes: std::collections::HashMap::new(),
            description: product.sku.map(|sku| format!("SKU {sku}")),
            created_at: svcgen::Timestamp::from_timestamp(1_700_000_000 + i64::try_from(id).unwrap_or(0), 0)
                .unwrap_or_default(),
        };
        products.insert(id, created.clone());
        Ok(created)
    }
}

impl Catalog for Shop {
    async fn get_product(&self, _ctx: &Context, id: u64) -> Result<Product, GetProductError> {
        self.products().get(&id).cloned().ok_or(GetProductError::NotFound(NotFound { id }))
    }

    async fn list_products(
        &self,
        _ctx: &Context,
        category: Option<String>,
        limit: u32,
        sort: Sort,
    ) -> Result<Vec<Product>, Status> {
        let mut products: Vec<Product> = self
            .products()
            .values()
            .filter(|p| category.as_ref().is_none_or(|c| p.tags.contains(c)))
            .cloned()
            .collect();
        match sort {
            Sort::Name => products.sort_by(|a, b| a.name.cmp(&b.name)),
            Sort::Price => products.sort_by_key(|p| p.price.amount),
            Sort::Newest => products.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))),
        }
        products.truncate(limit as usize);
        Ok(products)
    }

    async fn create_product(
        &self,
        ctx: &Context,
        product: NewProduct,
    ) -> Result<Product, CreateProductError> {
        let created = self.insert(product)?;
        let id = created.id;
        tracing::info!(correlation_id = ctx.correlation_id(), id, "product created");
        // A thin event, as part of the caller's context: subscribers hydrate it if they need
        // more. (A real service would write it to an outbox in the same transaction.)
        if let Err(status) = self.events.product_created().publish(ctx, &ProductCreated { id }).await {
            tracing::warn!(correlation_id = ctx.correlation_id(), id, %status, "product_created not published");
        }
        Ok(created)
    }

    async fn delete_product(&self, _ctx: &Context, id: u64) -> Result<(), shop_catalog::DeleteProductError> {
        match self.products().remove(&id) {
            Some(_) => Ok(()),
            None => Err(shop_catalog::DeleteProductError::NotFound(NotFound { id })),
        }
    }

    async fn pay(
        &self,
        ctx: &Context,
        order: u64,
        payment: Payment,
        timeout: svcgen::Duration,
    ) -> Result<(), Status> {
        let how = match payment {
            Payment::Card(card) => {
                format!("card ending {}", &card.number[card.number.len().saturating_sub(4)..])
            }
            Payment::Voucher(code) => format!("voucher {code}"),
        };
        tracing::info!(correlation_id = ctx.correlation_id(), order, %how, %timeout, "paid");
        Ok(())
    }

    async fn watch_prices(&self, _ctx: &Context, ids: Vec<u64>) -> Result<Streaming<PriceTick>, Status> {
        let known: Vec<Product> = ids.iter().filter_map(|id| self.products().get(id).cloned()).collect();
        if known.is_empty() {
            return Err(Status::not_found("none of these products exist"));
        }
        let ticks = futures_util::stream::iter(0..3i64).flat_map(move |round| {
            futures_util::stream::iter(known.clone().into_iter().map(move |p| {
                Ok(PriceTick {
                    id: p.id,
                    price: Money { amount: p.price.amount + round * 10, currency: p.price.currency },
                    at: svcgen::Timestamp::from_timestamp(1_700_000_000 + round, 0).unwrap_or_default(),
                })
            }))
        });
        Ok(svcgen::streaming(ticks.then(|tick| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tick
        })))
    }

    async fn reindex(&self, ctx: &Context, full: bool) -> Result<(), Status> {
        tracing::info!(correlation_id = ctx.correlation_id(), full, "reindexing");
        Ok(())
    }

    async fn all_products(&self, _ctx: &Context) -> Result<Vec<Product>, Status> {
        Ok(self.products().values().cloned().collect())
    }
}

/// Calls every method of the catalogue through `client`, printing what happens.
#[allow(deprecated)] // the tour calls the deprecated `all_products` too
async fn tour(client: &CatalogClient, suffix: &str) -> Result<(), Box<dyn std::error::Error>> {
    let euros = |amount| Money { amount, currency: Currency::Eur };
    let pen = client
        .create_product(NewProduct {
            name: format!("Fountain pen{suffix}"),
            price: euros(4_900),
            tags: vec!["office".into()],
            sku: Some("PEN-0001".into()),
        })
        .await?;
    println!("create_product   -> #{} {} at {} cents", pen.id, pen.name, pen.price.amount);
    let ink = client
        .create_product(NewProduct {
            name: format!("Ink{suffix}"),
            price: euros(700),
            tags: vec!["office".into()],
            sku: None,
        })
        .await?;
    println!("create_product   -> #{} {}", ink.id, ink.name);

    match client
        .create_product(NewProduct {
            name: format!("Ink{suffix}"),
            price: euros(1),
            tags: Vec::new(),
            sku: None,
        })
        .await
    {
        Err(CreateProductError::AlreadyExists(e)) => {
            println!("create_product   -> AlreadyExists {{ name: {:?} }} (typed)", e.name);
        }
        other => return Err(format!("expected AlreadyExists, got {other:?}").into()),
    }
    match client
        .create_product(NewProduct {
            name: String::new(),
            price: euros(1),
            tags: vec!["x".into(); 21],
            sku: Some("bad".into()),
        })
        .await
    {
        Err(CreateProductError::Status(status)) if status.code() == Code::InvalidArgument => {
            let fields: Vec<&str> = status.violations().iter().map(|v| v.field.as_str()).collect();
            println!("create_product   -> invalid_argument, fields {fields:?}");
        }
        other => return Err(format!("expected invalid_argument, got {other:?}").into()),
    }

    let found = client.get_product(pen.id).await?;
    println!("get_product      -> #{} {}", found.id, found.name);
    match client.get_product(999).await {
        Err(GetProductError::NotFound(e)) => {
            println!("get_product      -> NotFound {{ id: {} }} (typed)", e.id);
        }
        other => return Err(format!("expected NotFound, got {other:?}").into()),
    }

    let listed = client.list_products(Some("office".into()), 10, Sort::Price).await?;
    println!("list_products    -> {:?}", listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>());

    let mut ticks = client.watch_prices(vec![pen.id, ink.id]).await?;
    let mut count = 0;
    while let Some(tick) = ticks.next().await {
        let tick = tick?;
        count += 1;
        if count <= 2 {
            println!("watch_prices     -> #{} now {} cents", tick.id, tick.price.amount);
        }
    }
    println!("watch_prices     -> {count} ticks, stream ended");

    client.pay(42, Payment::Voucher("WELCOME10".into()), svcgen::Duration(Duration::from_secs(30))).await?;
    println!("pay              -> done");
    client.reindex(true).await?;
    println!("reindex          -> accepted (oneway)");
    println!("all_products     -> {} products (deprecated method)", client.all_products().await?.len());

    let ctx = Context::new().with_correlation_id("tour-correlation-id");
    let status =
        client.with_context(&ctx).with_deadline(Duration::from_millis(200)).get_product(ink.id).await;
    println!("with_deadline    -> {:?}", status.map(|p| p.name));

    client.delete_product(ink.id).await?;
    println!("delete_product   -> done");
    match client.delete_product(ink.id).await {
        Err(shop_catalog::DeleteProductError::NotFound(_)) => {
            println!("delete_product   -> NotFound (typed)");
        }
        other => return Err(format!("expected NotFound, got {other:?}").into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let broker = match args.iter().position(|a| a == "--broker") {
        Some(at) if at + 1 < args.len() => {
            let choice = args.remove(at + 1);
            args.remove(at);
            choice
        }
        Some(_) => {
            return Err("--broker needs a value: memory, nats, amqp or a nats:// or amqp:// URL".into());
        }
        None => "memory".to_owned(),
    };
    let broker = connect(&broker).await?;
    let serve = args.first().is_some_and(|a| a == "--serve");
    let (rest_addr, rpc_addr) = if serve {
        (
            args.get(1).map_or("127.0.0.1:8080", String::as_str),
            args.get(2).map_or("127.0.0.1:9090", String::as_str),
        )
    } else {
        ("127.0.0.1:0", "127.0.0.1:0")
    };

    // One catalogue, served over every binding at once; its events on the broker.
    let events = CatalogEvents::shared(broker.clone());
    let host = svcgen::Host::new()
        .rest(rest_addr)
        .socket(rest_addr) // REST's port: ws://…/ws
        .rpc(rpc_addr)
        .queue(broker.clone())
        .service(CatalogServer::new(Shop::new(events.clone())))
        .bind()
        .await?;
    let (Some(rest_at), Some(rpc_at)) = (host.rest_addr(), host.rpc_addr()) else {
        return Err("the host is not bound".into());
    };
    let rest_url = format!("http://{rest_at}");
    let rpc_at = rpc_at.to_string();
    // Where to reach it (a closed stdout is no reason to stop serving).
    let socket_url = format!("ws://{rest_at}/ws");
    let _ = writeln!(
        std::io::stdout(),
        "REST: {rest_url}\nRPC: {rpc_at}\nQueue: {broker:?}\nSocket: {socket_url}"
    );

    let indexed = Indexed::default();
    let _indexer = index_new_products(&events, CatalogClient::rpc(&rpc_at), &indexed).await?;

    if serve {
        host.serve_until(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await?;
        return Ok(());
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(host.serve_until(async { stopped.await.unwrap_or(()) }));

    // The same tour over each binding: only the constructor differs.
    println!("\n== Catalog over REST ==");
    tour(&CatalogClient::rest(&rest_url)?, "").await?;
    println!("\n== Catalog over RPC ==");
    tour(&CatalogClient::rpc(&rpc_at), " (rpc)").await?;
    println!("\n== Catalog over the queue ==");
    tour(&CatalogClient::queue(broker), " (queue)").await?;
    println!("\n== Catalog over the socket ==");
    tour(&CatalogClient::socket(&socket_url)?, " (socket)").await?;

    // Two products were created on each binding: eight events, each hydrated over RPC.
    println!("\n== Events: product_created, hydrated over RPC by the search-indexer group ==");
    let started = std::time::Instant::now();
    while indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() < 8 {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("the product_created events were not all hydrated within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let indexed = std::mem::take(&mut *indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for (id, name) in &indexed {
        match name {
            Some(name) => println!("product_created  -> #{id} hydrated: {name}"),
            None => println!("product_created  -> #{id} deleted before it was hydrated"),
        }
    }
    println!("product_created  -> {} events hydrated", indexed.len());
    let _ = stop.send(());
    serving.await??;
    Ok(())
}

/// What the search indexer has seen: product id → name (`None`: deleted before it was hydrated).
type Indexed = Arc<Mutex<BTreeMap<u64, Option<String>>>>;

/// Joins the `search-indexer` group on `product_created`: each thin event is hydrated into the
/// full `Product` by calling `get_product` through `client`, with the event's correlation id.
async fn index_new_products(
    events: &CatalogEvents,
    client: CatalogClient,
    indexed: &Indexed,
) -> Result<svcgen::queue::events::Subscription, Status> {
    let indexed = indexed.clone();
    events
        .product_created()
        .group("search-indexer")
        .start(move |event: svcgen::queue::events::Event<ProductCreated>| {
            let (client, indexed) = (client.clone(), indexed.clone());
            async move {
                let name = match event.hydrate(&client).await {
                    Ok(product) => Some(product.name),
                    // Deleted since: nothing to index (the event is acknowledged).
                    Err(GetProductError::NotFound(_)) => None,
                    // Anything else is retried, then dead-lettered.
                    Err(GetProductError::Status(status)) => return Err(status),
                };
                let mut indexed = indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                indexed.insert(event.data.id, name);
                Ok(())
            }
        })
        .await
}

/// The broker the queue binding uses: `memory` (the default), `nats`, `amqp`, or a URL.
async fn connect(choice: &str) -> Result<Arc<dyn Broker>, Status> {
    Ok(match choice {
        "memory" => Arc::new(MemoryBroker::new()),
        "nats" => Arc::new(NatsBroker::connect("nats://127.0.0.1:4222").await?),
        "amqp" => Arc::new(AmqpBroker::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?),
        url if url.starts_with("nats://") => Arc::new(NatsBroker::connect(url).await?),
        url if url.starts_with("amqp://") => Arc::new(AmqpBroker::connect(url).await?),
        other => {
            return Err(Status::invalid_argument(format!(
                "unknown broker `{other}`: memory, nats, amqp or a URL"
            )));
        }
    })
}
