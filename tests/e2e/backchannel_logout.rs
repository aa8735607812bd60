//! OpenID Connect Back-Channel Logout 1.0: when a session ends, each application that got
//! tokens in it and registered a `backchannel_logout_uri` is POSTed a signed logout token,
//! retried with back-off until it answers 200 or 204, from a queue that outlives a
//! restart and that several replicas share. The receiver is a socket the test answers by
//! hand on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, assert, on_both_backends};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::oidc_support::{Client, acme, claims_of, client, http, issuer};
use crate::refresh_tokens::{NATIVE, signed_in};

on_both_backends!(
    ending_a_session_posts_each_of_its_applications_a_signed_logout_token,
    a_failing_receiver_is_retried_after_each_back_off_until_it_answers,
    a_delivery_queued_before_a_restart_is_sent_after_it,
    with_two_replicas_each_logout_token_is_sent_once,
    the_uri_follows_the_redirect_uri_rules_and_discovery_advertises_the_feature,
);

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const ACTION: &str = "BackchannelLogout.Deliver";

/// Long enough for several polls of the delivery loop (every 250 ms).
const QUIET: Duration = Duration::from_millis(800);

// ---- the receiver -----------------------------------------------------------------------

/// What one POST to the receiver carried.
struct Received {
    request_line: String,
    content_type: String,
    logout_token: String,
}

/// An application's back-channel logout endpoint on a loopback port: answers the given
/// statuses in turn, then 200.
struct Receiver {
    uri: String,
    received: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    async fn answering(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let uri = format!(
            "http://127.0.0.1:{}/backchannel",
            listener.local_addr().expect("addr").port()
        );
        let (tx, received) = mpsc::unbounded_channel();
        let statuses = Arc::new(Mutex::new(statuses.to_vec()));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (tx, statuses) = (tx.clone(), statuses.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let status = {
                        let mut statuses = statuses.lock().expect("lock");
                        if statuses.is_empty() {
                            200
                        } else {
                            statuses.remove(0)
                        }
                    };
                    let _ = tx.send(request);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Receiver { uri, received }
    }

    /// The next POST, waiting at most a few seconds for it.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a logout token within 10 s")
            .expect("the receiver runs")
    }

    /// Nothing arrives for a while.
    async fn stays_quiet(&mut self) {
        if let Ok(Some(extra)) = tokio::time::timeout(QUIET, self.received.recv()).await {
            panic!(
                "unexpected delivery: {} {}",
                extra.request_line,
                claims_of(&extra.logout_token)
            );
        }
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            head.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
        };
        let length: usize = header("content-length")?.parse().ok()?;
        if body.len() < length {
            continue;
        }
        let logout_token = url_form(&body[..length], "logout_token")?;
        return Some(Received {
            request_line: head.lines().next()?.to_owned(),
            content_type: header("content-type").unwrap_or_default(),
            logout_token,
        });
    }
}

