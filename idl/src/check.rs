//! `check_*`: the rules a model must follow, whichever front end built it.
//!
//! Each function checks one rule, stated in its first sentence, and reports every violation.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::diagnostic::{Diagnostic, Diagnostics, closest};
use crate::model::{
    Field, HttpMethod, Model, Number, Returns, Scalar, Segment, Type, TypeDefKind, TypeId, TypeKind, Value,
    ValueNode, parse_path_template, snake_case, upper_camel,
};
use crate::source::Span;

/// Runs every check.
pub fn check(model: &Model, diags: &mut Diagnostics) {
    check_duplicate_names(model, diags);
    check_reserved_names(model, diags);
    check_empty_types(model, diags);
    check_map_keys(model, diags);
    check_recursion(model, diags);
    check_constraints(model, diags);
    check_defaults(model, diags);
    check_throws(model, diags);
    check_oneway(model, diags);
    check_http(model, diags);
    check_routes(model, diags);
    check_hydrate(model, diags);
    check_double_optional(model, diags);
    check_name_collisions(model, diags);
    check_generated_names(model, diags);
    check_naming_style(model, diags);
}

/// "a" or "an" before a word (by its first letter, which is enough for our names).
fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// A type's name is not one generated for a service of its package: `{Service}Client`,
/// `{Service}Server`, `{Method}Error` for each method that throws, `{Service}Events` and
/// the struct of each event.
fn check_generated_names(model: &Model, diags: &mut Diagnostics) {
    let rust = |name: &str| upper_camel(&snake_case(name));
    let error_names = model.method_error_names();
    let event_names = model.event_struct_names();
    for package in &model.packages {
        let mut generated: HashMap<String, (String, Span)> = HashMap::new();
        // The service traits themselves (a type of the same name is `duplicate-name`).
        let traits: HashMap<String, (String, Span)> = package
            .services
            .iter()
            .map(|sid| {
                let service = &model.services[sid.0 as usize];
                (rust(&service.name), (format!("the trait of service `{}`", service.name), service.span))
            })
            .collect();
        for sid in &package.services {
            let service = &model.services[sid.0 as usize];
            let base = rust(&service.name);
            for what in ["client", "server"] {
                let name = format!("{base}{}", upper_camel(what));
                generated.insert(
                    name,
                    (format!("the {what} generated for service `{}`", service.name), service.span),
                );
            }
            for (index, method) in service.methods.iter().enumerate() {
                if let Some(name) = error_names.get(*sid, index) {
                    let what =
                        format!("the error type generated for method `{}.{}`", service.name, method.name);
                    generated.insert(name.to_owned(), (what, method.span));
                }
            }
            if !service.events.is_empty() {
                let what = format!("the events handle generated for service `{}`", service.name);
                generated.insert(format!("{base}Events"), (what, service.span));
            }
            let mut own = HashSet::new();
            for (index, event) in service.events.iter().enumerate() {
                // A name defined twice in the service, or one Rust cannot have, is reported as such.
                let Some(name) = event_names.get(*sid, index) else { continue };
                if !own.insert(event.name.as_str()) || is_reserved(&event.name) {
                    continue;
                }
                let what = format!("the struct generated for event `{}.{}`", service.name, event.name);
                let taken = traits.get(name).cloned();
                if let Some((first, span)) = generated.insert(name.to_owned(), (what, event.span)).or(taken) {
                    diags.push(
                        Diagnostic::error(
                            "generated-name",
                            event.span,
                            format!("event `{}` generates `{name}`, already {first}", event.name),
                        )
                        .with_secondary(span, "generated for this")
                        .with_help("rename the event"),
                    );
                }
            }
        }
        for id in &package.types {
            let def = model.ty(*id);
            if let Some((what, span)) = generated.get(&rust(&def.name)) {
                diags.push(
                    Diagnostic::error(
                        "generated-name",
                        def.span,
                        format!("`{}` is the name of {what}", def.name),
                    )
                    .with_secondary(*span, "generated for this")
                    .with_help("rename the type"),
                );
            }
        }
    }
}

/// A type is optional at most once: `T??` cannot be told apart from `T?` on the wire, also
/// when one `?` hides behind an alias (`type M = u64?;` then `M?`).
fn check_double_optional(model: &Model, diags: &mut Diagnostics) {
    for_each_type(model, |ty| {
        let TypeKind::Optional(inner) = &ty.kind else { return };
        if matches!(model.resolve(inner).kind, TypeKind::Optional(_)) {
            diags.push(
                Diagnostic::error(
                    "double-optional",
                    ty.span,
                    format!("`{}` is optional twice", model.display_type(ty)),
                )
                .with_label(format!("`{}` is already optional", model.display_type(inner)))
                .with_help("remove the `?`"),
            );
        }
    });
}

