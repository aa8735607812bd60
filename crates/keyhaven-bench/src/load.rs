//! A closed-loop load generator: each connection starts its next iteration as soon as the
//! previous one ends, for a fixed time, recording the latency of every success.
//!
//! A scenario opens its connections before the clock starts ([`Scenario::connect`]), so
//! that what a connection needs once (a signed-in browser, a refresh token of its own) is
//! not measured; an iteration ([`Connection::iterate`]) is whatever one unit of the
//! scenario is, one request or a whole flow, and its latency is the whole of it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::busy_poll::BusyPoll;
use crate::proc;
use crate::signing::{Cost, Rates};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What went wrong in an iteration or a connection's setup, in words for the report.
pub type Failure = String;

/// One connection of a scenario, with whatever it keeps between iterations.
pub trait Connection: Send {
    /// One iteration, timed as a whole.
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>>;
}

/// Opens the connections of a scenario: connection `index` of however many the run has.
pub trait Scenario: Sync {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>>;
}

/// What a JSON answer must say to count as a success.
pub type Check = fn(&serde_json::Value) -> Result<(), Failure>;

/// The simplest scenario: one stateless request per iteration, over a shared client,
/// successful when the answer is a 2xx whose body passes the check, if there is one.
#[derive(Clone)]
pub struct Request {
    build: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>,
    check: Option<Check>,
}

impl Request {
    pub fn new(build: impl Fn() -> reqwest::RequestBuilder + Send + Sync + 'static) -> Self {
        Self {
            build: Arc::new(build),
            check: None,
        }
    }

    /// Also requires the answer to be JSON that passes `check`.
    pub fn checked(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
    }

    pub fn build(&self) -> reqwest::RequestBuilder {
        (self.build)()
    }
}

impl Scenario for Request {
    fn connect(&self, _: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        let connection: Box<dyn Connection> = Box::new(self.clone());
        Box::pin(std::future::ready(Ok(connection)))
    }
}

impl Connection for Request {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            let response = self.build().send().await.map_err(|e| e.to_string())?;
            let body = successful(response)
                .await?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            match self.check {
                Some(check) => check(&serde_json::from_slice(&body).map_err(|e| e.to_string())?),
                None => Ok(()),
            }
        })
    }
}

/// The response if it is a 2xx; anything else is a failure that says what came back.
pub async fn successful(response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let path = response.url().path().to_owned();
    let body = response.text().await.unwrap_or_default();
    Err(format!(
        "{status} from {path}: {}",
        body.chars().take(200).collect::<String>()
    ))
}

pub fn http_client(connections: usize) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
}

pub struct Outcome {
    pub name: &'static str,
    /// Successful iterations in the measured time.
    pub successes: u64,
    /// Failed iterations in the measured time, and connections that could not be opened.
    pub errors: u64,
    /// What the first failure said.
    pub first_error: Option<Failure>,
    pub elapsed: Duration,
    /// Sorted latencies of successful iterations.
    pub latencies: Vec<Duration>,
    /// Iterations per second this scenario could reach at most, when one is known, and
    /// what bounds it.
    pub limit: Option<(f64, String)>,
    /// The limit as measured right before and right after the scenario, when it was
    /// measured twice: `limit` is their mean.
    pub limit_drift: Option<(f64, f64)>,
    /// CPU time of the server's threads in the measured time.
    pub server_cpu: Duration,
    /// The process's peak RSS in the measured time, in KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.successes as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[index.min(self.latencies.len() - 1)]
    }

    /// A scenario that could not start: one error, this one, and nothing else.
    pub fn not_run(name: &'static str, failure: Failure) -> Self {
        Outcome {
            name,
            successes: 0,
            errors: 1,
            first_error: Some(failure),
            elapsed: Duration::from_secs(1),
            latencies: Vec::new(),
            limit: None,
            limit_drift: None,
            server_cpu: Duration::ZERO,
            peak_rss_kib: None,
        }
    }

    /// Several runs of one scenario as one: their iterations, time and CPU added up,
    /// their peak RSS the highest.
    pub fn combined(name: &'static str, parts: Vec<Outcome>) -> Self {
        let mut whole = Outcome {
            name,
            successes: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            limit: None,
            limit_drift: None,
            server_cpu: Duration::ZERO,
            peak_rss_kib: None,
        };
        for part in parts {
            whole.successes += part.successes;
            whole.errors += part.errors;
            whole.first_error = whole.first_error.or(part.first_error);
            whole.elapsed += part.elapsed;
            whole.latencies.extend(part.latencies);
            whole.server_cpu += part.server_cpu;
            whole.peak_rss_kib = whole.peak_rss_kib.max(part.peak_rss_kib);
        }
        whole.latencies.sort_unstable();
        whole
    }

    /// Holds the scenario against the rate of another, `what` (a trivial endpoint).
    pub fn limited_by_outcome(mut self, what: &Outcome) -> Self {
        if what.successes > 0 {
            self.limit = Some((what.rate(), what.name.to_owned()));
        }
        self
    }

    /// Holds the scenario against the raw rates when one iteration costs `cost`.
    pub fn limited_by(mut self, rates: &Rates, cost: Cost) -> Self {
        self.limit = rates.limit(cost).map(|limit| (limit, cost.describe()));
        self
    }

    /// Holds the scenario against the mean of the raw rates measured right `before` and
    /// right `after` it, and keeps both limits.
    pub fn limited_between(self, before: &Rates, after: &Rates, cost: Cost) -> Self {
        let mut outcome = self.limited_by(&before.mean(after), cost);
        outcome.limit_drift = before.limit(cost).zip(after.limit(cost));
        outcome
    }
}

