//! The public HTTP listener: the OAuth / OpenID Connect runtime of every tenant, and the
//! health endpoints that load balancers and probes need.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyhaven_store::Store;

#[derive(Clone)]
pub struct Health {
    pub store: Store,
    /// Cleared as soon as shutdown starts, so that load balancers stop routing here
    /// while in-flight requests drain.
    pub ready: Arc<AtomicBool>,
}

pub fn router(oauth: keyhaven_oauth::OAuthState, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .merge(keyhaven_oauth::router(oauth))
}

async fn readyz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if !health.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match health.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
