//! `emit_*` for a service's events: one struct per event (`ProductCreated`, or
//! `CatalogProductCreated` when another service of the package has the event) (its data, with its constraints and
//! the `EventData` impl naming its static descriptor), `Hydrate` for a thin event, and the
//! `{Service}Events` handle that gives a typed `Topic` per event.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use svcgen_idl::model::{Event, Service, ServiceId, Value, snake_case};

use super::names::{type_ident, type_name, value_ident};
use super::types::{Gen, Scope, docs};

/// Inherent methods of `{Service}Events`: an event with one of these names has no accessor
/// (its topic is still `Topic::<Event>::new(broker)`).
const EVENTS_RESERVED: &[&str] = &["new", "shared", "broker", "clone", "fmt"];

impl Gen<'_> {
    /// The events of `service`, each with the private descriptor constant it names, and the
    /// `{Service}Events` handle; nothing for a service without events.
    pub(super) fn emit_events(
        &mut self,
        sid: ServiceId,
        service: &Service,
        descriptors: &[proc_macro2::Ident],
    ) -> TokenStream {
        if service.events.is_empty() {
            return TokenStream::new();
        }
        let names: Vec<proc_macro2::Ident> = (0..service.events.len())
            .map(|i| format_ident!("{}", self.event_names.get(sid, i).unwrap_or("Event")))
            .collect();
        let structs: Vec<TokenStream> = service
            .events
            .iter()
            .zip(descriptors)
            .zip(&names)
            .map(|((e, d), name)| self.emit_event(service, e, name, d))
            .collect();
        let handle = format_ident!("{}Events", type_name(&service.name));
        let trait_name = type_ident(&service.name);
        let doc = format!(
            " The events of [`{trait_name}`] on a message broker: a typed `Topic` per event, to publish on or subscribe to."
        );
        let accessors = service
            .events
            .iter()
            .zip(&names)
            .filter(|(e, _)| !EVENTS_RESERVED.contains(&snake_case(&e.name).as_str()))
            .map(|(e, data)| {
                let ident = value_ident(&e.name);
                let doc = docs(&e.docs, e.deprecated.as_deref(), &format!("The `{}` events.", e.name));
                quote! {
                    #doc
                    #[must_use]
                    pub fn #ident(&self) -> ::svcgen::queue::events::Topic<#data> {
                        ::svcgen::queue::events::Topic::new(::std::sync::Arc::clone(&self.broker))
                    }
                }
            });
        quote! {
            #(#structs)*
            #[doc = #doc]
            #[derive(Clone, Debug)]
            pub struct #handle {
                broker: ::std::sync::Arc<dyn ::svcgen::queue::Broker>,
            }
            impl #handle {
                /// The events on `broker` (`svcgen::queue::MemoryBroker`, `NatsBroker`, `AmqpBroker`).
                #[must_use]
                pub fn new(broker: impl ::svcgen::queue::Broker) -> Self {
                    Self { broker: ::std::sync::Arc::new(broker) }
                }
                /// The events on a broker shared with other handles and clients.
                #[must_use]
                pub fn shared(broker: ::std::sync::Arc<dyn ::svcgen::queue::Broker>) -> Self {
                    Self { broker }
                }
                #(#accessors)*
            }
        }
    }

    /// One event's data struct, its descriptor constant (pushed to the private module) and,
    /// for a thin event, its `Hydrate` impl.
    fn emit_event(
        &mut self,
        service: &Service,
        event: &Event,
        name: &proc_macro2::Ident,
        descriptor: &proc_macro2::Ident,
    ) -> TokenStream {
        let doc = docs(
            &event.docs,
            event.deprecated.as_deref(),
            &format!("The `{}` event of `{}`.", event.name, service.name),
        );
        let members: Vec<TokenStream> =
            event.fields.iter().map(|f| self.emit_field(f, Scope::Package, false)).collect();
        let validate = self.emit_validate(&quote!(#name), &event.fields, Scope::Package);
        let package = &self.model.package(service.package).name;
        let qualified = format!("{package}.{}", service.name);
        let wire = &event.name;
        let subject = self.model.event_addresses(service, event).subject;
        self.private.push(quote! {
            pub(super) const #descriptor: ::svcgen::__private::EventDescriptor = ::svcgen::__private::EventDescriptor {
                service: #qualified,
                name: #wire,
                subject: #subject,
            };
        });
        let hydrate = self.emit_hydrate(service, event, name);
        quote! {
            #doc
            #[derive(Clone, Debug, PartialEq, ::svcgen::__private::serde::Serialize, ::svcgen::__private::serde::Deserialize)]
            #[serde(crate = "::svcgen::__private::serde")]
            pub struct #name { #(#members)* }
            #validate
            impl ::svcgen::__private::EventData for #name {
                const DESCRIPTOR: &'static ::svcgen::__private::EventDescriptor = &__svcgen::#descriptor;
            }
            #hydrate
        }
    }

    /// `impl<S: Service> Hydrate<S>`: calls the `@hydrate` method with the event's fields (the
    /// method's other parameters take their defaults, or none); `svcgen check` has made sure
    /// the fields fill every required parameter, with the same types.
    fn emit_hydrate(&self, service: &Service, event: &Event, name: &proc_macro2::Ident) -> TokenStream {
        let Some(hydrate) = &event.hydrate else { return TokenStream::new() };
        let Some(method) = service.methods.iter().find(|m| m.name == hydrate.method) else {
            return TokenStream::new();
        };
        let trait_name = type_ident(&service.name);
        let generic = self.generic_name();
        let ident = value_ident(&method.name);
        let args = method.params.iter().map(|p| match event.fields.iter().find(|f| f.name == p.name) {
            Some(field) => {
                let field = value_ident(&field.name);
                quote!(::core::clone::Clone::clone(&self.#field))
            }
            None => match &p.default {
                Some(value) if !matches!(value.value, Value::Null) => {
                    self.emit_value(&p.ty, value, Scope::Package, false)
                }
                // Optional, with no default (`svcgen check` refused a required one).
                _ => quote!(::core::option::Option::None),
            },
        });
        let reply = self.reply_type(method);
        let error = self.error_type(method);
        quote! {
            #[allow(deprecated)]
            impl<#generic: #trait_name> ::svcgen::__private::Hydrate<#generic> for #name {
                type Output = #reply;
                type Error = #error;
                fn hydrate(
                    &self,
                    ctx: &::svcgen::Context,
                    service: &#generic,
                ) -> impl ::core::future::Future<Output = ::core::result::Result<#reply, #error>> + ::core::marker::Send {
                    <#generic as #trait_name>::#ident(service, ctx, #(#args),*)
                }
            }
        }
    }
}
