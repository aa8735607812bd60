//! The limits the endpoints are held against: how many JWS signatures and verifications
//! the machine makes per second with the server's own code (keys generated the way tenant
//! keys are, signed and checked by `keyhaven_core::jose`), measured in the same run.
//!
//! Each operation is measured on one thread and on as many threads as the machine has
//! cores, all at once: the server signs on every worker thread of its runtime, so the
//! all-cores rate is the one an endpoint can at most reach, and the one limits use, unless
//! the server is pinned to one core (`--pin`), when they use the one-thread rate. A
//! scenario's own limit is measured again right before and right after it
//! ([`Operations::remeasure`]).

use std::thread;
use std::time::{Duration, Instant};

use keyhaven_core::jose::{Signer, SigningAlgorithm, Verifier};
use keyhaven_core::password::{Password, PasswordHash};

/// Operations per second of one thread and of every core at once.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub one_thread: f64,
    pub all_cores: f64,
}

/// The raw rates of the operations a request can need.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub cores: usize,
    /// The server runs on one core (`--pin`): its limits are the one-thread rates.
    pub server_on_one_core: bool,
    pub es256_sign: Rate,
    pub rs256_sign: Rate,
    pub es256_verify: Rate,
    /// Argon2id verification with the server's parameters (`keyhaven_core::password`),
    /// one per thread: what the server's blocking pool does for a sign-in.
    pub argon2id_verify: Rate,
}

/// What one request of a scenario costs in JOSE operations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub es256_signs: u32,
    pub rs256_signs: u32,
    pub es256_verifies: u32,
    pub argon2id_verifies: u32,
}

impl Cost {
    /// An access token (ES256).
    pub const ACCESS_TOKEN: Cost = Cost {
        es256_signs: 1,
        rs256_signs: 0,
        es256_verifies: 0,
        argon2id_verifies: 0,
    };
    /// An access token (ES256) and an ID token (RS256, the default ID token algorithm).
    pub const ACCESS_AND_ID_TOKEN: Cost = Cost {
        es256_signs: 1,
        rs256_signs: 1,
        es256_verifies: 0,
        argon2id_verifies: 0,
    };
    /// An access token checked.
    pub const ACCESS_TOKEN_CHECK: Cost = Cost {
        es256_signs: 0,
        rs256_signs: 0,
        es256_verifies: 1,
        argon2id_verifies: 0,
    };
    /// A password checked.
    pub const PASSWORD_CHECK: Cost = Cost {
        es256_signs: 0,
        rs256_signs: 0,
        es256_verifies: 0,
        argon2id_verifies: 1,
    };

    /// Like `1 ES256 sign + 1 RS256 sign`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.es256_signs, "ES256 sign"),
            (self.rs256_signs, "RS256 sign"),
            (self.es256_verifies, "ES256 verify"),
            (self.argon2id_verifies, "argon2id verify"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        parts.join(" + ")
    }
}

impl Rates {
    /// Requests per second that `cost` allows when the server's cores do nothing else:
    /// 1 / Σ (operations of a kind / rate of that kind on the server's cores: all of
    /// them, or one when it is pinned). `None` for a request that needs no operation, or
    /// if a rate could not be measured.
    pub fn limit(&self, cost: Cost) -> Option<f64> {
        let rate = |r: Rate| {
            if self.server_on_one_core {
                r.one_thread
            } else {
                r.all_cores
            }
        };
        let seconds = f64::from(cost.es256_signs) / rate(self.es256_sign)
            + f64::from(cost.rs256_signs) / rate(self.rs256_sign)
            + f64::from(cost.es256_verifies) / rate(self.es256_verify)
            + f64::from(cost.argon2id_verifies) / rate(self.argon2id_verify);
        (seconds.is_finite() && seconds > 0.0).then(|| 1.0 / seconds)
    }
}

/// The operations a limit is made of, ready to run: throwaway keys generated the way
/// tenant keys are, claims of the size the server signs, a token and a password hash.
pub struct Operations {
    es256_signer: Signer,
    rs256_signer: Signer,
    es256_verifier: Verifier,
    access: serde_json::Value,
    id: serde_json::Value,
    token: String,
    password: Password,
    hash: PasswordHash,
}

