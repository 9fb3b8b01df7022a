//! One error model for every binding: a [`Code`], a message, field violations, and the typed
//! domain error of the method when it is one. REST renders it as RFC 9457
//! `application/problem+json` ([`Problem`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status codes, shared by every binding (see `docs/rest.md` for the HTTP mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The caller gave up.
    Cancelled,
    /// An error with no better code.
    Unknown,
    /// The request is malformed or breaks a constraint.
    InvalidArgument,
    /// The deadline passed.
    DeadlineExceeded,
    /// Something (a route, a resource) does not exist.
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// The caller may not do this.
    PermissionDenied,
    /// A quota or rate limit is exhausted.
    ResourceExhausted,
    /// The system is not in a state that allows this.
    FailedPrecondition,
    /// A concurrency conflict.
    Aborted,
    /// Out of a valid range.
    OutOfRange,
    /// Not implemented by this server (an unknown method).
    Unimplemented,
    /// A bug or an unexpected failure.
    Internal,
    /// Try again later.
    Unavailable,
    /// Unrecoverable data loss.
    DataLoss,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The request is larger than the server accepts.
    PayloadTooLarge,
}

const CODES: [(Code, &str, u16); 17] = [
    (Code::Cancelled, "cancelled", 499),
    (Code::Unknown, "unknown", 500),
    (Code::InvalidArgument, "invalid_argument", 400),
    (Code::DeadlineExceeded, "deadline_exceeded", 504),
    (Code::NotFound, "not_found", 404),
    (Code::AlreadyExists, "already_exists", 409),
    (Code::PermissionDenied, "permission_denied", 403),
    (Code::ResourceExhausted, "resource_exhausted", 429),
    (Code::FailedPrecondition, "failed_precondition", 412),
    (Code::Aborted, "aborted", 409),
    (Code::OutOfRange, "out_of_range", 400),
    (Code::Unimplemented, "unimplemented", 501),
    (Code::Internal, "internal", 500),
    (Code::Unavailable, "unavailable", 503),
    (Code::DataLoss, "data_loss", 500),
    (Code::Unauthenticated, "unauthenticated", 401),
    (Code::PayloadTooLarge, "payload_too_large", 413),
];

