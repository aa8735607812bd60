//! Redirect URIs and the environment rules of design.md §4.1.
//!
//! A registered URI is matched by exact string comparison (RFC 9700 §4.1.3), so the only
//! safe thing to register is the exact, canonical string a client will send. Everything
//! that could make two different strings mean the same place (case, default ports, dot
//! segments, percent-encoding, Unicode look-alikes) is refused at registration.

use std::fmt;

use url::{Host, Url};

use crate::application::ApplicationType;
use crate::environment::Environment;

pub const MAX_LEN: usize = 2048;

/// Where a registered URI may be used: after sign-in, or after sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedirectPurpose {
    Callback,
    PostLogout,
}

impl RedirectPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::PostLogout => "post_logout",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Callback, Self::PostLogout]
            .into_iter()
            .find(|p| p.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_LEN} characters long (got {0})")]
    TooLong(usize),
    #[error(
        "must be ASCII: write internationalised host names in their punycode (xn--) form and percent-encode other characters"
    )]
    NonAscii,
    #[error("must not contain whitespace or control characters")]
    Whitespace,
    #[error("wildcards are not allowed: register each redirect URI exactly (RFC 9700 §4.1.3)")]
    Wildcard,
    #[error("must not contain a fragment ('#'), RFC 6749 §3.1.2")]
    Fragment,
    #[error("is not an absolute URI ({0})")]
    Unparsable(String),
    #[error(
        "scheme '{0}' is not allowed: use https, http on a loopback host in the localhost environment, or a reverse-DNS private-use scheme (com.example.app:/callback) for native applications"
    )]
    Scheme(String),
    #[error(
        "private-use URI schemes such as '{0}' are allowed only for native applications (RFC 8252 §7.1)"
    )]
    PrivateSchemeNotNative(String),
    #[error(
        "a private-use scheme URI has a single slash after the colon, like com.example.app:/callback (RFC 8252 §7.1)"
    )]
    PrivateSchemeAuthority,
    #[error("must not contain user information (user:password@)")]
    Userinfo,
    #[error("must name a host")]
    MissingHost,
    #[error("the host must not be percent-encoded")]
    EncodedHost,
    #[error("the path must not percent-encode '.', '/' or '\\', which can hide a different path")]
    EncodedPathSeparator,
    #[error("is not in canonical form; register it exactly as {0}")]
    NotCanonical(String),
    #[error("http is allowed only for loopback hosts in the localhost environment")]
    HttpOutsideLocalhost,
    #[error("loopback hosts (localhost, 127.0.0.1, [::1]) belong to the localhost environment")]
    LoopbackOutsideLocalhost,
    #[error("the localhost environment accepts only the hosts localhost, 127.0.0.1 and [::1]")]
    NotLoopback,
    #[error(
        "production redirect URIs need a real domain name, not an IP address or a single-label host"
    )]
    NotARealHost,
}

/// A redirect URI that satisfies the rules of its environment for its application type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    environment: Environment,
    /// `http(s)://127.0.0.1` or `[::1]`: matches any port (RFC 8252 §7.3).
    loopback_ip: bool,
}

impl RedirectUri {
    pub fn parse(
        raw: &str,
        environment: Environment,
        application_type: ApplicationType,
    ) -> Result<Self, RedirectUriError> {
        check_characters(raw)?;
        let url = Url::parse(raw).map_err(|e| RedirectUriError::Unparsable(e.to_string()))?;
        let scheme = url.scheme();
        let loopback_ip = match scheme {
            "https" | "http" => check_web_uri(raw, &url, environment)?,
            _ if is_private_use_scheme(scheme) => {
                if application_type != ApplicationType::Native {
                    return Err(RedirectUriError::PrivateSchemeNotNative(scheme.to_owned()));
                }
                if raw[scheme.len()..].starts_with("://") || url.has_host() {
                    return Err(RedirectUriError::PrivateSchemeAuthority);
                }
                if url.as_str() != raw {
                    return Err(RedirectUriError::NotCanonical(url.to_string()));
                }
                false
            }
            _ => return Err(RedirectUriError::Scheme(scheme.to_owned())),
        };
        Ok(Self {
            raw: raw.to_owned(),
            environment,
            loopback_ip,
        })
    }

