//! `lower_*`: parsed files → [`Model`], resolving every name.
//!
//! What is reported here is what only the IDL front end can get wrong: names that do not
//! resolve, and attribute syntax (through [`attr`]). Rules about the meaning of a valid
//! model live in [`check`](crate::check), where the macro front end meets them too.

use std::collections::HashMap;

use crate::ast::{self, TypeExprKind, ValueKind};
use crate::attr::{self, Target};
use crate::diagnostic::{Diagnostic, Diagnostics, closest};
use crate::model::{
    Case, Event, Field, FileInfo, Method, Model, Package, PackageId, Returns, Scalar, Service, ServiceId,
    Throw, Type, TypeDef, TypeDefKind, TypeId, TypeKind, Value, ValueNode, Variant,
};
use crate::source::FileId;

/// A parsed file with its imports resolved to files.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// Its id (its index in the source map).
    pub id: FileId,
    /// Its path, as displayed.
    pub path: String,
    /// Its syntax tree.
    pub ast: ast::File,
    /// The files it imports that were found.
    pub imports: Vec<FileId>,
}

#[derive(Clone, Copy, Debug)]
enum Decl {
    Type(TypeId),
    Service,
}

struct Lowerer<'a, 'd> {
    files: &'a [LoadedFile],
    model: Model,
    /// Per package: name → first declaration of it.
    names: Vec<HashMap<&'a str, Decl>>,
    diags: &'d mut Diagnostics,
}

/// Builds the model of `files` (every file of the run, in [`FileId`] order).
pub fn lower(files: &[LoadedFile], diags: &mut Diagnostics) -> Model {
    let mut lowerer = Lowerer { files, model: Model::default(), names: Vec::new(), diags };
    lowerer.declare();
    lowerer.lower_bodies();
    lowerer.model
}