/// Two names in one namespace must stay different once converted to the Rust style of the
/// generated code (`productId` and `product_id` both become `product_id`).
fn check_name_collisions(model: &Model, diags: &mut Diagnostics) {
    fn report<'a>(items: impl IntoIterator<Item = (&'a str, Span)>, upper: bool, diags: &mut Diagnostics) {
        let mut seen: HashMap<String, (&str, Span)> = HashMap::new();
        for (name, span) in items {
            let key = if upper { upper_camel(&snake_case(name)) } else { snake_case(name) };
            match seen.get(&key) {
                Some((first, first_span)) if *first != name => diags.push(
                    Diagnostic::error(
                        "name-collision",
                        span,
                        format!("`{name}` and `{first}` are the same name in generated code"),
                    )
                    .with_label(format!("both become `{key}`"))
                    .with_secondary(*first_span, "the other one"),
                ),
                Some(_) => {} // an exact duplicate: reported by `check_duplicate_names`
                None => {
                    seen.insert(key, (name, span));
                }
            }
        }
    }
    for package in &model.packages {
        let types = package.types.iter().map(|id| (model.ty(*id).name.as_str(), model.ty(*id).span));
        let services = package.services.iter().map(|id| {
            let s = &model.services[id.0 as usize];
            (s.name.as_str(), s.span)
        });
        report(types.chain(services), true, diags);
    }
    for def in &model.types {
        match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                report(fields.iter().map(|f| (f.name.as_str(), f.span)), false, diags);
            }
            TypeDefKind::Enum { variants } => {
                report(variants.iter().map(|v| (v.name.as_str(), v.span)), true, diags);
            }
            TypeDefKind::Union { cases } => {
                report(cases.iter().map(|c| (c.name.as_str(), c.span)), true, diags);
            }
            TypeDefKind::Alias { .. } => {}
        }
    }
    for service in &model.services {
        let members = service.methods.iter().map(|m| (m.name.as_str(), m.span));
        report(members.chain(service.events.iter().map(|e| (e.name.as_str(), e.span))), false, diags);
        for m in &service.methods {
            report(m.params.iter().map(|p| (p.name.as_str(), p.span)), false, diags);
        }
        for e in &service.events {
            report(e.fields.iter().map(|f| (f.name.as_str(), f.span)), false, diags);
        }
    }
}

/// Reports the second and later uses of each name in one namespace.
fn report_duplicates<'a>(
    items: impl IntoIterator<Item = (&'a str, Span)>,
    what: &str,
    scope: &str,
    diags: &mut Diagnostics,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (name, span) in items {
        if let Some(first) = seen.get(name) {
            diags.push(
                Diagnostic::error(
                    "duplicate-name",
                    span,
                    format!("the {what} `{name}` is defined more than once{scope}"),
                )
                .with_label("defined again here")
                .with_secondary(*first, "first defined here"),
            );
        } else {
            seen.insert(name, span);
        }
    }
}

/// Names are unique in their namespace: types and services in a package; fields in a struct,
/// error or event; parameters in a method; variants in an enum; cases in a union; methods
/// and events (which share a service's subjects) in a service.
fn check_duplicate_names(model: &Model, diags: &mut Diagnostics) {
    for package in &model.packages {
        let types = package.types.iter().map(|id| {
            let t = model.ty(*id);
            (t.name.as_str(), t.span)
        });
        let services = package.services.iter().map(|id| {
            let s = &model.services[id.0 as usize];
            (s.name.as_str(), s.span)
        });
        let mut all: Vec<(&str, Span)> = types.chain(services).collect();
        all.sort_by_key(|(_, span)| (span.file, span.start));
        report_duplicates(all, "name", &format!(" in package `{}`", package.name), diags);
    }
    for def in &model.types {
        match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                report_duplicates(fields.iter().map(|f| (f.name.as_str(), f.span)), "field", "", diags);
            }
            TypeDefKind::Enum { variants } => {
                report_duplicates(variants.iter().map(|v| (v.name.as_str(), v.span)), "variant", "", diags);
            }
            TypeDefKind::Union { cases } => {
                report_duplicates(cases.iter().map(|c| (c.name.as_str(), c.span)), "case", "", diags);
            }
            TypeDefKind::Alias { .. } => {}
        }
    }
    for service in &model.services {
        let members = service
            .methods
            .iter()
            .map(|m| (m.name.as_str(), m.span))
            .chain(service.events.iter().map(|e| (e.name.as_str(), e.span)));
        let mut members: Vec<_> = members.collect();
        members.sort_by_key(|(_, span)| span.start);
        report_duplicates(members, "method or event", &format!(" in service `{}`", service.name), diags);
        for method in &service.methods {
            report_duplicates(
                method.params.iter().map(|p| (p.name.as_str(), p.span)),
                "parameter",
                "",
                diags,
            );
        }
        for event in &service.events {
            report_duplicates(event.fields.iter().map(|f| (f.name.as_str(), f.span)), "field", "", diags);
        }
    }
}

/// Every name the model declares, with what it names.
fn all_names(model: &Model) -> Vec<(&str, Span, &'static str)> {
    let mut names = Vec::new();
    for def in &model.types {
        names.push((def.name.as_str(), def.span, "type"));
        match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                names.extend(fields.iter().map(|f| (f.name.as_str(), f.span, "field")));
            }
            TypeDefKind::Enum { variants } => {
                names.extend(variants.iter().map(|v| (v.name.as_str(), v.span, "variant")));
            }
            TypeDefKind::Union { cases } => {
                names.extend(cases.iter().map(|c| (c.name.as_str(), c.span, "case")));
            }
            TypeDefKind::Alias { .. } => {}
        }
    }
    for service in &model.services {
        names.push((service.name.as_str(), service.span, "service"));
        for m in &service.methods {
            names.push((m.name.as_str(), m.span, "method"));
            names.extend(m.params.iter().map(|p| (p.name.as_str(), p.span, "parameter")));
        }
        for e in &service.events {
            names.push((e.name.as_str(), e.span, "event"));
            names.extend(e.fields.iter().map(|f| (f.name.as_str(), f.span, "field")));
        }
    }
    names
}

/// `self`, `Self`, `super`, `crate` and `_`: no Rust identifier, raw or not.
fn is_reserved(name: &str) -> bool {
    matches!(name, "self" | "Self" | "super" | "crate" | "_")
}

