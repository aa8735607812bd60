//! Where a client may send the user after a logout (design.md §4.1 and §4.5): a
//! registered `post_logout` redirect URI of that client, in an environment switched on
//! for the tenant and the application, with the client's `state` appended (OpenID
//! Connect RP-Initiated Logout 1.0 §3).

use crate::environment::EnvironmentSet;
use crate::model::RegisteredRedirectUri;
use crate::redirect_uri::RedirectPurpose;

/// A presented URI that matched one of the client's enabled `post_logout` URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostLogoutRedirect(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostLogoutError {
    #[error(
        "redirect_uri is not a registered post_logout URI of this client (URIs are compared as exact strings)"
    )]
    NotRegistered,
    #[error(
        "redirect_uri is registered, but its environment is switched off for this application or tenant"
    )]
    Disabled,
}

impl PostLogoutRedirect {
    /// `presented` if it is one of `uris` (all of the client's, of every purpose) with
    /// purpose `post_logout`, in an environment switched on in both `app_environments`
    /// and `tenant_environments`. A callback URI is
    /// not a logout target: the client registered it for codes, not for this.
    pub fn resolve(
        app_environments: EnvironmentSet,
        tenant_environments: EnvironmentSet,
        uris: &[RegisteredRedirectUri],
        presented: &str,
    ) -> Result<Self, PostLogoutError> {
        let mut matching = uris
            .iter()
            .filter(|r| r.purpose == RedirectPurpose::PostLogout && r.uri.matches(presented));
        let enabled = |r: &&RegisteredRedirectUri| {
            let env = r.uri.environment();
            tenant_environments.contains(env) && app_environments.contains(env)
        };
        match matching.clone().find(enabled) {
            Some(_) => Ok(Self(presented.to_owned())),
            None if matching.next().is_some() => Err(PostLogoutError::Disabled),
            None => Err(PostLogoutError::NotRegistered),
        }
    }

    /// The URI to send the user to: with `state=<state>` (form-encoded) appended to its
    /// query when the client sent one.
    pub fn with_state(&self, state: Option<&str>) -> String {
        let Some(state) = state else {
            return self.0.clone();
        };
        let separator = if self.0.contains('?') { '&' } else { '?' };
        let encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
        format!("{}{separator}state={encoded}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApplicationId;
    use crate::environment::Environment;
    use crate::redirect_uri::RedirectUri;
    use crate::time::Timestamp;

    const BYE: &str = "https://app.example/bye";
    const CALLBACK: &str = "https://app.example/cb";

    fn registered(uri: &str, purpose: RedirectPurpose) -> RegisteredRedirectUri {
        RegisteredRedirectUri {
            id: uri.to_owned(),
            application_id: ApplicationId::new("app-1"),
            uri: RedirectUri::from_stored(uri.to_owned(), Environment::Production),
            purpose,
            created_at: Timestamp::from_unix_millis(0),
        }
    }

    fn resolve(
        app: EnvironmentSet,
        tenant: EnvironmentSet,
        presented: &str,
    ) -> Result<String, PostLogoutError> {
        let uris = [
            registered(BYE, RedirectPurpose::PostLogout),
            registered(CALLBACK, RedirectPurpose::Callback),
        ];
        PostLogoutRedirect::resolve(app, tenant, &uris, presented).map(|r| r.as_str().to_owned())
    }

    #[test]
    fn only_an_enabled_post_logout_uri_of_the_client_is_a_logout_target() {
        let mut app = EnvironmentSet::all();
        assert_eq!(resolve(app, EnvironmentSet::all(), BYE), Ok(BYE.to_owned()));
        assert_eq!(
            resolve(app, EnvironmentSet::all(), CALLBACK),
            Err(PostLogoutError::NotRegistered)
        );
        assert_eq!(
            resolve(app, EnvironmentSet::all(), "https://app.example/bye/"),
            Err(PostLogoutError::NotRegistered)
        );
        app.set(Environment::Production, false);
        assert_eq!(
            resolve(app, EnvironmentSet::all(), BYE),
            Err(PostLogoutError::Disabled)
        );
    }

    #[test]
    fn state_is_form_encoded_and_joins_an_existing_query() {
        let plain = PostLogoutRedirect(BYE.to_owned());
        assert_eq!(plain.with_state(None), BYE);
        assert_eq!(
            plain.with_state(Some("a b&c=d")),
            format!("{BYE}?state=a+b%26c%3Dd")
        );
        let with_query = PostLogoutRedirect(format!("{BYE}?lang=en"));
        assert_eq!(
            with_query.with_state(Some("xyz")),
            format!("{BYE}?lang=en&state=xyz")
        );
    }
}
