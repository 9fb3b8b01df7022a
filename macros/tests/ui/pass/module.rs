//! The module form, implemented, served and called: warning-free under pedantic and missing_docs.
#![deny(warnings, missing_docs, clippy::pedantic)]

/// A small catalogue.
#[svcgen::service(package = "shop.catalog")]
pub mod catalog {
    /// A product.
    pub struct Product {
        pub id: u64,
        #[length(min = 1, max = 200)]
        pub name: String,
        pub tags: Vec<String>,
        pub price: Option<f64>,
    }

    #[error]
    #[status(404)]
    pub struct NotFound {
        pub id: u64,
    }

    /// Prices that change.
    pub struct PriceTick {
        pub id: u64,
        pub price: f64,
    }

    /// The catalogue.
    pub trait Catalog {
        /// Reads one product.
        #[http(GET, "/products/{id}")]
        async fn get_product(&self, id: u64) -> Result<Product, NotFound>;

        #[oneway]
        async fn reindex(&self, full: bool);

        async fn watch_prices(&self, ids: Vec<u64>) -> impl Stream<Item = PriceTick>;

        /// A product was created.
        #[event]
        #[hydrate(get_product)]
        fn product_created(id: u64);
    }

    /// Items that are not declarations are kept as written.
    pub const VERSION: u32 = 1;
}

use catalog::{Catalog, CatalogClient, CatalogServer, GetProductError, NotFound, PriceTick, Product};
use svcgen::{Context, Status, Streaming};

struct Shop;

impl Catalog for Shop {
    async fn get_product(&self, _ctx: &Context, id: u64) -> Result<Product, GetProductError> {
        if id == 1 {
            Ok(Product { id, name: "Tea".into(), tags: Vec::new(), price: Some(2.5) })
        } else {
            Err(NotFound { id }.into())
        }
    }

    async fn reindex(&self, _ctx: &Context, _full: bool) -> Result<(), Status> {
        Ok(())
    }

    async fn watch_prices(&self, _ctx: &Context, ids: Vec<u64>) -> Result<Streaming<PriceTick>, Status> {
        let ticks = ids.into_iter().map(|id| Ok(PriceTick { id, price: 1.0 }));
        Ok(svcgen::streaming(futures_util::stream::iter(ticks)))
    }
}

fn main() {
    let _server = CatalogServer::new(Shop);
    let _client = CatalogClient::rpc("127.0.0.1:9");
    assert_eq!(catalog::VERSION, 1);
}
