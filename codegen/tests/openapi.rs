//! The `OpenAPI` 3.1 document (`svcgen_codegen::openapi`): key facts of the example and the
//! fixtures, and every document checked by a real validator, openapi-spec-validator, through
//! `tests/openapi_validate.py`. That test fails when Python (`python3`, or `$PYTHON`) or the
//! validator is missing; set up with
//! `pip install openapi-spec-validator "openapi-schema-validator[ecma-regex]"`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use svcgen_codegen::openapi::{self, Document, duration_text, openapi_path};
mod common;

use common::{inputs, model_of, repo};
use svcgen_idl::{MemoryFs, compile};

const PIP_INSTALL: &str = r#"pip install openapi-spec-validator "openapi-schema-validator[ecma-regex]""#;

/// The document as the JSON text `svcgen openapi` writes, read back.
fn json_of(document: &Document) -> Value {
    serde_json::from_str(&document.to_json()).expect("the JSON output parses")
}

/// The typed document, for what JSON values do not keep: the order of members.
fn typed(path: &str) -> Document {
    openapi::openapi(&model_of(&repo(path)))
}

fn doc(path: &str) -> Value {
    json_of(&typed(path))
}

fn fixture(name: &str) -> Value {
    doc(&format!("tests/fixtures/valid/{name}.svc"))
}

fn doc_from_text(files: &[(&str, &str)]) -> Value {
    let fs = MemoryFs::new(files.iter().copied());
    let output = compile(&[files[0].0], &fs);
    match &output.model {
        Some(model) => json_of(&openapi::openapi(model)),
        None => panic!("invalid:\n{}", output.render_diagnostics()),
    }
}

/// `doc[pointer]`, or a panic naming the pointer.
fn at<'v>(doc: &'v Value, pointer: &str) -> &'v Value {
    doc.pointer(pointer).unwrap_or_else(|| panic!("nothing at {pointer}"))
}

fn op<'v>(doc: &'v Value, path: &str, verb: &str) -> &'v Value {
    doc["paths"].get(path).and_then(|item| item.get(verb)).unwrap_or_else(|| panic!("no {verb} {path}"))
}

fn schema<'v>(doc: &'v Value, name: &str) -> &'v Value {
    doc["components"]["schemas"].get(name).unwrap_or_else(|| panic!("no schema {name}"))
}

fn param<'v>(operation: &'v Value, name: &str) -> &'v Value {
    operation["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {}", operation["operationId"]))
}

fn body(operation: &Value) -> &Value {
    at(operation, "/requestBody/content/application~1json/schema")
}

fn problem_schema(response: &Value) -> &Value {
    at(response, "/content/application~1problem+json/schema")
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

// ---------------------------------------------------------------------------------------------
// The real validator
// ---------------------------------------------------------------------------------------------

#[test]
fn every_document_passes_openapi_spec_validator() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut files = Vec::new();
    for input in inputs() {
        let document = openapi::openapi(&model_of(&input));
        let stem = input.file_stem().expect("a file name").to_string_lossy().into_owned();
        let stem = if input.starts_with(repo("examples")) { format!("example_{stem}") } else { stem };
        let json = dir.path().join(format!("{stem}.json"));
        std::fs::write(&json, document.to_json()).expect("writable");
        let yaml = dir.path().join(format!("{stem}.yaml"));
        std::fs::write(&yaml, document.to_yaml().expect("YAML output")).expect("writable");
        files.push(json);
        files.push(yaml);
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_validate.py");
    // `PYTHON` picks the interpreter (a virtual environment's, say); `python3` by default.
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let run = || match Command::new(&python).arg(&script).args(&files).output() {
        Ok(output) => output,
        Err(error) => panic!(
            "cannot run {} ({error}): the OpenAPI documents are checked by openapi-spec-validator.\n\
             Install Python 3, then: {PIP_INSTALL}",
            python.to_string_lossy()
        ),
    };
    let mut output = run();
    if output.status.code() == Some(2) {
        // The validator is missing: install it once (PyPI is reachable here), then retry.
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "openapi-spec-validator",
                "openapi-schema-validator[ecma-regex]",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "openapi-spec-validator is not installed and pip could not install it: {PIP_INSTALL}"
        );
        output = run();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(2),
        "openapi-spec-validator is not installed: {PIP_INSTALL}\n{stderr}"
    );
    assert!(output.status.success(), "invalid OpenAPI documents:\n{stdout}\n{stderr}");
    for file in &files {
        let line = format!("{}: OK", file.display());
        assert!(stdout.lines().any(|l| l == line), "no verdict for {}:\n{stdout}\n{stderr}", file.display());
    }
}

#[test]
fn yaml_and_json_hold_the_same_document() {
    for input in inputs() {
        let document = openapi::openapi(&model_of(&input));
        let yaml = document.to_yaml().expect("YAML output");
        assert!(yaml.starts_with("openapi: 3.1.1\n"), "{}", input.display());
        let from_yaml: Value = yaml_serde::from_str(&yaml).expect("the YAML output parses");
        assert_eq!(from_yaml, json_of(&document), "{}", input.display());
        assert_eq!(document.to_value(), json_of(&document), "{}", input.display());
    }
}

