//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) as a pipeline of
//! small named checks, in two stages:
//!
//! 1. the client and its redirect URI. Until both pass, nothing can be trusted to
//!    receive an answer, so every failure is a [`Rejection::Page`] (RFC 6749 §4.1.2.1:
//!    "MUST NOT automatically redirect the user-agent to the invalid redirection URI");
//! 2. everything else, whose failures go back to the redirect URI as
//!    [`Rejection::Redirect`], with the state echoed.

use crate::application::{ClientId, GrantType};
use crate::environment::EnvironmentSet;
use crate::model::{Application, RegisteredRedirectUri};
use crate::pkce::CodeChallenge;
use crate::redirect_uri::RedirectPurpose;
use crate::scope::ScopeSet;

use super::error::{AuthorizeError, ErrorCode, Rejection, ReplyTo};
use super::params::Params;
use super::request::{AuthorizationRequest, Prompt};

/// Longest `state`, `nonce` or `login_hint` accepted: they are stored with a pending
/// request, and no honest client needs more.
pub const MAX_VALUE_LEN: usize = 2048;

/// What the store knows about the client named by `client_id`.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub app: &'a Application,
    /// All its registered redirect URIs, of every purpose and environment.
    pub redirect_uris: &'a [RegisteredRedirectUri],
    /// The tenant's environment switches (the application's are in `app`).
    pub tenant_environments: EnvironmentSet,
}

/// Stage 1a, before any lookup: the `client_id` to look up.
pub fn client_id(params: &Params) -> Result<ClientId, Rejection> {
    let page = |d: &str| Rejection::Page(AuthorizeError::invalid_request(d));
    if params.is_repeated("client_id") {
        return Err(page("client_id is repeated"));
    }
    let raw = params
        .get("client_id")
        .ok_or_else(|| page("client_id is required"))?;
    ClientId::parse(raw).map_err(|_| page("client_id is not a client of this tenant"))
}

/// Stages 1b and 2, once the client is known: the checked request, or why not.
pub fn validate(params: &Params, client: Client<'_>) -> Result<AuthorizationRequest, Rejection> {
    let redirect_uri = redirect_uri(params, client)?;
    let reply_to = ReplyTo {
        redirect_uri,
        state: params.get("state").map(str::to_owned),
    };
    let refuse = |error: AuthorizeError| Rejection::Redirect(reply_to.clone(), error);
    no_repeated_parameters(params).map_err(refuse)?;
    no_request_objects(params).map_err(refuse)?;
    response_type(params, client.app).map_err(refuse)?;
    response_mode(params).map_err(refuse)?;
    let scope = scope(params, client.app).map_err(refuse)?;
    let code_challenge = pkce(params, client.app).map_err(refuse)?;
    let prompt = prompt(params).map_err(refuse)?;
    let max_age = max_age(params).map_err(refuse)?;
    let (state, nonce, login_hint) = bounded_values(params).map_err(refuse)?;
    Ok(AuthorizationRequest {
        client_id: client.app.client_id.clone(),
        redirect_uri: reply_to.redirect_uri,
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
    })
}

/// Stage 1b (design.md §4.1): required, sent once, and an exact match of a registered
/// callback URI of this client whose environment is switched on for the tenant and the
/// application.
fn redirect_uri(params: &Params, client: Client<'_>) -> Result<String, Rejection> {
    let page = |d: &str| Rejection::Page(AuthorizeError::invalid_request(d));
    if params.is_repeated("redirect_uri") {
        return Err(page("redirect_uri is repeated"));
    }
    let presented = params
        .get("redirect_uri")
        .ok_or_else(|| page("redirect_uri is required"))?;
    let mut matching = client
        .redirect_uris
        .iter()
        .filter(|r| r.purpose == RedirectPurpose::Callback && r.uri.matches(presented));
    let enabled = |r: &&RegisteredRedirectUri| {
        let env = r.uri.environment();
        client.tenant_environments.contains(env) && client.app.environments.contains(env)
    };
    match matching.clone().find(enabled) {
        Some(_) => Ok(presented.to_owned()),
        None if matching.next().is_some() => Err(page(
            "redirect_uri is registered, but its environment is switched off for this application or tenant",
        )),
        None => Err(page(
            "redirect_uri is not a registered callback URI of this client (URIs are compared as exact strings)",
        )),
    }
}

/// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
fn no_repeated_parameters(params: &Params) -> Result<(), AuthorizeError> {
    match params.repeated().first() {
        Some(name) => Err(AuthorizeError::invalid_request(format!(
            "parameter {name} is repeated"
        ))),
        None => Ok(()),
    }
}

/// OIDC Core §6: request objects are not supported, and silently ignoring one would
/// ignore what the client meant to ask.
fn no_request_objects(params: &Params) -> Result<(), AuthorizeError> {
    if params.get("request").is_some() {
        return Err(AuthorizeError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(AuthorizeError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    Ok(())
}

/// RFC 6749 §4.1.1 and RFC 9700 §2.1.2: the code flow only.
fn response_type(params: &Params, app: &Application) -> Result<(), AuthorizeError> {
    match params.get("response_type") {
        None => Err(AuthorizeError::invalid_request("response_type is required")),
        Some("code") if app.grant_types.contains(GrantType::AuthorizationCode) => Ok(()),
        Some("code") => Err(AuthorizeError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not allowed the authorization_code grant",
        )),
        Some(_) => Err(AuthorizeError::new(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}

/// Answers go in the query of the redirect URI, as discovery says.
fn response_mode(params: &Params) -> Result<(), AuthorizeError> {
    match params.get("response_mode") {
        None | Some("query") => Ok(()),
        Some(_) => Err(AuthorizeError::invalid_request(
            "only response_mode=query is supported",
        )),
    }
}

/// RFC 6749 §3.3: each requested scope must be one the client may request
/// ([`Application::may_be_granted`]). `device_sso` from a client without Native SSO is
/// left out of the grant instead (RFC 6749 §3.3 lets the server grant less): a client
/// that asks for it only learns, from the granted `scope` and the missing
/// `device_secret`, that SSO is not on offer (Native SSO §3.1).
fn scope(params: &Params, app: &Application) -> Result<ScopeSet, AuthorizeError> {
    let Some(raw) = params.get("scope") else {
        return Ok(ScopeSet::default());
    };
    let mut requested = ScopeSet::parse_delimited(raw)
        .map_err(|e| AuthorizeError::new(ErrorCode::InvalidScope, e.to_string()))?;
    if !app.native_sso {
        requested = requested.without(Application::DEVICE_SSO_SCOPE);
    }
    let extra = requested
        .iter()
        .find(|s| !app.may_be_granted(s.as_str()))
        .map(|s| s.to_string());
    match extra {
        Some(extra) => Err(AuthorizeError::new(
            ErrorCode::InvalidScope,
            format!("scope {extra} is not allowed for this client"),
        )),
        None => Ok(requested),
    }
}

/// RFC 7636 and RFC 9700 §2.1.1: S256 only; required for public clients, and for
/// confidential ones unless the application allows codes without PKCE.
fn pkce(params: &Params, app: &Application) -> Result<Option<CodeChallenge>, AuthorizeError> {
    let method = params.get("code_challenge_method");
    match params.get("code_challenge") {
        Some(challenge) => CodeChallenge::parse(challenge, method)
            .map(Some)
            .map_err(|e| AuthorizeError::invalid_request(e.to_string())),
        None if method.is_some() => Err(AuthorizeError::invalid_request(
            "code_challenge_method was sent without code_challenge",
        )),
        None if !app.app_type.is_confidential() => Err(AuthorizeError::invalid_request(
            "code_challenge is required: public clients must use PKCE with S256 (RFC 7636)",
        )),
        None if !app.allow_code_without_pkce => Err(AuthorizeError::invalid_request(
            "code_challenge is required: this client must use PKCE with S256 (RFC 7636)",
        )),
        None => Ok(None),
    }
}

fn prompt(params: &Params) -> Result<Prompt, AuthorizeError> {
    params
        .get("prompt")
        .map_or(Ok(Prompt::default()), Prompt::parse)
        .map_err(|e| AuthorizeError::invalid_request(e.to_string()))
}

/// OIDC Core §3.1.2.1: a non-negative number of seconds.
fn max_age(params: &Params) -> Result<Option<u64>, AuthorizeError> {
    params
        .get("max_age")
        .map(|raw| {
            let digits =
                !raw.is_empty() && raw.len() <= 12 && raw.bytes().all(|b| b.is_ascii_digit());
            digits
                .then(|| raw.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| {
                    AuthorizeError::invalid_request(
                        "max_age must be a non-negative number of seconds",
                    )
                })
        })
        .transpose()
}

type BoundedValues = (Option<String>, Option<String>, Option<String>);

fn bounded_values(params: &Params) -> Result<BoundedValues, AuthorizeError> {
    let value = |name: &str| match params.get(name) {
        Some(v) if v.len() > MAX_VALUE_LEN => Err(AuthorizeError::invalid_request(format!(
            "{name} must be at most {MAX_VALUE_LEN} bytes long"
        ))),
        v => Ok(v.map(str::to_owned)),
    };
    Ok((value("state")?, value("nonce")?, value("login_hint")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{ApplicationType, GrantTypes};
    use crate::display_name::DisplayName;
    use crate::environment::Environment;
    use crate::ids::{ApplicationId, TenantId};
    use crate::redirect_uri::RedirectUri;
    use crate::time::Timestamp;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const WEB_CB: &str = "https://rp.example/cb";
    const LOOPBACK: &str = "http://127.0.0.1/callback";

    fn app(app_type: ApplicationType) -> Application {
        Application {
            id: ApplicationId::new("app-1"),
            tenant_id: TenantId::new("t-1"),
            client_id: ClientId::parse("client-1").expect("valid"),
            display_name: DisplayName::parse("Test").expect("valid"),
            app_type,
            grant_types: app_type.default_grant_types(),
            scopes: ScopeSet::parse_list(&["profile", "email"]).expect("valid"),
            first_party: false,
            allowed_origins: vec![],
            allow_code_without_pkce: false,
            environments: EnvironmentSet::all(),
            id_token_signed_response_alg: Application::DEFAULT_ID_TOKEN_ALG,
            backchannel_logout_uri: None,
            native_sso: false,
            version: 1,
            created_at: Timestamp::from_unix_millis(0),
            updated_at: Timestamp::from_unix_millis(0),
        }
    }

    fn registered(uri: &str, env: Environment, purpose: RedirectPurpose) -> RegisteredRedirectUri {
        RegisteredRedirectUri {
            id: uri.to_owned(),
            application_id: ApplicationId::new("app-1"),
            uri: RedirectUri::from_stored(uri.to_owned(), env),
            purpose,
            created_at: Timestamp::from_unix_millis(0),
        }
    }

    fn uris() -> Vec<RegisteredRedirectUri> {
        vec![
            registered(WEB_CB, Environment::Production, RedirectPurpose::Callback),
            registered(
                "https://rp.example/cb?x=1",
                Environment::Production,
                RedirectPurpose::Callback,
            ),
            registered(LOOPBACK, Environment::Localhost, RedirectPurpose::Callback),
            registered(
                "https://rp.example/logged-out",
                Environment::Production,
                RedirectPurpose::PostLogout,
            ),
        ]
    }

    /// A valid request for a web client, with `changes` applied: `(name, None)` drops
    /// the parameter, `(name, Some(v))` sets it; a name listed twice is sent twice.
    fn query(changes: &[(&str, Option<&str>)]) -> Params {
        let mut pairs: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "client-1"),
            ("redirect_uri", WEB_CB),
            ("scope", "openid profile"),
            ("state", "st"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let mut seen = Vec::new();
        for (name, value) in changes {
            if !seen.contains(name) {
                pairs.retain(|(k, _)| k != name);
                seen.push(*name);
            }
            if let Some(v) = value {
                pairs.push(((*name).to_owned(), (*v).to_owned()));
            }
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Params::parse(&encoded)
    }

    fn run(
        app: &Application,
        tenant_envs: EnvironmentSet,
        changes: &[(&str, Option<&str>)],
    ) -> Result<AuthorizationRequest, Rejection> {
        let params = query(changes);
        client_id(&params)?;
        let uris = uris();
        validate(
            &params,
            Client {
                app,
                redirect_uris: &uris,
                tenant_environments: tenant_envs,
            },
        )
    }

    /// A table row: its name, the changes to a valid request, what must come of it.
    type Case<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>, Outcome);

    /// What a rejection looks like in the tables: `Page(code)` or `Redirect(code)`.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Accepted,
        Page(ErrorCode),
        Redirect(ErrorCode),
    }

    fn outcome(result: &Result<AuthorizationRequest, Rejection>) -> Outcome {
        match result {
            Ok(_) => Outcome::Accepted,
            Err(Rejection::Page(e)) => Outcome::Page(e.code),
            Err(Rejection::Redirect(_, e)) => Outcome::Redirect(e.code),
        }
    }

    #[test]
    fn the_client_and_its_redirect_uri_are_checked_before_anything_can_redirect() {
        use ErrorCode::*;
        use Outcome::*;
        let web = app(ApplicationType::Web);
        let all = EnvironmentSet::all();
        let cases: Vec<Case> = vec![
            ("valid", vec![], Accepted),
            (
                "no client_id",
                vec![("client_id", None)],
                Page(InvalidRequest),
            ),
            (
                "malformed client_id",
                vec![("client_id", Some("a b"))],
                Page(InvalidRequest),
            ),
            (
                "repeated client_id",
                vec![
                    ("client_id", Some("client-1")),
                    ("client_id", Some("client-1")),
                ],
                Page(InvalidRequest),
            ),
            (
                "no redirect_uri",
                vec![("redirect_uri", None)],
                Page(InvalidRequest),
            ),
            (
                "repeated redirect_uri",
                vec![
                    ("redirect_uri", Some(WEB_CB)),
                    ("redirect_uri", Some(WEB_CB)),
                ],
                Page(InvalidRequest),
            ),
            (
                "trailing slash",
                vec![("redirect_uri", Some("https://rp.example/cb/"))],
                Page(InvalidRequest),
            ),
            (
                "case",
                vec![("redirect_uri", Some("https://RP.example/cb"))],
                Page(InvalidRequest),
            ),
            (
                "default port",
                vec![("redirect_uri", Some("https://rp.example:443/cb"))],
                Page(InvalidRequest),
            ),
            (
                "extra query",
                vec![("redirect_uri", Some("https://rp.example/cb?x=2"))],
                Page(InvalidRequest),
            ),
            (
                "registered query",
                vec![("redirect_uri", Some("https://rp.example/cb?x=1"))],
                Accepted,
            ),
            (
                "fragment",
                vec![("redirect_uri", Some("https://rp.example/cb#f"))],
                Page(InvalidRequest),
            ),
            (
                "http",
                vec![("redirect_uri", Some("http://rp.example/cb"))],
                Page(InvalidRequest),
            ),
            (
                "suffix host",
                vec![("redirect_uri", Some("https://rp.example.evil.com/cb"))],
                Page(InvalidRequest),
            ),
            (
                "post-logout URI",
                vec![("redirect_uri", Some("https://rp.example/logged-out"))],
                Page(InvalidRequest),
            ),
            (
                "loopback any port",
                vec![("redirect_uri", Some("http://127.0.0.1:53124/callback"))],
                Accepted,
            ),
            (
                "loopback other path",
                vec![("redirect_uri", Some("http://127.0.0.1:53124/callback/x"))],
                Page(InvalidRequest),
            ),
            (
                "localhost name any port",
                vec![("redirect_uri", Some("http://localhost:53124/callback"))],
                Page(InvalidRequest),
            ),
            // Unregistered redirect URIs win over every other error.
            (
                "bad URI and token",
                vec![
                    ("redirect_uri", Some("https://evil.example/cb")),
                    ("response_type", Some("token")),
                ],
                Page(InvalidRequest),
            ),
            (
                "bad URI and plain",
                vec![
                    ("redirect_uri", Some("https://evil.example/cb")),
                    ("code_challenge_method", Some("plain")),
                ],
                Page(InvalidRequest),
            ),
            (
                "bad URI and scope",
                vec![
                    ("redirect_uri", Some("https://evil.example/cb")),
                    ("scope", Some("bogus")),
                ],
                Page(InvalidRequest),
            ),
        ];
        for (name, changes, expected) in cases {
            assert_eq!(outcome(&run(&web, all, &changes)), expected, "{name}");
        }
    }

    #[test]
    fn a_redirect_uri_in_a_switched_off_environment_does_not_match() {
        let mut native = app(ApplicationType::Native);
        let loopback = [("redirect_uri", Some("http://127.0.0.1:5000/callback"))];
        assert_eq!(
            outcome(&run(&native, EnvironmentSet::all(), &loopback)),
            Outcome::Accepted
        );

        let mut tenant_off = EnvironmentSet::all();
        tenant_off.set(Environment::Localhost, false);
        let refused = run(&native, tenant_off, &loopback);
        assert_eq!(outcome(&refused), Outcome::Page(ErrorCode::InvalidRequest));
        assert!(
            refused
                .expect_err("refused")
                .error()
                .description
                .contains("switched off")
        );

        native.environments.set(Environment::Localhost, false);
        assert_eq!(
            outcome(&run(&native, EnvironmentSet::all(), &loopback)),
            Outcome::Page(ErrorCode::InvalidRequest)
        );
        // The production URI of the same client still works.
        assert_eq!(
            outcome(&run(&native, EnvironmentSet::all(), &[])),
            Outcome::Accepted
        );
    }

    #[test]
    fn once_the_redirect_uri_is_trusted_errors_go_back_to_it_with_the_state() {
        use ErrorCode::*;
        use Outcome::*;
        let web = app(ApplicationType::Web);
        let all = EnvironmentSet::all();
        let padded = format!("{CHALLENGE}=");
        let long_state = "s".repeat(MAX_VALUE_LEN + 1);
        let cases: Vec<Case> = vec![
            (
                "no response_type",
                vec![("response_type", None)],
                Redirect(InvalidRequest),
            ),
            (
                "token",
                vec![("response_type", Some("token"))],
                Redirect(UnsupportedResponseType),
            ),
            (
                "code id_token",
                vec![("response_type", Some("code id_token"))],
                Redirect(UnsupportedResponseType),
            ),
            (
                "repeated state",
                vec![("state", Some("a")), ("state", Some("b"))],
                Redirect(InvalidRequest),
            ),
            (
                "repeated scope",
                vec![("scope", Some("openid")), ("scope", Some("openid"))],
                Redirect(InvalidRequest),
            ),
            (
                "request object",
                vec![("request", Some("eyJ.x.y"))],
                Redirect(RequestNotSupported),
            ),
            (
                "request_uri",
                vec![("request_uri", Some("https://rp.example/r"))],
                Redirect(RequestUriNotSupported),
            ),
            (
                "fragment mode",
                vec![("response_mode", Some("fragment"))],
                Redirect(InvalidRequest),
            ),
            (
                "query mode",
                vec![("response_mode", Some("query"))],
                Accepted,
            ),
            (
                "unknown parameter",
                vec![("extra", Some("foobar"))],
                Accepted,
            ),
            (
                "unknown scope",
                vec![("scope", Some("openid admin"))],
                Redirect(InvalidScope),
            ),
            (
                "malformed scope",
                vec![("scope", Some("openid a\"b"))],
                Redirect(InvalidScope),
            ),
            ("openid alone", vec![("scope", Some("openid"))], Accepted),
            (
                "scope order",
                vec![("scope", Some("email openid"))],
                Accepted,
            ),
            ("empty scope", vec![("scope", Some(""))], Accepted),
            (
                "no challenge",
                vec![("code_challenge", None), ("code_challenge_method", None)],
                Redirect(InvalidRequest),
            ),
            (
                "plain",
                vec![("code_challenge_method", Some("plain"))],
                Redirect(InvalidRequest),
            ),
            (
                "method missing",
                vec![("code_challenge_method", None)],
                Redirect(InvalidRequest),
            ),
            (
                "padded challenge",
                vec![("code_challenge", Some(&padded))],
                Redirect(InvalidRequest),
            ),
            (
                "short challenge",
                vec![("code_challenge", Some(&CHALLENGE[..42]))],
                Redirect(InvalidRequest),
            ),
            (
                "method alone",
                vec![("code_challenge", None)],
                Redirect(InvalidRequest),
            ),
            ("prompt none", vec![("prompt", Some("none"))], Accepted),
            (
                "prompt none login",
                vec![("prompt", Some("none login"))],
                Redirect(InvalidRequest),
            ),
            (
                "prompt bogus",
                vec![("prompt", Some("bogus"))],
                Redirect(InvalidRequest),
            ),
            ("max_age 0", vec![("max_age", Some("0"))], Accepted),
            (
                "max_age -1",
                vec![("max_age", Some("-1"))],
                Redirect(InvalidRequest),
            ),
            (
                "max_age abc",
                vec![("max_age", Some("abc"))],
                Redirect(InvalidRequest),
            ),
            ("no nonce", vec![("nonce", None)], Accepted),
            (
                "long state",
                vec![("state", Some(&long_state))],
                Redirect(InvalidRequest),
            ),
            (
                "display and locales",
                vec![
                    ("display", Some("popup")),
                    ("ui_locales", Some("se")),
                    ("acr_values", Some("x")),
                ],
                Accepted,
            ),
        ];
        for (name, changes, expected) in cases {
            let result = run(&web, all, &changes);
            assert_eq!(outcome(&result), expected, "{name}");
            if let Err(Rejection::Redirect(reply_to, _)) = &result {
                assert_eq!(reply_to.redirect_uri, WEB_CB, "{name}");
                let state_sent = !changes.iter().any(|(k, _)| *k == "state");
                if state_sent {
                    assert_eq!(reply_to.state.as_deref(), Some("st"), "{name}");
                }
            }
        }
    }

    #[test]
    fn pkce_is_required_by_client_type_unless_a_confidential_client_opts_out() {
        let no_pkce = [("code_challenge", None), ("code_challenge_method", None)];
        let all = EnvironmentSet::all();
        let mut native = app(ApplicationType::Native);
        native.allow_code_without_pkce = true; // cannot weaken a public client
        let mut spa = app(ApplicationType::Spa);
        spa.allow_code_without_pkce = true;
        let web = app(ApplicationType::Web);
        let mut legacy = app(ApplicationType::Web);
        legacy.allow_code_without_pkce = true;
        for (name, client, expected) in [
            (
                "native",
                &native,
                Outcome::Redirect(ErrorCode::InvalidRequest),
            ),
            ("spa", &spa, Outcome::Redirect(ErrorCode::InvalidRequest)),
            ("web", &web, Outcome::Redirect(ErrorCode::InvalidRequest)),
            ("web allowed without", &legacy, Outcome::Accepted),
        ] {
            assert_eq!(outcome(&run(client, all, &no_pkce)), expected, "{name}");
        }
        let with_plain = [("code_challenge_method", Some("plain"))];
        assert_eq!(
            outcome(&run(&legacy, all, &with_plain)),
            Outcome::Redirect(ErrorCode::InvalidRequest)
        );
        let accepted = run(&legacy, all, &no_pkce).expect("accepted");
        assert_eq!(accepted.code_challenge, None);
    }

    #[test]
    fn a_client_without_the_code_grant_is_unauthorized() {
        let mut web = app(ApplicationType::Web);
        web.grant_types = GrantTypes::from_stored("client_credentials");
        assert_eq!(
            outcome(&run(&web, EnvironmentSet::all(), &[])),
            Outcome::Redirect(ErrorCode::UnauthorizedClient)
        );
    }

    #[test]
    fn an_accepted_request_carries_every_checked_value() {
        let web = app(ApplicationType::Web);
        let request = run(
            &web,
            EnvironmentSet::all(),
            &[
                ("prompt", Some("login consent")),
                ("max_age", Some("300")),
                ("login_hint", Some("alice")),
                ("state", Some("a+b/c=&%")),
            ],
        )
        .expect("accepted");
        assert_eq!(request.client_id.as_str(), "client-1");
        assert_eq!(request.redirect_uri, WEB_CB);
        assert_eq!(request.scope.to_delimited(), "openid profile");
        assert!(request.is_openid());
        assert_eq!(request.state.as_deref(), Some("a+b/c=&%"));
        assert_eq!(request.nonce.as_deref(), Some("n-1"));
        assert_eq!(
            request.code_challenge.as_ref().map(CodeChallenge::as_str),
            Some(CHALLENGE)
        );
        assert!(request.prompt.login && request.prompt.consent && !request.prompt.none);
        assert_eq!(request.max_age, Some(300));
        assert_eq!(request.login_hint.as_deref(), Some("alice"));
    }
}