fn url_form(body: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// ---- arrange and act ----------------------------------------------------------------------

fn application_name(client: &Client) -> String {
    format!("tenants/acme/applications/{}", client.client_id)
}

async fn set_backchannel_logout_uri(
    app: &TestApp,
    client: &Client,
    uri: &str,
) -> Result<pb::Application, tonic::Status> {
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name: application_name(client),
                backchannel_logout_uri: uri.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["backchannel_logout_uri".into()],
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// A native client of `acme` whose back-channel logout URI is `uri`.
async fn client_told_at(app: &TestApp, uri: &str) -> Client {
    let client = client(app, "acme", NATIVE).await;
    set_backchannel_logout_uri(app, &client, uri)
        .await
        .expect("back-channel logout URI set");
    client
}

/// Disables the user, which ends every session of theirs.
async fn disable(app: &TestApp, user: &pb::User) {
    app.users(app.root())
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: user.name.clone(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("user disabled");
}

/// The outcomes of the deliveries in the audit log, oldest first.
async fn deliveries(app: &TestApp) -> Vec<(String, String)> {
    let events = app
        .audit(app.root())
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: "tenants/acme".into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("audit events")
        .into_inner()
        .audit_events;
    let mut outcomes: Vec<(String, String)> = events
        .into_iter()
        .filter(|e| e.action == ACTION)
        .map(|e| {
            assert_eq!(e.actor, "keyhaven:backchannel-logout");
            (e.target, e.outcome)
        })
        .collect();
    outcomes.reverse();
    outcomes
}

/// Waits until the audit log shows `count` deliveries: an attempt is recorded after its
/// POST was answered, and its retry is scheduled from the clock as it was then.
async fn wait_for_deliveries(app: &TestApp, count: usize) -> Vec<(String, String)> {
    for _ in 0..100 {
        let outcomes = deliveries(app).await;
        if outcomes.len() >= count {
            return outcomes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} audited deliveries, got {:?}",
        deliveries(app).await
    );
}

/// The claims of a logout token whose signature verifies against the tenant's JWKS, for
/// the audience `client_id`; asserts its header.
async fn verified(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("JWS header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(format!("{}/oauth2/jwks", issuer(app, "acme")))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("the signing key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer(app, "acme")]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    // The server's clock is the test's, which may be ahead of the real one.
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the signature verifies")
    .claims
}

// ---- the tests ----------------------------------------------------------------------------

async fn ending_a_session_posts_each_of_its_applications_a_signed_logout_token(backend: Backend) {
    let (app, alice) = acme(backend).await;
    let mut receiver = Receiver::answering(&[]).await;
    let told = client_told_at(&app, &receiver.uri).await;
    let untold = client(&app, "acme", NATIVE).await;
    let tokens = signed_in(&app, &told).await;
    signed_in(&app, &untold).await;
    let id_token = claims_of(tokens["id_token"].as_str().expect("id token"));

    disable(&app, &alice).await;

    let received = receiver.next().await;
    assert_eq!(received.request_line, "POST /backchannel HTTP/1.1");
    assert_eq!(received.content_type, "application/x-www-form-urlencoded");
    let claims = verified(&app, &received.logout_token, &told.client_id).await;
    assert_eq!(claims["iss"], issuer(&app, "acme"));
    assert_eq!(claims["aud"], told.client_id.as_str());
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_eq!(
        claims["sid"], id_token["sid"],
        "the sid of the session's ID tokens"
    );
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(120), "{claims}");
    assert!(claims.get("nonce").is_none(), "{claims}");

    // The application without a URI is told nothing, and the one with it only once.
    receiver.stays_quiet().await;
    assert_eq!(
        wait_for_deliveries(&app, 1).await,
        vec![(application_name(&told), "OK".to_owned())]
    );
    app.stop().await;
}

async fn a_failing_receiver_is_retried_after_each_back_off_until_it_answers(backend: Backend) {
    let (app, alice) = acme(backend).await;
    let mut receiver = Receiver::answering(&[500, 500]).await;
    let told = client_told_at(&app, &receiver.uri).await;
    signed_in(&app, &told).await;
    disable(&app, &alice).await;

    let first = receiver.next().await;
    wait_for_deliveries(&app, 1).await;
    // Not before its back-off of 1 s has passed.
    receiver.stays_quiet().await;
    app.clock.advance(Duration::from_secs(1));
    let second = receiver.next().await;
    wait_for_deliveries(&app, 2).await;
    // The back-off doubles: 1 s is not enough now.
    app.clock.advance(Duration::from_secs(1));
    receiver.stays_quiet().await;
    app.clock.advance(Duration::from_secs(1));
    let third = receiver.next().await;

    let name = application_name(&told);
    assert_eq!(
        wait_for_deliveries(&app, 3).await,
        vec![
            (name.clone(), "UNAVAILABLE".to_owned()),
            (name.clone(), "UNAVAILABLE".to_owned()),
            (name, "OK".to_owned()),
        ]
    );
    // Each attempt is a fresh token of the same logout.
    let claims: Vec<Value> = [&first, &second, &third]
        .iter()
        .map(|r| claims_of(&r.logout_token))
        .collect();
    assert_ne!(claims[0]["jti"], claims[1]["jti"]);
    assert_ne!(claims[1]["jti"], claims[2]["jti"]);
    assert!(claims.iter().all(|c| c["sid"] == claims[0]["sid"]));
    verified(&app, &third.logout_token, &told.client_id).await;
    receiver.stays_quiet().await;
    app.stop().await;
}

async fn a_delivery_queued_before_a_restart_is_sent_after_it(backend: Backend) {
    let (app, alice) = acme(backend).await;
    let mut receiver = Receiver::answering(&[503]).await;
    let told = client_told_at(&app, &receiver.uri).await;
    let tokens = signed_in(&app, &told).await;
    disable(&app, &alice).await;
    receiver.next().await;
    wait_for_deliveries(&app, 1).await;

    let (database, clock) = app.stop_keeping_data().await;
    let app = TestApp::start_on(database, clock, None).await;
    app.clock.advance(Duration::from_secs(1));

    let received = receiver.next().await;
    let claims = verified(&app, &received.logout_token, &told.client_id).await;
    let id_token = claims_of(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(claims["sid"], id_token["sid"]);
    assert_eq!(wait_for_deliveries(&app, 2).await[1].1, "OK");
    app.stop().await;
}

async fn with_two_replicas_each_logout_token_is_sent_once(backend: Backend) {
    let (app, alice) = acme(backend).await;
    let replica = app.start_replica().await;
    let mut receiver = Receiver::answering(&[]).await;
    let clients = [
        client_told_at(&app, &receiver.uri).await,
        client_told_at(&app, &receiver.uri).await,
        client_told_at(&app, &receiver.uri).await,
    ];
    for client in &clients {
        signed_in(&app, client).await;
    }
    disable(&app, &alice).await;

    let mut audiences = Vec::new();
    for _ in &clients {
        let received = receiver.next().await;
        audiences.push(claims_of(&received.logout_token)["aud"].clone());
    }
    receiver.stays_quiet().await;
    audiences.sort_by_key(|a| a.to_string());
    let mut expected: Vec<Value> = clients.iter().map(|c| c.client_id.clone().into()).collect();
    expected.sort_by_key(|a| a.to_string());
    assert_eq!(audiences, expected);
    assert_eq!(wait_for_deliveries(&app, 3).await.len(), 3);
    replica.running.stop().await;
    app.stop().await;
}

async fn the_uri_follows_the_redirect_uri_rules_and_discovery_advertises_the_feature(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let client = client(&app, "acme", NATIVE).await;
    let field = "application.backchannel_logout_uri";
    for (bad, rule) in [
        ("http://rp.example.com/logout", "http is allowed only"),
        ("https://rp.example.com/logout#x", "fragment"),
        ("https://user@rp.example.com/logout", "user information"),
        ("com.example.app:/logout", "scheme"),
        ("not a uri", "whitespace"),
    ] {
        assert::violation(
            set_backchannel_logout_uri(&app, &client, bad).await,
            field,
            rule,
        );
    }
    let created = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/acme".into(),
            application: Some(pb::Application {
                display_name: "Web".into(),
                r#type: pb::ApplicationType::Web as i32,
                backchannel_logout_uri: "http://10.0.0.8/logout".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert::violation(created, field, "http is allowed only");

    let set = set_backchannel_logout_uri(&app, &client, "https://rp.example.com/logout?x=1")
        .await
        .expect("a production URI");
    assert_eq!(
        set.backchannel_logout_uri,
        "https://rp.example.com/logout?x=1"
    );
    let cleared = set_backchannel_logout_uri(&app, &client, "")
        .await
        .expect("cleared");
    assert_eq!(cleared.backchannel_logout_uri, "");

    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer(&app, "acme")
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    app.stop().await;
}