#[test]
fn operation_ids_are_unique_and_every_operation_is_tagged_with_a_declared_tag() {
    for input in inputs() {
        let doc = json_of(&openapi::openapi(&model_of(&input)));
        let tags: Vec<&Value> =
            doc["tags"].as_array().map(|t| t.iter().map(|t| &t["name"]).collect()).unwrap_or_default();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("a path item").values() {
                ids.push(operation["operationId"].as_str().expect("an operationId").to_owned());
                let tag = &operation["tags"][0];
                assert!(tags.contains(&tag), "{}: tag {tag} is not declared", input.display());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{}: duplicate operationIds", input.display());
    }
}

// ---------------------------------------------------------------------------------------------
// The example
// ---------------------------------------------------------------------------------------------

#[test]
fn shop_has_one_path_item_per_route_in_model_order() {
    let doc = doc("examples/shop/shop.svc");
    assert_eq!(doc["openapi"], "3.1.1");
    assert_eq!(
        doc["info"],
        json!({"title": "shop.catalog", "version": "0.1.0", "description": "The product catalogue of the shop."})
    );
    assert_eq!(doc["jsonSchemaDialect"], "https://spec.openapis.org/oas/3.1/dialect/base");
    let typed = typed("examples/shop/shop.svc");
    let paths: Vec<&String> = typed.paths.keys().collect();
    assert_eq!(
        paths,
        [
            "/products/{id}",
            "/products",
            "/catalog/create_product",
            "/catalog/pay",
            "/catalog/watch_prices",
            "/catalog/reindex",
            "/catalog/all_products",
        ]
    );
    let verbs = |path: &str| {
        let item = &typed.paths[path];
        ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .zip([&item.get, &item.put, &item.post, &item.delete, &item.patch])
            .filter_map(|(verb, operation)| operation.as_ref().map(|_| verb))
            .collect::<Vec<_>>()
    };
    assert_eq!(verbs("/products/{id}"), ["get", "delete"]);
    assert_eq!(verbs("/products"), ["get"]);
    assert_eq!(verbs("/catalog/pay"), ["post"]);

    let get = op(&doc, "/products/{id}", "get");
    assert_eq!(get["operationId"], "catalog_get_product");
    assert_eq!(get["tags"], json!(["Catalog"]));
    assert_eq!(get["summary"], "Reads one product.");
    assert!(get.get("description").is_none());
    assert!(get.get("deprecated").is_none());
    assert!(get.get("requestBody").is_none());

    let all = op(&doc, "/catalog/all_products", "post");
    assert_eq!(all["deprecated"], true);
    assert_eq!(all["description"], "Deprecated: use list_products");
    assert_eq!(doc["tags"], json!([{"name": "Catalog"}]));
}

#[test]
fn shop_parameters_travel_in_the_path_the_query_and_headers() {
    let doc = doc("examples/shop/shop.svc");
    let get = op(&doc, "/products/{id}", "get");
    assert_eq!(
        param(get, "id"),
        &json!({"name": "id", "in": "path", "required": true, "schema": reference("shop.catalog.ProductId")})
    );
    let headers: Vec<&Value> = get["parameters"].as_array().expect("parameters")[1..].iter().collect();
    assert_eq!(
        headers,
        [
            &json!({"$ref": "#/components/parameters/CorrelationId"}),
            &json!({"$ref": "#/components/parameters/DeadlineMs"}),
            &json!({"$ref": "#/components/parameters/Traceparent"}),
        ]
    );
    assert_eq!(
        at(&doc, "/components/parameters"),
        &json!({
            "CorrelationId": {
                "name": "x-correlation-id", "in": "header",
                "description": "The id of the whole exchange; made by the server when missing, always echoed back.",
                "schema": {"type": "string"}
            },
            "DeadlineMs": {
                "name": "x-deadline-ms", "in": "header",
                "description": "The time left for the call, in milliseconds; the server answers `504` when it runs out (and `400` when the header is not a number).",
                "schema": {"type": "integer", "format": "int64", "minimum": 1}
            },
            "Traceparent": {
                "name": "traceparent", "in": "header",
                "description": "W3C trace context (`00-<trace id>-<parent id>-<flags>`), passed on to nested calls. As W3C Trace Context requires, a malformed value is ignored and a new trace started.",
                "schema": {"type": "string"}
            }
        })
    );
    assert_eq!(at(&doc, "/components/headers/CorrelationId/required"), true);

    let list = op(&doc, "/products", "get");
    assert_eq!(
        param(list, "category"),
        &json!({"name": "category", "in": "query", "schema": {"type": "string"}})
    );
    assert_eq!(
        param(list, "limit"),
        &json!({"name": "limit", "in": "query", "schema": {
            "type": "integer", "format": "int64", "minimum": 1, "maximum": 500, "default": 50
        }})
    );
    assert_eq!(
        param(list, "sort"),
        &json!({"name": "sort", "in": "query", "schema": {"$ref": "#/components/schemas/shop.catalog.Sort", "default": "NEWEST"}})
    );
}

#[test]
fn shop_bodies_hold_the_other_parameters() {
    let doc = doc("examples/shop/shop.svc");
    let create = op(&doc, "/catalog/create_product", "post");
    assert_eq!(create["requestBody"]["required"], true);
    assert_eq!(
        body(create),
        &json!({"type": "object", "properties": {"product": reference("shop.catalog.NewProduct")}, "required": ["product"]})
    );
    let pay = body(op(&doc, "/catalog/pay", "post"));
    assert_eq!(pay["required"], json!(["order", "payment"]));
    assert_eq!(
        pay["properties"]["timeout"],
        json!({"type": "string", "pattern": r"^[0-9]{1,19}(\.[0-9]{1,9})?s$", "default": "30s"})
    );
    assert!(op(&doc, "/products/{id}", "delete").get("requestBody").is_none());
    assert!(op(&doc, "/catalog/all_products", "post").get("requestBody").is_none());
}

#[test]
fn shop_success_responses_follow_the_method_shape() {
    let doc = doc("examples/shop/shop.svc");
    let statuses = |path: &str, verb: &str| {
        op(&doc, path, verb)["responses"].as_object().expect("responses").keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(statuses("/products/{id}", "get"), ["200", "400", "404", "500", "504", "default"]);
    assert_eq!(statuses("/products/{id}", "delete"), ["204", "400", "404", "500", "504", "default"]);
    assert_eq!(statuses("/products", "get"), ["200", "400", "500", "504", "default"]);
    assert_eq!(statuses("/catalog/create_product", "post"), ["200", "400", "409", "500", "504", "default"]);
    assert_eq!(statuses("/catalog/reindex", "post"), ["202", "400", "500", "504", "default"]);

    let correlation = json!({"x-correlation-id": {"$ref": "#/components/headers/CorrelationId"}});
    let ok = &op(&doc, "/products", "get")["responses"]["200"];
    assert_eq!(ok["headers"], correlation);
    assert_eq!(
        ok["content"],
        json!({"application/json": {"schema": {"type": "array", "items": reference("shop.catalog.Product")}}})
    );
    let no_content = &op(&doc, "/catalog/pay", "post")["responses"]["204"];
    assert!(no_content.get("content").is_none());
    assert_eq!(no_content["headers"], correlation);
    let accepted = &op(&doc, "/catalog/reindex", "post")["responses"]["202"];
    assert!(accepted.get("content").is_none());

    let stream = &op(&doc, "/catalog/watch_prices", "post")["responses"]["200"]["content"];
    assert_eq!(stream.as_object().expect("content").keys().collect::<Vec<_>>(), ["text/event-stream"]);
    let event = &stream["text/event-stream"]["schema"];
    assert_eq!(event["type"], "object");
    assert_eq!(event["properties"]["event"]["enum"], json!(["item", "end", "error"]));
    assert_eq!(event["properties"]["data"]["contentMediaType"], "application/json");
    assert_eq!(event["properties"]["data"]["contentSchema"], reference("shop.catalog.PriceTick"));
    assert_eq!(stream["text/event-stream"]["x-svcgen-item-schema"], reference("shop.catalog.PriceTick"));
}

#[test]
fn shop_errors_are_problem_documents() {
    let doc = doc("examples/shop/shop.svc");
    let get = &op(&doc, "/products/{id}", "get")["responses"];
    assert_eq!(get["400"], response_ref("InvalidArgument"));
    assert_eq!(get["500"], response_ref("Internal"));
    assert_eq!(get["504"], response_ref("DeadlineExceeded"));
    assert_eq!(get["default"], response_ref("Problem"));
    // The typed NotFound and the generic 404 share the status; the generic one matches both.
    assert_eq!(
        problem_schema(&get["404"]),
        &json!({"anyOf": [reference("shop.catalog.NotFound-Problem"), reference("Problem")]})
    );
    assert_eq!(
        problem_schema(&op(&doc, "/catalog/create_product", "post")["responses"]["409"]),
        &reference("shop.catalog.AlreadyExists-Problem")
    );
    assert_eq!(
        op(&doc, "/catalog/create_product", "post")["responses"]["409"]["description"],
        "The domain error `AlreadyExists`: The product is already in the catalogue."
    );

    assert_eq!(
        schema(&doc, "shop.catalog.NotFound-Problem")["allOf"],
        json!([reference("Problem"), {
            "type": "object",
            "properties": {
                "type": {"const": "urn:svcgen:error:shop.catalog.NotFound"},
                "title": {"const": "NotFound"},
                "status": {"const": 404},
                "error": reference("shop.catalog.NotFound"),
            },
            "required": ["error"],
        }])
    );
    let problem = schema(&doc, "Problem");
    assert_eq!(problem["required"], json!(["type", "title", "status", "code"]));
    let typed = typed("examples/shop/shop.svc");
    let members: Vec<&String> = typed.components.schemas["Problem"].properties.keys().collect();
    assert_eq!(members, ["type", "title", "status", "detail", "code", "correlation_id"]);
    let validation = schema(&doc, "ValidationProblem");
    assert_eq!(validation["allOf"][0], reference("Problem"));
    assert!(validation["allOf"][1].get("required").is_none(), "violations are absent for unreadable input");
    assert_eq!(
        validation["allOf"][1]["properties"]["violations"],
        json!({"type": "array", "items": reference("Violation")})
    );
    assert_eq!(schema(&doc, "Violation")["required"], json!(["field", "message"]));
    assert_eq!(
        at(&doc, "/components/responses/InvalidArgument/content"),
        &json!({"application/problem+json": {"schema": reference("ValidationProblem")}})
    );
}

#[test]
fn shop_schemas_cover_every_type() {
    let doc = doc("examples/shop/shop.svc");
    let typed = typed("examples/shop/shop.svc");
    let names: Vec<&String> = typed.components.schemas.keys().collect();
    assert_eq!(
        names,
        [
            "shop.catalog.Product",
            "shop.catalog.NewProduct",
            "shop.catalog.PriceTick",
            "shop.catalog.Category",
            "shop.catalog.ProductId",
            "shop.catalog.Payment",
            "shop.catalog.Card",
            "shop.catalog.Sort",
            "shop.catalog.NotFound",
            "shop.catalog.AlreadyExists",
            "shop.money.Currency",
            "shop.money.Money",
            "Problem",
            "ValidationProblem",
            "Violation",
            "shop.catalog.NotFound-Problem",
            "shop.catalog.AlreadyExists-Problem",
        ]
    );
    let product = schema(&doc, "shop.catalog.Product");
    assert_eq!(product["description"], "A product in the catalogue.");
    assert_eq!(product["required"], json!(["id", "name", "price", "tags", "attributes", "created_at"]));
    assert_eq!(product["properties"]["name"], json!({"type": "string", "minLength": 1, "maxLength": 200}));
    assert_eq!(product["properties"]["description"], json!({"type": ["string", "null"]}));
    assert_eq!(
        product["properties"]["attributes"],
        json!({"type": "object", "additionalProperties": {"type": "string"}})
    );
    assert_eq!(product["properties"]["created_at"], json!({"type": "string", "format": "date-time"}));

    let new_product = schema(&doc, "shop.catalog.NewProduct");
    assert_eq!(new_product["required"], json!(["name", "price"]));
    assert_eq!(
        new_product["properties"]["tags"],
        json!({"type": "array", "items": {"type": "string"}, "maxItems": 20, "default": []})
    );
    assert_eq!(
        new_product["properties"]["sku"],
        json!({"type": ["string", "null"], "pattern": r"^[A-Z]{3}-\d{4}$"})
    );
    assert_eq!(
        schema(&doc, "shop.catalog.Category")["properties"]["parent"],
        json!({"oneOf": [reference("shop.catalog.Category"), {"type": "null"}]})
    );
    assert_eq!(
        schema(&doc, "shop.catalog.ProductId"),
        &json!({"type": "integer", "format": "uint64", "minimum": 0, "maximum": 18_446_744_073_709_551_615_u64})
    );
    assert_eq!(
        schema(&doc, "shop.catalog.Payment"),
        &json!({
            "description": "How an order is paid.",
            "oneOf": [
                {"title": "card", "type": "object", "properties": {"card": reference("shop.catalog.Card")},
                 "required": ["card"], "additionalProperties": false},
                {"title": "voucher", "type": "object", "properties": {"voucher": {"type": "string"}},
                 "required": ["voucher"], "additionalProperties": false},
            ]
        })
    );
    assert_eq!(
        schema(&doc, "shop.catalog.Sort"),
        &json!({"type": "string", "enum": ["NAME", "PRICE", "NEWEST"]})
    );
    assert_eq!(
        schema(&doc, "shop.money.Money")["properties"],
        json!({
            "amount": {"description": "Minor units: 1999 is 19.99.", "type": "integer", "format": "int64"},
            "currency": {"$ref": "#/components/schemas/shop.money.Currency", "default": "EUR"},
        })
    );
    assert_eq!(schema(&doc, "shop.money.Money")["required"], json!(["amount"]));
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn scalars_have_their_json_form() {
    let doc = fixture("scalars");
    let all = &schema(&doc, "fixtures.scalars.AllScalars")["properties"];
    let expected = json!({
        "a_bool": {"type": "boolean"},
        "an_i8": {"type": "integer", "format": "int32", "minimum": -128, "maximum": 127},
        "an_i16": {"type": "integer", "format": "int32", "minimum": -32768, "maximum": 32767},
        "an_i32": {"type": "integer", "format": "int32"},
        "an_i64": {"type": "integer", "format": "int64"},
        "a_u8": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 255},
        "a_u16": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 65535},
        "a_u32": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4_294_967_295_u32},
        "a_u64": {"type": "integer", "format": "uint64", "minimum": 0, "maximum": u64::MAX},
        "an_f32": {"type": "number", "format": "float"},
        "an_f64": {"type": "number", "format": "double"},
        "a_string": {"type": "string"},
        "some_bytes": {"type": "string", "contentEncoding": "base64"},
        "a_timestamp": {"type": "string", "format": "date-time"},
        "a_duration": {"type": "string", "pattern": r"^[0-9]{1,19}(\.[0-9]{1,9})?s$"},
        "a_uuid": {"type": "string", "format": "uuid"},
    });
    assert_eq!(all, &expected);
    let optional = &schema(&doc, "fixtures.scalars.OptionalScalars");
    assert!(optional.get("required").is_none(), "optional fields are not required");
    for (name, scalar) in expected.as_object().expect("an object") {
        let mut nullable = scalar.clone();
        nullable["type"] = json!([scalar["type"], "null"]);
        assert_eq!(optional["properties"][name], nullable, "{name}");
    }
    let defaults = &schema(&doc, "fixtures.scalars.ScalarDefaults")["properties"];
    let values: serde_json::Map<String, Value> = defaults
        .as_object()
        .expect("properties")
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].clone()))
        .collect();
    assert_eq!(
        Value::Object(values),
        json!({
            "a_bool": true,
            "an_i8": -128,
            "an_i16": 32767,
            "an_i32": -2_147_483_648_i64,
            "an_i64": i64::MAX,
            "a_u8": 255,
            "a_u16": 65535,
            "a_u32": 4_294_967_295_u32,
            "a_u64": u64::MAX,
            "an_f32": 1.5,
            "an_f64": -2.5e-3,
            "a_string": "hello",
            "some_bytes": "",
            "a_timestamp": "2024-05-01T12:00:00Z",
            "a_duration": "5400s",
            "a_uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        })
    );
}

#[test]
fn composites_nest_arrays_maps_and_nullables() {
    let doc = fixture("composites");
    let p = &schema(&doc, "fixtures.composites.Composites")["properties"];
    assert_eq!(p["optional_list"], json!({"type": ["array", "null"], "items": {"type": "string"}}));
    assert_eq!(p["list_of_optionals"], json!({"type": "array", "items": {"type": ["string", "null"]}}));
    assert_eq!(
        p["map_by_i8"],
        json!({"type": "object", "additionalProperties": {"type": "string"}, "propertyNames": {"pattern": "^-?[0-9]+$"}})
    );
    assert_eq!(p["map_by_u64"]["propertyNames"], json!({"pattern": "^[0-9]+$"}));
    assert_eq!(p["map_by_enum"]["propertyNames"], reference("fixtures.composites.Color"));
    assert!(p["map_by_alias"].get("propertyNames").is_none(), "string keys need no pattern");
    assert_eq!(
        p["map_of_optionals"]["additionalProperties"],
        json!({"oneOf": [reference("fixtures.composites.Point"), {"type": "null"}]})
    );
    assert_eq!(p["optional_map"]["type"], json!(["object", "null"]));
    assert_eq!(
        p["map_of_lists"],
        json!({"type": "object", "additionalProperties": {"type": "array", "items": reference("fixtures.composites.Point")}})
    );
    assert_eq!(schema(&doc, "fixtures.composites.Name"), &json!({"type": "string"}));
    let transform = body(op(&doc, "/shapes/transform", "post"));
    assert_eq!(transform["required"], json!(["points"]));
    assert_eq!(transform["properties"]["by"]["type"], json!(["object", "null"]));
}

#[test]
fn constraints_become_json_schema_keywords() {
    let doc = fixture("constraints");
    let p = &schema(&doc, "fixtures.constraints.Constrained")["properties"];
    assert_eq!(p["short"], json!({"type": ["string", "null"], "maxLength": 16}));
    // One byte or more is at least 4 base64 characters.
    assert_eq!(p["data"], json!({"type": "string", "contentEncoding": "base64", "minLength": 4}));
    assert_eq!(
        p["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 0, "maxProperties": 3, "default": {"a": "b"}})
    );
    assert_eq!(
        p["limit"],
        json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 500, "default": 50})
    );
    assert_eq!(
        p["temperature"],
        json!({"type": "integer", "format": "int32", "minimum": -40, "maximum": 85})
    );
    assert_eq!(
        p["ratio"],
        json!({"type": "number", "format": "double", "minimum": 0.0, "maximum": 1.0, "default": 0.5})
    );
    assert_eq!(p["offset"], json!({"type": ["number", "null"], "format": "float", "minimum": -1500.0}));
    assert_eq!(p["small"], json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 255}));
    assert_eq!(p["slug"], json!({"type": "string", "pattern": "^[a-z]+$", "default": "abc"}));
    assert_eq!(
        p["unicode_class"],
        json!({"$ref": "#/components/schemas/fixtures.constraints.Code", "pattern": r"^\p{Lu}\w*$"})
    );
    assert_eq!(
        p["currency"],
        json!({"$ref": "#/components/schemas/fixtures.constraints.Code", "minLength": 3, "maxLength": 3, "pattern": "^[A-Z]+$", "default": "EUR"})
    );
    let search = body(op(&doc, "/constraints/search", "post"));
    assert_eq!(
        search["properties"]["query"],
        json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"})
    );
    assert_eq!(search["required"], json!(["query"]));
}

