//! Failed sign-ins throttled per username and per client address (design.md §6): the
//! locked form is a 429 with `Retry-After` and says how long to wait, the right password
//! waits too, unknown usernames are throttled like known ones, and time moves with the
//! test clock.

use std::time::Duration;

use keyhaven_core::throttle::{Admission, Counter, ThrottleKey};
use keyhaven_core::{Clock, TenantId};
use keyhaven_store::sign_in_throttle;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};

use crate::oidc_support::{
    Browser, Client, Form, PASSWORD, WEB, acme, authorize_url, client, param, redirect_params,
};

on_both_backends!(
    five_wrong_passwords_lock_the_username_and_the_right_one_waits_too,
    an_unknown_username_is_throttled_exactly_like_a_known_one,
    one_address_is_throttled_across_many_usernames_whatever_x_forwarded_for_says,
    a_successful_sign_in_forgets_the_usernames_failures,
    concurrent_failures_are_all_counted_and_no_more_than_the_limit_are_verified,
    a_success_hands_back_only_its_own_attempt_when_others_were_admitted_meanwhile,
);

const WRONG: &str = "not the password at all";

/// One answer of the sign-in form, as a browser sees it.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    html: String,
    response_headers: Vec<String>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
        let mut response_headers: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                *name != "date" && *name != "content-length" && *name != "x-request-id"
            })
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
            .collect();
        response_headers.sort();
        let html = response.text().await.expect("html");
        Answer {
            status,
            retry_after,
            html,
            response_headers,
        }
    }

    /// Refused with the locked form: 429, `Retry-After: seconds`, the wait in words, and
    /// the form again with its token, ready for when the wait is over.
    #[track_caller]
    fn assert_throttled(&self, seconds: u64) {
        assert_eq!(
            (self.status, self.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, Some(seconds)),
            "{}",
            self.html
        );
        assert!(
            self.html
                .contains("Too many failed sign-in attempts. Try again in"),
            "{}",
            self.html
        );
        assert!(
            self.html.contains(r#"name="csrf" value=""#),
            "{}",
            self.html
        );
        assert!(
            self.response_headers
                .iter()
                .any(|h| h == "x-frame-options: DENY")
                && self
                    .response_headers
                    .iter()
                    .any(|h| h == "cache-control: no-store"),
            "{:?}",
            self.response_headers
        );
    }

    #[track_caller]
    fn assert_wrong_credentials(&self) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.html);
        assert!(self.retry_after.is_none());
        assert!(
            self.html.contains("The username or password is incorrect."),
            "{}",
            self.html
        );
    }
}

/// A web client of `acme` and its authorization URL.
async fn web_client(app: &TestApp) -> (Client, String) {
    let web = client(app, "acme", WEB).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    (web, url)
}

/// A fresh browser's sign-in form.
async fn sign_in_form(web: &Client, url: &str) -> (Browser, Form) {
    let browser = Browser::new(&web.redirect_uri);
    let page = browser.open(url).await;
    assert_eq!(page.status(), StatusCode::OK, "the sign-in page");
    let form = Form::of(page).await;
    (browser, form)
}

/// Signs in from a fresh browser (from the one address every test client has).
async fn attempt(web: &Client, url: &str, username: &str, password: &str) -> Answer {
    let (browser, form) = sign_in_form(web, url).await;
    let response = browser
        .post(&form, &[("username", username), ("password", password)])
        .await;
    Answer::of(response).await
}

/// Signed in: redirected to the client with a code.
#[track_caller]
fn assert_signed_in(response: &reqwest::Response) {
    let params = redirect_params(response);
    assert!(param(&params, "code").is_some(), "{params:?}");
}

