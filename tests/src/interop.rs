//! The conformance service implemented on the trait `#[svcgen::service]` generated
//! (`conformance_macro`), for the interop tests: a client generated from `conformance.svc`
//! calls this server, and the macro's client calls the `.svc` server, on every binding.
#![allow(clippy::missing_panics_doc)] // a test service

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt as _;
use svcgen::{Context, Status, Streaming};

use crate::conformance_macro::conformance::{
    Caller, Conflict, Conformance, Echo, GetError, Item, NoSuchItem, PutError, Refused, RemoveError,
};

/// The same in-memory item store as `conformance::ConformanceImpl`, on the macro's trait.
#[derive(Debug, Default)]
pub struct MacroConformanceImpl {
    items: Mutex<BTreeMap<String, Item>>,
    notes: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Conformance for MacroConformanceImpl {
    async fn get(&self, _ctx: &Context, name: String) -> Result<Item, GetError> {
        lock(&self.items).get(&name).cloned().ok_or(GetError::NoSuchItem(NoSuchItem { name }))
    }

    async fn put(&self, _ctx: &Context, item: Item) -> Result<Item, PutError> {
        if item.name == "forbidden" {
            return Err(PutError::Refused(Refused { why: "that name is forbidden".into() }));
        }
        let mut items = lock(&self.items);
        if items.contains_key(&item.name) {
            return Err(PutError::Conflict(Conflict { name: item.name, reason: "it exists".into() }));
        }
        items.insert(item.name.clone(), item.clone());
        Ok(item)
    }

    async fn list(
        &self,
        _ctx: &Context,
        prefix: Option<String>,
        limit: u32,
        tags: Vec<String>,
    ) -> Result<Vec<Item>, Status> {
        let items = lock(&self.items);
        Ok(items
            .values()
            .filter(|i| prefix.as_ref().is_none_or(|p| i.name.starts_with(p.as_str())))
            .filter(|i| tags.iter().all(|t| i.tags.contains(t)))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn remove(&self, _ctx: &Context, name: String) -> Result<(), RemoveError> {
        match lock(&self.items).remove(&name) {
            Some(_) => Ok(()),
            None => Err(RemoveError::NoSuchItem(NoSuchItem { name })),
        }
    }

    async fn echo(
        &self,
        _ctx: &Context,
        data: svcgen::Bytes,
        text: String,
        when: Option<svcgen::Timestamp>,
        wait: Option<svcgen::Duration>,
        id: Option<svcgen::Uuid>,
    ) -> Result<Echo, Status> {
        Ok(Echo { data, text, when, wait, id })
    }

    async fn slow(&self, _ctx: &Context, millis: u32) -> Result<u32, Status> {
        tokio::time::sleep(Duration::from_millis(millis.into())).await;
        Ok(millis)
    }

    async fn whoami(&self, ctx: &Context) -> Result<Caller, Status> {
        Ok(Caller {
            correlation_id: ctx.correlation_id().to_owned(),
            traceparent: ctx.traceparent().map(str::to_owned),
            deadline_ms: ctx.remaining().map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
            authorization: ctx.metadata("authorization").map(str::to_owned),
        })
    }

    async fn count(
        &self,
        _ctx: &Context,
        up_to: u32,
        fail_at: Option<u32>,
    ) -> Result<Streaming<u32>, Status> {
        let items = futures_util::stream::iter(1..=up_to).map(move |i| {
            if Some(i) == fail_at { Err(Status::domain(&Refused { why: format!("not {i}") })) } else { Ok(i) }
        });
        Ok(svcgen::streaming(items))
    }

    async fn record(&self, _ctx: &Context, note: String) -> Result<(), Status> {
        lock(&self.notes).push(note);
        Ok(())
    }

    async fn recorded(&self, _ctx: &Context) -> Result<Vec<String>, Status> {
        Ok(lock(&self.notes).clone())
    }

    async fn explode(&self, _ctx: &Context) -> Result<String, Status> {
        panic!("the explode method always panics");
    }
}
