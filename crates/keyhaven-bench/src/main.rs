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
mod busy_poll;
mod grpc;
mod load;
mod pin;
mod proc;
mod provision;
mod report;
mod scale;
mod server;
mod signing;
mod user_flows;

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::browser::Browser;
use crate::load::{Load, Outcome};
use crate::signing::{Cost, Rates};

/// Rounds of one tenant and of random tenants that the tenant-scale scenario alternates,
/// each a tenth of a scenario's time: the shorter the rounds, the less of the
/// machine's drift falls between a round and the next.
const SCALE_ROUNDS: u32 = 10;

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
    /// A second or so per scenario and at most 16 connections: for CI, so the benchmark
    /// cannot rot. Timings are never asserted; the run fails only if a scenario had no
    /// success at all.
    #[arg(long)]
    quick: bool,
    /// PostgreSQL URL of an empty database to run on instead of a fresh SQLite file.
    #[arg(long, env = "KEYHAVEN_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Pin the server's runtime threads to CPU 0 and the load generator's to CPU 1.
    /// On by default when the machine has two CPUs or more; `--pin false` to share them.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = pin::available())]
    pin: bool,
    /// While answers come close together (iterations ending within 50 us of each other),
    /// the load generator polls for the next one instead of sleeping until the kernel
    /// wakes it: over loopback the server's send wakes the receiving thread, and on a
    /// virtual machine that wake-up (an inter-processor interrupt) took about a sixth of
    /// the server's time per client_credentials request, a cost that a client on another
    /// machine does not put on the server. When answers come sparsely it sleeps, leaving
    /// its CPU to PostgreSQL. On by default when pinned; `--busy-poll false` to always
    /// sleep.
    #[arg(long, action = clap::ArgAction::Set)]
    busy_poll: Option<bool>,
    /// Tenants of the tenant-scale scenario, three service applications each (`--quick`:
    /// at most 20).
    #[arg(long, default_value_t = 10_000)]
    tenants: usize,
    /// What the server logs: nothing, or what the `keyhaven` binary logs at its default
    /// filter (a line for each token issued, each sign-in...), as text or JSON, to
    /// `server.log` in the run's data directory.
    #[arg(long, value_enum, default_value_t = server::Log::Off)]
    log: server::Log,
    /// Internal: be the server process over this data directory (see `server`).
    #[arg(long, hide = true, value_name = "DATA_DIR")]
    serve: Option<std::path::PathBuf>,
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
    PasswordSignIn,
    GetApplication,
    ListApplications,
    CreateApplication,
    TenantScale,
}

/// The allocator of the `keyhaven` binary, so that the server process measures as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    if args.quick {
        // Fewer browsers to sign in and users to provision, each an argon2id hash.
        args.connections = args.connections.min(16);
        args.tenants = args.tenants.min(20);
    }
    let duration = if args.quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(args.seconds)
    };
    if let Some(data_dir) = &args.serve {
        return server::serve(data_dir, args.database_url.clone(), args.pin, args.log);
    }
    let mut load_runtime = tokio::runtime::Builder::new_multi_thread();
    load_runtime.enable_all().thread_name("load");
    if args.pin {
        // One CPU: a second worker would only take turns with the first on it.
        load_runtime
            .worker_threads(1)
            .on_thread_start(|| pin::current_thread_to(server::SERVER_CPU + 1));
    }
    let load_runtime = load_runtime.build()?;

    let data = tempfile::tempdir()?;
    let idle = if args.quick {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let server = server::Server::spawn(
        data.path(),
        args.database_url.as_deref(),
        args.pin,
        args.log,
    )?;
    std::thread::sleep(idle);
    let started_rss = report::Rss::of(server.pid());
    let target =
        load_runtime.block_on(provision::provision(&server.endpoints, args.connections))?;
    std::thread::sleep(idle);
    let provisioned_rss = report::Rss::of(server.pid());
    let start_to_ready = load_runtime.block_on(server::start_to_ready(args.pin))?;

    // Measured while the server is idle, before any load.
    let sample = (duration / 4).clamp(Duration::from_millis(250), Duration::from_secs(1));
    let operations = signing::Operations::new()?;
    let rates = signing::Rates {
        server_on_one_core: args.pin,
        ..operations.measure(sample)
    };
    let limits = Limits {
        operations: &operations,
        rates: &rates,
        sample,
    };
    let results = load_runtime.block_on(run(&args, duration, server.pid(), &target, &limits))?;
    report::print(&args_summary(&args, duration), &rates, &results);
    report::print_footprint(&report::Footprint {
        idle,
        started_rss,
        provisioned_rss,
        users: args.connections + 1,
        start_to_ready,
    });
    server.stop()?;

    let dead: Vec<&str> = results
        .stack
        .iter()
        .chain(&results.rows)
        .filter(|row| row.successes == 0)
        .map(|row| row.name)
        .collect();
    if !dead.is_empty() {
        return Err(format!("no successful iteration in: {}", dead.join(", ")).into());
    }
    Ok(())
}

