//! The rules of RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): where a
//! logout may send the browser afterwards (§3), and when the user must confirm it (§2).
//!
//! Verifying the `id_token_hint` needs the tenant's keys and is the runtime's work
//! ([`crate::jose::Verifier`] checks signatures without expiry, so an expired hint
//! still identifies its session and client).

use std::fmt;

use crate::authorize::Client;
use crate::post_logout::{PostLogoutError, PostLogoutRedirect};
use crate::redirect_uri::RedirectPurpose;

/// Why a `post_logout_redirect_uri` is not one the browser may be sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostLogoutRefusal {
    /// No registered URI of the client is this exact string.
    NotRegistered,
    /// The URI is registered, but only as a callback of the authorization flow.
    CallbackOnly,
    /// The URI is registered for logout, but its environment is switched off.
    EnvironmentOff,
}

impl fmt::Display for PostLogoutRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRegistered => {
                "post_logout_redirect_uri is not a registered post-logout URI of this client (URIs are compared as exact strings)"
            }
            Self::CallbackOnly => {
                "post_logout_redirect_uri is registered as a sign-in callback of this client, not as a post-logout URI"
            }
            Self::EnvironmentOff => {
                "post_logout_redirect_uri is registered, but its environment is switched off for this application or tenant"
            }
        })
    }
}

/// RP-Initiated Logout §3 and design.md §4.1: `presented` must be exactly a registered,
/// enabled `post_logout` URI of the client ([`PostLogoutRedirect::resolve`], the rule the
/// sign-out API follows too). A callback URI given here instead is an easy mistake, and
/// the refusal says so.
pub fn post_logout_redirect_uri(
    presented: &str,
    client: Client<'_>,
) -> Result<PostLogoutRedirect, PostLogoutRefusal> {
    PostLogoutRedirect::resolve(
        client.app.environments,
        client.tenant_environments,
        client.redirect_uris,
        presented,
    )
    .map_err(|err| match err {
        PostLogoutError::Disabled => PostLogoutRefusal::EnvironmentOff,
        PostLogoutError::NotRegistered
            if client
                .redirect_uris
                .iter()
                .any(|r| r.purpose == RedirectPurpose::Callback && r.uri.matches(presented)) =>
        {
            PostLogoutRefusal::CallbackOnly
        }
        PostLogoutError::NotRegistered => PostLogoutRefusal::NotRegistered,
    })
}

/// What a logout request does once its parameters passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// End the hint's session now (it is the browser's, or the browser shows none).
    EndNow,
    /// Ask the user first (RP-Initiated Logout §2: "the OP MUST ask the End-User whether
    /// to log out"), with a form only this browser can post.
    Confirm,
}

/// RP-Initiated Logout §2. A valid hint is the relying party's proof that it is asking;
/// the browser's own session may only be ended without asking when the hint names it.
/// Without a hint the user confirms, even when the browser seems signed out: a
/// cross-site POST does not carry the `SameSite=Lax` session cookie, so "no session"
/// may only mean "no cookie on this request".
pub fn step(hint_sid: Option<&str>, browser_sid: Option<&str>) -> Step {
    match (hint_sid, browser_sid) {
        (Some(hint), Some(browser)) if hint == browser => Step::EndNow,
        (Some(_), None) => Step::EndNow,
        _ => Step::Confirm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{ApplicationType, ClientId};
    use crate::environment::{Environment, EnvironmentSet};
    use crate::model::{Application, RegisteredRedirectUri};
    use crate::redirect_uri::RedirectUri;
    use crate::{ApplicationId, DisplayName, ScopeSet, TenantId, Timestamp};

    const LOGGED_OUT: &str = "https://rp.example/logged-out";
    const CALLBACK: &str = "https://rp.example/cb";
    const STAGING: &str = "https://staging.rp.example/logged-out";

    fn registered(uri: &str, env: Environment, purpose: RedirectPurpose) -> RegisteredRedirectUri {
        RegisteredRedirectUri {
            id: uri.to_owned(),
            application_id: ApplicationId::new("app"),
            uri: RedirectUri::from_stored(uri.to_owned(), env),
            purpose,
            created_at: Timestamp::from_unix_millis(0),
        }
    }

    fn app(environments: EnvironmentSet) -> Application {
        Application {
            id: ApplicationId::new("app"),
            tenant_id: TenantId::new("t"),
            client_id: ClientId::parse("web").expect("client id"),
            display_name: DisplayName::parse("Web").expect("name"),
            app_type: ApplicationType::Web,
            grant_types: ApplicationType::Web.default_grant_types(),
            scopes: ScopeSet::default(),
            first_party: true,
            allowed_origins: Vec::new(),
            allow_code_without_pkce: false,
            environments,
            id_token_signed_response_alg: Application::DEFAULT_ID_TOKEN_ALG,
            backchannel_logout_uri: None,
            native_sso: false,
            version: 1,
            created_at: Timestamp::from_unix_millis(0),
            updated_at: Timestamp::from_unix_millis(0),
        }
    }

    #[test]
    fn only_an_enabled_post_logout_uri_of_the_client_is_accepted_and_refusals_say_why() {
        let uris = [
            registered(
                LOGGED_OUT,
                Environment::Production,
                RedirectPurpose::PostLogout,
            ),
            registered(CALLBACK, Environment::Production, RedirectPurpose::Callback),
            registered(STAGING, Environment::Staging, RedirectPurpose::PostLogout),
        ];
        let all = EnvironmentSet::all();
        let mut without_staging = all;
        without_staging.set(Environment::Staging, false);
        let application = app(all);
        let client = |tenant_environments| Client {
            app: &application,
            redirect_uris: &uris,
            tenant_environments,
        };
        let check = |uri: &str, envs| {
            post_logout_redirect_uri(uri, client(envs)).map(|r| r.as_str().to_owned())
        };

        assert_eq!(check(LOGGED_OUT, all), Ok(LOGGED_OUT.to_owned()));
        assert_eq!(check(STAGING, all), Ok(STAGING.to_owned()));
        assert_eq!(
            check(STAGING, without_staging),
            Err(PostLogoutRefusal::EnvironmentOff)
        );
        assert_eq!(check(CALLBACK, all), Err(PostLogoutRefusal::CallbackOnly));
        for unregistered in [
            "https://rp.example/logged-out?foo=bar",
            "https://rp.example/logged-out/",
            "https://RP.example/logged-out",
            "https://evil.example/logged-out",
            "",
        ] {
            assert_eq!(
                check(unregistered, all),
                Err(PostLogoutRefusal::NotRegistered),
                "{unregistered}"
            );
        }
        let staging_off_for_the_app = app(without_staging);
        let refused = post_logout_redirect_uri(
            STAGING,
            Client {
                app: &staging_off_for_the_app,
                redirect_uris: &uris,
                tenant_environments: all,
            },
        );
        assert_eq!(refused.err(), Some(PostLogoutRefusal::EnvironmentOff));
        assert!(
            PostLogoutRefusal::CallbackOnly
                .to_string()
                .contains("callback")
        );
    }

    #[test]
    fn the_browsers_session_ends_without_asking_only_when_the_hint_names_it() {
        assert_eq!(step(Some("s1"), Some("s1")), Step::EndNow);
        assert_eq!(step(Some("s1"), None), Step::EndNow, "idempotent");
        assert_eq!(step(Some("s1"), Some("s2")), Step::Confirm);
        assert_eq!(step(None, Some("s1")), Step::Confirm);
        assert_eq!(step(None, None), Step::Confirm);
    }
}