async fn five_wrong_passwords_lock_the_username_and_the_right_one_waits_too(backend: Backend) {
    let (app, _) = acme(backend).await;
    let (web, url) = web_client(&app).await;
    for _ in 0..4 {
        attempt(&web, &url, "alice", WRONG)
            .await
            .assert_wrong_credentials();
    }
    let fifth = attempt(&web, &url, "alice", WRONG).await;
    fifth.assert_throttled(30);
    assert!(
        fifth
            .html
            .contains("Too many failed sign-in attempts. Try again in 30 seconds."),
        "{}",
        fifth.html
    );
    assert!(
        fifth.html.contains(r#"value="alice""#),
        "the username stays filled in"
    );

    // Locked: the right password is refused too, and the wait counts down.
    attempt(&web, &url, "alice", PASSWORD)
        .await
        .assert_throttled(30);
    attempt(&web, &url, "ALICE", PASSWORD)
        .await
        .assert_throttled(30);
    app.clock.advance(Duration::from_secs(29));
    attempt(&web, &url, "alice", PASSWORD)
        .await
        .assert_throttled(1);

    // Once the wait has run, each further failure doubles it.
    app.clock.advance(Duration::from_secs(1));
    attempt(&web, &url, "alice", WRONG)
        .await
        .assert_throttled(60);
    app.clock.advance(Duration::from_secs(60));

    // And the right password works again.
    let (browser, form) = sign_in_form(&web, &url).await;
    let response = browser
        .post(&form, &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_signed_in(&response);
    app.stop().await;
}

async fn an_unknown_username_is_throttled_exactly_like_a_known_one(backend: Backend) {
    let (app, _) = acme(backend).await;
    let (web, url) = web_client(&app).await;
    let mut answers = Vec::new();
    for username in ["alice", "nobody"] {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(attempt(&web, &url, username, WRONG).await.status);
        }
        // The locked form, from a fresh browser, compared with its tokens blanked out.
        let (browser, form) = sign_in_form(&web, &url).await;
        let locked = Answer::of(
            browser
                .post(&form, &[("username", username), ("password", PASSWORD)])
                .await,
        )
        .await;
        locked.assert_throttled(30);
        let html = locked
            .html
            .replace(form.value("csrf"), "CSRF")
            .replace(form.value("request"), "REQUEST")
            .replace(&format!("value=\"{username}\""), "value=\"USER\"");
        answers.push((statuses, locked.response_headers, html));
    }
    assert_eq!(
        answers[0].0,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(answers[0], answers[1]);
    app.stop().await;
}

async fn one_address_is_throttled_across_many_usernames_whatever_x_forwarded_for_says(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let (web, url) = web_client(&app).await;
    // One failure each for 19 usernames: no username is near its limit, the address is.
    for i in 0..19 {
        attempt(&web, &url, &format!("user{i}"), WRONG)
            .await
            .assert_wrong_credentials();
    }
    attempt(&web, &url, "user19", WRONG)
        .await
        .assert_throttled(30);

    // Locked for every username, alice's right password included...
    attempt(&web, &url, "alice", PASSWORD)
        .await
        .assert_throttled(30);
    // ...and a forwarded-for header is no way out: only the TCP peer counts.
    let (browser, form) = sign_in_form(&web, &url).await;
    let spoofed = browser
        .http
        .post(&form.action)
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=203.0.113.7")
        .form(&[
            ("request", form.value("request")),
            ("csrf", form.value("csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    Answer::of(spoofed).await.assert_throttled(30);

    app.clock.advance(Duration::from_secs(30));
    let (browser, form) = sign_in_form(&web, &url).await;
    let response = browser
        .post(&form, &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_signed_in(&response);
    app.stop().await;
}

async fn a_successful_sign_in_forgets_the_usernames_failures(backend: Backend) {
    let (app, _) = acme(backend).await;
    let (web, url) = web_client(&app).await;
    for _ in 0..4 {
        attempt(&web, &url, "alice", WRONG)
            .await
            .assert_wrong_credentials();
    }
    let (browser, form) = sign_in_form(&web, &url).await;
    let response = browser
        .post(&form, &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_signed_in(&response);

    // Four more failures are four, not eight: the fifth is the one that locks.
    for _ in 0..4 {
        attempt(&web, &url, "alice", WRONG)
            .await
            .assert_wrong_credentials();
    }
    attempt(&web, &url, "alice", WRONG)
        .await
        .assert_throttled(30);
    app.stop().await;
}

async fn concurrent_failures_are_all_counted_and_no_more_than_the_limit_are_verified(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let (web, url) = web_client(&app).await;
    let (browser, form) = sign_in_form(&web, &url).await;
    // Twelve wrong passwords at once, from one form: attempts are counted when they are
    // admitted, before the password is checked, so exactly five are admitted (the fifth
    // locks) and seven are refused unverified.
    let posts = (0..12).map(|_| {
        let http = browser.http.clone();
        let action = form.action.clone();
        let body = vec![
            ("request", form.value("request").to_owned()),
            ("csrf", form.value("csrf").to_owned()),
            ("username", "alice".to_owned()),
            ("password", WRONG.to_owned()),
        ];
        tokio::spawn(async move {
            let response = http.post(&action).form(&body).send().await.expect("post");
            Answer::of(response).await
        })
    });
    let mut unauthorized = 0;
    let mut throttled = 0;
    for post in posts.collect::<Vec<_>>() {
        let answer = post.await.expect("task");
        match answer.status {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                answer.assert_throttled(30);
                throttled += 1;
            }
            other => panic!("unexpected {other}: {}", answer.html),
        }
    }
    assert_eq!((unauthorized, throttled), (4, 8));

    // The count is exact: the lock is the first one, and the next failure doubles it.
    app.clock.advance(Duration::from_secs(30));
    attempt(&web, &url, "alice", WRONG)
        .await
        .assert_throttled(60);
    app.stop().await;
}

/// The store's side of a success that raced other attempts on its address: the
/// compare-and-set of the success misses on the address (its counter moved), and the
/// counter is redone under its lock. Driven through the store, since over HTTP the
/// interleaving cannot be chosen.
async fn a_success_hands_back_only_its_own_attempt_when_others_were_admitted_meanwhile(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let store = keyhaven_store::Store::connect(&app.database.url)
        .await
        .expect("connect");
    let tenant = keyhaven_store::tenants::find_by_slug(
        &store,
        &keyhaven_core::Slug::parse("acme").expect("slug"),
    )
    .await
    .expect("query")
    .expect("tenant")
    .id;
    let address = ThrottleKey::address("203.0.113.7".parse().expect("ip"));
    let alice = [ThrottleKey::username("alice"), address.clone()];
    let bob = [ThrottleKey::username("bob"), address.clone()];
    let now = app.clock.now();
    let admit = |keys| admitted(&store, &tenant, keys, now);

    // Alone, a success forgets the username and gives the address its attempt back.
    let counted = admit(&alice).await;
    assert_eq!(counters(&app, &tenant, &alice).await, [Some(1), Some(1)]);
    sign_in_throttle::succeeded(&store, &tenant, &alice, &counted)
        .await
        .expect("succeeded");
    assert_eq!(counters(&app, &tenant, &alice).await, [None, Some(0)]);

    // Bob's attempt is admitted between Alice's admission and her success: the address
    // keeps Bob's, and Alice's username is forgotten all the same.
    let counted = admit(&alice).await;
    admit(&bob).await;
    assert_eq!(counters(&app, &tenant, &alice).await, [Some(1), Some(2)]);
    sign_in_throttle::succeeded(&store, &tenant, &alice, &counted)
        .await
        .expect("succeeded");
    assert_eq!(counters(&app, &tenant, &alice).await, [None, Some(1)]);
    assert_eq!(counters(&app, &tenant, &bob).await, [Some(1), Some(1)]);

    // A success after the username's counter moved (another attempt on it, admitted and
    // failed) still forgets it.
    let counted = admit(&alice).await;
    admit(&alice).await;
    sign_in_throttle::succeeded(&store, &tenant, &alice, &counted)
        .await
        .expect("succeeded");
    assert_eq!(counters(&app, &tenant, &alice).await, [None, Some(2)]);
    store.close().await;
    app.stop().await;
}

/// The counters an attempt admitted against `keys` wrote; it must not lock anything.
async fn admitted(
    store: &keyhaven_store::Store,
    tenant: &TenantId,
    keys: &[ThrottleKey],
    now: keyhaven_core::Timestamp,
) -> Vec<Counter> {
    match sign_in_throttle::admit(store, tenant, keys, now)
        .await
        .expect("admit")
    {
        Admission::Admitted { counters, lock } => {
            assert_eq!(lock, None);
            counters
        }
        Admission::Refused(wait) => panic!("refused: {wait:?}"),
    }
}

/// The stored failures of each key, `None` for a key without a row.
async fn counters(app: &TestApp, tenant: &TenantId, keys: &[ThrottleKey]) -> Vec<Option<i64>> {
    let db = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for key in keys {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT failures FROM sign_in_throttles WHERE tenant_id = $1 AND key_digest = $2"
                    }
                    _ => "SELECT failures FROM sign_in_throttles WHERE tenant_id = ? AND key_digest = ?",
                },
                [tenant.as_str().into(), key.digest().into()],
            ))
            .await
            .expect("query");
        found.push(row.map(|row| row.try_get::<i64>("", "failures").expect("failures")));
    }
    db.close().await.expect("close");
    found
}
