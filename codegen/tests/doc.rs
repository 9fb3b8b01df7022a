//! The API reference (`svcgen_codegen::doc`): the example and every valid fixture rendered to
//! HTML and Markdown; every name and address of the model on its page; links that land on
//! anchors; HTML that an HTML5 parser (html5ever, through scraper) reads without a parse error
//! and that is self-contained; user docs escaped in HTML and kept in Markdown.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use scraper::{ElementRef, Html, Selector};
use svcgen_codegen::doc::{DocFile, render};
use svcgen_idl::model::Service;
mod common;

use common::{inputs, model_from_text, model_of, repo};
use svcgen_idl::Model;

/// The rendered files by path.
struct Site {
    files: HashMap<String, String>,
}

impl Site {
    fn of(model: &Model) -> Site {
        let rendered: Vec<DocFile> = render(model).expect("the reference renders");
        let mut files = HashMap::new();
        for file in rendered {
            assert!(
                !file.path.contains('/') && !file.path.starts_with('.'),
                "a plain file name: {}",
                file.path
            );
            let path = file.path.clone();
            assert!(files.insert(file.path, file.contents).is_none(), "two files named {path}");
        }
        Site { files }
    }

    fn page(&self, path: &str) -> &str {
        match self.files.get(path) {
            Some(text) => text,
            None => panic!("no page {path}; pages: {:?}", self.files.keys().collect::<Vec<_>>()),
        }
    }

    fn html(&self, path: &str) -> Html {
        Html::parse_document(self.page(path))
    }
}

fn is_html(path: &str) -> bool {
    Path::new(path).extension().is_some_and(|e| e == "html")
}

fn is_markdown(path: &str) -> bool {
    Path::new(path).extension().is_some_and(|e| e == "md")
}

fn select<'a>(html: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(selector).expect("a valid selector");
    html.select(&selector).collect()
}

fn select_in<'a>(element: ElementRef<'a>, selector: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(selector).expect("a valid selector");
    element.select(&selector).collect()
}

/// The element with this id (ids hold dots, so no CSS selector by id).
fn by_id<'a>(html: &'a Html, id: &str) -> Option<ElementRef<'a>> {
    select(html, "[id]").into_iter().find(|e| e.value().id() == Some(id))
}

fn text_of(element: ElementRef<'_>) -> String {
    element.text().collect()
}

/// The ids of a page, checked to be unique.
fn html_ids(html: &Html, page: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    for element in select(html, "[id]") {
        let id = element.value().id().unwrap_or_default().to_owned();
        assert!(ids.insert(id.clone()), "{page}: id `{id}` appears twice");
    }
    ids
}

/// The anchors of a Markdown page: `<a id="…"></a>`.
fn markdown_ids(text: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    for piece in text.split("<a id=\"").skip(1) {
        let id = piece.split('"').next().unwrap_or_default();
        assert!(ids.insert(id.to_owned()), "Markdown anchor `{id}` appears twice");
    }
    ids
}

/// The targets of Markdown links, `[text](target)`.
fn markdown_links(text: &str) -> Vec<String> {
    text.split("](").skip(1).map(|piece| piece.split(')').next().unwrap_or_default().to_owned()).collect()
}

fn page_stem(model: &Model, service_or_type_package: svcgen_idl::model::PackageId) -> String {
    let name = &model.package(service_or_type_package).name;
    if name == "index" { "index-package".to_owned() } else { name.clone() }
}

