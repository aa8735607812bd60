//! Application kinds and what each may do: grant types, client authentication, CORS.

use std::fmt;

use url::{Host, Url};

/// `web` and `service` keep a secret (confidential clients); `spa` and `native` cannot
/// (public clients, RFC 6749 §2.1) and must prove possession with PKCE instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationType {
    Web,
    Spa,
    Native,
    Service,
}

impl ApplicationType {
    pub const ALL: [ApplicationType; 4] = [Self::Web, Self::Spa, Self::Native, Self::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Spa => "spa",
            Self::Native => "native",
            Self::Service => "service",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Web | Self::Service)
    }

    /// What a new application of this type gets when no grant types are given.
    pub fn default_grant_types(self) -> GrantTypes {
        match self {
            Self::Service => GrantTypes(vec![GrantType::ClientCredentials]),
            _ => GrantTypes(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        }
    }

    fn allows(self, grant: GrantType) -> bool {
        use GrantType::*;
        match self {
            Self::Service => grant == ClientCredentials,
            Self::Web => matches!(grant, AuthorizationCode | RefreshToken | ClientCredentials),
            Self::Spa => matches!(grant, AuthorizationCode | RefreshToken),
            Self::Native => matches!(grant, AuthorizationCode | RefreshToken | TokenExchange),
        }
    }
}

impl fmt::Display for ApplicationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Grant types by their OAuth wire names (RFC 6749, RFC 8693).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantTypeError {
    #[error(
        "unknown grant type {0:?}; expected authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:token-exchange"
    )]
    Unknown(String),
    #[error("grant type {0} is listed twice")]
    Duplicate(&'static str),
    #[error("{app} applications cannot use the {grant} grant{hint}")]
    NotForType {
        app: ApplicationType,
        grant: &'static str,
        hint: &'static str,
    },
    #[error(
        "refresh_token needs authorization_code or token exchange to obtain a first refresh token"
    )]
    RefreshAlone,
}

/// Grant types an application may use, each allowed for its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    /// An empty list takes the type's defaults.
    pub fn for_application<S: AsRef<str>>(
        app_type: ApplicationType,
        raw: &[S],
    ) -> Result<Self, GrantTypeError> {
        if raw.is_empty() {
            return Ok(app_type.default_grant_types());
        }
        let mut grants = Vec::with_capacity(raw.len());
        for item in raw {
            let grant = GrantType::parse(item.as_ref())
                .ok_or_else(|| GrantTypeError::Unknown(item.as_ref().to_owned()))?;
            if grants.contains(&grant) {
                return Err(GrantTypeError::Duplicate(grant.as_str()));
            }
            if !app_type.allows(grant) {
                let hint = match app_type {
                    ApplicationType::Service => {
                        " (service applications use client_credentials only)"
                    }
                    ApplicationType::Spa | ApplicationType::Native
                        if grant == GrantType::ClientCredentials =>
                    {
                        " (a public client has no secret to authenticate with)"
                    }
                    _ => "",
                };
                return Err(GrantTypeError::NotForType {
                    app: app_type,
                    grant: grant.as_str(),
                    hint,
                });
            }
            grants.push(grant);
        }
        let has_first_token = grants
            .iter()
            .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::TokenExchange));
        if grants.contains(&GrantType::RefreshToken) && !has_first_token {
            return Err(GrantTypeError::RefreshAlone);
        }
        Ok(Self(grants))
    }

    /// Reads what the store wrote; unknown names (from a newer version) are skipped.
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.split(' ').filter_map(GrantType::parse).collect())
    }

    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }

    pub fn to_delimited(&self) -> String {
        self.0
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The public identifier of an application, unique across all tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a client id: 1 to 64 characters of letters, digits, '-' and '_'")]
pub struct ClientIdError;

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, ClientIdError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ClientIdError)
        }
    }

    /// A new client id from 128 random bits, as 26 lowercase base32 characters.
    pub fn from_entropy(bytes: [u8; 16]) -> Self {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let value = u128::from_be_bytes(bytes);
        let id = (0..26)
            .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
            .collect();
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A web origin allowed to call the token endpoint from a browser (CORS), for `spa`
/// applications only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedOriginError {
    #[error("allowed origins apply to spa applications only")]
    NotSpa,
    #[error(
        "must be an origin: scheme, host and optional port, with no path, query or trailing slash (like https://app.example.com)"
    )]
    NotAnOrigin,
    #[error("must use https, or http on a loopback host")]
    Insecure,
    #[error("origin {0} is listed twice")]
    Duplicate(String),
}

impl AllowedOrigin {
    pub fn parse(raw: &str, app_type: ApplicationType) -> Result<Self, AllowedOriginError> {
        if app_type != ApplicationType::Spa {
            return Err(AllowedOriginError::NotSpa);
        }
        let url = Url::parse(raw).map_err(|_| AllowedOriginError::NotAnOrigin)?;
        let origin = url.origin().ascii_serialization();
        if origin != raw || !url.username().is_empty() {
            return Err(AllowedOriginError::NotAnOrigin);
        }
        let loopback = match url.host() {
            Some(Host::Domain(d)) => d == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => Ok(Self(origin)),
            "http" if loopback => Ok(Self(origin)),
            _ => Err(AllowedOriginError::Insecure),
        }
    }

