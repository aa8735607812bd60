//! The limits the endpoints are held against: how many JWS signatures and verifications
//! the machine makes per second with the server's own code (keys generated the way tenant
//! keys are, signed and checked by `keyhaven_core::jose`), measured in the same run.
//!
//! Each operation is measured on one thread and on as many threads as the machine has
//! cores, all at once: the server signs on every worker thread of its runtime, so the
//! all-cores rate is the one an endpoint can at most reach, and the one limits use.

use std::thread;
use std::time::{Duration, Instant};

use keyhaven_core::jose::{Signer, SigningAlgorithm, Verifier};
use keyhaven_core::password::Password;

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

/// Measures every operation for `duration` on one thread, then again on every core.
pub fn measure(duration: Duration) -> Result<Rates, Box<dyn std::error::Error>> {
    // Throwaway keys, generated the way tenant keys are.
    let es256 = keyhaven_admin::keys::generate(SigningAlgorithm::Es256, "bench-ec")?;
    let rs256 = keyhaven_admin::keys::generate(SigningAlgorithm::Rs256, "bench-rsa")?;
    let es256_signer = Signer::from_pkcs8("bench-ec", SigningAlgorithm::Es256, &es256.pkcs8_der)?;
    let rs256_signer = Signer::from_pkcs8("bench-rsa", SigningAlgorithm::Rs256, &rs256.pkcs8_der)?;
    let es256_verifier = Verifier::from_jwk(&es256.public)?;

    // Claims of the size the server signs.
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

    let cores = thread::available_parallelism().map_or(1, usize::from);
    let rate = |op: &(dyn Fn() -> bool + Sync)| Rate {
        one_thread: ops_per_second(1, duration, op),
        all_cores: ops_per_second(cores, duration, op),
    };
    Ok(Rates {
        cores,
        server_on_one_core: false,
        es256_sign: rate(&|| es256_signer.sign("at+jwt", &access).is_ok()),
        rs256_sign: rate(&|| rs256_signer.sign("JWT", &id).is_ok()),
        es256_verify: rate(&|| {
            es256_verifier
                .verify_with_header::<serde_json::Value>(&token)
                .is_ok()
        }),
        // Tens of milliseconds each: at least half a second, so that it counts more than a handful.
        argon2id_verify: Rate {
            one_thread: ops_per_second(1, duration.max(Duration::from_millis(500)), &|| {
                password.matches(&hash)
            }),
            all_cores: ops_per_second(cores, duration.max(Duration::from_millis(500)), &|| {
                password.matches(&hash)
            }),
        },
    })
}

/// Successful runs of `op` per second, on `threads` threads at once for `duration`.
fn ops_per_second(threads: usize, duration: Duration, op: &(dyn Fn() -> bool + Sync)) -> f64 {
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
                scope.spawn(|| {
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