/// The raw rates of the run, and what measures them again next to each scenario.
struct Limits<'a> {
    operations: &'a signing::Operations,
    /// Measured once, while the server was idle before any load.
    rates: &'a Rates,
    sample: Duration,
}

impl Limits<'_> {
    /// Runs `scenario`, held against the raw rates of what one iteration costs, measured
    /// right before and right after it while the server is idle.
    async fn run(
        &self,
        load: Load,
        name: &'static str,
        scenario: &dyn load::Scenario,
        cost: Cost,
    ) -> Outcome {
        let before = self.measure(cost);
        let outcome = load.run(name, scenario).await;
        let after = self.measure(cost);
        outcome.limited_between(&before, &after, cost)
    }

    fn measure(&self, cost: Cost) -> Rates {
        // A second or so of CPU-bound work on the load generator's runtime, which has
        // nothing else to do meanwhile.
        tokio::task::block_in_place(|| {
            self.operations
                .remeasure(self.rates, cost, self.sample, server::SERVER_CPU)
        })
    }
}

/// A scenario of the signed-in user, over the shared browsers.
type UserFlow = fn(Arc<[Browser]>) -> Box<dyn load::Scenario>;

/// Measures the trivial endpoints of the server's stacks, then runs the selected scenarios
/// one after another.
async fn run(
    args: &Args,
    duration: Duration,
    server_pid: u32,
    target: &provision::Target,
    limits: &Limits<'_>,
) -> Result<report::Results, Box<dyn std::error::Error>> {
    let rates = limits.rates;
    let selected = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    let load = load::Load {
        connections: args.connections,
        duration,
        server_pid,
        busy_poll: args.busy_poll(),
    };
    let client = load::http_client(args.connections)?;
    let plane = Arc::new(
        grpc::ControlPlane::connect(
            &target.admin_url,
            grpc::Bearer::new(&target.admin_token)?,
            "tenants/bench".into(),
            target.application.clone(),
        )
        .await?,
    );

    // The trivial endpoints, with the same load generator: what the stacks themselves allow.
    let http_trivial = load
        .run("GET /healthz", &target.get_untenanted(&client, "/healthz"))
        .await;
    let grpc_trivial = load
        .run(
            "gRPC Health/Check",
            &grpc::Admin::new(plane.clone(), grpc::Call::HealthCheck),
        )
        .await;

    let mut rows = Vec::new();
    if selected(Scenario::ClientCredentials) {
        let scenario = target.client_credentials(&client);
        rows.push(
            limits
                .run(load, "client_credentials", &scenario, Cost::ACCESS_TOKEN)
                .await,
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
            rows.push(match &browsers {
                Ok(browsers) => {
                    limits
                        .run(load, name, flow(browsers.clone()).as_ref(), cost)
                        .await
                }
                Err(failure) => Outcome::not_run(name, failure.clone()).limited_by(rates, cost),
            });
        }
    }

    if selected(Scenario::Introspection) {
        let token = target.issue_token(&client).await?;
        let scenario = target.introspection(&client, token);
        rows.push(
            limits
                .run(load, "introspection", &scenario, Cost::ACCESS_TOKEN_CHECK)
                .await,
        );
    }
    if selected(Scenario::Discovery) {
        let scenario = target.get(&client, "/.well-known/openid-configuration");
        rows.push(
            load.run("discovery", &scenario)
                .await
                .limited_by_outcome(&http_trivial),
        );
    }
    if selected(Scenario::Jwks) {
        let scenario = target.get(&client, "/oauth2/jwks");
        rows.push(
            load.run("jwks", &scenario)
                .await
                .limited_by_outcome(&http_trivial),
        );
    }

    let mut starvation = None;
    if selected(Scenario::PasswordSignIn) {
        let sign_in = user_flows::PasswordSignIn {
            issuer: target.issuer.clone(),
            app: target.web.clone(),
            users: target.sign_in_users.clone(),
        };
        rows.push(
            limits
                .run(load, "password_sign_in", &sign_in, Cost::PASSWORD_CHECK)
                .await,
        );
        // Hashing must not starve the runtime: client_credentials alone, then with
        // sign-ins running at the same time from a second load generator. The sign-ins
        // take seconds to open their connections and warm up: client_credentials starts
        // when their measurement does, which lasts as long as its warm-up and measurement
        // together, so that all of its measured time has sign-ins beside it.
        let tokens = target.client_credentials(&client);
        let alone = load.run("client_credentials alone", &tokens).await;
        let (measuring, measured) = tokio::sync::oneshot::channel();
        let signing_in = load::Load {
            duration: load.duration + load.duration / 5,
            ..load
        };
        let (sign_ins, with) = tokio::join!(
            signing_in.run_signalling(
                "password_sign_in with client_credentials",
                &sign_in,
                Some(measuring)
            ),
            async {
                let _ = measured.await;
                load.run("client_credentials with sign-ins", &tokens).await
            },
        );
        starvation = Some(report::Starvation {
            alone,
            with,
            sign_ins: sign_ins.limited_by(rates, Cost::PASSWORD_CHECK),
        });
    }

    let admin = [
        (
            Scenario::GetApplication,
            "GetApplication",
            grpc::Call::GetApplication,
        ),
        (
            Scenario::ListApplications,
            "ListApplications",
            grpc::Call::ListApplications,
        ),
        (
            Scenario::CreateApplication,
            "CreateApplication",
            grpc::Call::CreateApplication,
        ),
    ];
    for (_, name, call) in admin.into_iter().filter(|a| selected(a.0)) {
        let scenario = grpc::Admin::new(plane.clone(), call);
        rows.push(
            load.run(name, &scenario)
                .await
                .limited_by_outcome(&grpc_trivial),
        );
    }
    let mut scale = None;
    if selected(Scenario::TenantScale) {
        let before_kib = proc::status_kib(server_pid, "VmRSS");
        // Each tenant generates two RSA keys: provisioning thousands takes the server's
        // time, not the measurement's, so it gets every core meanwhile.
        if args.pin {
            pin::process_to(server_pid, pin::all());
        }
        let tenants = scale::provision(
            &target.admin_url,
            grpc::Bearer::new(&target.admin_token)?,
            &target.public_url,
            args.tenants,
        )
        .await;
        if args.pin {
            pin::process_to(server_pid, [server::SERVER_CPU]);
        }
        let tenants = tenants?;
        // Every application once, so that what follows measures warm caches (as a
        // server that has been up a while has them); the pass's own rate is the cold one.
        let first_touch = tenants.first_touch(&client, args.connections).await?;
        // One tenant and random tenants in alternating short rounds, each pair in the
        // other order from the last: the machine's speed drifts by more than the
        // difference measured, and two long phases in a row would measure the drift.
        let (one_tenant, random_tenant) = (
            tenants.one_tenant_client_credentials(&client),
            tenants.random_client_credentials(&client),
        );
        let round = Load {
            duration: load.duration / SCALE_ROUNDS,
            ..load
        };
        let (mut ones, mut randoms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for index in 0..SCALE_ROUNDS {
            let (one, random) = if index % 2 == 0 {
                let one = round.run("one", &one_tenant).await;
                (one, round.run("random", &random_tenant).await)
            } else {
                let random = round.run("random", &random_tenant).await;
                (round.run("one", &one_tenant).await, random)
            };
            ratios.push(random.rate() / one.rate().max(f64::MIN_POSITIVE));
            ones.push(one);
            randoms.push(random);
        }
        let one = Outcome::combined("client_credentials, one tenant", ones)
            .limited_by(rates, Cost::ACCESS_TOKEN);
        let random = Outcome::combined("client_credentials, random tenant", randoms)
            .limited_by(rates, Cost::ACCESS_TOKEN);
        scale = Some(report::Scale {
            tenants: tenants.count,
            applications: tenants.count * scale::APPLICATIONS_PER_TENANT,
            provisioning: tenants.took,
            first_touch,
            ratio: random.rate() / one.rate().max(f64::MIN_POSITIVE),
            rounds: ratios,
            before_kib,
            after_kib: proc::status_kib(server_pid, "VmRSS"),
        });
        rows.push(one);
        rows.push(random);
    }
    Ok(report::Results {
        stack: vec![http_trivial, grpc_trivial],
        rows,
        starvation,
        scale,
    })
}

impl Args {
    fn busy_poll(&self) -> bool {
        self.busy_poll.unwrap_or(self.pin)
    }
}

fn args_summary(args: &Args, duration: Duration) -> String {
    format!(
        "{} connections, {:.1} s per scenario, {}, load generator {}, database: {}, server log: {}",
        args.connections,
        duration.as_secs_f64(),
        if args.pin {
            "server pinned to CPU 0 and load generator to CPU 1"
        } else {
            "not pinned"
        },
        if args.busy_poll() {
            "polling while answers come fast"
        } else {
            "sleeping while it waits"
        },
        if args.database_url.is_some() {
            "postgresql"
        } else {
            "sqlite"
        },
        match args.log {
            server::Log::Off => "none",
            server::Log::Text => "text, to a file",
            server::Log::Json => "JSON, to a file",
        }
    )
}