impl<'a> Lowerer<'a, '_> {
    /// Creates every package, file, type and service, so bodies can refer to any of them.
    fn declare(&mut self) {
        let mut package_ids: HashMap<String, PackageId> = HashMap::new();
        for file in self.files {
            let name = file.ast.package.name.to_dotted();
            let next = PackageId(u32::try_from(self.model.packages.len()).unwrap_or(u32::MAX));
            let package = *package_ids.entry(name.clone()).or_insert(next);
            if package == next {
                self.model.packages.push(Package {
                    name,
                    docs: Vec::new(),
                    types: Vec::new(),
                    services: Vec::new(),
                });
                self.names.push(HashMap::new());
            }
            attr::lower_attrs(&file.ast.package.prefix.attrs, Target::Package, self.diags);
            self.model.packages[package.0 as usize].docs.extend(attr::docs(&file.ast.package.prefix));
            self.model.files.push(FileInfo {
                path: file.path.clone(),
                package,
                imports: file.imports.clone(),
            });

            for item in &file.ast.items {
                let decl = if let ast::ItemKind::Service(_) = item.kind {
                    let id = ServiceId(u32::try_from(self.model.services.len()).unwrap_or(u32::MAX));
                    self.model.services.push(Service {
                        name: item.name.name.clone(),
                        package,
                        docs: attr::docs(&item.prefix),
                        deprecated: None,
                        methods: Vec::new(),
                        events: Vec::new(),
                        span: item.name.span,
                    });
                    self.model.packages[package.0 as usize].services.push(id);
                    Decl::Service
                } else {
                    let id = TypeId(u32::try_from(self.model.types.len()).unwrap_or(u32::MAX));
                    self.model.types.push(TypeDef {
                        name: item.name.name.clone(),
                        package,
                        docs: attr::docs(&item.prefix),
                        deprecated: None,
                        kind: TypeDefKind::Struct { fields: Vec::new() },
                        span: item.name.span,
                    });
                    self.model.packages[package.0 as usize].types.push(id);
                    Decl::Type(id)
                };
                self.names[package.0 as usize].entry(item.name.name.as_str()).or_insert(decl);
            }
        }
    }

    fn lower_bodies(&mut self) {
        let mut next_type = 0usize;
        let mut next_service = 0usize;
        for file in self.files {
            for item in &file.ast.items {
                if let ast::ItemKind::Service(block) = &item.kind {
                    let service = self.lower_service(file, item, block);
                    self.model.services[next_service] = service;
                    next_service += 1;
                } else {
                    let (kind, deprecated) = self.lower_type(file, item);
                    let def = &mut self.model.types[next_type];
                    def.kind = kind;
                    def.deprecated = deprecated;
                    next_type += 1;
                }
            }
        }
    }

    fn lower_type(&mut self, file: &'a LoadedFile, item: &'a ast::Item) -> (TypeDefKind, Option<String>) {
        let target = match &item.kind {
            ast::ItemKind::Struct(_) => Target::Struct,
            ast::ItemKind::Error(_) => Target::Error,
            ast::ItemKind::Enum(_) => Target::Enum,
            ast::ItemKind::Union(_) => Target::Union,
            ast::ItemKind::Alias(_) | ast::ItemKind::Service(_) => Target::Alias,
        };
        let attrs = attr::lower_attrs(&item.prefix.attrs, target, self.diags);
        let kind = match &item.kind {
            ast::ItemKind::Struct(block) => {
                TypeDefKind::Struct { fields: self.lower_fields(file, block, Target::Field) }
            }
            ast::ItemKind::Error(block) => TypeDefKind::Error {
                status: attrs.status,
                fields: self.lower_fields(file, block, Target::Field),
            },
            ast::ItemKind::Enum(block) => TypeDefKind::Enum {
                variants: block
                    .members
                    .iter()
                    .map(|v| {
                        let a = attr::lower_attrs(&v.prefix.attrs, Target::Variant, self.diags);
                        Variant {
                            name: v.name.name.clone(),
                            docs: attr::docs(&v.prefix),
                            deprecated: a.deprecated,
                            span: v.name.span,
                        }
                    })
                    .collect(),
            },
            ast::ItemKind::Union(block) => TypeDefKind::Union {
                cases: block
                    .members
                    .iter()
                    .map(|c| {
                        let a = attr::lower_attrs(&c.prefix.attrs, Target::Case, self.diags);
                        Case {
                            name: c.name.name.clone(),
                            ty: self.lower_type_expr(file, &c.ty),
                            docs: attr::docs(&c.prefix),
                            deprecated: a.deprecated,
                            span: c.name.span,
                        }
                    })
                    .collect(),
            },
            ast::ItemKind::Alias(ty) => TypeDefKind::Alias { target: self.lower_type_expr(file, ty) },
            ast::ItemKind::Service(_) => TypeDefKind::Struct { fields: Vec::new() },
        };
        (kind, attrs.deprecated)
    }

    fn lower_fields(
        &mut self,
        file: &'a LoadedFile,
        block: &'a ast::Block<ast::Field>,
        target: Target,
    ) -> Vec<Field> {
        block.members.iter().map(|f| self.lower_field(file, f, target)).collect()
    }

    fn lower_field(&mut self, file: &'a LoadedFile, field: &'a ast::Field, target: Target) -> Field {
        let attrs = attr::lower_attrs(&field.prefix.attrs, target, self.diags);
        Field {
            name: field.name.name.clone(),
            ty: self.lower_type_expr(file, &field.ty),
            default: field.default.as_ref().and_then(|v| self.lower_value(v)),
            constraints: attrs.constraints,
            docs: attr::docs(&field.prefix),
            deprecated: attrs.deprecated,
            span: field.name.span,
        }
    }

    fn lower_service(
        &mut self,
        file: &'a LoadedFile,
        item: &'a ast::Item,
        block: &'a ast::Block<ast::Member>,
    ) -> Service {
        let package = self.model.files[file.id.0 as usize].package;
        let attrs = attr::lower_attrs(&item.prefix.attrs, Target::Service, self.diags);
        let mut methods = Vec::new();
        let mut events = Vec::new();
        for member in &block.members {
            match member {
                ast::Member::Method(m) => methods.push(self.lower_method(file, m)),
                ast::Member::Event(e) => {
                    let attrs = attr::lower_attrs(&e.prefix.attrs, Target::Event, self.diags);
                    events.push(Event {
                        name: e.name.name.clone(),
                        docs: attr::docs(&e.prefix),
                        deprecated: attrs.deprecated,
                        fields: self.lower_fields(file, &e.fields, Target::Field),
                        hydrate: attrs.hydrate,
                        span: e.name.span,
                    });
                }
            }
        }
        Service {
            name: item.name.name.clone(),
            package,
            docs: attr::docs(&item.prefix),
            deprecated: attrs.deprecated,
            methods,
            events,
            span: item.name.span,
        }
    }

    fn lower_method(&mut self, file: &'a LoadedFile, m: &'a ast::Method) -> Method {
        let attrs = attr::lower_attrs(&m.prefix.attrs, Target::Method, self.diags);
        let params = self.lower_fields(file, &m.params, Target::Param);
        let returns = match &m.returns {
            None => Returns::Nothing,
            Some(r) if r.stream => Returns::Stream(self.lower_type_expr(file, &r.ty)),
            Some(r) => Returns::Unary(self.lower_type_expr(file, &r.ty)),
        };
        let throws = m
            .throws
            .iter()
            .filter_map(|path| match self.resolve(file, path) {
                Some(TypeKind::Named(error)) => Some(Throw { error, span: path.span }),
                Some(TypeKind::Scalar(s)) => {
                    self.diags.push(
                        Diagnostic::error(
                            "throws-not-error",
                            path.span,
                            format!("`{}` is not an error", s.name()),
                        )
                        .with_label("a built-in type")
                        .with_help("declare one with `error Name { ... }` and throw that"),
                    );
                    None
                }
                _ => None,
            })
            .collect();
        Method {
            name: m.name.name.clone(),
            docs: attr::docs(&m.prefix),
            deprecated: attrs.deprecated,
            params,
            returns,
            throws,
            oneway: attrs.oneway,
            http: attrs.http,
            span: m.name.span,
        }
    }

    fn lower_type_expr(&mut self, file: &'a LoadedFile, ty: &'a ast::TypeExpr) -> Type {
        let kind = match &ty.kind {
            TypeExprKind::Named(path) => self.resolve(file, path).unwrap_or(TypeKind::Unresolved),
            TypeExprKind::List(elem) => TypeKind::List(Box::new(self.lower_type_expr(file, elem))),
            TypeExprKind::Map(k, v) => TypeKind::Map(
                Box::new(self.lower_type_expr(file, k)),
                Box::new(self.lower_type_expr(file, v)),
            ),
            TypeExprKind::Optional(inner) => TypeKind::Optional(Box::new(self.lower_type_expr(file, inner))),
        };
        Type { kind, span: ty.span }
    }

    /// The packages a file sees: its own first, then those of its imports.
    fn visible_packages(&self, file: &LoadedFile) -> Vec<PackageId> {
        let own = self.model.files[file.id.0 as usize].package;
        let mut packages = vec![own];
        for import in &file.imports {
            let p = self.model.files[import.0 as usize].package;
            if !packages.contains(&p) {
                packages.push(p);
            }
        }
        packages
    }

    /// Resolves a type name; reports and returns `None` when it does not resolve to a type.
    fn resolve(&mut self, file: &'a LoadedFile, path: &'a ast::Path) -> Option<TypeKind> {
        let visible = self.visible_packages(file);
        let (name, decl) = match path.segments.as_slice() {
            [] => return None, // a syntax error, already reported
            [single] => {
                let name = single.name.as_str();
                if let Some(scalar) = Scalar::from_name(name) {
                    return Some(TypeKind::Scalar(scalar));
                }
                let found: Vec<(PackageId, Decl)> = visible
                    .iter()
                    .filter_map(|p| self.names[p.0 as usize].get(name).map(|d| (*p, *d)))
                    .collect();
                match found.as_slice() {
                    [] => (name, None),
                    [(_, decl)] => (name, Some(*decl)),
                    [(own, decl), ..] if *own == visible[0] => (name, Some(*decl)),
                    several => {
                        let mut diag =
                            Diagnostic::error("ambiguous-type", path.span, format!("`{name}` is ambiguous"))
                                .with_label("declared in more than one imported package");
                        for (p, _) in several {
                            let pkg = &self.model.packages[p.0 as usize].name;
                            diag = diag.with_note(format!("`{pkg}.{name}` is one of them"));
                        }
                        self.diags.push(diag.with_help("write the package-qualified name"));
                        return None;
                    }
                }
            }
            [package @ .., last] => {
                let pkg_name = package.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(".");
                let Some(pkg) =
                    visible.iter().copied().find(|p| self.model.packages[p.0 as usize].name == pkg_name)
                else {
                    let known = self.model.packages.iter().any(|p| p.name == pkg_name);
                    let span = package[0].span.to(package[package.len() - 1].span);
                    let diag =
                        Diagnostic::error("unknown-package", span, format!("unknown package `{pkg_name}`"));
                    let diag = if known {
                        diag.with_help(format!("import the file that declares package `{pkg_name}`"))
                    } else {
                        let names: Vec<&str> =
                            visible.iter().map(|p| self.model.packages[p.0 as usize].name.as_str()).collect();
                        diag.with_help_opt(closest(&pkg_name, names).map(|c| format!("did you mean `{c}`?")))
                    };
                    self.diags.push(diag);
                    return None;
                };
                (last.name.as_str(), self.names[pkg.0 as usize].get(last.name.as_str()).copied())
            }
        };
        match decl {
            Some(Decl::Type(id)) => Some(TypeKind::Named(id)),
            Some(Decl::Service) => {
                self.diags.push(
                    Diagnostic::error("not-a-type", path.span, format!("`{name}` is a service, not a type"))
                        .with_note("services cannot be sent as values; use a struct"),
                );
                None
            }
            None => {
                self.unknown_type(&visible, path, name);
                None
            }
        }
    }

    fn unknown_type(&mut self, visible: &[PackageId], path: &ast::Path, name: &str) {
        let mut candidates: Vec<&str> = Scalar::ALL.iter().map(|(n, _)| *n).collect();
        for p in visible {
            candidates.extend(
                self.names[p.0 as usize].iter().filter(|(_, d)| matches!(d, Decl::Type(_))).map(|(n, _)| *n),
            );
        }
        candidates.sort_unstable();
        let mut diag =
            Diagnostic::error("unknown-type", path.span, format!("unknown type `{}`", path.to_dotted()))
                .with_label("not found");
        if let Some(suggestion) = closest(name, candidates) {
            diag = diag.with_help(format!("did you mean `{suggestion}`?"));
        } else if let Some(other) = self
            .model
            .packages
            .iter()
            .enumerate()
            .find(|(i, _)| self.names[*i].contains_key(name))
            .map(|(_, p)| p.name.clone())
        {
            diag = diag.with_help(format!("`{other}.{name}` exists: import the file that declares it"));
        } else if let Some(hint) = foreign_type_hint(name) {
            diag = diag.with_help(hint);
        }
        self.diags.push(diag);
    }

    fn lower_value(&mut self, value: &ast::Value) -> Option<ValueNode> {
        let v = match &value.kind {
            ValueKind::Number(raw) => {
                if let Some(n) = attr::parse_number(raw) {
                    Value::Number(n)
                } else {
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-number",
                            value.span,
                            format!("`{raw}` is not a number svcgen can read"),
                        )
                        .with_note("integers must fit in 128 bits, floats in an f64"),
                    );
                    return None;
                }
            }
            ValueKind::String { value, .. } => Value::String(value.clone()),
            ValueKind::Bool(b) => Value::Bool(*b),
            ValueKind::Null => Value::Null,
            ValueKind::List(items) => Value::List(items.iter().filter_map(|v| self.lower_value(v)).collect()),
            ValueKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((self.lower_value(k)?, self.lower_value(v)?)))
                    .collect(),
            ),
            ValueKind::Path(p) => Value::Name(p.to_dotted()),
        };
        Some(ValueNode { value: v, span: value.span })
    }
}

/// A hint for type names from other languages.
fn foreign_type_hint(name: &str) -> Option<String> {
    let ours = match name {
        "int" | "integer" | "Int" | "Integer" | "int32" | "i128" => "i32` or `i64",
        "long" | "Long" | "int64" => "i64",
        "uint" | "uint32" | "usize" => "u32` or `u64",
        "uint64" | "ulong" => "u64",
        "float" | "Float" | "float32" => "f32",
        "double" | "Double" | "float64" | "number" => "f64",
        "boolean" | "Boolean" | "Bool" => "bool",
        "str" | "String" | "text" => "string",
        "Vec" | "array" | "Array" | "List" | "list" => "list<T>",
        "HashMap" | "Map" | "dict" | "object" | "map" => "map<K, V>",
        "Option" | "Optional" => "T?",
        "datetime" | "DateTime" | "Instant" | "date" => "timestamp",
        "Duration" | "interval" => "duration",
        "UUID" | "Uuid" | "guid" => "uuid",
        "blob" | "Bytes" | "binary" => "bytes",
        _ => return None,
    };
    Some(format!("the svcgen type is `{ours}`"))
}
