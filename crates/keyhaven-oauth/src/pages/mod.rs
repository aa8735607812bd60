//! Server-rendered HTML pages (design.md §6): they work without JavaScript, carry a
//! CSRF token on every form, and are never framed, cached or referred from.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::error::PageError;

/// The policy of every page. `form-action` also governs where the browser may be
/// redirected after a form is posted (CSP Level 3), so a page whose form ends in a
/// redirect to the client adds that one origin; see [`harden`].
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// Puts the page headers on a response: the content security policy (with `form_target`
/// added to `form-action` when the page's form leads on to the client), no framing, no
/// caching, no referrer to other sites, no sniffing. Not `no-referrer`: under it a browser
/// sends `Origin: null` with a form post (Fetch, "append a request Origin header"), and
/// [`same_origin`] rightly refuses that, so nobody could sign in.
pub fn harden(response: &mut Response, form_target: Option<&str>) {
    let csp = match form_target {
        Some(target) => CONTENT_SECURITY_POLICY.replacen(
            "form-action 'self'",
            &format!("form-action 'self' {target}"),
            1,
        ),
        None => CONTENT_SECURITY_POLICY.to_owned(),
    };
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    } else {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The CSP source for where a redirect URI points: its origin, or for a private-use
/// scheme (`com.example.app:/cb`) the scheme.
pub fn form_target(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

pub fn render(template: &impl Template) -> Result<String, PageError> {
    template.render().map_err(PageError::server)
}

/// Whether a form post comes from this server's own pages: a cross-site `Origin` or
/// `Sec-Fetch-Site: cross-site` is login CSRF or worse, refused before anything else.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let expected = url::Url::parse(public_url)
        .map(|u| u.origin().ascii_serialization())
        .ok();
    let origin_ok = match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => true,
        Some(Ok(origin)) => expected.as_deref() == Some(origin),
        Some(Err(_)) => false,
    };
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| site != "cross-site");
    origin_ok && site_ok
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub tenant_name: &'a str,
    pub app_name: &'a str,
    pub action: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub tenant_name: &'a str,
    pub app_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<ScopeLine>,
    pub action: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
}

/// One line of the consent page: what a scope lets the application do.
pub struct ScopeLine {
    pub name: String,
    pub description: &'static str,
}

impl ScopeLine {
    pub fn describe(scope: &str) -> Self {
        let description = match scope {
            "openid" => "Know who you are when you sign in",
            "profile" => "See your name and username",
            "email" => "See your email address",
            "offline_access" => "Stay signed in while you are away",
            _ => "Use this permission:",
        };
        Self {
            name: scope.to_owned(),
            description,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let html = render(&LoginPage {
            tenant_name: "Acme <Corp>",
            app_name: "\"><script>alert(1)</script>",
            action: "/t/acme/login",
            request_id: "r",
            csrf: "c",
            username: "<img src=x onerror=alert(1)>",
            error: Some("The username or password is incorrect."),
        })
        .expect("renders");
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("Acme &#60;Corp&#62;") || html.contains("Acme &lt;Corp&gt;"),
            "{html}"
        );
        assert!(html.contains(r#"<label for="username">Username</label>"#));
        assert!(html.contains(r#"role="alert""#));
    }

    #[test]
    fn the_csp_adds_only_the_clients_origin_to_form_action() {
        assert_eq!(
            form_target("https://rp.example/cb?x=1").as_deref(),
            Some("https://rp.example")
        );
        assert_eq!(
            form_target("http://127.0.0.1:53124/cb").as_deref(),
            Some("http://127.0.0.1:53124")
        );
        assert_eq!(
            form_target("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        let mut response = Response::new(axum::body::Body::empty());
        harden(&mut response, Some("https://rp.example"));
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self' https://rp.example; frame-ancestors 'none'"
        );
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(response.headers()[header::REFERRER_POLICY], "same-origin");
    }

    #[test]
    fn cross_site_posts_are_told_apart_from_our_own() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        let base = "http://127.0.0.1:8080";
        assert!(same_origin(&headers(&[]), base));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            base
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.example")]),
            base
        ));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            base
        ));
        assert!(!same_origin(&headers(&[("origin", "null")]), base));
    }
}