#[test]
fn defaults_take_their_json_form() {
    let doc = fixture("values_and_defaults");
    let defaults = |name: &str| {
        let props = &schema(&doc, &format!("fixtures.values.{name}"))["properties"];
        props
            .as_object()
            .expect("properties")
            .iter()
            .map(|(k, v)| (k.clone(), v["default"].clone()))
            .collect::<serde_json::Map<_, _>>()
    };
    let times = defaults("Times");
    assert_eq!(times["seconds"], "30s");
    assert_eq!(times["minutes"], "5400s");
    assert_eq!(times["millis"], "0.25s");
    assert_eq!(times["micros"], "0.00001s");
    assert_eq!(times["nanos"], "0.000000005s");
    assert_eq!(times["days"], "172800s");
    assert_eq!(times["all_units"], "93784.005006007s");
    assert_eq!(times["lower_case"], "2024-05-01T12:00:00Z");
    assert_eq!(times["offset"], "2024-05-01T12:00:00+02:00");
    assert_eq!(times["leap_second"], "2016-12-31T23:59:60Z");
    assert_eq!(times["upper_id"], "67e55044-10b1-426f-9247-bb680e5fe0c8");
    let others = defaults("Others");
    assert_eq!(others["nothing"], Value::Null);
    assert_eq!(others["qualified"], "GBP");
    assert_eq!(others["maybe_currency"], "USD");
    assert_eq!(others["currencies"], json!(["EUR", "USD"]));
    let collections = defaults("Collections");
    assert_eq!(collections["int_keys"], json!({"1": "one", "-1": "minus one"}));
    assert_eq!(collections["enum_keys"], json!({"EUR": 1.0, "USD": 1.08}));
    assert_eq!(collections["optional_items"], json!(["a", null]));
    assert_eq!(collections["nested_map"], json!({"x": [{"y": true}, {}]}));
    let numbers = defaults("Numbers");
    assert_eq!(numbers["hex_upper"], 0xDEAD_BEEF_u32);
    assert_eq!(numbers["negative_hex"], -16);
    assert_eq!(numbers["int_for_float"], 10.0);
    assert_eq!(numbers["exponent"], 6.02e23);
    let strings = defaults("Strings");
    assert_eq!(strings["escapes"], "tab\tnewline\nreturn\rnul\0backslash\\quote\"");
    assert_eq!(strings["unicode_escape"], "\u{1F600} \u{e9} \u{41}");
    // A `bytes` default is text whose UTF-8 bytes are the value; the wire form is their base64.
    assert_eq!(strings["bytes_default"], "YUdWc2JHOD0=");

    let get = body(op(&doc, "/values/get", "post"));
    assert_eq!(get["properties"]["wait"]["default"], "60s");
    assert_eq!(
        get["properties"]["since"],
        json!({"type": ["string", "null"], "format": "date-time", "default": null})
    );
    assert_eq!(get["properties"]["currency"]["default"], "EUR");
    assert_eq!(get["required"], json!(["numbers", "strings", "others", "collections", "times"]));
    assert_eq!(
        fixture("duration_micro_sign")["components"]["schemas"]["fixtures.valid.Timeouts"]["properties"]["tiny"]
            ["default"],
        "0.000005s"
    );
}