/// Every structural check on the reference of one model.
fn check_site(model: &Model, label: &str) -> Site {
    let site = Site::of(model);
    let mut expected: HashSet<String> = ["index.html", "index.md"].into_iter().map(str::to_owned).collect();
    for package in &model.packages {
        let stem = if package.name == "index" { "index-package" } else { package.name.as_str() };
        expected.insert(format!("{stem}.html"));
        expected.insert(format!("{stem}.md"));
    }
    let actual: HashSet<String> = site.files.keys().cloned().collect();
    assert_eq!(actual, expected, "{label}: the pages");

    // HTML: parses cleanly, self-contained, unique ids, every link lands.
    let mut ids_by_page = HashMap::new();
    for path in site.files.keys().filter(|p| is_html(p)) {
        let html = site.html(path);
        assert!(html.errors.is_empty(), "{label} {path}: HTML parse errors {:?}", html.errors);
        assert!(site.page(path).starts_with("<!DOCTYPE html>"), "{label} {path}: a doctype");
        assert!(
            select(&html, "script, link, img, iframe, object, embed, [src]").is_empty(),
            "{label} {path}"
        );
        assert_eq!(select(&html, "title").len(), 1, "{label} {path}: one title");
        assert_eq!(select(&html, "h1").len(), 1, "{label} {path}: one h1");
        ids_by_page.insert(path.clone(), html_ids(&html, path));
    }
    for path in site.files.keys().filter(|p| is_html(p)) {
        let html = site.html(path);
        for a in select(&html, "a") {
            let href = a.value().attr("href").unwrap_or_else(|| panic!("{label} {path}: <a> without href"));
            let (page, anchor) = match href.split_once('#') {
                Some(("", anchor)) => (path.as_str(), Some(anchor)),
                Some((page, anchor)) => (page, Some(anchor)),
                None => (href, None),
            };
            let Some(ids) = ids_by_page.get(page) else {
                panic!("{label} {path}: link `{href}` to a page that was not written")
            };
            if let Some(anchor) = anchor {
                assert!(ids.contains(anchor), "{label} {path}: link `{href}` to no anchor");
            }
        }
    }

    // Markdown: every link lands on a written page and an anchor of it.
    let md_ids: HashMap<&str, HashSet<String>> = site
        .files
        .iter()
        .filter(|(p, _)| is_markdown(p))
        .map(|(p, text)| (p.as_str(), markdown_ids(text)))
        .collect();
    for (path, text) in site.files.iter().filter(|(p, _)| is_markdown(p)) {
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{label} {path}: one final newline");
        for target in markdown_links(text) {
            let (page, anchor) = match target.split_once('#') {
                Some(("", anchor)) => (path.as_str(), Some(anchor)),
                Some((page, anchor)) => (page, Some(anchor)),
                None => (target.as_str(), None),
            };
            let Some(ids) = md_ids.get(page) else { panic!("{label} {path}: link `{target}` to no page") };
            if let Some(anchor) = anchor {
                assert!(ids.contains(anchor), "{label} {path}: link `{target}` to no anchor");
            }
        }
    }

    // Every package, type, service, method and event, on its page under its anchor.
    let index = site.html("index.html");
    let index_text = text_of(index.root_element());
    let index_md = site.page("index.md");
    for (id, package) in model.packages.iter().enumerate() {
        let stem = page_stem(model, svcgen_idl::model::PackageId(u32::try_from(id).expect("few packages")));
        assert!(index_text.contains(&package.name), "{label}: package {} in the index", package.name);
        assert!(index_md.contains(&package.name), "{label}: package {} in index.md", package.name);
        let html = site.html(&format!("{stem}.html"));
        let md = site.page(&format!("{stem}.md"));
        let h1 = select(&html, "h1").into_iter().next().map(text_of).unwrap_or_default();
        assert!(h1.contains(&package.name), "{label}: the title of {stem}.html");
        for type_id in &package.types {
            let def = model.ty(*type_id);
            let anchor = format!("type.{}", def.name);
            let section =
                by_id(&html, &anchor).unwrap_or_else(|| panic!("{label}: no #{anchor} in {stem}.html"));
            assert!(text_of(section).contains(&def.name), "{label}: {} under #{anchor}", def.name);
            assert!(md.contains(&format!("<a id=\"{anchor}\"></a>")), "{label}: #{anchor} in {stem}.md");
            assert!(md.contains(&format!("`{}`", def.name)), "{label}: {} in {stem}.md", def.name);
        }
        for service_id in &package.services {
            let service = &model.services[service_id.0 as usize];
            check_service(model, service, &html, md, &format!("{label} {stem}"));
        }
    }
    site
}

