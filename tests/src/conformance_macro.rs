//! `tests/conformance.svc`, written as a `#[svcgen::service]` module: the server and client of
//! the interop tests (`tests/interop.rs`), and one side of an equivalence test in
//! `macros/core/tests/equivalence.rs`.

/// The conformance service, from Rust declarations.
#[svcgen::service(package = "conformance")]
pub mod conformance {
    /// A stored item.
    pub struct Item {
        #[length(min = 1, max = 50)]
        pub name: String,
        #[range(min = 0, max = 1000)]
        pub count: u32,
        #[default([])]
        pub tags: Vec<String>,
        pub note: Option<String>,
    }

    /// What `echo` sends back: every scalar with a special wire form.
    pub struct Echo {
        pub data: Bytes,
        pub text: String,
        pub when: Option<Timestamp>,
        pub wait: Option<Duration>,
        pub id: Option<Uuid>,
    }

    /// What the server saw of the caller's Context.
    pub struct Caller {
        pub correlation_id: String,
        pub traceparent: Option<String>,
        pub deadline_ms: Option<u64>,
        pub authorization: Option<String>,
    }

    #[error]
    #[status(404)]
    pub struct NoSuchItem {
        pub name: String,
    }

    #[error]
    #[status(409)]
    pub struct Conflict {
        pub name: String,
        pub reason: String,
    }

    /// A domain error without `@status`: 400 on REST.
    #[error]
    pub struct Refused {
        pub why: String,
    }

    pub trait Conformance {
        #[http(GET, "/items/{name}")]
        async fn get(&self, name: String) -> Result<Item, NoSuchItem>;

        /// Stores an item; `Conflict` when it exists, `Refused` for the name "forbidden".
        #[http(POST, "/items")]
        async fn put(&self, item: Item) -> Result<Item, (Conflict, Refused)>;

        #[http(GET, "/items")]
        async fn list(
            &self,
            prefix: Option<String>,
            #[range(min = 1, max = 100)]
            #[default(10)]
            limit: u32,
            tags: Vec<String>,
        ) -> Vec<Item>;

        #[http(DELETE, "/items/{name}")]
        async fn remove(&self, name: String) -> Result<(), NoSuchItem>;

        async fn echo(
            &self,
            data: Bytes,
            text: String,
            when: Option<Timestamp>,
            wait: Option<Duration>,
            id: Option<Uuid>,
        ) -> Echo;

        /// Sleeps, then answers how long it slept.
        #[http(GET, "/slow/{millis}")]
        async fn slow(&self, millis: u32) -> u32;

        async fn whoami(&self) -> Caller;

        /// Counts from 1 to `up_to`; fails with `Refused` instead of sending `fail_at`.
        async fn count(&self, up_to: u32, fail_at: Option<u32>) -> impl Stream<Item = u32>;

        #[oneway]
        async fn record(&self, note: String);

        async fn recorded(&self) -> Vec<String>;

        /// Panics: the server answers `internal` and keeps serving.
        async fn explode(&self) -> String;

        /// An item was stored: a thin event, hydrated with `get`.
        #[event]
        #[hydrate(get)]
        fn stored(name: String);

        /// Hydrated with `whoami`: what a hydrating call carries of the event's context.
        #[event]
        #[hydrate(whoami)]
        fn pinged();

        /// A count changed: an event whose data has constraints.
        #[event]
        fn counted(#[length(min = 1)] name: String, #[range(max = 1000)] count: u32);
    }
}