#[test]
fn http_routes_map_parameters_to_path_query_and_body() {
    let doc = fixture("http_routes");
    let list = op(&doc, "/products", "get");
    assert_eq!(
        param(list, "kind"),
        &json!({"name": "kind", "in": "query", "schema": reference("fixtures.http.Kind")})
    );
    assert_eq!(
        param(list, "tags"),
        &json!({"name": "tags", "in": "query", "style": "form", "explode": true, "schema": {"type": "array", "items": {"type": "string"}}})
    );
    assert_eq!(
        param(list, "after"),
        &json!({"name": "after", "in": "query", "schema": reference("fixtures.http.ProductId")})
    );
    assert_eq!(param(list, "limit")["schema"]["default"], 50);
    assert!(param(list, "limit").get("required").is_none());
    assert_eq!(param(list, "at")["schema"], json!({"type": "string", "format": "date-time"}));
    assert_eq!(param(list, "ids")["schema"]["items"], json!({"type": "string", "format": "uuid"}));
    assert!(list.get("requestBody").is_none());

    let versioned = op(&doc, "/kinds/{kind}/products/{id}/versions/{version}", "get");
    let in_path: Vec<&Value> =
        versioned["parameters"].as_array().expect("parameters")[..3].iter().map(|p| &p["name"]).collect();
    assert_eq!(in_path, ["kind", "id", "version"]);
    assert_eq!(param(versioned, "kind")["schema"], reference("fixtures.http.Kind"));
    assert_eq!(
        param(versioned, "version")["schema"],
        json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 65535})
    );
    assert!(
        versioned["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .take(3)
            .all(|p| p["in"] == "path" && p["required"] == true)
    );

    let replace = op(&doc, "/products/{id}", "put");
    assert_eq!(param(replace, "id")["in"], "path");
    assert_eq!(
        body(replace),
        &json!({"type": "object", "properties": {"product": reference("fixtures.http.Product")}, "required": ["product"]})
    );
    let patch = op(&doc, "/products/{id}", "patch");
    assert_eq!(
        body(patch)["properties"].as_object().expect("properties").keys().collect::<Vec<_>>(),
        ["patch"]
    );
    let delete = op(&doc, "/products/{id}", "delete");
    assert_eq!(
        param(delete, "hard"),
        &json!({"name": "hard", "in": "query", "schema": {"type": "boolean", "default": false}})
    );
    assert!(delete.get("requestBody").is_none());
    let create = body(op(&doc, "/products", "post"));
    assert_eq!(create["required"], json!(["product", "labels"]));
    assert_eq!(op(&doc, "/search/{term}", "get")["responses"]["404"], response_ref("NotFound"));
    assert!(op(&doc, "/product_catalog/reindex_all", "post").get("requestBody").is_none());
    assert_eq!(op(&doc, "/product_catalog/reindex", "post")["operationId"], "product_catalog_reindex");
    let routes = typed("tests/fixtures/valid/http_routes.svc");
    let paths: Vec<&String> = routes.paths.keys().collect();
    assert_eq!(
        paths,
        [
            "/products/{id}",
            "/products",
            "/kinds/{kind}/products/{id}/versions/{version}",
            "/products/{id}/related",
            "/search/{term}",
            "/product_catalog/reindex",
            "/product_catalog/reindex_all",
        ]
    );
    // `/files/` is `/files`.
    let route_slash = typed("tests/fixtures/valid/route_slash_before_param.svc");
    assert_eq!(
        route_slash.paths.keys().collect::<Vec<_>>(),
        ["/files/{name}", "/files/{name}/meta", "/files"]
    );
}