fn check_service(model: &Model, service: &Service, html: &Html, md: &str, label: &str) {
    let anchor = format!("service.{}", service.name);
    let section = by_id(html, &anchor).unwrap_or_else(|| panic!("{label}: no #{anchor}"));
    assert!(text_of(section).contains(&service.name), "{label}: the service name");
    assert!(md.contains(&format!("<a id=\"{anchor}\"></a>")), "{label}: #{anchor} in Markdown");
    for method in &service.methods {
        let anchor = format!("method.{}.{}", service.name, method.name);
        let section = by_id(html, &anchor).unwrap_or_else(|| panic!("{label}: no #{anchor}"));
        let text = text_of(section);
        assert!(text.contains(&method.name), "{label}: {} under #{anchor}", method.name);
        let addresses = model.method_addresses(service, method);
        let (verb, path) = addresses.rest.expect("a method has a route");
        let rest = format!("{} {path}", verb.as_str());
        for address in [&rest, &addresses.rpc, &addresses.subject, &addresses.jsonrpc] {
            assert!(text.contains(address.as_str()), "{label}: `{address}` under #{anchor}");
            assert!(md.contains(&format!("`{address}`")), "{label}: `{address}` in Markdown");
        }
        for param in &method.params {
            assert!(text.contains(&param.name), "{label}: parameter {} under #{anchor}", param.name);
        }
        for throw in &method.throws {
            let error = model.ty(throw.error);
            assert!(text.contains(&error.name), "{label}: error {} under #{anchor}", error.name);
        }
        assert!(md.contains(&format!("<a id=\"{anchor}\"></a>")), "{label}: #{anchor} in Markdown");
    }
    for event in &service.events {
        let anchor = format!("event.{}.{}", service.name, event.name);
        let section = by_id(html, &anchor).unwrap_or_else(|| panic!("{label}: no #{anchor}"));
        let text = text_of(section);
        assert!(text.contains(&event.name), "{label}: {} under #{anchor}", event.name);
        let addresses = model.event_addresses(service, event);
        for address in [&addresses.subject, &addresses.jsonrpc] {
            assert!(text.contains(address.as_str()), "{label}: `{address}` under #{anchor}");
            assert!(md.contains(&format!("`{address}`")), "{label}: `{address}` in Markdown");
        }
        if let Some(hydrate) = &event.hydrate {
            let href = format!("#method.{}.{}", service.name, hydrate.method);
            assert!(
                select_in(section, "a").iter().any(|a| a.value().attr("href") == Some(&href)),
                "{label}: #{anchor} links its @hydrate method"
            );
        }
        assert!(md.contains(&format!("<a id=\"{anchor}\"></a>")), "{label}: #{anchor} in Markdown");
    }
}

#[test]
fn every_input_renders_a_complete_and_well_formed_reference() {
    for path in inputs() {
        let model = model_of(&path);
        check_site(&model, &path.display().to_string());
    }
}

