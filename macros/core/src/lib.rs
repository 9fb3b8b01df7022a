//! The macro front end of svcgen, as a plain library: `#[service]` and `include_svc!` are
//! thin shells over [`expand_service`] and [`expand_include`] (the split of `sqlx-macros` and
//! `sqlx-macros-core`), so all of it is tested without a compiler.
//!
//! `#[service]` reads its module or trait into the same syntax tree a `.svc` file parses to
//! ([`parse`]), then runs the IDL's own `lower` and `check` and the one code generator
//! (`svcgen_codegen::rust::package_tokens`). Nothing here emits Rust of its own but a skeleton
//! after an error. Spans travel through the model as indexes into a [`spans::SpanTable`].
//!
//! ```
//! use quote::quote;
//!
//! let model = svcgen_macros_core::model_of(
//!     quote!(package = "shop.catalog"),
//!     quote! {
//!         mod catalog {
//!             pub struct Product { pub id: u64, pub name: String }
//!             #[error]
//!             #[status(404)]
//!             pub struct NotFound { pub id: u64 }
//!             pub trait Catalog {
//!                 #[http(GET, "/products/{id}")]
//!                 async fn get_product(&self, id: u64) -> Result<Product, NotFound>;
//!             }
//!         }
//!     },
//! )
//! .expect("a valid service");
//! assert_eq!(model.services[0].methods[0].name, "get_product");
//! ```

pub mod attr;
pub mod diag;
pub mod include;
pub mod parse;
pub mod spans;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use svcgen_idl::lower::{self, LoadedFile};
use svcgen_idl::model::PackageId;
use svcgen_idl::{Diagnostic, Diagnostics, Model, ast, check};

pub use include::expand_include;
use parse::{Cx, Input, Shape};
use spans::MACRO_FILE;

/// The path the macro's input is shown under in a rendered diagnostic.
const MACRO_PATH: &str = "#[service]";

/// Lowers and checks a syntax tree the macro built, exactly as `svcgen check` does a file's.
#[must_use]
pub fn lower_and_check(file: ast::File) -> (Model, Vec<Diagnostic>) {
    let files = [LoadedFile { id: MACRO_FILE, path: MACRO_PATH.to_owned(), ast: file, imports: Vec::new() }];
    let mut diags = Diagnostics::new();
    let model = lower::lower(&files, &mut diags);
    check::check(&model, &mut diags);
    (model, diags.take())
}

/// The result of reading and checking the input of `#[service]`.
struct Front {
    input: Option<Input>,
    model: Option<Model>,
    errors: Vec<syn::Error>,
}

fn front(args: TokenStream, item: TokenStream) -> Front {
    let mut cx = Cx::new();
    let package = parse::parse_package(args, &mut cx);
    let item = match syn::parse2::<syn::Item>(item) {
        Ok(item) => item,
        Err(e) => {
            cx.errors.push(e);
            return Front { input: None, model: None, errors: cx.errors };
        }
    };
    let Some(input) = parse::parse_input(item, package.as_ref(), &mut cx) else {
        return Front { input: None, model: None, errors: cx.errors };
    };
    let (model, diagnostics) = lower_and_check(input.file.clone());
    let mut errors = cx.errors;
    errors.extend(diagnostics.iter().filter_map(|d| diag::to_syn_error(d, &cx.spans)));
    let model = errors.is_empty().then_some(model);
    Front { input: Some(input), model, errors }
}

/// The model `#[service(args)]` builds from `item`, or every error message (for tests and tools).
///
/// # Errors
/// The messages of every error found, in order.
pub fn model_of(args: TokenStream, item: TokenStream) -> Result<Model, Vec<String>> {
    let front = front(args, item);
    front.model.ok_or_else(|| front.errors.iter().map(ToString::to_string).collect())
}

/// The expansion of `#[service(args)] item`: the generated code of the package, or every error
/// with a skeleton of the names the input declares (so one mistake does not cascade).
#[must_use]
pub fn expand_service(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = item.clone();
    let front = front(args, item);
    let Some(input) = front.input else {
        let errors = combine(front.errors);
        return quote!(#errors #original);
    };
    let body = match &front.model {
        Some(model) => svcgen_codegen::rust::package_tokens(model, PackageId(0)),
        None => skeleton(&input),
    };
    let errors = combine(front.errors);
    let expanded = match input.shape {
        Shape::Module { attrs, vis, ident, other } => quote! {
            #(#attrs)*
            #vis mod #ident {
                #body
                #(#other)*
            }
        },
        Shape::Trait => body,
    };
    quote!(#errors #expanded)
}

/// Every error as one `compile_error!` each (nothing when there is none).
fn combine(errors: Vec<syn::Error>) -> TokenStream {
    let mut errors = errors.into_iter();
    let Some(mut first) = errors.next() else { return TokenStream::new() };
    for e in errors {
        first.combine(e);
    }
    first.into_compile_error()
}

/// After an error: each declared name once, as an empty type or trait, so the code around the
/// macro still finds them and reports nothing more about them.
fn skeleton(input: &Input) -> TokenStream {
    let mut seen = std::collections::HashSet::new();
    let items =
        input.names.iter().filter(|(ident, _)| seen.insert(ident.to_string())).map(|(ident, service)| {
            if *service {
                quote!(#[doc(hidden)] pub trait #ident {})
            } else {
                quote!(#[doc(hidden)] pub struct #ident {})
            }
        });
    quote!(#(#items)*)
}

/// The generated tokens of a checked model's first package: what `#[service]` expands to, and
/// what the `.svc` front end's `generate` prints (tests compare the two).
#[must_use]
pub fn generated_tokens(model: &Model) -> TokenStream {
    svcgen_codegen::rust::package_tokens(model, PackageId(0)).into_token_stream()
}
