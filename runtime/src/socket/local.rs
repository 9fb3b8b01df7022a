//! Calls in the other direction, on the client's side: the server calls a service the client
//! exposes ([`SocketClient::serve`](super::SocketClient::serve)), and the client answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use super::wire::{self, INVALID_REQUEST, META};
use crate::descriptor::MethodKind;
use crate::dispatch::{Codec, Dispatch, Payload, Reply, run_call};
use crate::status::{Code, Status};

/// The services a client exposes, by `package.Service` (shared by its connections).
#[derive(Clone, Default)]
pub(crate) struct Local(pub(crate) Arc<RwLock<HashMap<String, Arc<dyn Dispatch>>>>);

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_list().entries(services.keys()).finish()
    }
}

/// The server's calls running on one client connection, for `svcgen.cancel` and its limit.
pub(crate) struct Served {
    tasks: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
    slots: Arc<Semaphore>,
}

impl Served {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self { tasks: Arc::default(), slots: Arc::new(Semaphore::new(max_in_flight.max(1))) }
    }

    /// `svcgen.cancel` from the server: `{"id": …}` stops that call.
    pub(crate) fn cancel(&self, params: &Value) {
        let Some(id) = params.get("id") else { return };
        if let Some(task) = self.tasks.lock().unwrap_or_else(PoisonError::into_inner).remove(&id.to_string())
        {
            task.abort();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        for (_, task) in self.tasks.lock().unwrap_or_else(PoisonError::into_inner).drain() {
            task.abort();
        }
    }
}

/// Answers one request of the server (a notification, without `id`, is run unanswered).
pub(crate) fn serve_request(
    local: &Local,
    served: &Served,
    tx: &mpsc::Sender<Message>,
    id: Option<&RawValue>,
    method: &str,
    params: Value,
) {
    let answer = |text: String| {
        let _ = tx.try_send(Message::Text(text.into()));
    };
    let fail = |status: &Status| {
        if let Some(id) = id {
            answer(wire::error_text(id, &wire::error_object(status, None)));
        }
    };
    if id.is_some_and(|id| !wire::is_id(id)) {
        let error =
            wire::plain_error(INVALID_REQUEST, "invalid request: `id` must be a string, a number or null");
        answer(wire::error_text(RawValue::NULL, &error));
        return;
    }
    let mut params = match params {
        Value::Null => Map::new(),
        Value::Object(params) => params,
        _ => return fail(&Status::invalid_argument("`params` must be an object of named parameters")),
    };
    let ctx = match wire::context_of(params.remove(META).as_ref()) {
        Ok(ctx) => ctx,
        Err(status) => return fail(&status),
    };
    let found = method.rsplit_once('.').and_then(|(service, name)| {
        let service = local.0.read().unwrap_or_else(PoisonError::into_inner).get(service).cloned()?;
        let descriptor = service.descriptor().method(name)?;
        Some((service, descriptor))
    });
    let Some((service, descriptor)) = found else {
        return fail(&Status::unimplemented(format!("this client serves no `{method}`")));
    };
    if descriptor.kind == MethodKind::ServerStream {
        return fail(&Status::unimplemented("a client does not serve streams"));
    }
    let Ok(slot) = served.slots.clone().try_acquire_owned() else {
        return fail(&Status::new(Code::ResourceExhausted, "too many calls from the server in flight"));
    };
    let payload = Payload::Json(Value::Object(params));
    if descriptor.kind == MethodKind::Oneway {
        if let Err(status) = service.check(descriptor.name, &payload) {
            return fail(&status);
        }
        if let Some(id) = id {
            answer(wire::result_text(id, b"null"));
        }
        tokio::spawn(async move {
            if let Err(status) = run_call(&*service, descriptor.name, payload, Codec::Json, ctx).await {
                tracing::warn!(%status, "oneway call from the server failed");
            }
            drop(slot);
        });
        return;
    }
    let tx = tx.clone();
    let key = id.map(wire::id_key);
    let id = id.map(ToOwned::to_owned);
    let registry = served.tasks.clone();
    let mut tasks = served.tasks.lock().unwrap_or_else(PoisonError::into_inner);
    let unregister_key = key.clone();
    let task = tokio::spawn(async move {
        let correlation_id = ctx.correlation_id().to_owned();
        let result = run_call(&*service, descriptor.name, payload, Codec::Json, ctx).await;
        if let Some(id) = &id {
            let text = match result {
                Ok(Reply::Value(bytes)) => wire::result_text(id, &bytes),
                Ok(Reply::Text(text)) => wire::response_text(id, &text),
                Ok(Reply::Empty) => wire::result_text(id, b"null"),
                Ok(Reply::Stream(_)) => {
                    let status = Status::internal("a client does not serve streams");
                    wire::error_text(id, &wire::error_object(&status, Some(&correlation_id)))
                }
                Err(status) => wire::error_text(id, &wire::error_object(&status, Some(&correlation_id))),
            };
            let _ = tx.send(Message::Text(text.into())).await;
        }
        drop(slot);
        if let (Some(key), Some(me)) = (unregister_key, tokio::task::try_id()) {
            let mut tasks = registry.lock().unwrap_or_else(PoisonError::into_inner);
            if tasks.get(&key).is_some_and(|t| t.id() == me) {
                tasks.remove(&key);
            }
        }
    });
    if let Some(key) = key {
        tasks.insert(key, task.abort_handle());
    }
}
