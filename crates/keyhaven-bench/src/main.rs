//! `cargo run --release -p keyhaven-bench -- --scenario all`
//!
//! Starts Keyhaven on ephemeral ports over a fresh database (SQLite by default, or the
//! PostgreSQL URL given), provisions a tenant and clients over gRPC, then drives each
//! scenario over real HTTP connections and reports throughput and latency, next to the
//! raw signing rate that bounds a token endpoint. Absolute figures depend on the
//! machine; the fraction of the signing limit should not.

mod load;
mod provision;
mod report;
mod signing;

use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(about = "Keyhaven load benchmark")]
struct Args {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement per scenario (after a warm-up of a fifth of it).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A second or so per scenario: for CI, so the benchmark cannot rot.
    #[arg(long)]
    quick: bool,
    /// PostgreSQL URL of an empty database to run on instead of a fresh SQLite file.
    #[arg(long, env = "KEYHAVEN_BENCH_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    ClientCredentials,
    Introspection,
    Discovery,
    Jwks,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let duration = if args.quick {
        Duration::from_millis(1500)
    } else {
        Duration::from_secs(args.seconds)
    };
    // The server gets its own runtime, so the load generator's tasks do not run on the
    // server's worker threads.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("keyhaven")
        .build()?;
    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()?;

    let data = tempfile::tempdir()?;
    let running =
        server_runtime.block_on(provision::start(data.path(), args.database_url.clone()))?;
    let target = load_runtime.block_on(provision::provision(&running))?;

    let signing = signing::es256_rate(duration);
    let mut rows = Vec::new();
    let selected = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    let client = load::http_client(args.connections)?;
    if selected(Scenario::ClientCredentials) {
        let request = target.client_credentials(&client);
        rows.push(
            load_runtime
                .block_on(load::run(
                    "client_credentials",
                    args.connections,
                    duration,
                    request,
                ))?
                .limited_by(signing, 1.0),
        );
    }
    if selected(Scenario::Introspection) {
        let token = load_runtime.block_on(target.issue_token(&client))?;
        let request = target.introspection(&client, token);
        rows.push(load_runtime.block_on(load::run(
            "introspection",
            args.connections,
            duration,
            request,
        ))?);
    }
    if selected(Scenario::Discovery) {
        let request = target.get(&client, "/.well-known/openid-configuration");
        rows.push(load_runtime.block_on(load::run(
            "discovery",
            args.connections,
            duration,
            request,
        ))?);
    }
    if selected(Scenario::Jwks) {
        let request = target.get(&client, "/oauth2/jwks");
        rows.push(load_runtime.block_on(load::run("jwks", args.connections, duration, request))?);
    }
    report::print(&args_summary(&args, duration), signing, &rows);
    server_runtime.block_on(running.stop());
    Ok(())
}

fn args_summary(args: &Args, duration: Duration) -> String {
    format!(
        "{} connections, {:.1} s per scenario, database: {}",
        args.connections,
        duration.as_secs_f64(),
        if args.database_url.is_some() {
            "postgresql"
        } else {
            "sqlite"
        }
    )
}