impl Code {
    /// The `snake_case` name used on the wire (`not_found`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        CODES.iter().find(|(c, _, _)| *c == self).map_or("unknown", |(_, s, _)| s)
    }

    /// The code with this wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Code> {
        CODES.iter().find(|(_, s, _)| *s == name).map(|(c, _, _)| *c)
    }

    /// The HTTP status of this code.
    #[must_use]
    pub fn http_status(self) -> u16 {
        CODES.iter().find(|(c, _, _)| *c == self).map_or(500, |(_, _, h)| *h)
    }

    /// The code an HTTP status stands for (the first code of the table with that status;
    /// other 4xx are `failed_precondition`, other 5xx `internal`).
    #[must_use]
    pub fn from_http(status: u16) -> Code {
        match status {
            405 => Code::Unimplemented,
            _ => CODES.iter().find(|(_, _, h)| *h == status).map_or(
                if (400..500).contains(&status) { Code::FailedPrecondition } else { Code::Internal },
                |(c, _, _)| *c,
            ),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule of the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The path of the field, `product.tags[2]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A typed domain error, carried inside a [`Status`] across the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainPayload {
    /// `urn:svcgen:error:{package}.{Error}`.
    pub type_uri: String,
    /// The error's name.
    pub name: String,
    /// Its HTTP status (`@status`).
    pub http_status: u16,
    /// Its fields.
    pub value: serde_json::Value,
}

/// The outcome of a failed call, on every binding.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    code: Code,
    message: String,
    violations: Vec<Violation>,
    domain: Option<Box<DomainPayload>>,
}

impl Status {
    /// A status with a code and a message.
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), violations: Vec::new(), domain: None }
    }

    /// `invalid_argument`.
    #[must_use]
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `invalid_argument` listing every violation.
    #[must_use]
    pub fn invalid_fields(violations: Vec<Violation>) -> Self {
        let message = match violations.as_slice() {
            [one] => format!("`{}`: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self { violations, ..Self::new(Code::InvalidArgument, message) }
    }

    /// `not_found`.
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `internal`.
    #[must_use]
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// `unavailable`.
    #[must_use]
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }

    /// `deadline_exceeded`.
    #[must_use]
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(Code::DeadlineExceeded, message)
    }

    /// `unimplemented`.
    #[must_use]
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(Code::Unimplemented, message)
    }

    /// The status of a typed domain error.
    pub fn domain<E: DomainError>(error: &E) -> Self {
        let value = serde_json::to_value(error).unwrap_or(serde_json::Value::Null);
        Self {
            domain: Some(Box::new(DomainPayload {
                type_uri: E::TYPE_URI.to_owned(),
                name: E::NAME.to_owned(),
                http_status: E::HTTP_STATUS,
                value,
            })),
            ..Self::new(Code::from_http(E::HTTP_STATUS), error.to_string())
        }
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input violations (with `invalid_argument`).
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The typed domain error, if this status carries one.
    #[must_use]
    pub fn domain_payload(&self) -> Option<&DomainPayload> {
        self.domain.as_deref()
    }

    /// The domain error as `E`, if it is one.
    #[must_use]
    pub fn downcast<E: DomainError>(&self) -> Option<E> {
        let payload = self.domain.as_deref()?;
        if payload.type_uri != E::TYPE_URI {
            return None;
        }
        serde_json::from_value(payload.value.clone()).ok()
    }

    /// The HTTP status: the domain error's `@status`, or the code's.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        self.domain.as_ref().map_or_else(|| self.code.http_status(), |d| d.http_status)
    }

    /// The RFC 9457 problem document of this status.
    #[must_use]
    pub fn to_problem(&self, correlation_id: Option<&str>) -> Problem {
        let (type_uri, title, error) = match &self.domain {
            Some(d) => (d.type_uri.clone(), d.name.clone(), Some(d.value.clone())),
            None => (format!("urn:svcgen:code:{}", self.code.as_str()), title_of(self.code), None),
        };
        Problem {
            type_uri,
            title,
            status: self.http_status(),
            detail: (!self.message.is_empty()).then(|| self.message.clone()),
            code: self.code.as_str().to_owned(),
            correlation_id: correlation_id.map(str::to_owned),
            error,
            violations: self.violations.clone(),
        }
    }

    /// The status a problem document describes (what a client makes of an error response).
    #[must_use]
    pub fn from_problem(problem: Problem) -> Self {
        let code = Code::from_name(&problem.code).unwrap_or_else(|| Code::from_http(problem.status));
        let domain = problem.type_uri.strip_prefix("urn:svcgen:error:").map(|_| {
            Box::new(DomainPayload {
                type_uri: problem.type_uri.clone(),
                name: problem.title.clone(),
                http_status: problem.status,
                value: problem.error.clone().unwrap_or(serde_json::Value::Null),
            })
        });
        Self { code, message: problem.detail.unwrap_or_default(), violations: problem.violations, domain }
    }
}

fn title_of(code: Code) -> String {
    let name = code.as_str();
    let mut title = String::with_capacity(name.len());
    for (i, word) in name.split('_').enumerate() {
        if i > 0 {
            title.push(' ');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                title.extend(first.to_uppercase());
            } else {
                title.push(first);
            }
            title.push_str(chars.as_str());
        }
    }
    title
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:svcgen:error:{package}.{Error}` or `urn:svcgen:code:{code}`.
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    /// The error's name, or the code's title.
    #[serde(default)]
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The [`Code`] name.
    #[serde(default)]
    pub code: String,
    /// The correlation id of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The typed domain error's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// Every invalid field, for `invalid_argument`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// A typed domain error (an `error` declared in the `.svc`): generated code implements it.
pub trait DomainError: Serialize + serde::de::DeserializeOwned + fmt::Display {
    /// `urn:svcgen:error:{package}.{Error}`.
    const TYPE_URI: &'static str;
    /// The error's name.
    const NAME: &'static str;
    /// Its `@status` (400 when none is given).
    const HTTP_STATUS: u16;
}

/// A method's error type: its domain errors plus [`Status`]. Generated code implements it
/// for each method's error enum; a method without `throws` uses [`Status`] itself.
pub trait MethodError: Sized + Send + 'static {
    /// Into the wire form.
    fn into_status(self) -> Status;
    /// From the wire form: the domain error when the status carries one the method throws.
    fn from_status(status: Status) -> Self;
}

impl MethodError for Status {
    fn into_status(self) -> Status {
        self
    }
    fn from_status(status: Status) -> Self {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http_and_back() {
        for (code, name, http) in CODES {
            assert_eq!(code.as_str(), name);
            assert_eq!(Code::from_name(name), Some(code));
            assert_eq!(code.http_status(), http);
        }
        assert_eq!(Code::from_http(404), Code::NotFound);
        assert_eq!(Code::from_http(418), Code::FailedPrecondition);
        assert_eq!(Code::from_http(502), Code::Internal);
    }

    #[test]
    fn problem_round_trip_keeps_violations() {
        let status = Status::invalid_fields(vec![
            Violation { field: "name".into(), message: "too short".into() },
            Violation { field: "tags[1]".into(), message: "too long".into() },
        ]);
        let problem = status.to_problem(Some("c1"));
        assert_eq!(problem.status, 400);
        assert_eq!(problem.type_uri, "urn:svcgen:code:invalid_argument");
        assert_eq!(problem.title, "Invalid argument");
        let json = serde_json::to_string(&problem).expect("json");
        let back = Status::from_problem(serde_json::from_str(&json).expect("parse"));
        assert_eq!(back, status);
    }
}
