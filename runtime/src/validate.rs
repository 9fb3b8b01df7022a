//! Validation of constraints (`@length`, `@range`, `@pattern`), reporting every violation.

use std::collections::HashMap;
use std::fmt::Display;

use crate::status::{Status, Violation};

/// Collects violations while walking a value; knows the path of the field being checked.
#[derive(Debug, Default)]
pub struct Violations {
    path: Vec<String>,
    list: Vec<Violation>,
    /// Only whether there is a violation: no paths, no list (and nothing allocated).
    quiet: bool,
    found: bool,
}

impl Violations {
    /// An empty collector.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn here(&self, field: &str) -> String {
        let mut path = String::new();
        for part in &self.path {
            if !path.is_empty() && !part.starts_with('[') {
                path.push('.');
            }
            path.push_str(part);
        }
        if !field.is_empty() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(field);
        }
        path
    }

    /// Records a violation of `field` (relative to the current path).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.found = true;
        if self.quiet {
            return;
        }
        let field = self.here(field);
        self.list.push(Violation { field, message: message.into() });
    }

    /// Checks the value below `name`.
    pub fn field(&mut self, name: &str, check: impl FnOnce(&mut Self)) {
        if self.quiet {
            return check(self);
        }
        self.path.push(name.to_owned());
        check(self);
        self.path.pop();
    }

    /// Checks an item of a list.
    pub fn index(&mut self, index: usize, check: impl FnOnce(&mut Self)) {
        if self.quiet {
            return check(self);
        }
        self.path.push(format!("[{index}]"));
        check(self);
        self.path.pop();
    }

    /// `@length(min:, max:)`.
    pub fn length(&mut self, field: &str, len: usize, min: Option<u64>, max: Option<u64>) {
        let len = len as u64;
        if let Some(min) = min.filter(|m| len < *m) {
            self.add(field, format!("length must be at least {min}, is {len}"));
        }
        if let Some(max) = max.filter(|m| len > *m) {
            self.add(field, format!("length must be at most {max}, is {len}"));
        }
    }

    /// `@range(min:, max:)` of an integer.
    pub fn range_int(&mut self, field: &str, value: i128, min: Option<i128>, max: Option<i128>) {
        if let Some(min) = min.filter(|m| value < *m) {
            self.add(field, format!("must be at least {min}, is {value}"));
        }
        if let Some(max) = max.filter(|m| value > *m) {
            self.add(field, format!("must be at most {max}, is {value}"));
        }
    }

    /// `@range(min:, max:)` of a float.
    pub fn range_float(&mut self, field: &str, value: f64, min: Option<f64>, max: Option<f64>) {
        if let Some(min) = min.filter(|m| value < *m || value.is_nan()) {
            self.add(field, format!("must be at least {min}, is {value}"));
        }
        if let Some(max) = max.filter(|m| value > *m) {
            self.add(field, format!("must be at most {max}, is {value}"));
        }
    }

    /// `@pattern("regex")`.
    pub fn pattern(&mut self, field: &str, value: &str, regex: &regex::Regex) {
        if !regex.is_match(value) {
            self.add(field, format!("must match the pattern `{}`", regex.as_str()));
        }
    }

    /// `@pattern`, with a pattern that may have failed to compile (then the value is refused:
    /// a server never silently skips a constraint).
    pub fn pattern_checked(&mut self, field: &str, value: &str, regex: Option<&regex::Regex>) {
        match regex {
            Some(regex) => self.pattern(field, value, regex),
            None => self.add(field, "its pattern cannot be compiled by this server"),
        }
    }

    /// `Ok` when nothing was violated, else an `invalid_argument` status naming every field.
    pub fn finish(self) -> Result<(), Status> {
        if self.list.is_empty() { Ok(()) } else { Err(Status::invalid_fields(self.list)) }
    }
}

/// Validates a whole value: `Ok`, or `invalid_argument` naming every bad field.
pub fn validate<T: Validate + ?Sized>(value: &T) -> Result<(), Status> {
    // A valid value (the usual case) is walked once without building any path; only an
    // invalid one is walked again to name every violation.
    let mut quick = Violations { quiet: true, ..Violations::default() };
    value.validate(&mut quick);
    if !quick.found {
        return Ok(());
    }
    let mut v = Violations::new();
    value.validate(&mut v);
    v.finish()
}

/// A value with constraints somewhere inside. Generated code implements it for every struct,
/// union and error, and for each method's parameters.
pub trait Validate {
    /// Records every violation in `v`.
    fn validate(&self, v: &mut Violations);
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self, v: &mut Violations) {
        for (i, item) in self.iter().enumerate() {
            v.index(i, |v| item.validate(v));
        }
    }
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, v: &mut Violations) {
        if let Some(inner) = self {
            inner.validate(v);
        }
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate(&self, v: &mut Violations) {
        (**self).validate(v);
    }
}

impl<K: Display, V: Validate, S> Validate for HashMap<K, V, S> {
    fn validate(&self, v: &mut Violations) {
        for (key, value) in self {
            v.field(&key.to_string(), |v| value.validate(v));
        }
    }
}

/// What `@length` measures: characters of a string, bytes of `bytes`, items of a list or map.
pub trait Length {
    /// The length.
    fn length(&self) -> usize;
}

impl Length for String {
    fn length(&self) -> usize {
        self.chars().count()
    }
}

impl Length for crate::types::Bytes {
    fn length(&self) -> usize {
        self.0.len()
    }
}

impl<T> Length for Vec<T> {
    fn length(&self) -> usize {
        self.len()
    }
}

impl<K, V, S> Length for HashMap<K, V, S> {
    fn length(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        name: String,
    }
    impl Validate for Item {
        fn validate(&self, v: &mut Violations) {
            v.length("name", self.name.length(), Some(1), None);
        }
    }
    struct Order {
        items: Vec<Item>,
        count: u32,
    }
    impl Validate for Order {
        fn validate(&self, v: &mut Violations) {
            v.range_int("count", self.count.into(), Some(1), Some(10));
            v.field("items", |v| self.items.validate(v));
        }
    }

    #[test]
    fn every_violation_is_reported_with_its_path() {
        let order = Order { items: vec![Item { name: "a".into() }, Item { name: String::new() }], count: 11 };
        let status = validate(&order).expect_err("invalid");
        let fields: Vec<&str> = status.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["count", "items[1].name"]);
    }
}
