//! The authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2): a redirect to
//! the client's checked redirect URI, its own query kept, with `code` or `error` and
//! `error_description`, the `state` echoed, and `iss` always.

use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_core::authorize::{AuthorizeError, ReplyTo};

use crate::error::PageError;
use crate::pages;

pub fn code(reply_to: &ReplyTo, code: &str, issuer: &str) -> Result<Response, PageError> {
    redirect(reply_to, &[("code", code)], issuer)
}

pub fn error(
    reply_to: &ReplyTo,
    error: &AuthorizeError,
    issuer: &str,
) -> Result<Response, PageError> {
    tracing::info!(error = error.code.as_str(), reason = %error.description, "authorization refused");
    redirect(
        reply_to,
        &[
            ("error", error.code.as_str()),
            ("error_description", &error.description),
        ],
        issuer,
    )
}

fn redirect(
    reply_to: &ReplyTo,
    pairs: &[(&str, &str)],
    issuer: &str,
) -> Result<Response, PageError> {
    // The URI matched a registered one, which parsed when it was registered.
    let mut url = url::Url::parse(&reply_to.redirect_uri).map_err(PageError::server)?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = &reply_to.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    // 303: after a form post the browser must follow with GET (RFC 9700 §4.12).
    let mut response = Redirect::to(url.as_str()).into_response();
    pages::harden(&mut response, None);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use keyhaven_core::authorize::ErrorCode;

    use super::*;

    fn location(response: &Response) -> url::Url {
        let location = response.headers()["location"].to_str().expect("ascii");
        url::Url::parse(location).expect("absolute")
    }

    fn query(url: &url::Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn the_redirect_keeps_the_registered_query_and_echoes_state_and_iss() {
        let reply_to = ReplyTo {
            redirect_uri: "https://rp.example/cb?x=1".into(),
            state: Some("a+b/c=&%\u{e9}".into()),
        };
        let response = code(&reply_to, "the-code", "https://id.example/t/acme").expect("redirect");
        assert_eq!(response.status(), axum::http::StatusCode::SEE_OTHER);
        let url = location(&response);
        assert_eq!(
            (url.scheme(), url.host_str(), url.path()),
            ("https", Some("rp.example"), "/cb")
        );
        assert_eq!(
            query(&url),
            [
                ("x", "1"),
                ("code", "the-code"),
                ("state", "a+b/c=&%\u{e9}"),
                ("iss", "https://id.example/t/acme")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn an_error_has_no_code_and_no_state_when_none_was_sent() {
        let reply_to = ReplyTo {
            redirect_uri: "com.example.app:/cb".into(),
            state: None,
        };
        let err = AuthorizeError::new(ErrorCode::LoginRequired, "sign in first");
        let url =
            location(&error(&reply_to, &err, "http://127.0.0.1:8080/t/acme").expect("redirect"));
        assert_eq!(url.scheme(), "com.example.app");
        assert_eq!(
            query(&url),
            [
                ("error", "login_required"),
                ("error_description", "sign in first"),
                ("iss", "http://127.0.0.1:8080/t/acme")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