impl Operations {
    pub fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let es256 = keyhaven_admin::keys::generate(SigningAlgorithm::Es256, "bench-ec")?;
        let rs256 = keyhaven_admin::keys::generate(SigningAlgorithm::Rs256, "bench-rsa")?;
        let es256_signer =
            Signer::from_pkcs8("bench-ec", SigningAlgorithm::Es256, &es256.pkcs8_der)?;
        let rs256_signer =
            Signer::from_pkcs8("bench-rsa", SigningAlgorithm::Rs256, &rs256.pkcs8_der)?;
        let es256_verifier = Verifier::from_jwk(&es256.public)?;
        let access = serde_json::json!({
            "iss": "http://127.0.0.1:8080/t/bench", "aud": "http://127.0.0.1:8080/t/bench",
            "sub": "0190d7a2-5b1c-7c3e-9f00-0123456789ab", "client_id": "client-0123456789abcdef",
            "iat": 1_700_000_000, "exp": 2_000_000_000, "jti": "0123456789abcdef0123456",
            "scope": "openid", "sid": "0190d7a2-5b1c-7c3e-9f00-0123456789ac",
        });
        let id = serde_json::json!({
            "iss": "http://127.0.0.1:8080/t/bench", "aud": "client-0123456789abcdef",
            "sub": "0190d7a2-5b1c-7c3e-9f00-0123456789ab", "iat": 1_700_000_000,
            "exp": 2_000_000_000, "auth_time": 1_700_000_000, "nonce": "n-0S6_WzA2Mj0123456789",
            "sid": "0190d7a2-5b1c-7c3e-9f00-0123456789ac", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        });
        let token = es256_signer.sign("at+jwt", &access)?;
        let password = Password::parse("correct horse battery staple")?;
        let hash = password.hash(*b"bench-salt-16-by");
        Ok(Operations {
            es256_signer,
            rs256_signer,
            es256_verifier,
            access,
            id,
            token,
            password,
            hash,
        })
    }

    /// Measures every operation for `duration` on one thread, then again on every core.
    pub fn measure(&self, duration: Duration) -> Rates {
        let cores = thread::available_parallelism().map_or(1, usize::from);
        let rate = |kind: Kind| Rate {
            one_thread: self.rate(kind, Threads::One(None), duration),
            all_cores: self.rate(kind, Threads::All, duration),
        };
        Rates {
            cores,
            server_on_one_core: false,
            es256_sign: rate(Kind::Es256Sign),
            rs256_sign: rate(Kind::Rs256Sign),
            es256_verify: rate(Kind::Es256Verify),
            argon2id_verify: rate(Kind::Argon2idVerify),
        }
    }

    /// `rates` with the operations `cost` needs measured again, for `duration` each, on
    /// the cores the server runs on: one thread on `server_cpu` when it is pinned, every
    /// core otherwise. Measured next to a scenario, while the server is idle, so that its
    /// limit reflects the machine as it was then: on a shared machine the raw rates drift
    /// by a fifth or more within minutes.
    pub fn remeasure(
        &self,
        rates: &Rates,
        cost: Cost,
        duration: Duration,
        server_cpu: usize,
    ) -> Rates {
        let mut fresh = *rates;
        let update = |count: u32, kind: Kind, rate: &mut Rate| {
            if count == 0 {
                return;
            }
            if rates.server_on_one_core {
                rate.one_thread = self.rate(kind, Threads::One(Some(server_cpu)), duration);
            } else {
                rate.all_cores = self.rate(kind, Threads::All, duration);
            }
        };
        update(cost.es256_signs, Kind::Es256Sign, &mut fresh.es256_sign);
        update(cost.rs256_signs, Kind::Rs256Sign, &mut fresh.rs256_sign);
        update(
            cost.es256_verifies,
            Kind::Es256Verify,
            &mut fresh.es256_verify,
        );
        update(
            cost.argon2id_verifies,
            Kind::Argon2idVerify,
            &mut fresh.argon2id_verify,
        );
        fresh
    }

    fn rate(&self, kind: Kind, threads: Threads, duration: Duration) -> f64 {
        match kind {
            Kind::Es256Sign => ops_per_second(threads, duration, &|| {
                self.es256_signer.sign("at+jwt", &self.access).is_ok()
            }),
            Kind::Rs256Sign => ops_per_second(threads, duration, &|| {
                self.rs256_signer.sign("JWT", &self.id).is_ok()
            }),
            Kind::Es256Verify => ops_per_second(threads, duration, &|| {
                self.es256_verifier
                    .verify_with_header::<serde_json::Value>(&self.token)
                    .is_ok()
            }),
            // Tens of milliseconds each: at least half a second, so that it counts more
            // than a handful.
            Kind::Argon2idVerify => {
                ops_per_second(threads, duration.max(Duration::from_millis(500)), &|| {
                    self.password.matches(&self.hash)
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Es256Sign,
    Rs256Sign,
    Es256Verify,
    Argon2idVerify,
}

/// One thread (pinned to a CPU, or where it may run), or one per core.
#[derive(Debug, Clone, Copy)]
enum Threads {
    One(Option<usize>),
    All,
}

impl Rates {
    /// The mean of two measurements (the one before a scenario and the one after).
    pub fn mean(&self, other: &Rates) -> Rates {
        let mean = |a: Rate, b: Rate| Rate {
            one_thread: (a.one_thread + b.one_thread) / 2.0,
            all_cores: (a.all_cores + b.all_cores) / 2.0,
        };
        Rates {
            es256_sign: mean(self.es256_sign, other.es256_sign),
            rs256_sign: mean(self.rs256_sign, other.rs256_sign),
            es256_verify: mean(self.es256_verify, other.es256_verify),
            argon2id_verify: mean(self.argon2id_verify, other.argon2id_verify),
            ..*self
        }
    }
}

/// Successful runs of `op` per second, on `threads` threads at once for `duration`.
fn ops_per_second(threads: Threads, duration: Duration, op: &(dyn Fn() -> bool + Sync)) -> f64 {
    let (threads, cpu) = match threads {
        Threads::One(cpu) => (1, cpu),
        Threads::All => (thread::available_parallelism().map_or(1, usize::from), None),
    };
    // Check the clock every 16 runs of a fast operation; every run of a slow one.
    let probe = Instant::now();
    let batch = if op() && probe.elapsed() > Duration::from_millis(1) {
        1
    } else {
        16
    };
    let start = Instant::now();
    let count: u64 = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    if let Some(cpu) = cpu {
                        crate::pin::current_thread_to(cpu);
                    }
                    let mut count = 0u64;
                    while start.elapsed() < duration {
                        for _ in 0..batch {
                            count += u64::from(op());
                        }
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).sum()
    });
    count as f64 / start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(es256_sign: f64, rs256_sign: f64) -> Rates {
        let rate = |one_thread: f64| Rate {
            one_thread,
            all_cores: 2.0 * one_thread,
        };
        Rates {
            cores: 2,
            server_on_one_core: true,
            es256_sign: rate(es256_sign),
            rs256_sign: rate(rs256_sign),
            es256_verify: rate(1.0),
            argon2id_verify: rate(1.0),
        }
    }

    #[test]
    fn a_limit_is_the_time_of_every_operation_an_iteration_needs() {
        // 1 / (1/3000 + 1/1500) = 1000 code flows per second on one core.
        let limit = rates(3000.0, 1500.0)
            .limit(Cost::ACCESS_AND_ID_TOKEN)
            .expect("limit");
        assert!((limit - 1000.0).abs() < 1e-6, "{limit}");
        let unpinned = Rates {
            server_on_one_core: false,
            ..rates(3000.0, 1500.0)
        };
        let limit = unpinned.limit(Cost::ACCESS_AND_ID_TOKEN).expect("limit");
        assert!((limit - 2000.0).abs() < 1e-6, "{limit}");
        assert_eq!(rates(3000.0, 1500.0).limit(Cost::default()), None);
    }

    #[test]
    fn two_measurements_average_rate_by_rate() {
        let mean = rates(3000.0, 1000.0).mean(&rates(5000.0, 2000.0));
        assert_eq!(mean.es256_sign.one_thread, 4000.0);
        assert_eq!(mean.rs256_sign.one_thread, 1500.0);
        assert_eq!(mean.rs256_sign.all_cores, 3000.0);
        assert!(mean.server_on_one_core);
    }
}
