//! `cargo run --release -p keyhaven-bench -- --scenario all`
//!
//! Starts Keyhaven on ephemeral ports over a fresh database (SQLite by default, or the
//! PostgreSQL URL given), provisions a tenant, a service client, a user and a first-party
//! web application over gRPC, then drives each scenario over real HTTP connections and
//! reports throughput and latency, next to the limit the raw JOSE rates (signing and
//! verifying with the server's own code, measured in the same run) put on it. The user's
//! scenarios run in browsers with cookie jars of their own, one per connection, each
//! signed in once through the sign-in page. Absolute figures depend on the machine; the
//! fraction of the limit less so.
//!
//! The run fails if a scenario had no success at all; errors alone and timings never
//! fail it.

mod browser;
mod load;
mod provision;
mod report;
mod signing;
mod user_flows;

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::browser::Browser;
use crate::load::Outcome;
use crate::signing::{Cost, Rates};

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
    /// A second or so per scenario: for CI, so the benchmark cannot rot. Timings are
    /// never asserted; the run fails only if a scenario had no success at all.
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
    CodeFlow,
    Refresh,
    Introspection,
    Userinfo,
    Discovery,
    Jwks,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let duration = if args.quick {
        Duration::from_secs(1)
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

    // Measured while the server is idle, before any load.
    let sample = (duration / 4).clamp(Duration::from_millis(250), Duration::from_secs(1));
    let rates = signing::measure(sample)?;
    let rows = load_runtime.block_on(run(&args, duration, &target, &rates))?;
    report::print(&args_summary(&args, duration), &rates, &rows);
    server_runtime.block_on(running.stop());

    let dead: Vec<&str> = rows
        .iter()
        .filter(|row| row.successes == 0)
        .map(|row| row.name)
        .collect();
    if !dead.is_empty() {
        return Err(format!("no successful iteration in: {}", dead.join(", ")).into());
    }
    Ok(())
}

/// A scenario of the signed-in user, over the shared browsers.
type UserFlow = fn(Arc<[Browser]>) -> Box<dyn load::Scenario>;

/// Runs the selected scenarios one after another.
async fn run(
    args: &Args,
    duration: Duration,
    target: &provision::Target,
    rates: &Rates,
) -> Result<Vec<Outcome>, Box<dyn std::error::Error>> {
    let selected = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    let load = load::Load {
        connections: args.connections,
        duration,
    };
    let client = load::http_client(args.connections)?;
    let mut rows = Vec::new();
    if selected(Scenario::ClientCredentials) {
        let scenario = target.client_credentials(&client);
        rows.push(
            load.run("client_credentials", &scenario)
                .await
                .limited_by(rates, Cost::ACCESS_TOKEN),
        );
    }

    // The user's scenarios share browsers, signed in once each.
    let user_scenarios = [Scenario::CodeFlow, Scenario::Refresh, Scenario::Userinfo];
    if user_scenarios.into_iter().any(selected) {
        let browsers = user_flows::sign_in(
            &target.issuer,
            target.web.clone(),
            &target.user,
            args.connections,
        )
        .await;
        let flows: [(Scenario, &'static str, Cost, UserFlow); 3] = [
            (
                Scenario::CodeFlow,
                "code_flow",
                Cost::ACCESS_AND_ID_TOKEN,
                |b| Box::new(user_flows::CodeFlow(b)),
            ),
            (
                Scenario::Refresh,
                "refresh",
                Cost::ACCESS_AND_ID_TOKEN,
                |b| Box::new(user_flows::Refresh(b)),
            ),
            (
                Scenario::Userinfo,
                "userinfo",
                Cost::ACCESS_TOKEN_CHECK,
                |b| Box::new(user_flows::Userinfo(b)),
            ),
        ];
        for (_, name, cost, flow) in flows.into_iter().filter(|f| selected(f.0)) {
            let outcome = match &browsers {
                Ok(browsers) => load.run(name, flow(browsers.clone()).as_ref()).await,
                Err(failure) => Outcome::not_run(name, failure.clone()),
            };
            rows.push(outcome.limited_by(rates, cost));
        }
    }

    if selected(Scenario::Introspection) {
        let token = target.issue_token(&client).await?;
        let scenario = target.introspection(&client, token);
        rows.push(
            load.run("introspection", &scenario)
                .await
                .limited_by(rates, Cost::ACCESS_TOKEN_CHECK),
        );
    }
    if selected(Scenario::Discovery) {
        let scenario = target.get(&client, "/.well-known/openid-configuration");
        rows.push(load.run("discovery", &scenario).await);
    }
    if selected(Scenario::Jwks) {
        let scenario = target.get(&client, "/oauth2/jwks");
        rows.push(load.run("jwks", &scenario).await);
    }
    Ok(rows)
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