    pub fn parse_list<S: AsRef<str>>(
        raw: &[S],
        app_type: ApplicationType,
    ) -> Result<Vec<Self>, AllowedOriginError> {
        let mut origins: Vec<Self> = Vec::with_capacity(raw.len());
        for item in raw {
            let origin = Self::parse(item.as_ref(), app_type)?;
            if origins.contains(&origin) {
                return Err(AllowedOriginError::Duplicate(origin.0));
            }
            origins.push(origin);
        }
        Ok(origins)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::*;

    #[test]
    fn grant_types_fit_the_application_type() {
        let ok = |t, g: &[&str]| GrantTypes::for_application(t, g).map(|g| g.to_delimited());
        assert_eq!(ok(Service, &[]), Ok("client_credentials".into()));
        assert_eq!(ok(Web, &[]), Ok("authorization_code refresh_token".into()));
        assert_eq!(
            ok(Web, &["authorization_code", "client_credentials"]),
            Ok("authorization_code client_credentials".into())
        );
        assert_eq!(
            ok(
                Native,
                &[
                    "authorization_code",
                    "urn:ietf:params:oauth:grant-type:token-exchange"
                ]
            ),
            Ok("authorization_code urn:ietf:params:oauth:grant-type:token-exchange".into())
        );
        assert!(matches!(
            ok(Service, &["authorization_code"]),
            Err(GrantTypeError::NotForType { .. })
        ));
        assert!(matches!(
            ok(Spa, &["client_credentials"]),
            Err(GrantTypeError::NotForType { .. })
        ));
        assert!(matches!(
            ok(Native, &["client_credentials"]),
            Err(GrantTypeError::NotForType { .. })
        ));
        assert_eq!(
            ok(Web, &["implicit"]),
            Err(GrantTypeError::Unknown("implicit".into()))
        );
        assert_eq!(
            ok(Web, &["password"]),
            Err(GrantTypeError::Unknown("password".into()))
        );
        assert_eq!(
            ok(Web, &["authorization_code", "authorization_code"]),
            Err(GrantTypeError::Duplicate("authorization_code"))
        );
        assert_eq!(
            ok(Web, &["refresh_token"]),
            Err(GrantTypeError::RefreshAlone)
        );
        let message = ok(Service, &["refresh_token"]).unwrap_err().to_string();
        assert!(
            message.contains("service applications use client_credentials only"),
            "{message}"
        );
    }

    #[test]
    fn confidentiality_follows_the_type() {
        assert!(Web.is_confidential() && Service.is_confidential());
        assert!(!Spa.is_confidential() && !Native.is_confidential());
    }

    #[test]
    fn client_ids_are_url_safe() {
        let id = ClientId::from_entropy([0xAB; 16]);
        assert_eq!(id.as_str().len(), 26);
        assert_eq!(ClientId::parse(id.as_str()), Ok(id));
        assert_eq!(ClientId::parse(""), Err(ClientIdError));
        assert_eq!(ClientId::parse("a/b"), Err(ClientIdError));
        assert_eq!(ClientId::parse(&"a".repeat(65)), Err(ClientIdError));
    }

    #[test]
    fn allowed_origins_are_bare_secure_origins_of_spas() {
        let cases: &[(&str, ApplicationType, Result<(), AllowedOriginError>)] = &[
            ("https://app.example.com", Spa, Ok(())),
            ("https://app.example.com:8443", Spa, Ok(())),
            ("http://localhost:5173", Spa, Ok(())),
            ("http://127.0.0.1:5173", Spa, Ok(())),
            (
                "https://app.example.com",
                Web,
                Err(AllowedOriginError::NotSpa),
            ),
            (
                "https://app.example.com/",
                Spa,
                Err(AllowedOriginError::NotAnOrigin),
            ),
            (
                "https://app.example.com/path",
                Spa,
                Err(AllowedOriginError::NotAnOrigin),
            ),
            (
                "https://APP.example.com",
                Spa,
                Err(AllowedOriginError::NotAnOrigin),
            ),
            ("*", Spa, Err(AllowedOriginError::NotAnOrigin)),
            (
                "http://app.example.com",
                Spa,
                Err(AllowedOriginError::Insecure),
            ),
        ];
        for (raw, t, expected) in cases {
            assert_eq!(
                AllowedOrigin::parse(raw, *t).map(|_| ()),
                *expected,
                "{raw:?}"
            );
        }
        assert_eq!(
            AllowedOrigin::parse_list(&["https://a.example.com", "https://a.example.com"], Spa),
            Err(AllowedOriginError::Duplicate(
                "https://a.example.com".into()
            ))
        );
    }
}
