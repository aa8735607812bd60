//! A closed-loop load generator: each connection sends its next request as soon as the
//! previous answer arrives, for a fixed time, recording every latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds the next request of a scenario.
#[derive(Clone)]
pub struct Request(Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>);

impl Request {
    pub fn new(build: impl Fn() -> reqwest::RequestBuilder + Send + Sync + 'static) -> Self {
        Self(Arc::new(build))
    }

    pub fn build(&self) -> reqwest::RequestBuilder {
        (self.0)()
    }
}

pub fn http_client(connections: usize) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
}

pub struct Outcome {
    pub name: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Sorted latencies of successful requests.
    pub latencies: Vec<Duration>,
    /// Requests per second this scenario could reach at most, when one is known.
    pub limit: Option<f64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[index.min(self.latencies.len() - 1)]
    }

    /// Holds the scenario against `signatures_per_second` when each request needs
    /// `signatures` signatures.
    pub fn limited_by(mut self, signatures_per_second: f64, signatures: f64) -> Self {
        self.limit = Some(signatures_per_second / signatures);
        self
    }
}

pub async fn run(
    name: &'static str,
    connections: usize,
    duration: Duration,
    request: Request,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    // Warm-up: connections open, caches fill.
    drive(connections, duration / 5, request.clone()).await;
    let start = Instant::now();
    let results = drive(connections, duration, request).await;
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (ok, mut times) in results {
        errors += ok;
        latencies.append(&mut times);
    }
    latencies.sort_unstable();
    Ok(Outcome {
        name,
        requests: latencies.len() as u64,
        errors,
        elapsed,
        latencies,
        limit: None,
    })
}

/// Returns, per connection, its error count and the latencies of its successes.
async fn drive(
    connections: usize,
    duration: Duration,
    request: Request,
) -> Vec<(u64, Vec<Duration>)> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                match request.build().send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (errors, latencies)
        }));
    }
    let mut results = Vec::with_capacity(connections);
    for task in tasks {
        if let Ok(result) = task.await {
            results.push(result);
        }
    }
    results
}