#[test]
fn method_shapes_and_their_errors() {
    let doc = fixture("method_shapes");
    let responses = |method: &str| &op(&doc, &format!("/methods/{method}"), "post")["responses"];
    assert!(op(&doc, "/methods/nothing", "post").get("requestBody").is_none());
    assert_eq!(
        at(responses("optional_return"), "/200/content/application~1json/schema"),
        &json!({"oneOf": [reference("fixtures.methods.Item"), {"type": "null"}]})
    );
    assert_eq!(
        at(responses("map_return"), "/200/content/application~1json/schema"),
        &json!({"type": "object", "additionalProperties": reference("fixtures.methods.Item")})
    );
    assert_eq!(
        at(responses("stream_scalars"), "/200/content/text~1event-stream/x-svcgen-item-schema"),
        &json!({"type": "number", "format": "double"})
    );
    assert_eq!(
        at(responses("stream_lists"), "/200/content/text~1event-stream/x-svcgen-item-schema"),
        &json!({"type": "array", "items": reference("fixtures.methods.Item")})
    );
    assert!(responses("fire").get("202").is_some());
    assert!(responses("fire_nothing").get("202").is_some());
    assert!(responses("throws_without_return").get("204").is_some());

    // No path parameter: 404 is only the typed error.
    assert_eq!(
        problem_schema(&responses("throws_one")["404"]),
        &reference("fixtures.methods.NotFound-Problem")
    );
    // Rejected has status 400, like invalid input: the two differ by `type`.
    assert_eq!(
        problem_schema(&responses("throws_two")["400"]),
        &json!({"oneOf": [reference("fixtures.methods.Rejected-Problem"), reference("ValidationProblem")]})
    );
    let stream_throws = responses("stream_that_throws");
    assert_eq!(
        stream_throws.as_object().expect("responses").keys().collect::<Vec<_>>(),
        ["200", "400", "404", "500", "504", "default"]
    );

    let defaults = body(op(&doc, "/methods/defaults", "post"));
    assert!(defaults.get("required").is_none(), "every parameter has a default");
    assert_eq!(
        defaults["properties"]["order"],
        json!({"$ref": "#/components/schemas/fixtures.methods.Order", "default": "DESC"})
    );
    assert_eq!(defaults["properties"]["name"], json!({"type": ["string", "null"], "default": null}));
    assert_eq!(defaults["properties"]["tags"]["default"], json!(["a", "b"]));
    assert_eq!(defaults["properties"]["timeout"]["default"], "30s");

    let documented = op(&doc, "/methods/documented", "post");
    assert_eq!(documented["deprecated"], true);
    assert_eq!(documented["summary"], "A documented method.");
    assert_eq!(documented["description"], "A documented method.\n\nDeprecated: use both");
    assert_eq!(body(documented)["properties"]["id"]["description"], "The id.");
}

