//! A parsed, checked authorization request: what the rest of the flow trusts.

use std::fmt;

use crate::application::ClientId;
use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;

use super::error::ReplyTo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    /// Exactly as sent; it matched a registered, enabled callback URI of the client.
    pub redirect_uri: String,
    /// Within the client's scopes (`openid` is always allowed).
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// Required for public clients and, by default, for confidential ones.
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    /// Seconds; the session must be younger or the user signs in again.
    pub max_age: Option<u64>,
    /// Prefills the username on the sign-in page; never trusted for anything else.
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    pub fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
        }
    }

    /// An OpenID Connect request: the code will also yield an ID token.
    pub fn is_openid(&self) -> bool {
        self.scope.contains("openid")
    }
}

/// The `prompt` parameter (OIDC Core §3.1.2.1): a set of `none`, `login`, `consent` and
/// `select_account`, where `none` stands alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("prompt value {0} is not one of none, login, consent and select_account")]
    Unknown(String),
    #[error("prompt=none must not be combined with other values")]
    NoneWithOthers,
}

impl Prompt {
    pub fn parse(raw: &str) -> Result<Self, PromptError> {
        let mut prompt = Self::default();
        for value in raw.split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                other => return Err(PromptError::Unknown(other.to_owned())),
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(PromptError::NoneWithOthers);
        }
        Ok(prompt)
    }

    /// The space-delimited form, as stored; empty for no prompt.
    pub fn to_delimited(self) -> String {
        let values = [
            (self.none, "none"),
            (self.login, "login"),
            (self.consent, "consent"),
            (self.select_account, "select_account"),
        ];
        values
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_delimited())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_values_parse_and_round_trip() {
        let cases: &[(&str, Result<&str, PromptError>)] = &[
            ("", Ok("")),
            ("none", Ok("none")),
            ("login consent", Ok("login consent")),
            ("consent  login", Ok("login consent")),
            ("select_account", Ok("select_account")),
            ("none login", Err(PromptError::NoneWithOthers)),
            ("bogus", Err(PromptError::Unknown("bogus".into()))),
        ];
        for (raw, expected) in cases {
            let parsed = Prompt::parse(raw);
            let expected = expected.clone().map(str::to_owned);
            assert_eq!(
                parsed.clone().map(Prompt::to_delimited),
                expected,
                "{raw:?}"
            );
            if let Ok(prompt) = parsed {
                assert_eq!(Prompt::parse(&prompt.to_delimited()), Ok(prompt));
            }
        }
    }
}
