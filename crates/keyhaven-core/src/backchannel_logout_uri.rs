//! An application's `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0 §2.2),
//! held to the environment rules of redirect URIs (design.md §4.1).
//!
//! The URI is registered without an environment of its own: its host says which one it
//! belongs to (a loopback host is `localhost`, a real domain name `production`, anything
//! else `staging`), and that environment's rules decide whether it is acceptable, so the
//! rules live in one place, [`crate::redirect_uri`].

use std::fmt;

use url::{Host, Url};

use crate::application::ApplicationType;
use crate::environment::Environment;
use crate::redirect_uri::{RedirectUri, RedirectUriError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackchannelLogoutUriError {
    #[error("scheme '{0}' is not allowed: use https, or http on a loopback host")]
    Scheme(String),
    #[error(transparent)]
    Rules(#[from] RedirectUriError),
}

/// A back-channel logout URI that satisfies the rules of the environment its host puts
/// it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogoutUri(RedirectUri);

impl BackchannelLogoutUri {
    pub fn parse(raw: &str) -> Result<Self, BackchannelLogoutUriError> {
        let environment = match Url::parse(raw) {
            // The server calls it: only a web scheme can be called.
            Ok(url) if !matches!(url.scheme(), "https" | "http") => {
                return Err(BackchannelLogoutUriError::Scheme(url.scheme().to_owned()));
            }
            Ok(url) => environment_of(&url),
            // Parsing again below reports what is wrong.
            Err(_) => Environment::Production,
        };
        Ok(Self(RedirectUri::parse(
            raw,
            environment,
            ApplicationType::Web,
        )?))
    }

    /// A URI read back from the store: it was valid when registered.
    pub fn from_stored(raw: String) -> Self {
        let environment = Url::parse(&raw)
            .map(|url| environment_of(&url))
            .unwrap_or(Environment::Production);
        Self(RedirectUri::from_stored(raw, environment))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The environment its host puts it in: switching that environment off for the
    /// tenant or the application stops deliveries to it.
    pub fn environment(&self) -> Environment {
        self.0.environment()
    }
}

impl fmt::Display for BackchannelLogoutUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn environment_of(url: &Url) -> Environment {
    match url.host() {
        Some(Host::Domain("localhost")) => Environment::Localhost,
        Some(Host::Ipv4(ip)) if ip.is_loopback() => Environment::Localhost,
        Some(Host::Ipv6(ip)) if ip.is_loopback() => Environment::Localhost,
        Some(Host::Domain(domain)) if domain.contains('.') && !domain.ends_with('.') => {
            Environment::Production
        }
        _ => Environment::Staging,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackchannelLogoutUriError as E;
    use RedirectUriError as R;

    #[test]
    fn the_host_picks_the_environment_whose_rules_apply() {
        let cases: Vec<(&str, Result<Environment, BackchannelLogoutUriError>)> = vec![
            (
                "https://rp.example.com/backchannel",
                Ok(Environment::Production),
            ),
            (
                "https://rp.example.com/bc?tenant=1",
                Ok(Environment::Production),
            ),
            ("https://internal-host/bc", Ok(Environment::Staging)),
            ("https://10.0.0.8/bc", Ok(Environment::Staging)),
            ("http://127.0.0.1:4000/bc", Ok(Environment::Localhost)),
            ("http://localhost:4000/bc", Ok(Environment::Localhost)),
            ("http://[::1]:4000/bc", Ok(Environment::Localhost)),
            (
                "http://rp.example.com/bc",
                Err(E::Rules(R::HttpOutsideLocalhost)),
            ),
            (
                "http://internal-host/bc",
                Err(E::Rules(R::HttpOutsideLocalhost)),
            ),
            ("http://127.0.0.2/bc", Err(E::Rules(R::NotLoopback))),
            ("https://rp.example.com/bc#f", Err(E::Rules(R::Fragment))),
            ("https://user@rp.example.com/bc", Err(E::Rules(R::Userinfo))),
            (
                "https://RP.example.com/bc",
                Err(E::Rules(R::NotCanonical(
                    "https://rp.example.com/bc".into(),
                ))),
            ),
            (
                "com.example.app:/bc",
                Err(E::Scheme("com.example.app".into())),
            ),
            ("javascript:alert(1)", Err(E::Scheme("javascript".into()))),
            ("", Err(E::Rules(R::Empty))),
            (
                "/bc",
                Err(E::Rules(R::Unparsable(
                    "relative URL without a base".into(),
                ))),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                BackchannelLogoutUri::parse(raw).map(|u| u.environment()),
                expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_stored_uri_keeps_its_environment() {
        let uri = BackchannelLogoutUri::from_stored("http://127.0.0.1:4000/bc".into());
        assert_eq!(uri.environment(), Environment::Localhost);
        assert_eq!(uri.as_str(), "http://127.0.0.1:4000/bc");
    }
}
