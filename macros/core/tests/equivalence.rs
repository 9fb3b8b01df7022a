//! The test that proves there is one IR: the catalogue as a `.svc` file and as a
//! `#[svcgen::service]` module gives equal models (spans aside) and identical generated tokens.
//!
//! "Identical generated tokens" means: `#[service]` on `mod catalog { .. }` expands to
//! `mod catalog { <tokens> }` where `<tokens>` is exactly what `svcgen generate` prints for
//! the `.svc` file's package (before formatting), compared token by token as text.

use proc_macro2::TokenStream;
use quote::{ToTokens as _, quote};
use svcgen_idl::{MemoryFs, Model};

const SVC: &str = include_str!("catalog/catalog.svc");
const RUST: &str = include_str!("catalog/catalog.rs");
/// The conformance service of the `svcgen-tests` crate, both ways.
const CONFORMANCE_SVC: &str = include_str!("../../../tests/conformance.svc");
const CONFORMANCE_RUST: &str = include_str!("../../../tests/src/conformance_macro.rs");

fn from_svc(text: &str) -> Model {
    let output = svcgen_idl::compile(&["x.svc"], &MemoryFs::new([("x.svc", text)]));
    let diagnostics = output.render_diagnostics();
    output.model.unwrap_or_else(|| panic!("the .svc file is valid:\n{diagnostics}"))
}

/// The `#[svcgen::service(args)]` module of a Rust file: its arguments, and the module without
/// the attribute (what the macro receives).
fn rust_module(text: &str) -> (TokenStream, TokenStream) {
    let file: syn::File = syn::parse_str(text).expect("the Rust file parses");
    let Some(syn::Item::Mod(mut module)) = file.items.into_iter().next() else { panic!("a module first") };
    let at = module
        .attrs
        .iter()
        .position(|a| a.path().segments.last().is_some_and(|s| s.ident == "service"))
        .expect("a #[svcgen::service] attribute");
    let attr = module.attrs.remove(at);
    let args = match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => panic!("#[svcgen::service(package = ..)]"),
    };
    (args, module.into_token_stream())
}

fn from_rust(text: &str) -> Model {
    let (args, module) = rust_module(text);
    svcgen_macros_core::model_of(args, module)
        .unwrap_or_else(|errors| panic!("the Rust module is valid:\n{}", errors.join("\n")))
}

#[test]
fn the_two_front_ends_build_equal_models() {
    assert_equal_models(&from_svc(SVC), &from_rust(RUST));
}

#[test]
fn the_conformance_service_is_the_same_both_ways() {
    // The module's doc (which `missing_docs` asks for) is the package's doc; the .svc has none.
    let mut rust = from_rust(CONFORMANCE_RUST);
    rust.packages[0].docs.clear();
    assert_equal_models(&from_svc(CONFORMANCE_SVC), &rust);
    let (args, module) = rust_module(CONFORMANCE_RUST);
    let expanded = svcgen_macros_core::expand_service(args, module).to_string();
    let generated = svcgen_macros_core::generated_tokens(&from_svc(CONFORMANCE_SVC)).to_string();
    assert!(expanded.contains(&generated), "the expansion holds exactly the generated tokens");
}

fn assert_equal_models(svc: &Model, rust: &Model) {
    let (svc, rust) = (svc.to_json_without_spans(), rust.to_json_without_spans());
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
    let generated = svcgen_macros_core::generated_tokens(&from_svc(SVC));
    let doc = " The product catalogue of the shop.";
    let expected = quote! {
        #[doc = #doc]
        pub mod catalog { #generated }
    };
    let (args, module) = rust_module(RUST);
    assert_eq!(args.to_string(), quote!(package = "shop.catalog").to_string());
    let expanded = svcgen_macros_core::expand_service(args, module);
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
    let model = from_svc(SVC);
    let printed = svcgen_codegen::rust::generate(&model).remove(0).source;
    let tokens = svcgen_macros_core::generated_tokens(&model);
    let file: syn::File = syn::parse2(tokens).expect("generated tokens parse");
    let reprinted = format!("{}\n{}", svcgen_codegen::rust::HEADER, prettyplease::unparse(&file));
    assert_eq!(printed, reprinted);
}
