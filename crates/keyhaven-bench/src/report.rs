//! The report: the raw JOSE rates first, then one line per scenario, its rate next to
//! its limit, and what the first failure of each scenario said.

use std::time::Duration;

use crate::load::Outcome;
use crate::signing::{Rate, Rates};

/// What a run measured.
pub struct Results {
    /// The trivial endpoints of the HTTP and gRPC stacks.
    pub stack: Vec<Outcome>,
    /// One per scenario.
    pub rows: Vec<Outcome>,
    pub starvation: Option<Starvation>,
    pub scale: Option<Scale>,
}

/// The tenant-scale scenario: how long provisioning took, the random-tenant rate over the
/// one-tenant rate, and the server's RSS before and after (all tenants' entries cached).
pub struct Scale {
    pub tenants: usize,
    pub applications: usize,
    pub provisioning: Duration,
    /// The pass that asked each application once, with cold caches.
    pub first_touch: Duration,
    /// Random application against one tenant, with warm caches, over all rounds.
    pub ratio: f64,
    /// The same, round by round.
    pub rounds: Vec<f64>,
    pub before_kib: Option<u64>,
    pub after_kib: Option<u64>,
}

/// client_credentials alone and while password sign-ins run at the same time.
pub struct Starvation {
    pub alone: Outcome,
    pub with: Outcome,
    pub sign_ins: Outcome,
}

pub fn print(setup: &str, rates: &Rates, results: &Results) {
    let Results {
        stack,
        rows,
        starvation,
        scale,
    } = results;
    println!("keyhaven-bench: {setup}");
    println!();
    println!(
        "| raw operation, per second | one thread | {} cores |",
        rates.cores
    );
    println!("|---|---:|---:|");
    let raw = |name: &str, rate: Rate| {
        println!(
            "| {name} | {:.0} | {:.0} |",
            rate.one_thread, rate.all_cores
        );
    };
    raw("ES256 sign", rates.es256_sign);
    raw("RS256 sign", rates.rs256_sign);
    raw("ES256 verify", rates.es256_verify);
    raw("argon2id verify", rates.argon2id_verify);
    println!();
    println!("| trivial endpoint, same load generator | per s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|");
    for row in stack {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} |",
            row.name,
            row.rate(),
            row.percentile(0.50).as_secs_f64() * 1000.0,
            row.percentile(0.99).as_secs_f64() * 1000.0,
            row.errors,
        );
    }
    println!();
    println!(
        "| scenario | per s | p50 ms | p90 ms | p99 ms | errors | needs | limit/s | fraction of limit | server CPU | peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for row in rows {
        let (needs, limit, fraction) = match &row.limit {
            Some((limit, needs)) => (
                needs.as_str(),
                match row.limit_drift {
                    Some((before, after)) => format!("{limit:.0} ({before:.0}/{after:.0})"),
                    None => format!("{limit:.0}"),
                },
                format!("{:.1} %", 100.0 * row.rate() / limit),
            ),
            None => ("-", "-".to_owned(), "-".to_owned()),
        };
        let ms = |p| format!("{:.2}", row.percentile(p).as_secs_f64() * 1000.0);
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {needs} | {limit} | {fraction} | {} | {} |",
            row.name,
            row.rate(),
            ms(0.50),
            ms(0.90),
            ms(0.99),
            row.errors,
            cpu(row),
            mib(row.peak_rss_kib),
        );
    }
    println!();
    println!(
        "server CPU: user + system time of the server process over the measured time, in \
         cores (1.00 = one core busy); peak RSS: the server process's (VmHWM, reset before \
         each scenario)."
    );
    println!(
        "limit: 1 / sum of 1 / (rate on the server's cores: one thread on the server's core when pinned) over the operations one \
         iteration needs. Where two limits follow it in brackets, the rates were measured right before and right after \
         the scenario while the server was idle, and averaged; elsewhere they are the table of raw operations above, \
         measured at the start of the run. An iteration of code_flow is the authorization request and the code exchange."
    );
    if let Some(Starvation {
        alone,
        with,
        sign_ins,
    }) = starvation
    {
        let p99 = |row: &Outcome| row.percentile(0.99).as_secs_f64() * 1000.0;
        println!();
        println!(
            "starvation check: client_credentials p99 {:.2} ms alone ({:.0}/s), {:.2} ms with \
             password sign-ins at once ({:.0}/s): {:.2}x; the sign-ins meanwhile {:.0}/s{}",
            p99(alone),
            alone.rate(),
            p99(with),
            with.rate(),
            p99(with) / p99(alone),
            sign_ins.rate(),
            match &sign_ins.limit {
                Some((limit, _)) =>
                    format!(", {:.1} % of argon2id", 100.0 * sign_ins.rate() / limit),
                None => String::new(),
            },
        );
    }
    if let Some(scale) = scale {
        println!();
        println!(
            "tenant scale: {} tenants of {} applications each, provisioned over gRPC in {:.1} s \
             ({:.0} tenants/s); a first request to each application (caches cold) at {:.0}/s; \
             then client_credentials at a random application: {:.1} % of the one-tenant \
             rate ({} rounds of each in alternation: {} %); server RSS {} -> {} MiB{}",
            scale.tenants,
            scale.applications / scale.tenants.max(1),
            scale.provisioning.as_secs_f64(),
            scale.tenants as f64 / scale.provisioning.as_secs_f64(),
            scale.applications as f64 / scale.first_touch.as_secs_f64().max(f64::MIN_POSITIVE),
            100.0 * scale.ratio,
            scale.rounds.len(),
            scale
                .rounds
                .iter()
                .map(|r| format!("{:.1}", 100.0 * r))
                .collect::<Vec<_>>()
                .join(" / "),
            mib(scale.before_kib),
            mib(scale.after_kib),
            match (scale.before_kib, scale.after_kib) {
                (Some(before), Some(after)) if scale.tenants > 0 => format!(
                    ", {:.1} KiB per tenant",
                    after.saturating_sub(before) as f64 / scale.tenants as f64
                ),
                _ => String::new(),
            },
        );
    }
    let checks = starvation
        .iter()
        .flat_map(|s| [&s.alone, &s.with, &s.sign_ins]);
    for row in stack.iter().chain(rows).chain(checks) {
        if let Some(error) = &row.first_error {
            println!("first error of {}: {error}", row.name);
        }
    }
}

