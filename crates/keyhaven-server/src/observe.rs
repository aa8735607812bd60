//! One tower layer around both listeners: gives each request a request id (echoed in
//! `x-request-id`), a tracing span that records it, and counts it in the metrics.
//!
//! On the public router it is added with `Router::layer`, which wraps each route after
//! matching: the route template (`MatchedPath`) is known there, so the metrics never see
//! a raw path. On the admin server it wraps every gRPC call, authentication included.

use std::future::Future;
use std::hash::BuildHasher;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use keyhaven_metrics::{HttpRequest, Metrics};
use tower::{Layer, Service};
use tracing::Instrument;

/// A constant, so that inserting it copies nothing (a `&str` name is parsed and allocated
/// at every insert).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Which listener the layer wraps: it decides the labels and the span's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    listener: Listener,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>, listener: Listener) -> Self {
        Self { metrics, listener }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            listener: self.listener,
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    listener: Listener,
}

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|v| well_formed(v.as_bytes()))
            .cloned()
            .unwrap_or_else(new_request_id);
        // Handlers see the id the response will carry, whatever the client sent.
        request.headers_mut().insert(REQUEST_ID, id.clone());
        let id_text = id.to_str().unwrap_or_default();
        let method = request.method().clone();
        // Cheap clones (reference-counted): the labels are resolved after the response.
        let route = request.extensions().get::<MatchedPath>().cloned();
        let uri = request.uri().clone();
        let span = match self.listener {
            Listener::Public => tracing::info_span!(
                "request",
                request_id = id_text,
                method = %method,
                route = route.as_ref().map_or("unmatched", |r| r.as_str()),
            ),
            Listener::Admin => {
                tracing::info_span!("grpc", request_id = id_text, method = uri.path())
            }
        };
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        let listener = self.listener;
        Box::pin(
            async move {
                let mut response = future.await?;
                let elapsed = started.elapsed();
                match listener {
                    Listener::Public => metrics.http_request(HttpRequest {
                        route: route.as_ref().map(|r| r.as_str()),
                        method: method.as_str(),
                        status: response.status().as_u16(),
                        tenant: route
                            .as_ref()
                            .filter(|r| r.as_str().starts_with("/t/{tenant}"))
                            .and_then(|_| keyhaven_oauth::slug_in_path(uri.path())),
                        elapsed,
                    }),
                    // A trailers-only answer (every refusal of a unary call) has the code in
                    // its head; a success has it in the trailers, after this point.
                    Listener::Admin => {
                        let code = response
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok()?.parse().ok())
                            .unwrap_or(0);
                        metrics.grpc_request(uri.path(), code, elapsed);
                    }
                }
                response.headers_mut().insert(REQUEST_ID, id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// An incoming id is echoed only if it is short and plain, so it can go into logs and
/// headers as it is.
fn well_formed(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Unique, not secret: a random per-process prefix (so replicas differ) and a counter, in
/// 32 hexadecimal digits.
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix =
        PREFIX.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Formatted in place rather than into a String per request.
    let mut digits = [0u8; 32];
    write!(&mut digits[..], "{prefix:016x}{n:016x}")
        .ok()
        .and_then(|()| HeaderValue::from_bytes(&digits).ok())
        .unwrap_or_else(|| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_short_and_plain() {
        assert!(well_formed(b"abc-123_X.y"));
        assert!(well_formed(&[b'a'; 64]));
        assert!(!well_formed(&[b'a'; 65]));
        assert!(!well_formed(b""));
        assert!(!well_formed(b"a b"));
        assert!(!well_formed(b"a\"b"));
    }

    #[test]
    fn generated_request_ids_are_well_formed_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert!(well_formed(a.as_bytes()));
        assert_eq!(a.len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, b);
        // The same prefix, and the counter in the last digits.
        assert_eq!(a.as_bytes()[..16], b.as_bytes()[..16]);
        let counter = |id: &HeaderValue| {
            u64::from_str_radix(
                id.to_str().expect("ascii").get(16..).expect("32 digits"),
                16,
            )
            .expect("hex")
        };
        assert!(counter(&b) > counter(&a));
    }
}