/// How hard and how long to drive a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
    /// The server process, whose CPU time and peak RSS each scenario reports.
    pub server_pid: u32,
    /// Poll for answers while they come fast rather than sleep until one comes
    /// (`--busy-poll`, [`BusyPoll`]).
    pub busy_poll: bool,
}

impl Load {
    /// Opens the scenario's connections, warms up for a fifth of the time, then measures.
    pub async fn run(self, name: &'static str, scenario: &dyn Scenario) -> Outcome {
        self.run_signalling(name, scenario, None).await
    }

    /// [`Load::run`], telling `measuring` when the measurement starts: a second load that
    /// must run entirely alongside this one's measurement waits for it.
    pub async fn run_signalling(
        self,
        name: &'static str,
        scenario: &dyn Scenario,
        measuring: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Outcome {
        let Load {
            connections,
            duration,
            server_pid,
            busy_poll,
        } = self;
        let mut open = Vec::with_capacity(connections);
        let mut setup_errors = 0;
        let mut first_error = None;
        for index in 0..connections {
            match scenario.connect(index).await {
                Ok(connection) => open.push(connection),
                Err(failure) => {
                    setup_errors += 1;
                    first_error.get_or_insert(format!("opening a connection: {failure}"));
                }
            }
        }
        // Warm-up: connections open, caches fill.
        let (open, _) = drive(open, duration / 5, busy_poll).await;
        if let Some(measuring) = measuring {
            let _ = measuring.send(());
        }
        proc::reset_peak_rss(server_pid);
        let cpu = proc::cpu(server_pid);
        let start = Instant::now();
        let (_, results) = drive(open, duration, busy_poll).await;
        let elapsed = start.elapsed();
        let server_cpu = proc::cpu(server_pid).saturating_sub(cpu);
        let peak_rss_kib = proc::status_kib(server_pid, "VmHWM");
        let mut latencies = Vec::new();
        let mut errors = setup_errors;
        for result in results {
            errors += result.errors;
            latencies.extend(result.latencies);
            if first_error.is_none() {
                first_error = result.first_error;
            }
        }
        latencies.sort_unstable();
        Outcome {
            name,
            successes: latencies.len() as u64,
            errors,
            first_error,
            elapsed,
            latencies,
            limit: None,
            limit_drift: None,
            server_cpu,
            peak_rss_kib,
        }
    }
}

/// What one connection did in one drive.
struct Driven {
    errors: u64,
    first_error: Option<Failure>,
    latencies: Vec<Duration>,
}

/// Runs every connection until `duration` has passed; hands the connections back, with
/// what each did.
async fn drive(
    connections: Vec<Box<dyn Connection>>,
    duration: Duration,
    busy_poll: bool,
) -> (Vec<Box<dyn Connection>>, Vec<Driven>) {
    let deadline = Instant::now() + duration;
    let poll = busy_poll.then(BusyPoll::new);
    if let Some(poll) = &poll {
        tokio::spawn(Arc::clone(poll).until(deadline));
    }
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let poll = poll.clone();
            tokio::spawn(async move {
                let mut driven = Driven {
                    errors: 0,
                    first_error: None,
                    latencies: Vec::new(),
                };
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let outcome = connection.iterate().await;
                    let ended = Instant::now();
                    if let Some(poll) = &poll {
                        poll.ended(ended);
                    }
                    match outcome {
                        Ok(()) => driven.latencies.push(ended - started),
                        Err(failure) => {
                            driven.errors += 1;
                            driven.first_error.get_or_insert(failure);
                        }
                    }
                }
                (connection, driven)
            })
        })
        .collect();
    let mut connections = Vec::with_capacity(tasks.len());
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok((connection, driven)) = task.await {
            connections.push(connection);
            results.push(driven);
        }
    }
    (connections, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Rate;

    fn es256_signs(per_second: f64) -> Rates {
        let rate = Rate {
            one_thread: per_second,
            all_cores: per_second,
        };
        Rates {
            cores: 1,
            server_on_one_core: true,
            es256_sign: rate,
            rs256_sign: rate,
            es256_verify: rate,
            argon2id_verify: rate,
        }
    }

    fn ran(successes: u64, seconds: u64, latency_ms: &[u64]) -> Outcome {
        Outcome {
            successes,
            elapsed: Duration::from_secs(seconds),
            latencies: latency_ms
                .iter()
                .copied()
                .map(Duration::from_millis)
                .collect(),
            server_cpu: Duration::from_secs(seconds),
            peak_rss_kib: Some(seconds * 100),
            ..Outcome::not_run("part", "not run".into())
        }
    }

    #[test]
    fn combined_runs_add_up_and_keep_every_latency_in_order() {
        let whole = Outcome::combined("whole", vec![ran(30, 1, &[5, 1]), ran(10, 3, &[3])]);
        assert_eq!(
            whole.rate(),
            10.0,
            "40 iterations in 4 s, not the mean of 30 and 3.3"
        );
        assert_eq!(whole.errors, 2);
        assert_eq!(whole.server_cpu, Duration::from_secs(4));
        assert_eq!(whole.peak_rss_kib, Some(300));
        let ms: Vec<_> = whole.latencies.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [1, 3, 5]);
    }

    #[test]
    fn a_limit_measured_twice_is_their_mean_and_keeps_both() {
        let outcome = Outcome::not_run("client_credentials", "not run".into()).limited_between(
            &es256_signs(30_000.0),
            &es256_signs(40_000.0),
            Cost::ACCESS_TOKEN,
        );
        let (limit, needs) = outcome.limit.expect("a limit");
        assert_eq!(limit, 35_000.0);
        assert_eq!(needs, "1 ES256 sign");
        assert_eq!(outcome.limit_drift, Some((30_000.0, 40_000.0)));
    }
}
