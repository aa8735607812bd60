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
    // One read answers both: the database is reachable, and every migration this binary
    // knows is applied (a replica started before its schema was migrated, or on a
    // database migrated by a newer release it does not know, must not take traffic). The
    // key-encryption key is loaded before the listener opens, so it needs no check here.
    match health.store.migration_status().await {
        Ok(migrations) if migrations.iter().all(|m| m.applied) => (StatusCode::OK, "ready"),
        Ok(migrations) => {
            let pending = migrations.iter().filter(|m| !m.applied).count();
            tracing::warn!(pending, "readiness check: migrations not applied");
            (StatusCode::SERVICE_UNAVAILABLE, "migrations pending")
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable or schema unknown");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
