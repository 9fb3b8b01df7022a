//! Static descriptions of services and methods, emitted by generated code and read by the
//! transports: adding a binding is runtime code, not a change to every generated file.

/// An HTTP verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// Whether parameters outside the path travel in the query string.
    #[must_use]
    pub fn params_in_query(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Delete)
    }

    /// The verb's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// The shape of a method's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// Returns one value.
    Unary,
    /// Returns nothing (but the caller waits for it to finish).
    Empty,
    /// Fire-and-forget: no reply.
    Oneway,
    /// The server sends a stream of values.
    ServerStream,
}

/// How a parameter's text (in a path or query string) becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `true` / `false`.
    Bool,
    /// An integer.
    Int,
    /// A float.
    Float,
    /// Text as it is (strings, enums, uuids, timestamps, durations).
    Text,
    /// A list of scalars: the name repeated.
    List(&'static ParamKind),
    /// Anything else (only ever in a JSON body).
    Json,
}

/// A parameter.
#[derive(Clone, Copy, Debug)]
pub struct ParamDescriptor {
    /// Its name on the wire.
    pub name: &'static str,
    /// How its text form is read.
    pub kind: ParamKind,
}

/// A domain error a method throws.
#[derive(Clone, Copy, Debug)]
pub struct ErrorDescriptor {
    /// The error's name.
    pub name: &'static str,
    /// `urn:svcgen:error:{package}.{Error}`.
    pub type_uri: &'static str,
    /// Its HTTP status.
    pub http_status: u16,
}

/// A method.
#[derive(Clone, Copy, Debug)]
pub struct MethodDescriptor {
    /// The service it belongs to, `package.Service` (how RPC and queue address it).
    pub service: &'static str,
    /// Its name on the wire.
    pub name: &'static str,
    /// The queue subject its requests are sent on, `shop.catalog.catalog.get_product`.
    pub subject: &'static str,
    /// The result shape.
    pub kind: MethodKind,
    /// The HTTP verb it is served at.
    pub http_method: HttpMethod,
    /// The HTTP path template, `/products/{id}`.
    pub http_path: &'static str,
    /// Its parameters.
    pub params: &'static [ParamDescriptor],
    /// The domain errors it throws.
    pub errors: &'static [ErrorDescriptor],
}

/// A service.
#[derive(Clone, Copy, Debug)]
pub struct ServiceDescriptor {
    /// The package, `shop.catalog`.
    pub package: &'static str,
    /// The service's name, `Catalog`.
    pub name: &'static str,
    /// Its wire name, `catalog`.
    pub wire_name: &'static str,
    /// The queue subject its methods' subjects extend, `shop.catalog.catalog`.
    pub subject: &'static str,
    /// Its methods.
    pub methods: &'static [MethodDescriptor],
    /// The events it publishes.
    pub events: &'static [EventDescriptor],
}

/// An event a service publishes.
#[derive(Clone, Copy, Debug)]
pub struct EventDescriptor {
    /// The service it belongs to, `package.Service`.
    pub service: &'static str,
    /// Its name, `product_created`.
    pub name: &'static str,
    /// Its subject and `CloudEvents` type, `shop.catalog.catalog.product_created`.
    pub subject: &'static str,
}

impl ServiceDescriptor {
    /// The method with this name.
    #[must_use]
    pub fn method(&self, name: &str) -> Option<&'static MethodDescriptor> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The event with this name.
    #[must_use]
    pub fn event(&self, name: &str) -> Option<&'static EventDescriptor> {
        self.events.iter().find(|e| e.name == name)
    }
}
