//! The management-token auth layer: every control-plane call passes here first.
//!
//! It authenticates the bearer token, checks the permission the RPC table asks for,
//! hands the [`Caller`] to the service, logs the outcome, and audits failed mutations
//! (successful ones are audited by the store, in their own transaction).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use keyhaven_core::{SecretDigest, SecretKind};
use keyhaven_store::{audit, management_tokens};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use crate::caller::Caller;
use crate::error::{self, AdminError};
use crate::permissions;
use crate::state::AdminState;

#[derive(Clone)]
pub struct AuthLayer {
    state: AdminState,
}

impl AuthLayer {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    state: AdminState,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> Service<http::Request<Body>> for Authenticated<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        let path = request.uri().path().to_owned();

        if !permissions::is_admin_path(&path) {
            // Health and reflection are open, as probes and grpcurl expect.
            return Box::pin(async move { inner.call(request).await });
        }
        let span = tracing::info_span!(
            "admin_rpc",
            rpc = %path.trim_start_matches('/').replace('/', "."),
            actor = tracing::field::Empty,
            tenant = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let Some(rpc) = permissions::lookup(&path) else {
                    let status =
                        Status::unimplemented(format!("{path} is not a method of this API"));
                    record_outcome(status.code(), status.message());
                    return Ok(status.into_http());
                };
                let caller = match authenticate(&state, request.headers(), rpc).await {
                    Ok(caller) => caller,
                    Err(err) => return Ok(refuse(err)),
                };
                Span::current().record("actor", caller.token.resource_name());
                if let Some((_, slug)) = caller.service_tenant() {
                    Span::current().record("tenant", slug.as_str());
                }
                if !caller.token.permissions.allows(rpc.permission) {
                    let err = AdminError::PermissionDenied(format!(
                        "{} needs the permission {}, which this token does not hold",
                        rpc.action, rpc.permission
                    ));
                    if rpc.mutation {
                        audit_failure(&state, &caller, err.code_name()).await;
                    }
                    return Ok(refuse(err));
                }
                request.extensions_mut().insert(caller.clone());
                let mut response = inner.call(request).await?;
                error::rewrite_decode_failure(&mut response);
                match error::response_code(response.headers()) {
                    Some(code) if code != tonic::Code::Ok => {
                        let message = response
                            .headers()
                            .get("grpc-message")
                            .map(|m| {
                                percent_encoding::percent_decode(m.as_bytes())
                                    .decode_utf8_lossy()
                                    .into_owned()
                            })
                            .unwrap_or_default();
                        record_outcome(code, &message);
                        if rpc.mutation {
                            audit_failure(&state, &caller, error::code_name(code)).await;
                        }
                    }
                    _ => record_outcome(tonic::Code::Ok, ""),
                }
                if let Some((_, slug)) = caller.subject().tenant {
                    Span::current().record("tenant", slug.as_str());
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

async fn authenticate(
    state: &AdminState,
    headers: &http::HeaderMap,
    rpc: &'static permissions::Rpc,
) -> Result<Caller, AdminError> {
    let unauthenticated = |why: &str| AdminError::Unauthenticated(why.to_owned());
    let header = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        unauthenticated(
            "missing authorization metadata: send `authorization: Bearer <management token>`",
        )
    })?;
    let value = header.to_str().map_err(|_| {
        unauthenticated("malformed authorization metadata: expected `Bearer <management token>`")
    })?;
    let presented = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(unauthenticated(
                "malformed authorization metadata: expected `Bearer <management token>`",
            ));
        }
    };
    let digest = SecretDigest::of_presented(SecretKind::ManagementToken, presented)
        .map_err(|e| AdminError::Unauthenticated(format!("the bearer token {e}")))?;
    let token = management_tokens::find_by_digest(&state.store, &digest)
        .await?
        .ok_or_else(|| unauthenticated("unknown management token"))?;
    let now = state.now();
    if token.revoked_at.is_some() {
        return Err(unauthenticated("this management token has been revoked"));
    }
    if token.expires_at.is_some_and(|at| at <= now) {
        return Err(unauthenticated("this management token has expired"));
    }
    if let Err(err) = management_tokens::touch(&state.store, &token, now).await {
        // Recording a use is bookkeeping: a failure must not fail the call.
        tracing::warn!(error = %err, "could not record the management token's last use");
    }
    Ok(Caller::new(token, rpc, now))
}

fn refuse(err: AdminError) -> http::Response<Body> {
    let status = Status::from(err);
    record_outcome(status.code(), status.message());
    status.into_http()
}

fn record_outcome(code: tonic::Code, message: &str) {
    let span = Span::current();
    span.record("outcome", error::code_name(code));
    match code {
        tonic::Code::Ok => tracing::info!("ok"),
        tonic::Code::Internal | tonic::Code::Unavailable | tonic::Code::Unknown => {
            tracing::error!(reason = %message, "failed")
        }
        _ => tracing::info!(reason = %message, "refused"),
    }
}

async fn audit_failure(state: &AdminState, caller: &Caller, code: &'static str) {
    let subject = caller.subject();
    let tenant = subject.tenant.as_ref().map(|(id, slug)| (id, slug));
    if let Err(err) =
        audit::record_failure(&state.store, &caller.audit(), tenant, &subject.target, code).await
    {
        tracing::error!(error = %err, "could not record the failed call in the audit log");
    }
}