/// Names are valid Rust identifiers once made raw: `self`, `Self`, `super`, `crate` and `_`
/// cannot be, so they are refused; type names cannot shadow the built-in scalars.
fn check_reserved_names(model: &Model, diags: &mut Diagnostics) {
    for (name, span, what) in all_names(model) {
        if is_reserved(name) {
            let help = if name == "_" {
                "give it a name".to_owned()
            } else {
                format!("rename it, for example to `{name}_`")
            };
            diags.push(
                Diagnostic::error(
                    "reserved-name",
                    span,
                    format!("`{name}` cannot be used as {} {what} name", article(what)),
                )
                .with_note(format!("`{name}` is reserved in Rust and cannot be a raw identifier"))
                .with_help(help),
            );
        } else if what == "type" && Scalar::from_name(name).is_some() {
            diags.push(
                Diagnostic::error("reserved-name", span, format!("`{name}` is a built-in type"))
                    .with_help("choose another name"),
            );
        }
    }
}

/// Enums have at least one variant and unions at least one case: an empty one has no value.
fn check_empty_types(model: &Model, diags: &mut Diagnostics) {
    for def in &model.types {
        let empty = match &def.kind {
            TypeDefKind::Enum { variants } => variants.is_empty(),
            TypeDefKind::Union { cases } => cases.is_empty(),
            _ => false,
        };
        if empty {
            let kind = def.kind.keyword();
            diags.push(
                Diagnostic::error(
                    "empty-type",
                    def.span,
                    format!(
                        "{kind} `{}` has no {}",
                        def.name,
                        if kind == "enum" { "variants" } else { "cases" }
                    ),
                )
                .with_note(format!("an empty {kind} has no value, so nothing could ever be sent")),
            );
        }
    }
}

/// Calls `f` on every type written anywhere in the model, nested ones included.
fn for_each_type<'m>(model: &'m Model, mut f: impl FnMut(&'m Type)) {
    fn walk<'m>(ty: &'m Type, f: &mut impl FnMut(&'m Type)) {
        f(ty);
        match &ty.kind {
            TypeKind::List(t) | TypeKind::Optional(t) => walk(t, f),
            TypeKind::Map(k, v) => {
                walk(k, f);
                walk(v, f);
            }
            _ => {}
        }
    }
    for def in &model.types {
        match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                for x in fields {
                    walk(&x.ty, &mut f);
                }
            }
            TypeDefKind::Union { cases } => {
                for c in cases {
                    walk(&c.ty, &mut f);
                }
            }
            TypeDefKind::Alias { target } => walk(target, &mut f),
            TypeDefKind::Enum { .. } => {}
        }
    }
    for service in &model.services {
        for m in &service.methods {
            m.params.iter().for_each(|p| walk(&p.ty, &mut f));
            if let Returns::Unary(t) | Returns::Stream(t) = &m.returns {
                walk(t, &mut f);
            }
        }
        for e in &service.events {
            e.fields.iter().for_each(|x| walk(&x.ty, &mut f));
        }
    }
}

/// Map keys are strings, integers or enums: the types every wire format can use as a key.
fn check_map_keys(model: &Model, diags: &mut Diagnostics) {
    for_each_type(model, |ty| {
        let TypeKind::Map(key, _) = &ty.kind else { return };
        let resolved = model.resolve(key);
        let ok = match &resolved.kind {
            TypeKind::Scalar(s) => *s == Scalar::String || s.int_range().is_some(),
            TypeKind::Named(id) => matches!(model.ty(*id).kind, TypeDefKind::Enum { .. }),
            TypeKind::Unresolved => true,
            _ => false,
        };
        if !ok {
            diags.push(
                Diagnostic::error(
                    "bad-map-key",
                    key.span,
                    format!("`{}` cannot be a map key", model.display_type(key)),
                )
                .with_note("map keys must be `string`, an integer type or an enum"),
            );
        }
    });
}

/// A type has a finite value: aliases do not refer to themselves, and a struct does not hold
/// itself through required fields alone (an optional, a list, a map or another union case
/// must break the cycle). Such types would have infinite size.
fn check_recursion(model: &Model, diags: &mut Diagnostics) {
    let n = model.types.len();
    let alias_cycle = check_alias_cycles(model, diags);

    // Which types have a finite value: a work list over "what still blocks this type".
    let named = |ty: &Type| match &ty.kind {
        TypeKind::Named(id) => Some(*id),
        _ => None,
    };
    let mut need = vec![0usize; n];
    let mut dependents: Vec<Vec<TypeId>> = vec![Vec::new(); n];
    let mut queue = VecDeque::new();
    for (i, def) in model.types.iter().enumerate() {
        let id = TypeId(u32::try_from(i).unwrap_or(u32::MAX));
        match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                for dep in fields.iter().filter_map(|f| named(&f.ty)) {
                    need[i] += 1;
                    dependents[dep.0 as usize].push(id);
                }
            }
            TypeDefKind::Union { cases } => {
                if !cases.is_empty() && cases.iter().all(|c| named(&c.ty).is_some()) {
                    need[i] = 1;
                    for dep in cases.iter().filter_map(|c| named(&c.ty)) {
                        dependents[dep.0 as usize].push(id);
                    }
                }
            }
            TypeDefKind::Alias { target } => {
                if let Some(dep) = named(target) {
                    need[i] = 1;
                    dependents[dep.0 as usize].push(id);
                }
            }
            TypeDefKind::Enum { variants } => {
                if variants.is_empty() {
                    need[i] = usize::MAX;
                }
            }
        }
        if need[i] == 0 {
            queue.push_back(i);
        }
    }
    let mut finite = vec![false; n];
    while let Some(i) = queue.pop_front() {
        if finite[i] {
            continue;
        }
        finite[i] = true;
        for dep in &dependents[i] {
            let d = dep.0 as usize;
            if finite[d] {
                continue;
            }
            if matches!(model.types[d].kind, TypeDefKind::Union { .. }) {
                need[d] = 0;
            } else {
                need[d] = need[d].saturating_sub(1);
            }
            if need[d] == 0 {
                queue.push_back(d);
            }
        }
    }

    // Explain each cycle once: follow a blocking dependency from each infinite type until a
    // type repeats (a cycle) or a type already explained (or an empty enum) is reached.
    let mut explained: Vec<bool> = (0..n).map(|i| finite[i] || alias_cycle[i]).collect();
    for start in 0..n {
        let mut path: Vec<(usize, Option<(&str, Span)>)> = Vec::new();
        let mut on_path: HashMap<usize, usize> = HashMap::new();
        let mut current = start;
        loop {
            if explained[current] {
                break;
            }
            if let Some(&at) = on_path.get(&current) {
                report_cycle(model, &path[at..], diags);
                break;
            }
            on_path.insert(current, path.len());
            let blocking = match &model.types[current].kind {
                TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                    fields.iter().find_map(|f| {
                        named(&f.ty)
                            .filter(|d| !finite[d.0 as usize])
                            .map(|d| (d, Some((f.name.as_str(), f.ty.span))))
                    })
                }
                TypeDefKind::Union { cases } => cases.first().and_then(|c| named(&c.ty)).map(|d| (d, None)),
                TypeDefKind::Alias { target } => named(target).map(|d| (d, None)),
                TypeDefKind::Enum { .. } => None,
            };
            let Some((next, via)) = blocking else { break };
            path.push((current, via));
            current = next.0 as usize;
        }
        for (i, _) in path {
            explained[i] = true;
        }
    }
}

