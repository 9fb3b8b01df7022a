//! The test that proves there is one IR: the catalogue as a `.svc` file and as a
//! `#[svcgen::service]` module gives equal models (spans aside) and identical generated tokens.
//!
//! "Identical generated tokens" means: `#[service]` on `mod catalog { .. }` expands to
//! `mod catalog { <tokens> }` where `<tokens>` is exactly what `svcgen generate` prints for
//! the `.svc` file's package (before formatting), compared token by token as text.

use proc_macro2::TokenStream;
use quote::quote;
use svcgen_idl::{MemoryFs, Model};

const SVC: &str = include_str!("catalog/catalog.svc");
const RUST: &str = include_str!("catalog/catalog.rs");

fn from_svc() -> Model {
    let output = svcgen_idl::compile(&["catalog.svc"], &MemoryFs::new([("catalog.svc", SVC)]));
    let diagnostics = output.render_diagnostics();
    output.model.unwrap_or_else(|| panic!("catalog.svc is valid:\n{diagnostics}"))
}

fn rust_module() -> TokenStream {
    RUST.parse().expect("catalog.rs tokenizes")
}

fn from_rust() -> Model {
    svcgen_macros_core::model_of(quote!(package = "shop.catalog"), rust_module())
        .unwrap_or_else(|errors| panic!("catalog.rs is valid:\n{}", errors.join("\n")))
}

#[test]
fn the_two_front_ends_build_equal_models() {
    let (svc, rust) = (from_svc().to_json_without_spans(), from_rust().to_json_without_spans());
    if svc != rust {
        let svc = serde_json::to_string_pretty(&svc).unwrap_or_default();
        let rust = serde_json::to_string_pretty(&rust).unwrap_or_default();
        let first = svc.lines().zip(rust.lines()).position(|(a, b)| a != b).unwrap_or(0);
        let window =
            |text: &str| text.lines().skip(first.saturating_sub(8)).take(16).collect::<Vec<_>>().join("\n");
        panic!("models differ at line {first}:\n--- svc\n{}\n--- rust\n{}", window(&svc), window(&rust));
    }
}

#[test]
fn the_macro_expands_to_exactly_the_generated_tokens() {
    let generated = svcgen_macros_core::generated_tokens(&from_svc());
    let doc = " The product catalogue of the shop.";
    let expected = quote! {
        #[doc = #doc]
        pub mod catalog { #generated }
    };
    let expanded = svcgen_macros_core::expand_service(quote!(package = "shop.catalog"), rust_module());
    let (expanded, expected) = (expanded.to_string(), expected.to_string());
    if expanded != expected {
        let at = expanded.bytes().zip(expected.bytes()).position(|(a, b)| a != b).unwrap_or(0);
        let around = |s: &str| s.get(at.saturating_sub(80)..(at + 80).min(s.len())).unwrap_or("").to_owned();
        panic!(
            "the expansion differs at byte {at}:\n  macro: {}\n  .svc:  {}",
            around(&expanded),
            around(&expected)
        );
    }
}

#[test]
fn the_generated_tokens_are_what_svcgen_generate_prints() {
    let model = from_svc();
    let printed = svcgen_codegen::rust::generate(&model).remove(0).source;
    let tokens = svcgen_macros_core::generated_tokens(&model);
    let file: syn::File = syn::parse2(tokens).expect("generated tokens parse");
    let reprinted = format!("{}\n{}", svcgen_codegen::rust::HEADER, prettyplease::unparse(&file));
    assert_eq!(printed, reprinted);
}
