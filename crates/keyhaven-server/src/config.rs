//! Configuration: defaults, then a TOML file, then `KEYHAVEN_*` environment variables.
//! The variable names are a contract with deploy manifests and outside scripts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Every setting, with its environment variable, default and meaning. The README's
/// configuration reference is this table.
pub const SETTINGS: &[(&str, &str, &str, &str)] = &[
    (
        "data_dir",
        "KEYHAVEN_DATA_DIR",
        "./keyhaven-data",
        "Directory for the SQLite database, the bootstrap token and generated keys.",
    ),
    (
        "database_url",
        "KEYHAVEN_DATABASE_URL",
        "sqlite://<data_dir>/keyhaven.db",
        "sqlite://FILE or postgres://USER@HOST/DB.",
    ),
    (
        "admin_addr",
        "KEYHAVEN_ADMIN_ADDR",
        "127.0.0.1:50051",
        "Listen address of the gRPC control plane (port 0: any free port).",
    ),
    (
        "public_addr",
        "KEYHAVEN_PUBLIC_ADDR",
        "127.0.0.1:8080",
        "Listen address of the public HTTP runtime (port 0: any free port).",
    ),
    (
        "public_url",
        "KEYHAVEN_PUBLIC_URL",
        "http://<public_addr>",
        "Externally visible base URL; issuers are <public_url>/t/<tenant>.",
    ),
    (
        "bootstrap_token",
        "KEYHAVEN_BOOTSTRAP_TOKEN",
        "(generated)",
        "Organization token created on first start instead of a generated one (32-256 visible ASCII characters).",
    ),
    (
        "key_encryption_key",
        "KEYHAVEN_KEY_ENCRYPTION_KEY",
        "(generated)",
        "AES-256 key (base64url, 32 bytes) that encrypts signing keys at rest. Unset: read from <data_dir>/key-encryption-key, generated there on first start. Replicas sharing a database need the same key.",
    ),
    ("log_format", "KEYHAVEN_LOG_FORMAT", "text", "text or json."),
    (
        "metrics_addr",
        "KEYHAVEN_METRICS_ADDR",
        "127.0.0.1:9090",
        "Listen address of the operations listener: Prometheus metrics at GET /metrics (port 0: any free port). Keep it private.",
    ),
    (
        "refresh_retry_window_seconds",
        "KEYHAVEN_REFRESH_RETRY_WINDOW_SECONDS",
        "30",
        "After a refresh token is rotated, a retry of the same refresh by the same client within this many seconds gets the same answer instead of revoking the grant (0 turns it off; at most 300).",
    ),
    (
        "drain_timeout_seconds",
        "KEYHAVEN_DRAIN_TIMEOUT_SECONDS",
        "30",
        "How long shutdown waits for in-flight requests.",
    ),
    (
        "sweep_interval_seconds",
        "KEYHAVEN_SWEEP_INTERVAL_SECONDS",
        "60",
        "How often expired codes, tokens, revocations, sessions, device secrets and other rows that no longer matter are deleted, in batches; safe on every replica at once (0 turns the schedule off).",
    ),
];

/// The configuration reference as the README shows it; a test keeps the two identical.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| setting (TOML key) | environment variable | default | meaning |\n|---|---|---|---|\n",
    );
    for (key, var, default, meaning) in SETTINGS {
        out.push_str(&format!(
            "| `{key}` | `{var}` | `{default}` | {meaning} |\n"
        ));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub admin_addr: SocketAddr,
    pub public_addr: SocketAddr,
    pub public_url: Option<String>,
    pub bootstrap_token: Option<String>,
    pub key_encryption_key: Option<String>,
    pub log_format: LogFormat,
    pub metrics_addr: SocketAddr,
    pub refresh_retry_window_seconds: u64,
    pub drain_timeout_seconds: u64,
    pub sweep_interval_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./keyhaven-data"),
            database_url: None,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            public_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            bootstrap_token: None,
            key_encryption_key: None,
            log_format: LogFormat::Text,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            refresh_retry_window_seconds: keyhaven_core::refresh::DEFAULT_RETRY_WINDOW.as_secs(),
            drain_timeout_seconds: 30,
            sweep_interval_seconds: 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let keys: Vec<&str> = SETTINGS.iter().map(|(key, ..)| *key).collect();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("KEYHAVEN_").only(&keys));
        let config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let supported = ["sqlite:", "postgres:", "postgresql:"];
        if let Some(url) = &self.database_url
            && !supported.iter().any(|scheme| url.starts_with(scheme))
        {
            return Err(ConfigError(
                "database_url (KEYHAVEN_DATABASE_URL) must start with sqlite:, postgres: or postgresql:".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|e| {
                ConfigError(format!(
                    "public_url (KEYHAVEN_PUBLIC_URL) is not a URL: {e}"
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.query().is_some()
                || parsed.fragment().is_some()
            {
                return Err(ConfigError(
                    "public_url (KEYHAVEN_PUBLIC_URL) must be an http(s) URL without query or fragment".into(),
                ));
            }
        }
        if let Some(token) = &self.bootstrap_token {
            keyhaven_core::SecretDigest::of_presented(
                keyhaven_core::SecretKind::ManagementToken,
                token,
            )
            .map_err(|e| ConfigError(format!("bootstrap_token (KEYHAVEN_BOOTSTRAP_TOKEN) {e}")))?;
        }
        if self.refresh_retry_window_seconds > keyhaven_core::refresh::MAX_RETRY_WINDOW.as_secs() {
            return Err(ConfigError(format!(
                "refresh_retry_window_seconds (KEYHAVEN_REFRESH_RETRY_WINDOW_SECONDS) must be at most {}",
                keyhaven_core::refresh::MAX_RETRY_WINDOW.as_secs()
            )));
        }
        if let Some(key) = &self.key_encryption_key {
            keyhaven_core::kek::KeyEncryptionKey::parse_base64url(key).map_err(|e| {
                ConfigError(format!(
                    "key_encryption_key (KEYHAVEN_KEY_ENCRYPTION_KEY) {e}"
                ))
            })?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("keyhaven.db").display()
            )
        })
    }

    /// The public URL issuers hang off, given the address the public listener got.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_seconds)
    }

    /// How often the background sweep runs; `None` when it is off.
    pub fn sweep_interval(&self) -> Option<Duration> {
        (self.sweep_interval_seconds > 0).then(|| Duration::from_secs(self.sweep_interval_seconds))
    }
}