fn report_cycle(model: &Model, cycle: &[(usize, Option<(&str, Span)>)], diags: &mut Diagnostics) {
    // Start the story at a struct field, where the caret can point.
    let start = cycle.iter().position(|(_, via)| via.is_some()).unwrap_or(0);
    let cycle: Vec<_> = cycle[start..].iter().chain(&cycle[..start]).copied().collect();
    let Some(&(first, via)) = cycle.first() else { return };
    let first_def = &model.types[first];
    let span = via.map_or(first_def.span, |(_, s)| s);
    let mut steps = Vec::new();
    for (k, (i, via)) in cycle.iter().enumerate() {
        let next = &model.types[cycle[(k + 1) % cycle.len()].0].name;
        let here = &model.types[*i].name;
        steps.push(match via {
            Some((field, _)) => format!("`{here}.{field}` holds {} `{next}`", article(next)),
            None => format!("`{here}` is {} `{next}`", article(next)),
        });
    }
    diags.push(
        Diagnostic::error(
            "infinite-size",
            span,
            format!("recursive type `{}` has infinite size", first_def.name),
        )
        .with_label("recursive without indirection")
        .with_note(steps.join(", and "))
        .with_help("make a field on the cycle optional (`T?`) or a list, so a value can end"),
    );
}

/// Aliases cannot be recursive at all (Rust expands them): reports each alias cycle once and
/// returns which types are on one.
fn check_alias_cycles(model: &Model, diags: &mut Diagnostics) -> Vec<bool> {
    let n = model.types.len();
    let is_alias = |i: usize| matches!(model.types[i].kind, TypeDefKind::Alias { .. });
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, def) in model.types.iter().enumerate() {
        if let TypeDefKind::Alias { target } = &def.kind {
            let mut stack = vec![target];
            while let Some(ty) = stack.pop() {
                match &ty.kind {
                    TypeKind::Named(id) if is_alias(id.0 as usize) => edges[i].push(id.0 as usize),
                    TypeKind::List(t) | TypeKind::Optional(t) => stack.push(t),
                    TypeKind::Map(k, v) => {
                        stack.push(k);
                        stack.push(v);
                    }
                    _ => {}
                }
            }
        }
    }
    // Iterative depth-first search with colours: 0 new, 1 on the stack, 2 done.
    let mut colour = vec![0u8; n];
    let mut on_cycle = vec![false; n];
    for root in 0..n {
        if colour[root] != 0 || !is_alias(root) {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = edges[node].get(*next) {
                *next += 1;
                match colour[child] {
                    0 => {
                        colour[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let at = stack.iter().position(|(x, _)| *x == child).unwrap_or(0);
                        let members: Vec<usize> = stack[at..].iter().map(|(x, _)| *x).collect();
                        if members.iter().all(|m| !on_cycle[*m]) {
                            let names: Vec<String> = members
                                .iter()
                                .chain([&child])
                                .map(|m| format!("`{}`", model.types[*m].name))
                                .collect();
                            let def = &model.types[child];
                            diags.push(
                                Diagnostic::error("alias-cycle", def.span, format!("type alias `{}` refers to itself", def.name))
                                    .with_note(format!("the aliases form a cycle: {}", names.join(" -> ")))
                                    .with_help("an alias only renames a type; declare a struct to build a recursive type"),
                            );
                        }
                        for m in members {
                            on_cycle[m] = true;
                        }
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    on_cycle
}

/// What a constraint can apply to.
fn length_applies(model: &Model, ty: &Type) -> bool {
    match &strip_optional(model, ty).kind {
        TypeKind::Scalar(s) => matches!(s, Scalar::String | Scalar::Bytes),
        TypeKind::List(_) | TypeKind::Map(..) | TypeKind::Unresolved => true,
        _ => false,
    }
}

/// The type under aliases and one `?`.
fn strip_optional<'m>(model: &'m Model, ty: &'m Type) -> &'m Type {
    let ty = model.resolve(ty);
    match &ty.kind {
        TypeKind::Optional(inner) => model.resolve(inner),
        _ => ty,
    }
}

/// Every field and parameter with the place it belongs to.
fn all_fields(model: &Model) -> Vec<&Field> {
    let mut out = Vec::new();
    for def in &model.types {
        if let Some(fields) = def.kind.fields() {
            out.extend(fields);
        }
    }
    for s in &model.services {
        for m in &s.methods {
            out.extend(&m.params);
        }
        for e in &s.events {
            out.extend(&e.fields);
        }
    }
    out
}

/// Constraints apply to types they can measure: `@length` to strings, bytes, lists and maps;
/// `@range` to numbers, within the number type's own range; `@pattern` to strings.
fn check_constraints(model: &Model, diags: &mut Diagnostics) {
    for field in all_fields(model) {
        let c = &field.constraints;
        let span = c.span.unwrap_or(field.span);
        let ty = strip_optional(model, &field.ty);
        let shown = model.display_type(&field.ty);
        if c.length.is_some() && !length_applies(model, &field.ty) {
            diags.push(
                Diagnostic::error(
                    "constraint-type",
                    span,
                    format!("`@length` cannot apply to `{}`, of type `{shown}`", field.name),
                )
                .with_note("`@length` applies to `string`, `bytes`, lists and maps")
                .with_help_opt(
                    matches!(ty.kind, TypeKind::Scalar(s) if s.int_range().is_some() || s.is_float())
                        .then(|| "use `@range` for numbers".to_owned()),
                ),
            );
        }
        if let Some(range) = &c.range {
            match &ty.kind {
                TypeKind::Scalar(s) if s.int_range().is_some() || s.is_float() => {
                    if let Some((lo, hi)) = s.int_range() {
                        for bound in [range.min, range.max].into_iter().flatten() {
                            let fits = match bound {
                                Number::Int(i) => (lo..=hi).contains(&i),
                                Number::Float(f) => {
                                    f.fract() == 0.0 && (-1e38..=1e38).contains(&f) && {
                                        #[allow(clippy::cast_possible_truncation)]
                                        let i = f as i128;
                                        (lo..=hi).contains(&i)
                                    }
                                }
                            };
                            if !fits {
                                diags.push(
                                    Diagnostic::error(
                                        "constraint-type",
                                        span,
                                        format!(
                                            "`@range` bound {} does not fit `{}`",
                                            display_number(bound),
                                            s.name()
                                        ),
                                    )
                                    .with_note(format!(
                                        "`{}` holds whole numbers from {lo} to {hi}",
                                        s.name()
                                    )),
                                );
                            }
                        }
                    }
                }
                TypeKind::Unresolved => {}
                _ => diags.push(
                    Diagnostic::error(
                        "constraint-type",
                        span,
                        format!("`@range` cannot apply to `{}`, of type `{shown}`", field.name),
                    )
                    .with_note("`@range` applies to integer and float types")
                    .with_help_opt(
                        length_applies(model, &field.ty).then(|| "use `@length` for sizes".to_owned()),
                    ),
                ),
            }
        }
        if c.pattern.is_some() && !matches!(ty.kind, TypeKind::Scalar(Scalar::String) | TypeKind::Unresolved)
        {
            diags.push(
                Diagnostic::error(
                    "constraint-type",
                    span,
                    format!("`@pattern` cannot apply to `{}`, of type `{shown}`", field.name),
                )
                .with_note("`@pattern` applies to `string`"),
            );
        }
    }
}

fn display_number(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => f.to_string(),
    }
}

/// Defaults have the type of their field or parameter and meet its constraints.
fn check_defaults(model: &Model, diags: &mut Diagnostics) {
    for field in all_fields(model) {
        let Some(default) = &field.default else { continue };
        if let Err((span, message)) = check_value(model, &field.ty, default) {
            diags.push(Diagnostic::error("bad-default", span, message).with_note(format!(
                "`{}` is of type `{}`",
                field.name,
                model.display_type(&field.ty)
            )));
            continue;
        }
        if let Err(message) = check_value_constraints(field, default) {
            diags.push(
                Diagnostic::error("bad-default", default.span, message)
                    .with_secondary(field.constraints.span.unwrap_or(field.span), "the constraint"),
            );
        }
    }
}

fn check_value(model: &Model, ty: &Type, node: &ValueNode) -> Result<(), (Span, String)> {
    let ty = model.resolve(ty);
    let shown = model.display_type(ty);
    let mismatch =
        |what: &str| Err((node.span, format!("expected {what}, found {}", describe_value(&node.value))));
    match (&ty.kind, &node.value) {
        (TypeKind::Unresolved, _) | (TypeKind::Optional(_), Value::Null) => Ok(()),
        (TypeKind::Optional(inner), _) => check_value(model, inner, node),
        (_, Value::Null) => {
            Err((node.span, format!("`null` is not a `{shown}`; only optional types (`T?`) can be null")))
        }
        (TypeKind::Scalar(s), value) => check_scalar(*s, value).map_err(|m| (node.span, m)),
        (TypeKind::List(elem), Value::List(items)) => {
            items.iter().try_for_each(|i| check_value(model, elem, i))
        }
        (TypeKind::List(_), _) => mismatch("a list (`[...]`)"),
        (TypeKind::Map(k, v), Value::Map(entries)) => entries.iter().try_for_each(|(key, value)| {
            check_value(model, k, key).and_then(|()| check_value(model, v, value))
        }),
        (TypeKind::Map(..), _) => mismatch("a map (`{...}`)"),
        (TypeKind::Named(id), value) => {
            let def = model.ty(*id);
            match (&def.kind, value) {
                (TypeDefKind::Enum { variants }, Value::Name(name)) => {
                    // `EUR`, `Currency.EUR` or `shop.money.Currency.EUR`.
                    let (prefix, variant) = name.rsplit_once('.').unwrap_or(("", name));
                    let qualified = model.qualified_name(*id);
                    if !prefix.is_empty() && prefix != def.name && prefix != qualified {
                        return Err((node.span, format!("`{prefix}` is not `{}`", def.name)));
                    }
                    if variants.iter().any(|v| v.name == variant) {
                        Ok(())
                    } else {
                        let hint = closest(variant, variants.iter().map(|v| v.name.as_str()))
                            .map(|c| format!("; did you mean `{c}`?"))
                            .unwrap_or_default();
                        Err((node.span, format!("`{name}` is not a variant of `{}`{hint}", def.name)))
                    }
                }
                (TypeDefKind::Enum { .. }, _) => mismatch(&format!("a variant of `{}`", def.name)),
                (kind, _) => Err((
                    node.span,
                    format!("{} {} cannot have a default value", article(kind.keyword()), kind.keyword()),
                )),
            }
        }
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number `{}`", display_number(*n)),
        Value::String(s) => format!("the string {s:?}"),
        Value::Null => "`null`".to_owned(),
        Value::List(_) => "a list".to_owned(),
        Value::Map(_) => "a map".to_owned(),
        Value::Name(n) => format!("the name `{n}`"),
    }
}

fn check_scalar(scalar: Scalar, value: &Value) -> Result<(), String> {
    let name = scalar.name();
    match (scalar, value) {
        (Scalar::Bool, Value::Bool(_)) | (Scalar::String | Scalar::Bytes, Value::String(_)) => Ok(()),
        (s, Value::Number(Number::Int(i))) if s.int_range().is_some() => {
            let (lo, hi) = s.int_range().unwrap_or((0, 0));
            if (lo..=hi).contains(i) {
                Ok(())
            } else {
                Err(format!("{i} does not fit `{name}` ({lo} to {hi})"))
            }
        }
        (s, Value::Number(Number::Float(f))) if s.int_range().is_some() => {
            Err(format!("`{name}` holds whole numbers, found `{f:?}`"))
        }
        (s, Value::Number(_)) if s.is_float() => Ok(()),
        (Scalar::Duration, Value::String(s)) => {
            if parse_duration(s).is_some() {
                Ok(())
            } else {
                Err(format!("{s:?} is not a duration; write one like \"30s\", \"1h30m\" or \"250ms\""))
            }
        }
        (Scalar::Timestamp, Value::String(s)) => {
            if is_rfc3339(s) {
                Ok(())
            } else {
                Err(format!("{s:?} is not an RFC 3339 timestamp, like \"2024-05-01T12:00:00Z\""))
            }
        }
        (Scalar::Uuid, Value::String(s)) => {
            if is_uuid(s) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a UUID, like \"67e55044-10b1-426f-9247-bb680e5fe0c8\""))
            }
        }
        (_, value) => Err(format!("expected a `{name}`, found {}", describe_value(value))),
    }
}

/// Reads `"1h30m"`, `"250ms"`, `"1.5s"` into nanoseconds.
#[must_use]
pub fn parse_duration(text: &str) -> Option<u128> {
    let mut total: f64 = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (total.is_finite() && total < 1e30).then_some(total as u128)
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    let num = |r: std::ops::Range<usize>| {
        std::str::from_utf8(&b[r]).ok().and_then(|t| t.parse::<u32>().ok()).unwrap_or(99)
    };
    let (month, day, hour, minute, second) = (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let year = num(0..4);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let fields_ok =
        (1..=12).contains(&month) && (1..=days).contains(&day) && hour < 24 && minute < 60 && second <= 60;
    let zone_ok = match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    fields_ok && zone_ok
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn check_value_constraints(field: &Field, node: &ValueNode) -> Result<(), String> {
    let c = &field.constraints;
    if let Some(length) = &c.length {
        let len = match &node.value {
            Value::String(s) => Some(s.chars().count()),
            Value::List(items) => Some(items.len()),
            Value::Map(entries) => Some(entries.len()),
            _ => None,
        };
        if let Some(len) = len {
            #[allow(clippy::cast_precision_loss)]
            let len_f = len as f64;
            if length.min.is_some_and(|m| len_f < m.as_f64())
                || length.max.is_some_and(|m| len_f > m.as_f64())
            {
                return Err(format!("the default's length {len} is outside its `@length`"));
            }
        }
    }
    if let (Some(pattern), Value::String(s)) = (&c.pattern, &node.value) {
        // The pattern was validated when read; an engine limit is the only way this fails.
        if regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(s)) {
            return Err(format!("the default {s:?} does not match its `@pattern`"));
        }
    }
    if let (Some(range), Value::Number(n)) = (&c.range, &node.value) {
        let v = n.as_f64();
        if range.min.is_some_and(|m| v < m.as_f64()) || range.max.is_some_and(|m| v > m.as_f64()) {
            return Err(format!("the default {} is outside its `@range`", display_number(*n)));
        }
    }
    Ok(())
}

/// A method throws only error types, each once.
fn check_throws(model: &Model, diags: &mut Diagnostics) {
    for service in &model.services {
        for method in &service.methods {
            let mut seen: HashMap<TypeId, Span> = HashMap::new();
            for throw in &method.throws {
                let mut id = throw.error;
                // Follow aliases of errors.
                for _ in 0..model.types.len() {
                    match &model.ty(id).kind {
                        TypeDefKind::Alias { target: Type { kind: TypeKind::Named(next), .. } } => id = *next,
                        _ => break,
                    }
                }
                let def = model.ty(id);
                if !matches!(def.kind, TypeDefKind::Error { .. }) {
                    diags.push(
                        Diagnostic::error(
                            "throws-not-error",
                            throw.span,
                            format!("`{}` is not an error", def.name),
                        )
                        .with_label(format!("{} {}", article(def.kind.keyword()), def.kind.keyword()))
                        .with_secondary(def.span, "declared here")
                        .with_help(format!("declare it with `error {} {{ ... }}`", def.name)),
                    );
                } else if let Some(first) = seen.get(&id) {
                    diags.push(
                        Diagnostic::error(
                            "duplicate-name",
                            throw.span,
                            format!("`{}` is thrown twice", def.name),
                        )
                        .with_secondary(*first, "first listed here"),
                    );
                } else {
                    seen.insert(id, throw.span);
                }
            }
        }
    }
}

/// A `@oneway` method has no reply: no return type and no `throws`.
fn check_oneway(model: &Model, diags: &mut Diagnostics) {
    for service in &model.services {
        for method in service.methods.iter().filter(|m| m.oneway) {
            if let Returns::Unary(t) | Returns::Stream(t) = &method.returns {
                diags.push(
                    Diagnostic::error(
                        "oneway-reply",
                        t.span,
                        format!("`@oneway` method `{}` cannot return a value", method.name),
                    )
                    .with_note("a oneway call is fire-and-forget: no reply is ever sent")
                    .with_help("remove the return type, or remove `@oneway`"),
                );
            }
            if let Some(throw) = method.throws.first() {
                diags.push(
                    Diagnostic::error(
                        "oneway-reply",
                        throw.span,
                        format!("`@oneway` method `{}` cannot throw", method.name),
                    )
                    .with_note("a oneway call is fire-and-forget: errors never reach the caller"),
                );
            }
        }
    }
}

/// `@http` paths are well-formed templates whose `{params}` are required scalar (or enum)
/// parameters of the method, each used once; with GET and DELETE the other parameters go in
/// the query string, so they must be scalars, enums, or lists or optionals of them.
fn check_http(model: &Model, diags: &mut Diagnostics) {
    for service in &model.services {
        for method in &service.methods {
            let Some(route) = &method.http else { continue };
            let segments = match parse_path_template(&route.path) {
                Ok(s) => s,
                Err((_, message)) => {
                    diags.push(Diagnostic::error(
                        "http-path",
                        route.path_span,
                        format!("invalid path template: {message}"),
                    ));
                    continue;
                }
            };
            let mut used: HashSet<&str> = HashSet::new();
            for (i, segment) in segments.iter().enumerate() {
                let Segment::Param(name) = segment else { continue };
                let after_slash =
                    i > 0 && matches!(&segments[i - 1], Segment::Literal(l) if l.ends_with('/'));
                let before_slash = match segments.get(i + 1) {
                    None => true,
                    Some(Segment::Literal(l)) => l.starts_with('/'),
                    Some(Segment::Param(_)) => false,
                };
                if !(after_slash && before_slash) {
                    diags.push(
                        Diagnostic::error(
                            "http-path",
                            route.path_span,
                            format!("path parameter `{{{name}}}` must be a whole path segment"),
                        )
                        .with_note("write it between slashes, as in `/files/{name}` or `/files/{name}/meta`"),
                    );
                    continue;
                }
                if !used.insert(name) {
                    diags.push(Diagnostic::error(
                        "http-path",
                        route.path_span,
                        format!("path parameter `{{{name}}}` appears twice"),
                    ));
                    continue;
                }
                let Some(param) = method.params.iter().find(|p| &p.name == name) else {
                    diags.push(
                        Diagnostic::error(
                            "http-path",
                            route.path_span,
                            format!("path parameter `{{{name}}}` is not a parameter of `{}`", method.name),
                        )
                        .with_help_opt(
                            closest(name, method.params.iter().map(|p| p.name.as_str()))
                                .map(|c| format!("did you mean `{{{c}}}`?")),
                        )
                        .with_secondary(method.span, "the method"),
                    );
                    continue;
                };
                let resolved = model.resolve(&param.ty);
                let problem = match &resolved.kind {
                    TypeKind::Optional(_) => Some("is optional, but a path segment is always present"),
                    TypeKind::Scalar(Scalar::Bytes) => Some("is `bytes`, which has no text form for a path"),
                    TypeKind::Scalar(_) | TypeKind::Unresolved => None,
                    TypeKind::Named(id) if matches!(model.ty(*id).kind, TypeDefKind::Enum { .. }) => None,
                    _ => Some("is not a scalar or an enum"),
                };
                if let Some(problem) = problem {
                    diags.push(
                        Diagnostic::error(
                            "http-path",
                            param.ty.span,
                            format!("path parameter `{name}` {problem}"),
                        )
                        .with_label(format!("`{}`", model.display_type(&param.ty)))
                        .with_secondary(route.path_span, "used in the path here"),
                    );
                }
            }
            if route.method.params_in_query() {
                for param in method.params.iter().filter(|p| !used.contains(p.name.as_str())) {
                    if !query_compatible(model, &param.ty) {
                        diags.push(
                            Diagnostic::error(
                                "http-query",
                                param.ty.span,
                                format!(
                                    "parameter `{}` of a {} method travels in the query string, but `{}` cannot",
                                    param.name,
                                    route.method.as_str(),
                                    model.display_type(&param.ty)
                                ),
                            )
                            .with_note("query parameters are scalars, enums, or lists or optionals of them")
                            .with_help("use POST, PUT or PATCH to send it in a JSON body"),
                        );
                    }
                }
            }
        }
    }
}

fn query_compatible(model: &Model, ty: &Type) -> bool {
    let ty = model.resolve(ty);
    match &ty.kind {
        TypeKind::Scalar(s) => *s != Scalar::Bytes,
        TypeKind::Unresolved => true,
        TypeKind::Named(id) => matches!(model.ty(*id).kind, TypeDefKind::Enum { .. }),
        TypeKind::Optional(inner) | TypeKind::List(inner) => {
            let inner = model.resolve(inner);
            !matches!(inner.kind, TypeKind::List(_) | TypeKind::Optional(_)) && query_compatible(model, inner)
        }
        TypeKind::Map(..) => false,
    }
}

/// No two methods of the services of one package share an HTTP route (verb and path, with
/// parameter names ignored), whether explicit or the default `POST /{service}/{method}`.
fn check_routes(model: &Model, diags: &mut Diagnostics) {
    for package in &model.packages {
        let mut seen: HashMap<(HttpMethod, String), (Span, String)> = HashMap::new();
        for sid in &package.services {
            let service = &model.services[sid.0 as usize];
            let mut names = HashSet::new();
            // A repeated method name is reported as a duplicate name, not again as a route.
            for method in service.methods.iter().filter(|m| names.insert(m.name.as_str())) {
                let (verb, path) = method.route(service);
                let Ok(segments) = parse_path_template(&path) else { continue };
                let shape: String = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.as_str(),
                        Segment::Param(_) => "{}",
                    })
                    .collect();
                // `/a/` and `/a` are one route to most routers.
                let shape = if shape.len() > 1 { shape.trim_end_matches('/').to_owned() } else { shape };
                let span = method.http.as_ref().map_or(method.span, |h| h.span);
                let who = format!("{}.{}", service.name, method.name);
                if let Some((first, first_who)) = seen.get(&(verb, shape.clone())) {
                    diags.push(
                        Diagnostic::error(
                            "duplicate-route",
                            span,
                            format!("`{} {path}` is already the route of `{first_who}`", verb.as_str()),
                        )
                        .with_label(format!("the route of `{who}`"))
                        .with_secondary(*first, format!("the route of `{first_who}`")),
                    );
                } else {
                    seen.insert((verb, shape), (span, who));
                }
            }
        }
    }
}