#[test]
fn errors_share_statuses_and_default_to_400() {
    let doc = fixture("errors");
    let responses = |method: &str| &op(&doc, &format!("/things/{method}"), "post")["responses"];
    let put = responses("put");
    assert_eq!(
        put.as_object().expect("responses").keys().collect::<Vec<_>>(),
        ["204", "400", "409", "429", "500", "504", "default"]
    );
    assert_eq!(problem_schema(&put["409"]), &reference("fixtures.errors.Conflict-Problem"));
    assert_eq!(put["409"]["description"], "The domain error `Conflict`: Conflicts.");
    assert_eq!(problem_schema(&put["429"]), &reference("fixtures.errors.TooMany-Problem"));
    let all = responses("all");
    assert_eq!(
        problem_schema(&all["400"]),
        &json!({"oneOf": [
            reference("fixtures.errors.Plain-Problem"),
            reference("fixtures.errors.Empty-Problem"),
            reference("ValidationProblem"),
        ]})
    );
    assert_eq!(problem_schema(&all["599"]), &reference("fixtures.errors.Odd-Problem"));
    assert_eq!(
        schema(&doc, "fixtures.errors.Plain-Problem")["allOf"][1]["properties"]["status"],
        json!({"const": 400})
    );
    assert_eq!(schema(&doc, "fixtures.errors.Empty"), &json!({"type": "object"}));
    assert_eq!(
        schema(&doc, "fixtures.errors.Conflict")["properties"]["existing"],
        json!({"oneOf": [reference("fixtures.errors.Thing"), {"type": "null"}]})
    );
}

