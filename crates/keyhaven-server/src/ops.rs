//! The operations listener: Prometheus metrics at `GET /metrics`, apart from the public
//! listener so that it can stay on a private address.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use keyhaven_metrics::Metrics;
use keyhaven_store::Store;

#[derive(Clone)]
struct Ops {
    metrics: Arc<Metrics>,
    store: Store,
}

pub fn router(metrics: Arc<Metrics>, store: Store) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Ops { metrics, store })
}

async fn scrape(State(ops): State<Ops>) -> impl IntoResponse {
    let mut text = ops.metrics.render();
    // Measured now rather than counted: the pools know their own state.
    let pools = ops.store.pool_stats();
    let samples = |f: fn(&keyhaven_store::PoolStats) -> u32| -> Vec<(String, u64)> {
        pools
            .iter()
            .map(|p| (p.pool.to_owned(), u64::from(f(p))))
            .collect()
    };
    for (name, help, values) in [
        (
            "keyhaven_db_pool_connections",
            "Open database connections, by pool (read, write).",
            samples(|p| p.size),
        ),
        (
            "keyhaven_db_pool_idle_connections",
            "Idle database connections, by pool (read, write).",
            samples(|p| p.idle),
        ),
        (
            "keyhaven_db_pool_max_connections",
            "The most connections a pool opens, by pool (read, write).",
            samples(|p| p.max),
        ),
    ] {
        let labels: Vec<[(&str, &str); 1]> =
            values.iter().map(|(p, _)| [("pool", p.as_str())]).collect();
        let rows: Vec<(&[(&str, &str)], u64)> = labels
            .iter()
            .zip(&values)
            .map(|(l, (_, v))| (&l[..], *v))
            .collect();
        keyhaven_metrics::render_gauge(&mut text, name, help, &rows);
    }
    ([(CONTENT_TYPE, keyhaven_metrics::CONTENT_TYPE)], text)
}