/// `@hydrate(m)` names a method `m` of the same service that returns one value, and every
/// required parameter of `m` is filled by an event field of the same name and type.
fn check_hydrate(model: &Model, diags: &mut Diagnostics) {
    for service in &model.services {
        for event in &service.events {
            let Some(hydrate) = &event.hydrate else { continue };
            let Some(method) = service.methods.iter().find(|m| m.name == hydrate.method) else {
                diags.push(
                    Diagnostic::error(
                        "hydrate",
                        hydrate.span,
                        format!("`{}` is not a method of service `{}`", hydrate.method, service.name),
                    )
                    .with_help_opt(
                        closest(&hydrate.method, service.methods.iter().map(|m| m.name.as_str()))
                            .map(|c| format!("did you mean `{c}`?")),
                    )
                    .with_note("an event is hydrated by a method of its own service"),
                );
                continue;
            };
            if !matches!(method.returns, Returns::Unary(_)) || method.oneway {
                diags.push(
                    Diagnostic::error(
                        "hydrate",
                        hydrate.span,
                        format!("`{}` cannot hydrate an event: it does not return one value", method.name),
                    )
                    .with_secondary(method.span, "declared here")
                    .with_note("hydration calls the method and uses its reply"),
                );
                continue;
            }
            hydrate_params(model, event.fields.as_slice(), method, hydrate.span, &event.name, diags);
        }
    }
}