#[test]
fn aliases_resolve_where_the_wire_needs_it() {
    let doc = fixture("aliases");
    let get = op(&doc, "/products/{id}", "get");
    assert_eq!(param(get, "id")["schema"], reference("fixtures.aliases.Id"));
    // `throws Missing`, an alias of NotFound.
    assert_eq!(
        problem_schema(&get["responses"]["404"]),
        &json!({"anyOf": [reference("fixtures.aliases.NotFound-Problem"), reference("Problem")]})
    );
    let list = op(&doc, "/products", "get");
    // `MaybeId` is `ProductId?`: absent rather than null in a query.
    assert_eq!(
        param(list, "after"),
        &json!({"name": "after", "in": "query", "schema": reference("fixtures.aliases.ProductId")})
    );
    assert_eq!(param(list, "tags")["style"], "form");
    assert!(param(list, "tags").get("required").is_none());
    assert_eq!(
        schema(&doc, "fixtures.aliases.MaybeId"),
        &json!({"oneOf": [reference("fixtures.aliases.ProductId"), {"type": "null"}]})
    );
    assert_eq!(schema(&doc, "fixtures.aliases.Missing"), &reference("fixtures.aliases.NotFound"));
    let product = schema(&doc, "fixtures.aliases.Product");
    assert_eq!(product["required"], json!(["id", "sku"]));
    assert_eq!(
        product["properties"]["index"],
        json!({"$ref": "#/components/schemas/fixtures.aliases.Index", "default": {}})
    );
    assert_eq!(
        schema(&doc, "fixtures.aliases.Index"),
        &json!({"type": "object", "additionalProperties": reference("fixtures.aliases.ProductId")})
    );
}

