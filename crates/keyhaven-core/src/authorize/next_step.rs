//! What happens to a checked request: sign the user in, ask for consent, issue the code,
//! or refuse because `prompt=none` forbids the interaction that is needed
//! (OIDC Core §3.1.2.1 `prompt` and `max_age`, §3.1.2.6 errors).

use std::time::Duration;

use crate::time::Timestamp;

use super::error::{AuthorizeError, ErrorCode};
use super::request::AuthorizationRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    SignIn,
    Consent,
    IssueCode,
    /// Back to the client with this error.
    Refuse(AuthorizeError),
}

/// Where the interaction stands.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub request: &'a AuthorizationRequest,
    /// When the user of the browser's live session authenticated, if it has one.
    pub auth_time: Option<Timestamp>,
    /// The user authenticated during this very request: `prompt=login` and `max_age`
    /// are satisfied and must not send them round again.
    pub signed_in_now: bool,
    /// First-party applications need no consent unless `prompt=consent` asks for it.
    pub first_party: bool,
    /// The user allowed this request on the consent page.
    pub consented: bool,
    pub now: Timestamp,
}

pub fn next_step(s: Situation<'_>) -> Step {
    let prompt = s.request.prompt;
    let must_sign_in = match s.auth_time {
        None => true,
        Some(_) if s.signed_in_now => false,
        Some(auth_time) => {
            prompt.login || prompt.select_account || too_old(auth_time, s.request.max_age, s.now)
        }
    };
    if must_sign_in {
        return if prompt.none {
            Step::Refuse(AuthorizeError::new(
                ErrorCode::LoginRequired,
                "the user must sign in, which prompt=none does not allow",
            ))
        } else {
            Step::SignIn
        };
    }
    let must_consent = (!s.first_party || prompt.consent) && !s.consented;
    if must_consent {
        return if prompt.none {
            Step::Refuse(AuthorizeError::new(
                ErrorCode::ConsentRequired,
                "the user must consent, which prompt=none does not allow",
            ))
        } else {
            Step::Consent
        };
    }
    Step::IssueCode
}

/// OIDC Core §3.1.2.1: with `max_age`, a session authenticated longer ago must sign in
/// again (`max_age=0` always does).
fn too_old(auth_time: Timestamp, max_age: Option<u64>, now: Timestamp) -> bool {
    max_age.is_some_and(|seconds| {
        now > auth_time.saturating_add(Duration::from_secs(seconds)) || seconds == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::ClientId;
    use crate::authorize::request::Prompt;
    use crate::scope::ScopeSet;

    fn request(prompt: &str, max_age: Option<u64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: ClientId::parse("c").expect("valid"),
            redirect_uri: "https://rp.example/cb".into(),
            scope: ScopeSet::parse_delimited("openid").expect("valid"),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Prompt::parse(prompt).expect("valid"),
            max_age,
            login_hint: None,
        }
    }

    #[test]
    fn the_next_step_follows_session_prompt_max_age_and_consent() {
        const NOW: i64 = 1_000_000_000;
        let at = |seconds_ago: i64| Some(Timestamp::from_unix_millis(NOW - seconds_ago * 1000));
        let refuse = |code| Err(code);
        use ErrorCode::{ConsentRequired, LoginRequired};
        use Step::{Consent, IssueCode, SignIn};
        // (prompt, max_age, auth_time, signed in now, first party, consented) => step
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            (&str, Option<u64>, Option<Timestamp>, bool, bool, bool),
            Result<Step, ErrorCode>,
        )> = vec![
            (("", None, None, false, true, false), Ok(SignIn)),
            (
                ("none", None, None, false, true, false),
                refuse(LoginRequired),
            ),
            (("", None, at(5), false, true, false), Ok(IssueCode)),
            (("none", None, at(5), false, true, false), Ok(IssueCode)),
            (("login", None, at(5), false, true, false), Ok(SignIn)),
            (("login", None, at(0), true, true, false), Ok(IssueCode)),
            (
                ("select_account", None, at(5), false, true, false),
                Ok(SignIn),
            ),
            (("", Some(10), at(5), false, true, false), Ok(IssueCode)),
            (("", Some(10), at(11), false, true, false), Ok(SignIn)),
            (
                ("none", Some(10), at(11), false, true, false),
                refuse(LoginRequired),
            ),
            (("", Some(0), at(0), false, true, false), Ok(SignIn)),
            (("", Some(0), at(0), true, true, false), Ok(IssueCode)),
            (("", None, at(5), false, false, false), Ok(Consent)),
            (("", None, at(5), false, false, true), Ok(IssueCode)),
            (
                ("none", None, at(5), false, false, false),
                refuse(ConsentRequired),
            ),
            (("consent", None, at(5), false, true, false), Ok(Consent)),
            (("consent", None, at(5), false, true, true), Ok(IssueCode)),
            (("", None, None, false, false, false), Ok(SignIn)),
        ];
        for ((prompt, max_age, auth_time, signed_in_now, first_party, consented), expected) in cases
        {
            let request = request(prompt, max_age);
            let step = next_step(Situation {
                request: &request,
                auth_time,
                signed_in_now,
                first_party,
                consented,
                now: Timestamp::from_unix_millis(NOW),
            });
            let got = match step {
                Step::Refuse(e) => Err(e.code),
                other => Ok(other),
            };
            assert_eq!(
                got, expected,
                "prompt={prompt:?} max_age={max_age:?} auth_time={auth_time:?} now={signed_in_now} first_party={first_party} consented={consented}"
            );
        }
    }
}
