//! `emit_*` for a service: method error enums, the trait, the server (Dispatcher), the client,
//! and, in the private module, the argument structs and the static descriptor.

use std::collections::HashSet;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use svcgen_idl::model::{
    HttpMethod, Method, Returns, Scalar, Service, ServiceId, Type, TypeDefKind, TypeKind, snake_case,
};

use super::names::{CLIENT_RESERVED, type_ident, type_name, value_ident};
use super::types::{Gen, Scope, docs};

impl Gen<'_> {
    /// Everything generated for one service.
    pub fn emit_service(&mut self, sid: ServiceId) -> TokenStream {
        let model = self.model;
        let service = &model.services[sid.0 as usize];
        self.current_errors = service
            .methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((m.name.clone(), self.error_names.get(sid, i)?.to_owned())))
            .collect();
        let trait_name = type_ident(&service.name);
        let descriptor =
            self.unique_private_name(&format!("{}_SERVICE", snake_case(&service.name).to_uppercase()));
        let args: Vec<proc_macro2::Ident> = service
            .methods
            .iter()
            .map(|m| self.unique_private_name(&format!("{trait_name}{}Args", type_name(&m.name))))
            .collect();

        let errors: Vec<TokenStream> =
            service.methods.iter().filter_map(|m| self.emit_method_error(m)).collect();
        let trait_def = self.emit_trait(service);
        let server = self.emit_server(service, &descriptor, &args);
        let client = self.emit_client(service, &descriptor, &args);
        let args_defs = self.emit_args(service, &args);
        let event_descriptors: Vec<proc_macro2::Ident> = service
            .events
            .iter()
            .map(|e| {
                self.unique_private_name(&format!(
                    "{}_{}_EVENT",
                    snake_case(&service.name).to_uppercase(),
                    snake_case(&e.name).to_uppercase()
                ))
            })
            .collect();
        let events = self.emit_events(sid, service, &event_descriptors);
        let descriptor_def = self.emit_descriptor(service, &descriptor, &event_descriptors);
        self.private.push(quote! {
            #descriptor_def
            #(#args_defs)*
        });
        quote! {
            #(#errors)*
            #trait_def
            #server
            #client
            #events
        }
    }

    /// The error type of a method: its enum, or `Status` when it throws nothing.
    pub(super) fn error_type(&self, method: &Method) -> TokenStream {
        if let Some(name) = self.current_errors.get(&method.name) {
            let name = format_ident!("{name}");
            quote!(#name)
        } else {
            quote!(::svcgen::Status)
        }
    }

    /// The value type of a method's reply.
    pub(super) fn reply_type(&self, method: &Method) -> TokenStream {
        match &method.returns {
            Returns::Nothing => quote!(()),
            Returns::Unary(t) => self.rust_type(t, Scope::Package),
            Returns::Stream(t) => {
                let t = self.rust_type(t, Scope::Package);
                quote!(::svcgen::Streaming<#t>)
            }
        }
    }

    /// `GetProductError`: the method's domain errors, plus the runtime `Status`.
    fn emit_method_error(&self, method: &Method) -> Option<TokenStream> {
        let name = format_ident!("{}", self.current_errors.get(&method.name)?);
        let mut variant_names: Vec<String> =
            method.throws.iter().map(|t| type_name(&self.model.ty(t.error).name)).collect();
        // The same name from two packages: qualify both.
        let mut seen = HashSet::new();
        let repeated: HashSet<String> =
            variant_names.iter().filter(|n| !seen.insert((*n).clone())).cloned().collect();
        for (i, t) in method.throws.iter().enumerate() {
            if repeated.contains(&variant_names[i]) {
                let def = self.model.ty(t.error);
                variant_names[i] = type_name(&format!(
                    "{}_{}",
                    self.model.package(def.package).name.replace('.', "_"),
                    def.name
                ));
            }
        }
        let status_variant = if variant_names.iter().any(|n| n == "Status") {
            format_ident!("RuntimeStatus")
        } else {
            format_ident!("Status")
        };
        let variants: Vec<_> = variant_names.iter().map(|n| format_ident!("{n}")).collect();
        let types: Vec<_> = method.throws.iter().map(|t| self.type_path(t.error, Scope::Package)).collect();
        let doc = format!(" What `{}` can fail with: its domain errors, or a `Status`.", method.name);
        let variant_docs: Vec<String> =
            method.throws.iter().map(|t| format!(" `{}`.", self.model.ty(t.error).name)).collect();
        Some(quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, PartialEq)]
            pub enum #name {
                #( #[doc = #variant_docs] #variants(#types), )*
                /// Any other failure (transport, validation, deadline, ...).
                #status_variant(::svcgen::Status),
            }
            #( impl ::core::convert::From<#types> for #name {
                fn from(e: #types) -> Self { Self::#variants(e) }
            } )*
            impl ::core::convert::From<::svcgen::Status> for #name {
                fn from(status: ::svcgen::Status) -> Self { Self::#status_variant(status) }
            }
            impl ::core::fmt::Display for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match self {
                        #( Self::#variants(e) => ::core::fmt::Display::fmt(e, f), )*
                        Self::#status_variant(status) => ::core::fmt::Display::fmt(status, f),
                    }
                }
            }
            impl ::std::error::Error for #name {}
            impl ::svcgen::MethodError for #name {
                fn into_status(self) -> ::svcgen::Status {
                    match self {
                        #( Self::#variants(e) => ::svcgen::Status::domain(&e), )*
                        Self::#status_variant(status) => status,
                    }
                }
                fn from_status(status: ::svcgen::Status) -> Self {
                    #( if let ::core::option::Option::Some(e) = status.downcast::<#types>() {
                        return Self::#variants(e);
                    } )*
                    Self::#status_variant(status)
                }
            }
        })
    }

    /// A generic parameter name no type of the package has.
    pub(super) fn generic_name(&self) -> proc_macro2::Ident {
        let pkg = self.model.package(self.package);
        let taken: HashSet<String> = pkg
            .types
            .iter()
            .map(|id| type_name(&self.model.ty(*id).name))
            .chain(pkg.services.iter().map(|id| type_name(&self.model.services[id.0 as usize].name)))
            .chain(pkg.services.iter().flat_map(|id| {
                let events = self.model.services[id.0 as usize].events.len();
                (0..events).filter_map(|i| self.event_names.get(*id, i).map(str::to_owned))
            }))
            .collect();
        let name = ["S", "Svc", "Impl", "Handler", "Inner"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..=taken.len()).map(|n| format!("S{n}")))
            .find(|n| !taken.contains(n))
            .unwrap_or_else(|| "S".to_owned());
        format_ident!("{name}")
    }

    /// The name of the context parameter: `ctx`, unless a parameter already has it.
    fn ctx_ident(method: &Method) -> proc_macro2::Ident {
        let mut name = "ctx".to_owned();
        while method.params.iter().any(|p| snake_case(&p.name) == name) {
            name.push('_');
        }
        format_ident!("{name}")
    }

    fn params(&self, method: &Method) -> Vec<TokenStream> {
        method
            .params
            .iter()
            .map(|p| {
                let ident = value_ident(&p.name);
                let ty = self.rust_type(&p.ty, Scope::Package);
                quote!(#ident: #ty)
            })
            .collect()
    }

    fn emit_trait(&self, service: &Service) -> TokenStream {
        let name = type_ident(&service.name);
        let doc =
            docs(&service.docs, service.deprecated.as_deref(), &format!("The `{}` service.", service.name));
        let methods = service.methods.iter().map(|m| {
            let ident = value_ident(&m.name);
            let ctx = Self::ctx_ident(m);
            let params = self.params(m);
            let reply = self.reply_type(m);
            let error = self.error_type(m);
            let doc = docs(&m.docs, m.deprecated.as_deref(), &format!("The `{}` method.", m.name));
            quote! {
                #doc
                fn #ident(&self, #ctx: &::svcgen::Context, #(#params),*)
                    -> impl ::core::future::Future<Output = ::core::result::Result<#reply, #error>> + ::core::marker::Send;
            }
        });
        quote! {
            #doc
            ///
            /// Implement it with plain `async fn`s; serve it with the generated server type, or
            /// call one remotely through the generated client, which implements it too.
            pub trait #name: ::core::marker::Send + ::core::marker::Sync + 'static {
                #(#methods)*
            }
        }
    }

    fn emit_server(
        &self,
        service: &Service,
        descriptor: &proc_macro2::Ident,
        args: &[proc_macro2::Ident],
    ) -> TokenStream {
        let trait_name = type_ident(&service.name);
        let server = format_ident!("{}Server", type_name(&service.name));
        let doc = format!(" Serves a [`{trait_name}`] implementation on any binding.");
        let generic = self.generic_name();
        let arms: Vec<(String, TokenStream)> = service.methods.iter().zip(args).map(|(m, args_ty)| {
            let wire = &m.name;
            let ident = value_ident(&m.name);
            let fields = m.params.iter().map(|p| {
                let f = value_ident(&p.name);
                quote!(args.#f)
            });
            let call = quote! {
                <#generic as #trait_name>::#ident(service, &ctx, #(#fields),*).await.map_err(::svcgen::MethodError::into_status)?
            };
            let reply = match &m.returns {
                Returns::Nothing => quote!({ #call; ::core::result::Result::Ok(::svcgen::__private::Reply::Empty) }),
                Returns::Unary(_) => quote!({ let reply = #call; ::svcgen::__private::Reply::value(codec, &reply) }),
                Returns::Stream(_) => quote!({ let stream = #call; ::core::result::Result::Ok(::svcgen::__private::Reply::stream(codec, stream)) }),
            };
            let future = quote! {
                ::std::boxed::Box::pin(async move {
                    let args: __svcgen::#args_ty = payload.decode()?;
                    ::svcgen::__private::validate(&args)?;
                    #reply
                })
            };
            (wire.clone(), future)
        }).collect();
        // `check` for oneway methods: decode and validate, nothing else.
        let oneway: Vec<(String, &proc_macro2::Ident)> = service
            .methods
            .iter()
            .zip(args)
            .filter(|(m, _)| m.oneway)
            .map(|(m, a)| (m.name.clone(), a))
            .collect();
        let check = (!oneway.is_empty()).then(|| {
            let (wires, types): (Vec<&String>, Vec<&&proc_macro2::Ident>) = oneway.iter().map(|(w, a)| (w, a)).unzip();
            quote! {
                fn check(&self, method: &str, payload: &::svcgen::__private::Payload) -> ::core::result::Result<(), ::svcgen::Status> {
                    #(
                        if method == #wires {
                            let args: __svcgen::#types = payload.clone().decode()?;
                            return ::svcgen::__private::validate(&args);
                        }
                    )*
                    ::core::result::Result::Ok(())
                }
            }
        });
        let unknown = quote! {
            let status = ::svcgen::Status::unimplemented(::std::format!("no method `{method}`"));
            ::std::boxed::Box::pin(async move { ::core::result::Result::Err(status) })
        };
        let body = match arms.as_slice() {
            [] => quote! {
                let _ = (payload, codec, ctx, &self.inner);
                #unknown
            },
            [(wire, future)] => quote! {
                let service = &*self.inner;
                let _ = codec;
                if method == #wire { #future } else { #unknown }
            },
            many => {
                let (wires, futures): (Vec<&String>, Vec<&TokenStream>) =
                    many.iter().map(|(w, f)| (w, f)).unzip();
                quote! {
                    let service = &*self.inner;
                    let _ = codec;
                    match method {
                        #(#wires => #futures,)*
                        _ => { #unknown }
                    }
                }
            }
        };
        quote! {
            #[doc = #doc]
            #[derive(Debug)]
            pub struct #server<#generic> {
                inner: ::std::sync::Arc<#generic>,
            }
            impl<#generic> ::core::clone::Clone for #server<#generic> {
                fn clone(&self) -> Self { Self { inner: ::std::sync::Arc::clone(&self.inner) } }
            }
            impl<#generic: #trait_name> #server<#generic> {
                /// Serves `service`.
                #[must_use]
                pub fn new(service: #generic) -> Self { Self { inner: ::std::sync::Arc::new(service) } }
                /// Serves a shared `service`.
                #[must_use]
                pub fn from_arc(service: ::std::sync::Arc<#generic>) -> Self { Self { inner: service } }
            }
            #[allow(deprecated)]
            impl<#generic: #trait_name> ::svcgen::Dispatch for #server<#generic> {
                fn descriptor(&self) -> &'static ::svcgen::__private::ServiceDescriptor {
                    &__svcgen::#descriptor
                }
                #check
                fn reads_whole_payload(&self) -> bool {
                    true
                }
                fn dispatch(
                    &self,
                    method: &str,
                    payload: ::svcgen::__private::Payload,
                    codec: ::svcgen::__private::Codec,
                    ctx: ::svcgen::Context,
                ) -> ::svcgen::__private::BoxFuture<'_, ::core::result::Result<::svcgen::__private::Reply, ::svcgen::Status>> {
                    #body
                }
            }
        }
    }

    fn emit_client(
        &self,
        service: &Service,
        descriptor: &proc_macro2::Ident,
        args: &[proc_macro2::Ident],
    ) -> TokenStream {
        let trait_name = type_ident(&service.name);
        let client = format_ident!("{}Client", type_name(&service.name));
        let doc = format!(
            " Calls a remote [`{trait_name}`]. The binding is chosen when it is made (`{client}::rest(url)`, `{client}::rpc(addr)`); every call reads the same after that."
        );
        let mut inherent = Vec::new();
        let mut impls = Vec::new();
        for (i, m) in service.methods.iter().enumerate() {
            let ident = value_ident(&m.name);
            let ctx = Self::ctx_ident(m);
            let params = self.params(m);
            let names: Vec<_> = m.params.iter().map(|p| value_ident(&p.name)).collect();
            let reply = self.reply_type(m);
            let error = self.error_type(m);
            let args_ty = &args[i];
            let index = Literal::usize_unsuffixed(i);
            let call = match &m.returns {
                Returns::Nothing => quote!(empty),
                Returns::Unary(_) => quote!(unary),
                Returns::Stream(_) => quote!(stream),
            };
            impls.push(quote! {
                async fn #ident(&self, #ctx: &::svcgen::Context, #(#params),*) -> ::core::result::Result<#reply, #error> {
                    let args = __svcgen::#args_ty { #(#names),* };
                    self.channel
                        .#call(&__svcgen::#descriptor.methods[#index], #ctx, &args)
                        .await
                        .map_err(::svcgen::MethodError::from_status)
                }
            });
            if CLIENT_RESERVED.contains(&snake_case(&m.name).as_str()) {
                continue;
            }
            let doc = docs(&m.docs, None, &format!("Calls `{}`.", m.name));
            let deprecated = m.deprecated.as_ref().map(|why| quote!(#[deprecated(note = #why)]));
            inherent.push(quote! {
                #doc
                #deprecated
                pub async fn #ident(&self, #(#params),*) -> ::core::result::Result<#reply, #error> {
                    let ctx = self.context();
                    <Self as #trait_name>::#ident(self, &ctx, #(#names),*).await
                }
            });
        }
        quote! {
            #[doc = #doc]
            #[derive(Clone, Debug)]
            pub struct #client {
                channel: ::svcgen::Channel,
                context: ::core::option::Option<::svcgen::Context>,
                timeout: ::core::option::Option<::std::time::Duration>,
            }
            impl #client {
                /// A client over any channel.
                pub fn new(channel: impl ::core::convert::Into<::svcgen::Channel>) -> Self {
                    Self { channel: channel.into(), context: ::core::option::Option::None, timeout: ::core::option::Option::None }
                }
                /// A client of the REST server at `base_url` (`http://host:port`).
                ///
                /// # Errors
                /// When `base_url` is not an `http` or `https` URL.
                pub fn rest(base_url: &str) -> ::core::result::Result<Self, ::svcgen::Status> {
                    ::svcgen::Channel::rest(base_url).map(Self::new)
                }
                /// A client of the RPC server at `addr` (`host:port`); it connects on the first
                /// call and reconnects with backoff.
                #[must_use]
                pub fn rpc(addr: &str) -> Self {
                    Self::new(::svcgen::Channel::rpc(addr))
                }
                /// A client calling through a message broker (`svcgen::queue::MemoryBroker`,
                /// `NatsBroker`, `AmqpBroker`): request/reply, with the same errors and deadlines.
                #[must_use]
                pub fn queue(broker: impl ::svcgen::queue::Broker) -> Self {
                    Self::new(::svcgen::Channel::queue(broker))
                }
                /// A client of the socket server at `url` (`ws://host:port/ws`): JSON-RPC 2.0 over
                /// WebSocket; it connects on the first call and reconnects with backoff.
                ///
                /// # Errors
                /// When `url` is not a `ws` URL.
                pub fn socket(url: &str) -> ::core::result::Result<Self, ::svcgen::Status> {
                    ::svcgen::Channel::socket(url).map(Self::new)
                }
                /// The same client, making its calls as part of `ctx` (its correlation id,
                /// trace and deadline), as a service does when it calls another.
                #[must_use]
                pub fn with_context(&self, ctx: &::svcgen::Context) -> Self {
                    Self { context: ::core::option::Option::Some(ctx.child()), ..::core::clone::Clone::clone(self) }
                }
                /// The same client, giving each call at most `timeout`.
                #[must_use]
                pub fn with_deadline(&self, timeout: ::std::time::Duration) -> Self {
                    Self { timeout: ::core::option::Option::Some(timeout), ..::core::clone::Clone::clone(self) }
                }
                /// The channel calls go through.
                #[must_use]
                pub fn channel(&self) -> &::svcgen::Channel {
                    &self.channel
                }
                /// The Context the next call will carry: the one given to [`Self::with_context`]
                /// (or a new one), with the deadline of [`Self::with_deadline`].
                #[must_use]
                pub fn context(&self) -> ::svcgen::Context {
                    let ctx = self.context.clone().unwrap_or_default();
                    match self.timeout {
                        ::core::option::Option::Some(t) => ctx.with_timeout(t),
                        ::core::option::Option::None => ctx,
                    }
                }
                #(#inherent)*
            }
            #[allow(deprecated)]
            impl #trait_name for #client {
                #(#impls)*
            }
        }
    }

    /// One argument struct per method, in the private module.
    fn emit_args(&mut self, service: &Service, names: &[proc_macro2::Ident]) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (m, name) in service.methods.iter().zip(names) {
            let fields: Vec<TokenStream> =
                m.params.iter().map(|p| self.emit_field(p, Scope::Private, false)).collect();
            let validate = self.emit_validate(&quote!(#name), &m.params, Scope::Private);
            out.push(quote! {
                #[derive(::svcgen::__private::serde::Serialize, ::svcgen::__private::serde::Deserialize)]
                #[serde(crate = "::svcgen::__private::serde")]
                pub(super) struct #name { #(#fields)* }
                #validate
            });
        }
        out
    }

    fn emit_descriptor(
        &self,
        service: &Service,
        descriptor: &proc_macro2::Ident,
        events: &[proc_macro2::Ident],
    ) -> TokenStream {
        let package = &self.model.package(service.package).name;
        let name = &service.name;
        let wire = service.wire_name();
        let qualified = format!("{package}.{name}");
        let service_subject = self.model.service_subject(service);
        let methods = service.methods.iter().map(|m| {
            let method_name = &m.name;
            let subject = self.model.method_addresses(service, m).subject;
            let kind = match (&m.returns, m.oneway) {
                (_, true) => quote!(Oneway),
                (Returns::Nothing, _) => quote!(Empty),
                (Returns::Unary(_), _) => quote!(Unary),
                (Returns::Stream(_), _) => quote!(ServerStream),
            };
            let (verb, path) = m.route(service);
            let verb = match verb {
                HttpMethod::Get => quote!(Get),
                HttpMethod::Post => quote!(Post),
                HttpMethod::Put => quote!(Put),
                HttpMethod::Patch => quote!(Patch),
                HttpMethod::Delete => quote!(Delete),
            };
            let params = m.params.iter().map(|p| {
                let pname = &p.name;
                let kind = self.param_kind(&p.ty);
                quote!(::svcgen::__private::ParamDescriptor { name: #pname, kind: #kind })
            });
            let errors = m.throws.iter().map(|t| {
                let def = self.model.ty(t.error);
                let ename = &def.name;
                let uri = self.model.error_type_uri(t.error);
                let status = self.model.error_status(t.error);
                quote!(::svcgen::__private::ErrorDescriptor { name: #ename, type_uri: #uri, http_status: #status })
            });
            quote! {
                ::svcgen::__private::MethodDescriptor {
                    service: #qualified,
                    name: #method_name,
                    subject: #subject,
                    kind: ::svcgen::__private::MethodKind::#kind,
                    http_method: ::svcgen::__private::HttpMethod::#verb,
                    http_path: #path,
                    params: &[#(#params),*],
                    errors: &[#(#errors),*],
                }
            }
        });
        quote! {
            pub(super) static #descriptor: ::svcgen::__private::ServiceDescriptor = ::svcgen::__private::ServiceDescriptor {
                package: #package,
                name: #name,
                wire_name: #wire,
                subject: #service_subject,
                methods: &[#(#methods),*],
                events: &[#(#events),*],
            };
        }
    }

    fn param_kind(&self, ty: &Type) -> TokenStream {
        let ty = self.model.resolve(ty);
        let ty = match &ty.kind {
            TypeKind::Optional(inner) => self.model.resolve(inner),
            _ => ty,
        };
        match &ty.kind {
            TypeKind::List(inner) => {
                let inner = self.param_kind(inner);
                quote!(::svcgen::__private::ParamKind::List(&#inner))
            }
            TypeKind::Scalar(Scalar::Bool) => quote!(::svcgen::__private::ParamKind::Bool),
            TypeKind::Scalar(s) if s.int_range().is_some() => quote!(::svcgen::__private::ParamKind::Int),
            TypeKind::Scalar(s) if s.is_float() => quote!(::svcgen::__private::ParamKind::Float),
            TypeKind::Scalar(_) => quote!(::svcgen::__private::ParamKind::Text),
            TypeKind::Named(id) if matches!(self.model.ty(*id).kind, TypeDefKind::Enum { .. }) => {
                quote!(::svcgen::__private::ParamKind::Text)
            }
            _ => quote!(::svcgen::__private::ParamKind::Json),
        }
    }
}