/// Server CPU time over the measured time, in cores.
fn cpu(row: &Outcome) -> String {
    format!(
        "{:.2}",
        row.server_cpu.as_secs_f64() / row.elapsed.as_secs_f64()
    )
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0))
}

/// A process's resident memory: all of it, and the part that is not the binary's own
/// mapped code and data (the heap, stacks, SQLite's page cache).
pub struct Rss {
    pub total_kib: Option<u64>,
    pub anonymous_kib: Option<u64>,
}

impl Rss {
    pub fn of(pid: u32) -> Self {
        Self {
            total_kib: crate::proc::status_kib(pid, "VmRSS"),
            anonymous_kib: crate::proc::status_kib(pid, "RssAnon"),
        }
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MiB ({} MiB anonymous)",
            mib(self.total_kib),
            mib(self.anonymous_kib)
        )
    }
}

/// Idle RSS and start to ready (issue 5, item 9).
pub struct Footprint {
    pub idle: Duration,
    /// Started, before anything was asked of it.
    pub started_rss: Rss,
    /// After provisioning: `users` password hashes among the rest.
    pub provisioned_rss: Rss,
    pub users: usize,
    pub start_to_ready: Duration,
}

pub fn print_footprint(footprint: &Footprint) {
    println!();
    println!(
        "idle RSS of the server process, {:.2} s after start: {}; after provisioning \
         ({} users, each an argon2id hash) and {:.2} s idle: {}",
        footprint.idle.as_secs_f64(),
        footprint.started_rss,
        footprint.users,
        footprint.idle.as_secs_f64(),
        footprint.provisioned_rss,
    );
    println!(
        "start to ready on an already-migrated SQLite database: {:.1} ms (from the spawn of \
         the server process until GET /readyz answers 200)",
        footprint.start_to_ready.as_secs_f64() * 1000.0,
    );
}
