//! The Rust half of the equivalence test: `catalog.svc`, written as a `#[svcgen::service]`
//! module. `tests/equivalence.rs` reads this file as tokens; the `svcgen-tests` crate compiles
//! it (under `deny(warnings, missing_docs)` and clippy pedantic).

/// The product catalogue of the shop.
#[svcgen::service(package = "shop.catalog")]
pub mod catalog {
    /// A product in the catalogue.
    pub struct Product {
        pub id: ProductId,
        #[length(min = 1, max = 200)]
        pub name: String,
        pub price: Money,
        pub tags: Vec<String>,
        pub attributes: HashMap<String, String>,
        pub description: Option<String>,
        pub created_at: Timestamp,
    }

    /// What a client sends to create a product.
    pub struct NewProduct {
        #[length(min = 1, max = 200)]
        pub name: String,
        pub price: Money,
        #[length(max = 20)]
        #[default([])]
        pub tags: Vec<String>,
        #[pattern(r"^[A-Z]{3}-\d{4}$")]
        pub sku: Option<String>,
    }

    /// An amount of money.
    pub struct Money {
        #[range(min = -1000000, max = 1000000)]
        pub amount: i64,
        #[default(EUR)]
        pub currency: Currency,
        #[default(1.5)]
        pub rate: f64,
    }

    pub enum Currency {
        EUR,
        USD,
        GBP,
    }

    /// A price update pushed to watchers.
    pub struct PriceTick {
        pub id: ProductId,
        pub price: Money,
        pub at: Timestamp,
    }

    /// A category tree: recursive through a list.
    pub struct Category {
        pub name: String,
        pub children: Vec<Category>,
        pub parent: Option<Category>,
    }

    pub type ProductId = u64;

    /// How an order is paid.
    pub enum Payment {
        Card(Card),
        Voucher(String),
    }

    pub struct Card {
        #[pattern(r"^\d{12,19}$")]
        pub number: String,
        pub expires: String,
        #[deprecated]
        pub holder: Option<String>,
    }

    pub enum Sort {
        NAME,
        PRICE,
        NEWEST,
    }

    #[error]
    #[status(404)]
    pub struct NotFound {
        pub id: ProductId,
    }

    /// The product is already in the catalogue.
    #[error]
    #[status(409)]
    pub struct AlreadyExists {
        pub name: String,
    }

    #[error]
    pub struct Refused {
        pub why: String,
    }

    /// The catalogue.
    pub trait Catalog {
        /// Reads one product.
        #[http(GET, "/products/{id}")]
        async fn get_product(&self, id: ProductId) -> Result<Product, NotFound>;

        /// Lists products, newest first unless told otherwise.
        #[http(GET, "/products")]
        async fn list_products(
            &self,
            category: Option<String>,
            #[range(min = 1, max = 500)]
            #[default(50)]
            limit: u32,
            #[default(NEWEST)] sort: Sort,
        ) -> Vec<Product>;

        async fn create_product(&self, product: NewProduct) -> Result<Product, (AlreadyExists, Refused)>;

        #[http(DELETE, "/products/{id}")]
        async fn delete_product(&self, id: ProductId) -> Result<(), NotFound>;

        async fn pay(
            &self,
            order: u64,
            payment: Payment,
            #[default("30s")] timeout: Duration,
            note: Option<Bytes>,
            key: Option<Uuid>,
        );

        /// Live prices of some products.
        async fn watch_prices(&self, ids: Vec<ProductId>) -> impl Stream<Item = PriceTick>;

        #[oneway]
        async fn reindex(&self, full: bool);

        #[deprecated = "use list_products"]
        async fn all_products(&self) -> Vec<Product>;

        async fn categories(&self) -> HashMap<String, Category>;

        /// A lightweight event: subscribers hydrate it with get_product.
        #[event]
        #[hydrate(get_product)]
        fn product_created(id: ProductId);

        #[event]
        fn price_changed(id: ProductId, old: Money, new: Money);
    }
}