#[test]
fn enums_and_unions() {
    let doc = fixture("enums_and_unions");
    assert_eq!(
        schema(&doc, "fixtures.choices.Status"),
        &json!({
            "description": "An enum with documented variants.\n\n- `PENDING`: Not started yet.\n- `RUNNING`: Running.\n- `DONE`: Done, successfully or not.",
            "type": "string",
            "enum": ["PENDING", "RUNNING", "DONE"],
        })
    );
    assert_eq!(
        schema(&doc, "fixtures.choices.Mixed")["enum"],
        json!(["Plain", "SHOUTING", "snake_case_too", "V2"])
    );
    let everything = schema(&doc, "fixtures.choices.Everything")["oneOf"].as_array().expect("oneOf").clone();
    assert_eq!(everything.len(), 8);
    for case in &everything {
        let name = case["title"].as_str().expect("a title");
        assert_eq!(case["required"], json!([name]));
        assert_eq!(case["additionalProperties"], false);
        assert_eq!(case["properties"].as_object().expect("properties").len(), 1);
    }
    assert_eq!(
        everything[0]["properties"]["number"],
        json!({"description": "A scalar case.", "type": "number", "format": "double"})
    );
    assert_eq!(
        everything[5]["properties"]["maybe"],
        json!({"oneOf": [reference("fixtures.choices.Card"), {"type": "null"}]})
    );
    let all = body(op(&doc, "/choices/all", "post"));
    assert_eq!(all["properties"]["mixed"]["default"], "snake_case_too");
    assert_eq!(all["properties"]["single"]["default"], "ONLY");
}

#[test]
fn deprecation_reaches_operations_parameters_and_schemas() {
    let doc = fixture("deprecated_everywhere");
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("a path item").values() {
            assert_eq!(operation["deprecated"], true, "the service is deprecated");
        }
    }
    assert_eq!(doc["tags"], json!([{"name": "Legacy", "description": "Deprecated: use Current"}]));
    let get = body(op(&doc, "/legacy/get", "post"));
    assert_eq!(
        get["properties"]["id"],
        json!({"$ref": "#/components/schemas/fixtures.deprecated.OldId", "description": "Deprecated: use ids", "deprecated": true})
    );
    let old = schema(&doc, "fixtures.deprecated.Old");
    assert_eq!(old["deprecated"], true);
    assert!(old.get("description").is_none(), "no reason given");
    assert_eq!(old["properties"]["old_field"]["deprecated"], true);
    assert_eq!(
        schema(&doc, "fixtures.deprecated.Colour")["description"],
        "Deprecated: use Color\n\n- `GREY` (deprecated)"
    );
    assert_eq!(
        schema(&doc, "fixtures.deprecated.Pay")["oneOf"][0]["properties"]["cheque"],
        json!({"description": "Deprecated: no more cheques", "type": "string", "deprecated": true})
    );
    assert_eq!(
        schema(&doc, "fixtures.deprecated.OldProblem-Problem")["allOf"][1]["properties"]["status"]["const"],
        400
    );
}

#[test]
fn services_with_one_name_in_two_packages_stay_apart() {
    let doc = doc_from_text(&[
        (
            "b.svc",
            "package b;\nimport \"a.svc\";\nservice Orders {\n    @http(GET, \"/b/orders/\")\n    fn list() -> list<a.Order>;\n}\n",
        ),
        (
            "a.svc",
            "package a;\nstruct Order { id: u64 }\nservice Orders {\n    fn list() -> list<Order>;\n}\n",
        ),
    ]);
    // The trailing `/` is dropped: with and without it is the same route.
    let b = op(&doc, "/b/orders", "get");
    let a = op(&doc, "/orders/list", "post");
    assert_eq!(a["operationId"], "a_orders_list");
    assert_eq!(b["operationId"], "b_orders_list");
    assert_eq!(a["tags"], json!(["a.Orders"]));
    assert_eq!(b["tags"], json!(["b.Orders"]));
    // The packages of the services, in the model's order of services.
    assert_eq!(doc["info"]["title"], "b, a");
}

#[test]
fn a_model_without_services_still_has_its_schemas() {
    let doc = fixture("money");
    assert_eq!(doc["paths"], json!({}));
    assert!(doc.get("tags").is_none());
    assert!(doc["components"]["schemas"].as_object().expect("schemas").keys().any(|k| k.ends_with(".Money")));
    let imports = fixture("imports_across_packages");
    assert_eq!(imports["info"]["title"], "shop.orders");
    assert_eq!(
        schema(&imports, "shop.orders.Order")["properties"]["qualified_currency"],
        json!({"$ref": "#/components/schemas/shop.money.Currency", "default": "USD"})
    );
}

#[test]
fn keywords_and_std_names_are_plain_json_names() {
    let doc = fixture("rust_keywords");
    let keywords = schema(&doc, "fixtures.keywords.Keywords");
    assert_eq!(keywords["properties"]["type"], json!({"type": "string"}));
    assert_eq!(keywords["properties"]["null"], json!({"type": ["string", "null"]}));
    assert_eq!(
        op(&doc, "/keyworded/loop", "post")["requestBody"]["content"]["application/json"]["schema"]["properties"]
            ["ref"]["default"],
        "move"
    );
    let std = fixture("std_names");
    assert_eq!(
        schema(&std, "fixtures.std_names.Result")["properties"]["value"],
        json!({"oneOf": [reference("fixtures.std_names.String"), {"type": "null"}]})
    );
}

#[test]
fn duration_text_is_seconds_with_a_fraction() {
    assert_eq!(duration_text(0), "0s");
    assert_eq!(duration_text(30_000_000_000), "30s");
    assert_eq!(duration_text(1_500_000_000), "1.5s");
    assert_eq!(duration_text(1_000), "0.000001s");
    assert_eq!(duration_text(1), "0.000000001s");
}

#[test]
fn openapi_paths_drop_one_trailing_slash() {
    assert_eq!(openapi_path("/products/"), "/products");
    assert_eq!(openapi_path("/products"), "/products");
    assert_eq!(openapi_path("/"), "/");
}
