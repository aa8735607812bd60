//! The limit a token endpoint is held against: how many ES256 signatures one thread
//! makes per second, measured in the same run, with the server's own signing code.

use std::time::{Duration, Instant};

use keyhaven_core::jose::{Signer, SigningAlgorithm};

pub fn es256_rate(duration: Duration) -> f64 {
    // A throwaway key, generated the way tenant keys are.
    let Ok(key) = keyhaven_admin::keys::generate(SigningAlgorithm::Es256, "bench") else {
        return f64::NAN;
    };
    let Ok(signer) = Signer::from_pkcs8("bench", SigningAlgorithm::Es256, &key.pkcs8_der) else {
        return f64::NAN;
    };
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080/t/bench", "sub": "client", "aud": "http://127.0.0.1:8080/t/bench",
        "exp": 2_000_000_000, "iat": 1_700_000_000, "jti": "0123456789abcdef0123456", "client_id": "client",
    });
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < duration {
        for _ in 0..64 {
            if signer.sign("at+jwt", &claims).is_ok() {
                count += 1;
            }
        }
    }
    count as f64 / start.elapsed().as_secs_f64()
}
