//! Keyhaven's metrics: counters and latency histograms kept in atomics, rendered as
//! Prometheus text (exposition format 0.0.4).
//!
//! Invariants: no I/O and no dependencies, so every crate can count without a cycle;
//! label values are either `&'static str` chosen by the code or come from a bounded set
//! ([`Labels`]), so a caller cannot grow the number of series without limit; no label ever
//! carries a token, secret, password or code.
//!
//! The hot path takes a shared read lock and bumps atomics: it allocates only the first
//! time a series is seen.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// How many tenants get a label of their own; later ones are counted as `other`.
pub const MAX_TENANT_LABELS: usize = 100;
/// Route templates are fixed by the code; the bound only guards against a mistake.
const MAX_ROUTE_LABELS: usize = 64;
/// gRPC paths that exist are fixed by the code; unknown ones are `other`.
const MAX_GRPC_METHOD_LABELS: usize = 128;

/// The label value of everything beyond a bound.
pub const OTHER: &str = "other";

/// Upper bounds of the latency buckets, in microseconds (1 ms to 10 s).
const BUCKETS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why a sign-in was refused (the label of `keyhaven_sign_in_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    UnknownUser,
    WrongPassword,
    DisabledUser,
}

impl SignInFailure {
    fn as_str(self) -> &'static str {
        match self {
            SignInFailure::UnknownUser => "unknown_user",
            SignInFailure::WrongPassword => "wrong_password",
            SignInFailure::DisabledUser => "disabled_user",
        }
    }
}

/// What became of one back-channel logout attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed for the last time.
    Abandoned,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Retry => "retry",
            Delivery::Abandoned => "abandoned",
        }
    }
}

/// One HTTP request, as the middleware saw it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The route template (`/t/{tenant}/oauth2/token`), never the raw path; `None` when no
    /// route matched.
    pub route: Option<&'a str>,
    pub method: &'a str,
    pub status: u16,
    /// The tenant slug from the path, if the route has one.
    pub tenant: Option<&'a str>,
    pub elapsed: Duration,
}

/// The registry of one server. Cheap to share behind an `Arc`.
pub struct Metrics {
    tenants: Labels,
    routes: Labels,
    grpc_methods: Labels,
    http_requests: Counters<(u16, &'static str, &'static str, Tenant)>,
    http_latency: Histograms<(u16, &'static str, &'static str)>,
    grpc_latency: Histograms<(u16, &'static str)>,
    tokens_issued: Counters<(&'static str, Tenant)>,
    revocations: Counters<(&'static str, Tenant)>,
    sign_in_failures: Counters<(&'static str, Tenant)>,
    sign_in_throttled: Counters<Tenant>,
    backchannel: Counters<&'static str>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            tenants: Labels::new(MAX_TENANT_LABELS),
            routes: Labels::new(MAX_ROUTE_LABELS),
            grpc_methods: Labels::new(MAX_GRPC_METHOD_LABELS),
            http_requests: Counters::default(),
            http_latency: Histograms::default(),
            grpc_latency: Histograms::default(),
            tokens_issued: Counters::default(),
            revocations: Counters::default(),
            sign_in_failures: Counters::default(),
            sign_in_throttled: Counters::default(),
            backchannel: Counters::default(),
        }
    }

    pub fn http_request(&self, request: HttpRequest<'_>) {
        let route = request.route.map_or(0, |r| self.routes.admit(r));
        let method = method_label(request.method);
        let status = status_class(request.status);
        // A 404 under /t/{tenant} is most often a tenant that does not exist: such a slug
        // must not take one of the bounded labels.
        let tenant = match request.tenant {
            None => Tenant::None,
            Some(slug) if request.status == 404 => Tenant::Slot(self.tenants.find(slug)),
            Some(slug) => Tenant::Slot(self.tenants.admit(slug)),
        };
        self.http_requests.add((route, method, status, tenant));
        self.http_latency
            .observe((route, method, status), request.elapsed);
    }

    /// `path` is the gRPC path (`/package.Service/Method`), `code` the numeric
    /// `grpc-status`.
    pub fn grpc_request(&self, path: &str, code: u16, elapsed: Duration) {
        // UNIMPLEMENTED: a path no service has, which must not take a label.
        let method = if code == 12 {
            self.grpc_methods.find(path)
        } else {
            self.grpc_methods.admit(path)
        };
        self.grpc_latency
            .observe((method, grpc_code(code)), elapsed);
    }

    /// `grant` is the `grant_type` as the token endpoint matched it (a static string).
    pub fn token_issued(&self, tenant: &str, grant: &'static str) {
        let tenant = self.tenant(tenant);
        self.tokens_issued.add((grant, tenant));
    }

    /// `reason` is the store's revocation reason (`Reason::as_str`).
    pub fn revoked(&self, tenant: &str, reason: &'static str) {
        let tenant = self.tenant(tenant);
        self.revocations.add((reason, tenant));
    }

    pub fn sign_in_failed(&self, tenant: &str, why: SignInFailure) {
        let tenant = self.tenant(tenant);
        self.sign_in_failures.add((why.as_str(), tenant));
    }

    pub fn sign_in_throttled(&self, tenant: &str) {
        let tenant = self.tenant(tenant);
        self.sign_in_throttled.add(tenant);
    }

    pub fn backchannel_delivery(&self, outcome: Delivery) {
        self.backchannel.add(outcome.as_str());
    }

    /// Domain counters are only counted for tenants that exist, so they may take a label.
    fn tenant(&self, slug: &str) -> Tenant {
        Tenant::Slot(self.tenants.admit(slug))
    }

    /// Every series, as Prometheus text.
    pub fn render(&self) -> String {
        let tenants = self.tenants.names();
        let routes = self.routes.names();
        let grpc_methods = self.grpc_methods.names();
        let route_name = |slot: u16| routes.get(usize::from(slot)).map_or(OTHER, |s| &**s);
        let mut out = String::with_capacity(8 * 1024);

        let http = self.http_requests.snapshot();
        family(
            &mut out,
            "keyhaven_http_requests_total",
            "counter",
            "Public HTTP requests by route template, method, status class and tenant (the first 100 tenants seen get their own label, the rest are `other`).",
        );
        for ((route, method, status, tenant), value) in &http {
            let mut labels = vec![
                ("route", route_name(*route)),
                ("method", *method),
                ("status", *status),
            ];
            tenant.push_label(&tenants, &mut labels);
            sample(&mut out, "keyhaven_http_requests_total", &labels, *value);
        }
        family(
            &mut out,
            "keyhaven_http_request_duration_seconds",
            "histogram",
            "Latency of public HTTP requests until the response head, by route template, method and status class.",
        );
        for ((route, method, status), h) in &self.http_latency.snapshot() {
            let labels = [
                ("route", route_name(*route)),
                ("method", *method),
                ("status", *status),
            ];
            h.render(&mut out, "keyhaven_http_request_duration_seconds", &labels);
        }

        let grpc = self.grpc_latency.snapshot();
        let grpc_name = |slot: u16| grpc_methods.get(usize::from(slot)).map_or(OTHER, |s| &**s);
        family(
            &mut out,
            "keyhaven_grpc_requests_total",
            "counter",
            "Control-plane gRPC calls by method and status code.",
        );
        for ((method, code), h) in &grpc {
            let labels = [("method", grpc_name(*method)), ("code", *code)];
            sample(&mut out, "keyhaven_grpc_requests_total", &labels, h.count);
        }
        family(
            &mut out,
            "keyhaven_grpc_request_duration_seconds",
            "histogram",
            "Latency of control-plane gRPC calls until the response head, by method and status code.",
        );
        for ((method, code), h) in &grpc {
            let labels = [("method", grpc_name(*method)), ("code", *code)];
            h.render(&mut out, "keyhaven_grpc_request_duration_seconds", &labels);
        }

        let by_tenant = |out: &mut String,
                         name: &str,
                         help: &str,
                         label: &'static str,
                         snapshot: Vec<((&'static str, Tenant), u64)>| {
            family(out, name, "counter", help);
            for ((value, tenant), count) in &snapshot {
                let mut labels = vec![(label, *value)];
                tenant.push_label(&tenants, &mut labels);
                sample(out, name, &labels, *count);
            }
        };
        by_tenant(
            &mut out,
            "keyhaven_tokens_issued_total",
            "Token responses issued by the token endpoint, by grant type and tenant.",
            "grant_type",
            self.tokens_issued.snapshot(),
        );
        by_tenant(
            &mut out,
            "keyhaven_revocations_total",
            "Revocations (of a token, a refresh-token family or a session), by reason and tenant.",
            "reason",
            self.revocations.snapshot(),
        );
        by_tenant(
            &mut out,
            "keyhaven_sign_in_failures_total",
            "Refused sign-ins (wrong credentials), by reason and tenant.",
            "reason",
            self.sign_in_failures.snapshot(),
        );
        family(
            &mut out,
            "keyhaven_sign_in_throttled_total",
            "counter",
            "Sign-in attempts refused by the throttle (or that reached its limit), by tenant.",
        );
        for (tenant, count) in &self.sign_in_throttled.snapshot() {
            let mut labels = Vec::new();
            tenant.push_label(&tenants, &mut labels);
            sample(
                &mut out,
                "keyhaven_sign_in_throttled_total",
                &labels,
                *count,
            );
        }
        family(
            &mut out,
            "keyhaven_backchannel_logout_deliveries_total",
            "counter",
            "Back-channel logout attempts by outcome (delivered, retry, abandoned).",
        );
        for (outcome, count) in &self.backchannel.snapshot() {
            sample(
                &mut out,
                "keyhaven_backchannel_logout_deliveries_total",
                &[("outcome", *outcome)],
                *count,
            );
        }
        out
    }
}

/// Appends a gauge family measured at scrape time (for what lives outside the registry,
/// such as database pools).
pub fn render_gauge(out: &mut String, name: &str, help: &str, samples: &[(&[(&str, &str)], u64)]) {
    family(out, name, "gauge", help);
    for (labels, value) in samples {
        sample(out, name, labels, *value);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    write_labels(out, labels);
    let _ = writeln!(out, " {value}");
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// The tenant of a series: none (the route has no tenant) or a bounded slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Tenant {
    None,
    Slot(u16),
}

impl Tenant {
    fn push_label<'a>(self, names: &'a [Box<str>], labels: &mut Vec<(&'static str, &'a str)>) {
        if let Tenant::Slot(slot) = self {
            labels.push((
                "tenant",
                names.get(usize::from(slot)).map_or(OTHER, |s| &**s),
            ));
        }
    }
}

fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        _ => OTHER,
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The names of the gRPC status codes (grpc/doc/statuscodes.md).
fn grpc_code(code: u16) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("UNKNOWN")
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // A panic while holding the lock leaves counts, not broken invariants.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// A bounded label: the first `max` values get a slot of their own; slot 0 is `other`,
/// shared by the rest.
struct Labels {
    max: usize,
    slots: RwLock<Slots>,
}

/// Each value's slot, and each slot's value.
type Slots = (HashMap<Box<str>, u16>, Vec<Box<str>>);

impl Labels {
    fn new(max: usize) -> Self {
        Self {
            max,
            slots: RwLock::new((HashMap::new(), vec![OTHER.into()])),
        }
    }

    /// The value's slot if it has one, else `other`.
    fn find(&self, value: &str) -> u16 {
        read(&self.slots).0.get(value).copied().unwrap_or(0)
    }

    /// The value's slot, given one if the bound allows.
    fn admit(&self, value: &str) -> u16 {
        {
            let slots = read(&self.slots);
            if let Some(slot) = slots.0.get(value) {
                return *slot;
            }
            // A value spelled `other` shares slot 0: two series with one label set would
            // not parse. Once the bound is reached, every new value is `other` under the
            // read lock: a write lock for each request of a tenant beyond the bound would
            // serialise them all.
            if value == OTHER || slots.0.len() >= self.max {
                return 0;
            }
        }
        let mut guard = write(&self.slots);
        let (map, names) = &mut *guard;
        if let Some(slot) = map.get(value) {
            return *slot;
        }
        if map.len() >= self.max {
            return 0;
        }
        let Ok(slot) = u16::try_from(names.len()) else {
            return 0;
        };
        names.push(value.into());
        map.insert(value.into(), slot);
        slot
    }

    fn names(&self) -> Vec<Box<str>> {
        read(&self.slots).1.clone()
    }
}

struct Counters<K>(RwLock<HashMap<K, AtomicU64>>);

impl<K> Default for Counters<K> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Copy + Eq + Hash + Ord> Counters<K> {
    fn add(&self, key: K) {
        if let Some(counter) = read(&self.0).get(&key) {
            counter.fetch_add(1, Relaxed);
            return;
        }
        write(&self.0).entry(key).or_default().fetch_add(1, Relaxed);
    }

    /// Sorted, so that a scrape lists series in a stable order.
    fn snapshot(&self) -> Vec<(K, u64)> {
        let mut all: Vec<(K, u64)> = read(&self.0)
            .iter()
            .map(|(k, v)| (*k, v.load(Relaxed)))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }
}

#[derive(Default)]
struct Histogram {
    /// Not cumulative: a sample lands in one bucket; the last is +Inf.
    buckets: [AtomicU64; BUCKETS_MICROS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_MICROS.partition_point(|bound| *bound < micros);
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.each_ref().map(|b| b.load(Relaxed)),
            count: self.count.load(Relaxed),
            sum_micros: self.sum_micros.load(Relaxed),
        }
    }
}

struct HistogramSnapshot {
    buckets: [u64; BUCKETS_MICROS.len() + 1],
    count: u64,
    sum_micros: u64,
}

impl HistogramSnapshot {
    fn render(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            let le = match BUCKETS_MICROS.get(i) {
                Some(micros) => seconds(*micros),
                None => "+Inf".to_owned(),
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            sample(out, &bucket, &with_le, cumulative);
        }
        sample(
            out,
            &format!("{name}_sum"),
            labels,
            seconds(self.sum_micros),
        );
        sample(out, &format!("{name}_count"), labels, self.count);
    }
}

fn seconds(micros: u64) -> String {
    format!("{}", micros as f64 / 1e6)
}

struct Histograms<K>(RwLock<HashMap<K, Histogram>>);

impl<K> Default for Histograms<K> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Copy + Eq + Hash + Ord> Histograms<K> {
    fn observe(&self, key: K, elapsed: Duration) {
        if let Some(h) = read(&self.0).get(&key) {
            h.observe(elapsed);
            return;
        }
        write(&self.0).entry(key).or_default().observe(elapsed);
    }

    fn snapshot(&self) -> Vec<(K, HistogramSnapshot)> {
        let mut all: Vec<(K, HistogramSnapshot)> = read(&self.0)
            .iter()
            .map(|(k, h)| (*k, h.snapshot()))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tenant: &str, status: u16) -> HttpRequest<'_> {
        HttpRequest {
            route: Some("/t/{tenant}/oauth2/token"),
            method: "POST",
            status,
            tenant: Some(tenant),
            elapsed: Duration::from_millis(3),
        }
    }

    #[test]
    fn tenants_beyond_the_bound_are_counted_as_other() {
        let metrics = Metrics::new();
        for i in 0..MAX_TENANT_LABELS + 5 {
            metrics.http_request(request(&format!("t{i}"), 200));
        }
        let text = metrics.render();
        assert!(text.contains(r#"tenant="t99""#), "{text}");
        assert!(!text.contains(r#"tenant="t100""#), "{text}");
        assert!(text.contains(
            r#"keyhaven_http_requests_total{route="/t/{tenant}/oauth2/token",method="POST",status="2xx",tenant="other"} 5"#
        ), "{text}");
    }

    #[test]
    fn a_not_found_tenant_takes_no_label_and_a_tenant_named_other_shares_the_aggregate() {
        let metrics = Metrics::new();
        metrics.http_request(request("nosuch", 404));
        metrics.http_request(request("other", 200));
        let text = metrics.render();
        assert!(!text.contains("nosuch"), "{text}");
        assert!(text.contains(r#"status="4xx",tenant="other"} 1"#), "{text}");
        assert!(text.contains(r#"status="2xx",tenant="other"} 1"#), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf() {
        let metrics = Metrics::new();
        metrics.grpc_request("/a.B/C", 0, Duration::from_millis(3));
        metrics.grpc_request("/a.B/C", 0, Duration::from_secs(20));
        metrics.grpc_request("/a.B/Nope", 12, Duration::from_millis(1));
        let text = metrics.render();
        let line = |s: &str| assert!(text.lines().any(|l| l == s), "{s} in\n{text}");
        line(
            r#"keyhaven_grpc_request_duration_seconds_bucket{method="/a.B/C",code="OK",le="0.0025"} 0"#,
        );
        line(
            r#"keyhaven_grpc_request_duration_seconds_bucket{method="/a.B/C",code="OK",le="0.005"} 1"#,
        );
        line(
            r#"keyhaven_grpc_request_duration_seconds_bucket{method="/a.B/C",code="OK",le="10"} 1"#,
        );
        line(
            r#"keyhaven_grpc_request_duration_seconds_bucket{method="/a.B/C",code="OK",le="+Inf"} 2"#,
        );
        line(r#"keyhaven_grpc_request_duration_seconds_count{method="/a.B/C",code="OK"} 2"#);
        line(r#"keyhaven_grpc_requests_total{method="other",code="UNIMPLEMENTED"} 1"#);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        render_gauge(&mut out, "g", "h", &[(&[("l", "a\"b\\c\nd")], 1)]);
        assert!(out.contains(r#"g{l="a\"b\\c\nd"} 1"#), "{out}");
    }
}