#[test]
fn the_shop_example_reads_as_expected() {
    let model = model_of(&repo("examples/shop/shop.svc"));
    let site = check_site(&model, "shop");
    let html = site.html("shop.catalog.html");
    let md = site.page("shop.catalog.md");
    for (path, text) in site.files.iter().filter(|(p, _)| is_markdown(p)) {
        assert!(!text.contains("\n\n\n"), "{path}: a run of blank lines");
    }

    // Where `get_product` is reached on each binding.
    let get_product = text_of(by_id(&html, "method.Catalog.get_product").expect("get_product"));
    for address in [
        "GET /products/{id}",
        "shop.catalog.Catalog/get_product",
        "shop.catalog.catalog.get_product",
        "catalog.get_product",
    ] {
        assert!(get_product.contains(address), "{address} in:\n{get_product}");
        assert!(md.contains(&format!("`{address}`")), "{address} in Markdown");
    }
    assert!(get_product.contains("fn get_product(id: ProductId) -> Product throws NotFound"));
    assert!(md.contains("```text\nfn get_product(id: ProductId) -> Product throws NotFound\n```"));
    assert!(get_product.contains("404"), "the error's status");
    assert!(md.contains("| [`NotFound`](#type.NotFound) | 404 |"), "{md}");
    let create = text_of(by_id(&html, "method.Catalog.create_product").expect("create_product"));
    assert!(create.contains("POST /catalog/create_product"), "the default route");
    assert!(create.contains("409"));

    // Docs of the package, a type, a method, an event.
    for docs in [
        "The product catalogue of the shop.",
        "A product in the catalogue.",
        "Reads one product.",
        "A lightweight event: subscribers hydrate it with get_product.",
        "The product is already in the catalogue.",
    ] {
        assert!(text_of(html.root_element()).contains(docs), "{docs} in HTML");
        assert!(md.contains(docs), "{docs} in Markdown");
    }

    // Types link to their definitions, on this page and on the other package's.
    let hrefs: HashSet<&str> = select(&html, "a").iter().filter_map(|a| a.value().attr("href")).collect();
    for href in ["#type.ProductId", "#type.Product", "#type.NotFound", "shop.money.html#type.Money"] {
        assert!(hrefs.contains(href), "a link to {href}");
    }
    assert!(md.contains("[`shop.money.Money`](shop.money.md#type.Money)"), "{md}");
    assert!(md.contains("`list<`[`Product`](#type.Product)`>`"), "a linked composite type");
    assert!(md.contains("[`Category`](#type.Category)`?`"), "a linked optional");

    // Parameters: presence, default, constraints, where they travel over REST.
    let list = by_id(&html, "method.Catalog.list_products").expect("list_products");
    let rows: Vec<String> = select_in(list, "tr")
        .into_iter()
        .map(|tr| {
            select_in(tr, "td, th")
                .into_iter()
                .map(|c| text_of(c).trim().to_owned())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    assert!(rows.iter().any(|r| r.starts_with("category|string?|optional|query|")), "{rows:#?}");
    assert!(
        rows.iter().any(|r| r.starts_with("limit|u32|default 50|query|range min 1, max 500")),
        "{rows:#?}"
    );
    assert!(rows.iter().any(|r| r.starts_with("sort|Sort|default NEWEST|query")), "{rows:#?}");
    assert!(md.contains("| `id` | [`ProductId`](#type.ProductId) | required | path |"), "{md}");
    assert!(md.contains("| `product` | [`NewProduct`](#type.NewProduct) | required | body |"), "{md}");
    assert!(
        md.contains("pattern ``^[A-Z]{3}-\\d{4}$``") || md.contains("pattern `^[A-Z]{3}-\\d{4}$`"),
        "{md}"
    );
    assert!(md.contains("length min 1, max 200 characters"));
    assert!(md.contains("length max 20 items"));

    // Method shapes.
    let watch = text_of(by_id(&html, "method.Catalog.watch_prices").expect("watch_prices"));
    assert!(watch.contains("stream") && watch.contains("text/event-stream"), "{watch}");
    let reindex = text_of(by_id(&html, "method.Catalog.reindex").expect("reindex"));
    assert!(reindex.contains("oneway") && reindex.contains("202 Accepted"), "{reindex}");
    let delete = text_of(by_id(&html, "method.Catalog.delete_product").expect("delete_product"));
    assert!(delete.contains("204 No Content"), "{delete}");
    let all = text_of(by_id(&html, "method.Catalog.all_products").expect("all_products"));
    assert!(all.contains("Deprecated") && all.contains("use list_products"), "{all}");

    // Events: the hydrating method, and no REST or RPC address.
    let created = by_id(&html, "event.Catalog.product_created").expect("product_created");
    assert!(text_of(created).contains("shop.catalog.catalog.product_created"));
    let bindings: Vec<String> = select_in(created, "dt").into_iter().map(text_of).collect();
    assert_eq!(bindings, ["Queue subject", "Socket (JSON-RPC)"]);
    let get_product = by_id(&html, "method.Catalog.get_product").expect("get_product");
    let bindings: Vec<String> = select_in(get_product, "dt").into_iter().map(text_of).collect();
    assert_eq!(bindings, ["REST", "RPC", "Queue subject", "Socket (JSON-RPC)"]);

    // Errors list the methods that throw them.
    let not_found = text_of(by_id(&html, "type.NotFound").expect("NotFound"));
    assert!(not_found.contains("Catalog.get_product") && not_found.contains("Catalog.delete_product"));

    // The index links every package's page.
    let index_hrefs: Vec<String> = select(&site.html("index.html"), "a")
        .iter()
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(index_hrefs.iter().any(|h| h == "shop.catalog.html"));
    assert!(index_hrefs.iter().any(|h| h == "shop.money.html"));
}

const HOSTILE: &str = r#"/// Docs with <script>alert("pkg")</script> & more.
package hostile;

/// A <b>bold</b> claim | with a pipe, and <script>alert("type")</script>.
struct Thing {
    /// Field <script>alert("field")</script> | piped.
    @pattern(r"^a|b`c$")
    name: string,
    label: string = "<script>",
}

/// Service <img src=x onerror=alert(1)>.
service Svc {
    /// Method <script>alert("method")</script>.
    @deprecated("<script>alert(\"why\")</script>")
    fn go(thing: Thing) -> Thing;
}
"#;

#[test]
fn html_escapes_user_text_and_markdown_keeps_it() {
    let model = model_from_text(&[("hostile.svc", HOSTILE)]);
    let site = check_site(&model, "hostile");
    let raw = site.page("hostile.html");
    let html = site.html("hostile.html");
    assert!(!raw.to_lowercase().contains("<script"), "raw <script> in HTML:\n{raw}");
    assert!(!raw.contains("<b>") && !raw.contains("<img"), "raw user markup in HTML");
    assert!(select(&html, "script, b, img").is_empty());
    let text = text_of(html.root_element());
    for shown in [
        r#"<script>alert("pkg")</script> & more."#,
        r"A <b>bold</b> claim | with a pipe",
        r#"Field <script>alert("field")</script> | piped."#,
        r#"Method <script>alert("method")</script>."#,
        r#"<script>alert("why")</script>"#,
        "^a|b`c$",
    ] {
        assert!(text.contains(shown), "HTML shows `{shown}` as text");
    }

    let md = site.page("hostile.md");
    assert!(md.contains(r#"Docs with <script>alert("pkg")</script> & more."#), "{md}");
    assert!(md.contains(r#"Method <script>alert("method")</script>."#), "{md}");
    assert!(md.contains(r"A <b>bold</b> claim | with a pipe"), "block docs keep their pipes: {md}");
    // In a table cell, a pipe would end the cell: it is escaped, the rest is kept.
    assert!(md.contains(r#"Field <script>alert("field")</script> \| piped."#), "{md}");
    assert!(md.contains(r"pattern ``^a\|b`c$``"), "{md}");
    assert!(md.contains(r#"default `"<script>"`"#), "{md}");
}

#[test]
fn a_package_named_index_does_not_overwrite_the_index() {
    let model = model_from_text(&[
        ("main.svc", "package main;\nimport \"index.svc\";\nstruct A { b: B }\n"),
        ("index.svc", "package index;\nstruct B {}\n"),
    ]);
    let site = check_site(&model, "index package");
    assert!(site.page("index-package.html").contains(r#"id="type.B""#));
    let main = site.page("main.md");
    assert!(main.contains("[`index.B`](index-package.md#type.B)"), "{main}");
}

/// The HTML check above is only as good as the parser's error list: make sure it has one.
#[test]
fn the_html_parser_reports_malformed_html() {
    let broken =
        "<!DOCTYPE html><html><head><title>x</title></head><body><p><div></div></p></i></body></html>";
    assert!(!Html::parse_document(broken).errors.is_empty());
    let fine = "<!DOCTYPE html><html><head><title>x</title></head><body><p>x</p></body></html>";
    assert!(Html::parse_document(fine).errors.is_empty());
}

#[test]
fn rendering_is_deterministic() {
    let model = model_of(&repo("examples/shop/shop.svc"));
    assert_eq!(render(&model).expect("renders"), render(&model).expect("renders"));
}