/// figment names the key; add the environment variable that sets it.
fn describe(error: figment::Error) -> String {
    let mut out = Vec::new();
    for e in error {
        let key = e.path.join(".");
        match SETTINGS.iter().find(|(k, ..)| *k == key) {
            Some((_, var, ..)) => out.push(format!("{key} ({var}): {}", e.kind)),
            None if key.is_empty() => out.push(e.to_string()),
            None => out.push(format!("{key}: {}", e.kind)),
        }
    }
    out.join("; ")
}

#[cfg(test)]
// figment's Jail closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let config = Config::default();
        assert_eq!(config.admin_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(config.public_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.metrics_addr.to_string(), "127.0.0.1:9090");
        assert_eq!(config.data_dir, PathBuf::from("./keyhaven-data"));
        for (key, _, default, _) in SETTINGS {
            let value = serde_json::to_value(&config).expect("serialises");
            let actual = &value[key];
            match actual {
                serde_json::Value::Null => {
                    assert!(default.starts_with('(') || default.contains('<'), "{key}")
                }
                serde_json::Value::String(s) => assert_eq!(s, default, "{key}"),
                other => assert_eq!(other.to_string(), *default, "{key}"),
            }
        }
    }

    #[test]
    fn a_bad_value_names_its_key_and_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYHAVEN_ADMIN_ADDR", "not-an-address");
            let err = Config::load(None).expect_err("refused").to_string();
            assert!(
                err.contains("admin_addr") && err.contains("KEYHAVEN_ADMIN_ADDR"),
                "{err}"
            );
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("keyhaven.toml", "log_format = \"yaml\"")?;
            let err = Config::load(Some(Path::new("keyhaven.toml")))
                .expect_err("refused")
                .to_string();
            assert!(err.contains("log_format"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("keyhaven.toml", "admin_adr = \"127.0.0.1:1\"")?;
            let err = Config::load(Some(Path::new("keyhaven.toml")))
                .expect_err("refused")
                .to_string();
            assert!(err.contains("admin_adr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_malformed_key_encryption_key_is_refused_without_echoing_it() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYHAVEN_KEY_ENCRYPTION_KEY", "hunter2-is-not-a-key");
            let err = Config::load(None).expect_err("refused").to_string();
            assert!(
                err.contains("key_encryption_key (KEYHAVEN_KEY_ENCRYPTION_KEY)")
                    && err.contains("32 random bytes in base64url"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            let key = keyhaven_core::kek::KeyEncryptionKey::from_bytes([5; 32]).to_base64url();
            jail.set_env("KEYHAVEN_KEY_ENCRYPTION_KEY", &key);
            let config = Config::load(None).expect("valid");
            assert_eq!(config.key_encryption_key, Some(key));
            Ok(())
        });
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "keyhaven.toml",
                "public_addr = \"127.0.0.1:1111\"\nadmin_addr = \"127.0.0.1:2222\"",
            )?;
            jail.set_env("KEYHAVEN_PUBLIC_ADDR", "127.0.0.1:3333");
            jail.set_env(
                "KEYHAVEN_TOKEN",
                "ignored: the CLI's variable, not a server setting",
            );
            let config = Config::load(Some(Path::new("keyhaven.toml"))).expect("valid");
            assert_eq!(config.public_addr.port(), 3333);
            assert_eq!(config.admin_addr.port(), 2222);
            Ok(())
        });
    }
}