    /// A URI read back from the store: it was valid when registered, and stays usable
    /// even if a later version tightens the rules.
    pub fn from_stored(raw: String, environment: Environment) -> Self {
        let loopback_ip = environment == Environment::Localhost
            && Url::parse(&raw).is_ok_and(|url| {
                matches!(url.host(), Some(Host::Ipv4(ip)) if ip.octets() == [127, 0, 0, 1])
                    || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
            });
        Self {
            raw,
            environment,
            loopback_ip,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Whether `presented`, as a client sent it, is this registered URI: the exact
    /// string, or for a loopback IP literal the same URI on any port (RFC 8252 §7.3).
    pub fn matches(&self, presented: &str) -> bool {
        if self.raw == presented {
            return true;
        }
        if !self.loopback_ip {
            return false;
        }
        let (Ok(mut registered), Ok(mut candidate)) =
            (Url::parse(&self.raw), Url::parse(presented))
        else {
            return false;
        };
        if candidate.as_str() != presented {
            return false;
        }
        // Both are http(s) with an IP host here, for which setting the port cannot fail.
        let _ = registered.set_port(None);
        let _ = candidate.set_port(None);
        registered == candidate
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn check_characters(raw: &str) -> Result<(), RedirectUriError> {
    if raw.is_empty() {
        return Err(RedirectUriError::Empty);
    }
    let chars = raw.chars().count();
    if chars > MAX_LEN {
        return Err(RedirectUriError::TooLong(chars));
    }
    if !raw.is_ascii() {
        return Err(RedirectUriError::NonAscii);
    }
    if raw
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(RedirectUriError::Whitespace);
    }
    if raw.contains('*') {
        return Err(RedirectUriError::Wildcard);
    }
    if raw.contains('#') {
        return Err(RedirectUriError::Fragment);
    }
    Ok(())
}

/// RFC 8252 §7.1: a reverse domain name the app controls, so at least one dot.
fn is_private_use_scheme(scheme: &str) -> bool {
    scheme.contains('.') && scheme.split('.').all(|label| !label.is_empty())
}

/// Returns whether the host is a loopback IP literal.
fn check_web_uri(raw: &str, url: &Url, environment: Environment) -> Result<bool, RedirectUriError> {
    if !url.username().is_empty() || url.password().is_some() || authority(raw).contains('@') {
        return Err(RedirectUriError::Userinfo);
    }
    if authority(raw).contains('%') {
        return Err(RedirectUriError::EncodedHost);
    }
    let host = url.host().ok_or(RedirectUriError::MissingHost)?;
    let path = raw_path(raw).to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|e| path.contains(e)) {
        return Err(RedirectUriError::EncodedPathSeparator);
    }
    if url.as_str() != raw {
        return Err(RedirectUriError::NotCanonical(url.to_string()));
    }

    let loopback_ip = match host {
        Host::Ipv4(ip) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(_) => false,
    };
    let loopback = loopback_ip || matches!(host, Host::Domain("localhost"));
    match environment {
        Environment::Localhost if !loopback => Err(RedirectUriError::NotLoopback),
        Environment::Localhost => Ok(loopback_ip),
        Environment::Production | Environment::Staging if loopback => {
            Err(RedirectUriError::LoopbackOutsideLocalhost)
        }
        Environment::Production | Environment::Staging if url.scheme() == "http" => {
            Err(RedirectUriError::HttpOutsideLocalhost)
        }
        Environment::Production => match host {
            Host::Domain(domain) if domain.contains('.') && !domain.ends_with('.') => Ok(false),
            _ => Err(RedirectUriError::NotARealHost),
        },
        Environment::Staging => Ok(false),
    }
}

/// The path as written: after the authority, before the query.
fn raw_path(raw: &str) -> &str {
    let rest = raw.split_once("//").map_or(raw, |(_, rest)| rest);
    let path = rest.find(['/', '\\']).map_or("", |i| &rest[i..]);
    path.split('?').next().unwrap_or("")
}

/// The authority component as written, between `//` and the next `/`, `?` or end.
fn authority(raw: &str) -> &str {
    let rest = raw.split_once("//").map_or("", |(_, rest)| rest);
    rest.split(['/', '?', '\\']).next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Spa, Web};
    use Environment::{Localhost, Production, Staging};
    use RedirectUriError as E;

    #[test]
    fn registration_follows_the_environment_rules() {
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_LEN));
        let cases: Vec<(
            &str,
            Environment,
            ApplicationType,
            Result<(), RedirectUriError>,
        )> = vec![
            // https-only production and staging
            ("https://app.example.com/callback", Production, Web, Ok(())),
            (
                "https://app.example.com/cb?tenant=1",
                Production,
                Web,
                Ok(()),
            ),
            ("https://staging.example.com/cb", Staging, Spa, Ok(())),
            ("https://internal-host/cb", Staging, Web, Ok(())),
            (
                "http://app.example.com/callback",
                Production,
                Web,
                Err(E::HttpOutsideLocalhost),
            ),
            (
                "http://staging.example.com/cb",
                Staging,
                Web,
                Err(E::HttpOutsideLocalhost),
            ),
            ("https://10.0.0.8/cb", Production, Web, Err(E::NotARealHost)),
            ("https://intranet/cb", Production, Web, Err(E::NotARealHost)),
            (
                "https://localhost/cb",
                Production,
                Web,
                Err(E::LoopbackOutsideLocalhost),
            ),
            (
                "http://127.0.0.1/cb",
                Staging,
                Web,
                Err(E::LoopbackOutsideLocalhost),
            ),
            // http only on loopback, loopback IP with any port
            ("http://localhost:3000/callback", Localhost, Web, Ok(())),
            ("http://127.0.0.1/callback", Localhost, Native, Ok(())),
            ("http://127.0.0.1:8765/callback", Localhost, Native, Ok(())),
            ("http://[::1]:8765/callback", Localhost, Native, Ok(())),
            ("https://localhost:8443/cb", Localhost, Spa, Ok(())),
            ("http://example.com/cb", Localhost, Web, Err(E::NotLoopback)),
            ("http://127.0.0.2/cb", Localhost, Web, Err(E::NotLoopback)),
            (
                "http://localhost.evil.com/cb",
                Localhost,
                Web,
                Err(E::NotLoopback),
            ),
            // private-use schemes for native apps
            ("com.example.app:/callback", Production, Native, Ok(())),
            ("com.example.app:/callback", Localhost, Native, Ok(())),
            (
                "com.example.app:/callback",
                Production,
                Web,
                Err(E::PrivateSchemeNotNative("com.example.app".into())),
            ),
            (
                "com.example.app://callback",
                Production,
                Native,
                Err(E::PrivateSchemeAuthority),
            ),
            (
                "myapp:/callback",
                Production,
                Native,
                Err(E::Scheme("myapp".into())),
            ),
            (
                "javascript:alert(1)",
                Production,
                Web,
                Err(E::Scheme("javascript".into())),
            ),
            (
                "data:text/html,hi",
                Production,
                Web,
                Err(E::Scheme("data".into())),
            ),
            (
                "file:///etc/passwd",
                Localhost,
                Native,
                Err(E::Scheme("file".into())),
            ),
            // fragments, userinfo, wildcards
            (
                "https://app.example.com/cb#frag",
                Production,
                Web,
                Err(E::Fragment),
            ),
            (
                "https://app.example.com/cb#",
                Production,
                Web,
                Err(E::Fragment),
            ),
            (
                "https://user:pw@app.example.com/cb",
                Production,
                Web,
                Err(E::Userinfo),
            ),
            (
                "https://app.example.com@evil.com/cb",
                Production,
                Web,
                Err(E::Userinfo),
            ),
            (
                "https://*.example.com/cb",
                Production,
                Web,
                Err(E::Wildcard),
            ),
            (
                "https://app.example.com/*",
                Production,
                Web,
                Err(E::Wildcard),
            ),
            // IDN and unicode hosts
            ("https://xn--exmple-cua.com/cb", Production, Web, Ok(())),
            ("https://exämple.com/cb", Production, Web, Err(E::NonAscii)),
            ("https://аpple.com/cb", Production, Web, Err(E::NonAscii)),
            (
                "https://example.com\u{2215}evil.com/cb",
                Production,
                Web,
                Err(E::NonAscii),
            ),
            // percent-encoding and other ways to spell one URI twice
            (
                "https://exa%6Dple.com/cb",
                Production,
                Web,
                Err(E::EncodedHost),
            ),
            (
                "https://app.example.com/%2e%2e/admin",
                Production,
                Web,
                Err(E::EncodedPathSeparator),
            ),
            (
                "https://app.example.com/a%2Fb",
                Production,
                Web,
                Err(E::EncodedPathSeparator),
            ),
            (
                "https://app.example.com/cb%5c..",
                Production,
                Web,
                Err(E::EncodedPathSeparator),
            ),
            (
                "https://app.example.com/a/../cb",
                Production,
                Web,
                Err(E::NotCanonical("https://app.example.com/cb".into())),
            ),
            (
                "https://APP.example.com/cb",
                Production,
                Web,
                Err(E::NotCanonical("https://app.example.com/cb".into())),
            ),
            (
                "https://app.example.com:443/cb",
                Production,
                Web,
                Err(E::NotCanonical("https://app.example.com/cb".into())),
            ),
            (
                "https://app.example.com",
                Production,
                Web,
                Err(E::NotCanonical("https://app.example.com/".into())),
            ),
            (
                "https://app.example.com\\cb",
                Production,
                Web,
                Err(E::NotCanonical("https://app.example.com/cb".into())),
            ),
            // malformed, empty, over-long, whitespace
            ("", Production, Web, Err(E::Empty)),
            (
                "/callback",
                Production,
                Web,
                Err(E::Unparsable("relative URL without a base".into())),
            ),
            (
                "https:// app.example.com/cb",
                Production,
                Web,
                Err(E::Whitespace),
            ),
            (
                "https://app.example.com/cb\n",
                Production,
                Web,
                Err(E::Whitespace),
            ),
            (long.as_str(), Production, Web, Err(E::TooLong(long.len()))),
        ];
        for (raw, env, app_type, expected) in cases {
            assert_eq!(
                RedirectUri::parse(raw, env, app_type).map(|_| ()),
                expected,
                "{raw:?} in {env} for {app_type:?}"
            );
        }
    }

    #[test]
    fn matching_is_exact_except_the_port_of_loopback_ips() {
        let parse = |raw| RedirectUri::parse(raw, Localhost, Native).expect("valid");
        let loopback = parse("http://127.0.0.1/callback");
        assert!(loopback.matches("http://127.0.0.1/callback"));
        assert!(loopback.matches("http://127.0.0.1:51004/callback"));
        assert!(!loopback.matches("http://127.0.0.1:51004/callback/x"));
        assert!(!loopback.matches("http://127.0.0.1:51004/Callback"));
        assert!(!loopback.matches("https://127.0.0.1:51004/callback"));
        assert!(!loopback.matches("http://localhost:51004/callback"));

        let named = parse("http://localhost:3000/callback");
        assert!(named.matches("http://localhost:3000/callback"));
        assert!(!named.matches("http://localhost:3001/callback"));

        let prod =
            RedirectUri::parse("https://app.example.com/cb", Production, Web).expect("valid");
        assert!(prod.matches("https://app.example.com/cb"));
        assert!(!prod.matches("https://app.example.com/cb/"));
        assert!(!prod.matches("https://app.example.com/cb?x=1"));
        assert!(!prod.matches("https://APP.example.com/cb"));
    }
}
