//! Logs: human-readable by default, JSON with `KEYHAVEN_LOG_FORMAT=json`; `RUST_LOG`
//! overrides the filter.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Quiet by default about the libraries that log every statement or frame.
const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,hyper=warn,tower=warn";

pub fn init(format: &LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests start many servers in one process) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// For tests: output goes through the test harness's capture, shown only on failure.
pub fn init_for_tests() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