fn hydrate_params(
    model: &Model,
    fields: &[Field],
    method: &crate::model::Method,
    span: Span,
    event: &str,
    diags: &mut Diagnostics,
) {
    for param in &method.params {
        let required =
            param.default.is_none() && !matches!(model.resolve(&param.ty).kind, TypeKind::Optional(_));
        match fields.iter().find(|f| f.name == param.name) {
            Some(field) if !same_type(model, &field.ty, &param.ty) => diags.push(
                Diagnostic::error(
                    "hydrate",
                    field.ty.span,
                    format!(
                        "field `{}` is `{}`, but `{}` takes `{}: {}`",
                        field.name,
                        model.display_type(&field.ty),
                        method.name,
                        param.name,
                        model.display_type(&param.ty)
                    ),
                )
                .with_secondary(span, "hydrated here"),
            ),
            None if required => diags.push(
                Diagnostic::error(
                    "hydrate",
                    span,
                    format!("event `{event}` cannot fill parameter `{}` of `{}`", param.name, method.name),
                )
                .with_secondary(param.span, "this parameter")
                .with_help(format!(
                    "add a field `{}: {}` to the event",
                    param.name,
                    model.display_type(&param.ty)
                )),
            ),
            _ => {}
        }
    }
}

/// Structural equality after aliases.
fn same_type(model: &Model, a: &Type, b: &Type) -> bool {
    let (a, b) = (model.resolve(a), model.resolve(b));
    match (&a.kind, &b.kind) {
        (TypeKind::Scalar(x), TypeKind::Scalar(y)) => x == y,
        (TypeKind::Named(x), TypeKind::Named(y)) => x == y,
        (TypeKind::List(x), TypeKind::List(y)) | (TypeKind::Optional(x), TypeKind::Optional(y)) => {
            same_type(model, x, y)
        }
        (TypeKind::Map(k1, v1), TypeKind::Map(k2, v2)) => {
            same_type(model, k1, k2) && same_type(model, v1, v2)
        }
        (TypeKind::Unresolved, _) | (_, TypeKind::Unresolved) => true,
        _ => false,
    }
}

/// Names follow the Rust conventions the generated code uses (a warning, not an error): types
/// and services in `UpperCamelCase`, everything else in `snake_case`. Generated code converts
/// names anyway; the warning is about two names that would convert to the same one.
fn check_naming_style(model: &Model, diags: &mut Diagnostics) {
    for (name, span, what) in all_names(model) {
        let expected = match what {
            "type" | "service" => upper_camel(name),
            "variant" => continue, // `EUR` and `Eur` are both common; both convert cleanly
            _ => snake_case(name),
        };
        if expected != name && !name.starts_with('_') {
            let style = if matches!(what, "type" | "service") { "UpperCamelCase" } else { "snake_case" };
            diags.push(
                Diagnostic::warning(
                    "naming-style",
                    span,
                    format!("{what} `{name}` should be written in {style}"),
                )
                .with_help(format!("write `{expected}`")),
            );
        }
    }
}
