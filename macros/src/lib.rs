//! Procedural macros for svcgen: `#[service]` on a module or trait, and `include_svc!("x.svc")`.
//!
//! A thin shell, as `sqlx-macros` is over `sqlx-macros-core`: everything happens in
//! `svcgen-macros-core`, which reads the input into the one `svcgen_idl::Model`, runs the same
//! checks as `svcgen check`, and calls the same code generator. Use them through the runtime
//! crate, `svcgen::service` and `svcgen::include_svc!` (see `docs/macros.md`).

use proc_macro::TokenStream;

/// Generates a service from Rust declarations: put it on an inline module holding the service
/// trait and its types, or on a trait whose types are all scalars.
///
/// ```ignore
/// #[svcgen::service(package = "shop.catalog")]
/// pub mod catalog {
///     /// A product.
///     pub struct Product { pub id: u64, pub name: String }
///
///     #[error]
///     #[status(404)]
///     pub struct NotFound { pub id: u64 }
///
///     pub trait Catalog {
///         #[http(GET, "/products/{id}")]
///         async fn get_product(&self, id: u64) -> Result<Product, NotFound>;
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    svcgen_macros_core::expand_service(args.into(), item.into()).into()
}

/// Generates the code of a `.svc` file (path relative to the crate's `Cargo.toml`) and every
/// file it imports: one module per package. Editing the file rebuilds the crate.
///
/// ```ignore
/// svcgen::include_svc!("shop.svc"); // then `use shop_catalog::*;`
/// ```
#[proc_macro]
pub fn include_svc(input: TokenStream) -> TokenStream {
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_default();
    svcgen_macros_core::expand_include(input.into(), &root).into()
}
