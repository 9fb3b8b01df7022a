//! The span table: how `proc_macro2::Span`s travel through the model as plain byte ranges.
//!
//! The model's [`Span`] is `{ file, start, end }`. The macro front end gives its input one
//! synthetic file ([`MACRO_FILE`]) whose "offsets" are indexes into this table, allocated in
//! source order; each entry is the first and last token of one piece of syntax. A diagnostic's
//! span turns back into a `syn::Error` over exactly those tokens.

use proc_macro2::{Ident, Span as TokenSpan, TokenStream, TokenTree};
use quote::ToTokens;
use svcgen_idl::{FileId, Span};

/// The synthetic file of the macro's input.
pub const MACRO_FILE: FileId = FileId(0);

/// The `proc_macro2` spans behind the model's spans.
#[derive(Debug, Default)]
pub struct SpanTable {
    spans: Vec<(TokenSpan, TokenSpan)>,
}

impl SpanTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A model span for the tokens from `first` to `last`.
    pub fn add(&mut self, first: TokenSpan, last: TokenSpan) -> Span {
        let index = self.spans.len();
        self.spans.push((first, last));
        Span::new(MACRO_FILE, index, index + 1)
    }

    /// A model span covering `tokens` (the call site when there are none).
    pub fn of(&mut self, tokens: &impl ToTokens) -> Span {
        let (first, last) = bounds(tokens.to_token_stream());
        self.add(first, last)
    }

    /// A model span for one token.
    pub fn at(&mut self, span: TokenSpan) -> Span {
        self.add(span, span)
    }

    /// The first and last token of a model span (the call site for a span not from this table).
    #[must_use]
    pub fn tokens(&self, span: Span) -> (TokenSpan, TokenSpan) {
        let first = self.spans.get(span.start as usize).map(|(f, _)| *f);
        let last = (span.end as usize).checked_sub(1).and_then(|i| self.spans.get(i)).map(|(_, l)| *l);
        match (first, last) {
            (Some(f), Some(l)) => (f, l),
            (Some(f), None) => (f, f),
            (None, Some(l)) => (l, l),
            (None, None) => (TokenSpan::call_site(), TokenSpan::call_site()),
        }
    }

    /// An error over the tokens of a model span.
    #[must_use]
    pub fn error(&self, span: Span, message: impl std::fmt::Display) -> syn::Error {
        let (first, last) = self.tokens(span);
        spanned_error(first, last, message)
    }
}

/// An error from `first` to `last` (syn keeps both ends; rustc underlines the range).
#[must_use]
pub fn spanned_error(first: TokenSpan, last: TokenSpan, message: impl std::fmt::Display) -> syn::Error {
    let tokens: TokenStream =
        [TokenTree::Ident(Ident::new("start", first)), TokenTree::Ident(Ident::new("end", last))]
            .into_iter()
            .collect();
    syn::Error::new_spanned(tokens, message)
}

/// The spans of the first and last token of a stream.
fn bounds(tokens: TokenStream) -> (TokenSpan, TokenSpan) {
    let mut iter = tokens.into_iter();
    let Some(first) = iter.next() else { return (TokenSpan::call_site(), TokenSpan::call_site()) };
    let first = first.span();
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}
