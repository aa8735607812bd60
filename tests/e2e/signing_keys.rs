//! SigningKeyService over the wire: the keys every tenant is born with, their rotation,
//! how long retired keys stay published, and the private halves sealed at rest.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyhaven_core::jose::{PublicJwk, Signer, SigningAlgorithm, Verifier};
use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{KeyState, SigningKey};
use keyhaven_core::{Clock, TenantId};
use keyhaven_tests::assert::{refused, violation};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

on_both_backends!(
    a_new_tenant_has_an_active_and_a_next_key_of_each_algorithm_with_public_jwks_only,
    rotation_promotes_next_retires_active_for_the_longest_lifetime_and_publishes_a_new_next,
    a_retired_key_leaves_jwks_once_what_it_signed_has_expired,
    the_served_jwks_drops_a_retired_key_when_its_publication_ends_not_when_the_cache_would,
    concurrent_rotations_leave_one_active_and_one_next_key,
    private_keys_are_stored_sealed_to_their_tenant_and_kid,
    signing_keys_are_reached_only_with_their_permission_through_their_own_tenant,
    an_unknown_algorithm_or_parent_is_refused_naming_the_field,
    a_restart_on_the_same_data_dir_reuses_the_generated_key_encryption_key,
);

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn parent(slug: &str) -> String {
    format!("tenants/{slug}")
}

async fn list(app: &TestApp, slug: &str) -> Vec<pb::SigningKey> {
    app.signing_keys(app.root())
        .list_signing_keys(pb::ListSigningKeysRequest {
            parent: parent(slug),
        })
        .await
        .expect("listed")
        .into_inner()
        .signing_keys
}

async fn rotate(app: &TestApp, slug: &str, algorithm: &str) -> Vec<pb::SigningKey> {
    app.signing_keys(app.root())
        .rotate_signing_key(pb::RotateSigningKeyRequest {
            parent: parent(slug),
            algorithm: algorithm.into(),
        })
        .await
        .expect("rotated")
        .into_inner()
        .signing_keys
}

/// The one key of `algorithm` in `state`.
fn only<'a>(
    keys: &'a [pb::SigningKey],
    algorithm: &str,
    state: pb::SigningKeyState,
) -> &'a pb::SigningKey {
    let found: Vec<_> = keys
        .iter()
        .filter(|k| k.algorithm == algorithm && k.state() == state)
        .collect();
    assert_eq!(found.len(), 1, "{algorithm} {state:?} in {keys:#?}");
    found[0]
}

fn millis(ts: Option<prost_types::Timestamp>) -> Option<i64> {
    ts.map(|t| t.seconds * 1000 + i64::from(t.nanos / 1_000_000))
}

/// The key-encryption key the server generated into the test's data dir.
fn generated_kek(app: &TestApp) -> KeyEncryptionKey {
    let path = app.database.data_dir().join(keyhaven_server::kek::KEK_FILE);
    let raw = std::fs::read_to_string(&path).expect("the server wrote its key-encryption key");
    KeyEncryptionKey::parse_base64url(&raw).expect("a well-formed key")
}

async fn store(app: &TestApp) -> keyhaven_store::Store {
    keyhaven_store::Store::connect(&app.database.url)
        .await
        .expect("connect")
}

async fn tenant_id(app: &TestApp, slug: &str) -> TenantId {
    let store = store(app).await;
    let tenant = keyhaven_store::tenants::find_by_slug(
        &store,
        &keyhaven_core::Slug::parse(slug).expect("slug"),
    )
    .await
    .expect("query")
    .expect("tenant");
    store.close().await;
    tenant.id
}

async fn a_new_tenant_has_an_active_and_a_next_key_of_each_algorithm_with_public_jwks_only(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let keys = list(&app, "acme").await;
    assert_eq!(keys.len(), 6, "{keys:#?}");
    for alg in SigningAlgorithm::ALL {
        for state in [pb::SigningKeyState::Active, pb::SigningKeyState::Next] {
            let key = only(&keys, alg.as_str(), state);
            assert_eq!(key.name, format!("tenants/acme/signingKeys/{}", key.kid));
            assert_eq!(
                URL_SAFE_NO_PAD.decode(&key.kid).map(|b| b.len()),
                Ok(16),
                "kids are 128 random bits: {}",
                key.kid
            );
            assert!(key.create_time.is_some());
            assert_eq!(
                key.activate_time.is_some(),
                state == pb::SigningKeyState::Active
            );
            assert!(key.retire_time.is_none() && key.publish_until_time.is_none());

            let json: serde_json::Value =
                serde_json::from_str(&key.public_jwk).expect("the public JWK is JSON");
            for private in PRIVATE_MEMBERS {
                assert!(json.get(private).is_none(), "{alg} JWK holds {private}");
            }
            assert_eq!(json["use"], "sig");
            assert_eq!(json["alg"], alg.as_str());
            assert_eq!(json["kid"], key.kid.as_str());
            let jwk = PublicJwk::from_json(&json).expect("the public JWK parses");
            assert_eq!(jwk.alg, alg);
            Verifier::from_jwk(&jwk).expect("and makes a verifier");
        }
    }
    let kids: BTreeSet<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids.len(), 6, "every key has its own kid");

    app.create_tenant("globex").await;
    let globex = list(&app, "globex").await;
    assert_eq!(globex.len(), 6);
    assert!(
        globex.iter().all(|k| !kids.contains(k.kid.as_str())),
        "tenants share no keys"
    );
    app.stop().await;
}

async fn create_tenant_with_lifetimes(app: &TestApp, slug: &str, access: i64, id: i64) {
    app.tenants(app.root())
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant {
                slug: slug.into(),
                display_name: "Acme".into(),
                access_token_lifetime: Some(prost_types::Duration {
                    seconds: access,
                    nanos: 0,
                }),
                id_token_lifetime: Some(prost_types::Duration {
                    seconds: id,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("tenant created");
}

async fn rotation_promotes_next_retires_active_for_the_longest_lifetime_and_publishes_a_new_next(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    // The access token outlives the ID token here, so it bounds how long the retired key
    // must stay published.
    create_tenant_with_lifetimes(&app, "acme", 45 * 60, 20 * 60).await;
    let before = list(&app, "acme").await;
    let old_active = only(&before, "ES256", pb::SigningKeyState::Active).clone();
    let old_next = only(&before, "ES256", pb::SigningKeyState::Next).clone();
    app.clock.advance(Duration::from_secs(3600));
    let now = app.clock.now().unix_millis();

    let after = rotate(&app, "acme", "ES256").await;
    assert_eq!(
        after,
        list(&app, "acme").await,
        "rotation answers with the full list"
    );
    assert_eq!(after.len(), 7);
    let active = only(&after, "ES256", pb::SigningKeyState::Active);
    assert_eq!(active.kid, old_next.kid, "the next key signs now");
    assert_eq!(millis(active.activate_time), Some(now));
    let retired = only(&after, "ES256", pb::SigningKeyState::Retired);
    assert_eq!(retired.kid, old_active.kid);
    assert_eq!(millis(retired.retire_time), Some(now));
    assert_eq!(
        millis(retired.publish_until_time),
        Some(now + 45 * 60 * 1000),
        "published for the tenant's longest token lifetime"
    );
    assert_eq!(retired.public_jwk, old_active.public_jwk);
    let next = only(&after, "ES256", pb::SigningKeyState::Next);
    assert!(next.kid != old_active.kid && next.kid != old_next.kid);
    assert_eq!(millis(next.create_time), Some(now));
    assert!(next.activate_time.is_none());
    for other in ["RS256", "EdDSA"] {
        let untouched = |keys: &[pb::SigningKey]| {
            keys.iter()
                .filter(|k| k.algorithm == other)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            untouched(&after),
            untouched(&before),
            "{other} is untouched"
        );
    }

    let again = rotate(&app, "acme", "ES256").await;
    assert_eq!(
        only(&again, "ES256", pb::SigningKeyState::Active).kid,
        next.kid
    );
    let retired: BTreeSet<_> = again
        .iter()
        .filter(|k| k.state() == pb::SigningKeyState::Retired)
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(
        retired,
        BTreeSet::from([old_active.kid.as_str(), old_next.kid.as_str()])
    );

    let audit = app
        .audit(app.root())
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: parent("acme"),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .audit_events;
    let newest_next = only(&again, "ES256", pb::SigningKeyState::Next);
    assert_eq!(audit[0].action, "SigningKeyService.RotateSigningKey");
    assert_eq!(audit[0].outcome, "OK");
    assert_eq!(audit[0].target, newest_next.name);
    app.stop().await;
}

async fn a_retired_key_leaves_jwks_once_what_it_signed_has_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Defaults: access tokens live 10 minutes, ID tokens an hour.
    app.create_tenant("acme").await;
    let before = list(&app, "acme").await;
    let old_active = only(&before, "RS256", pb::SigningKeyState::Active)
        .kid
        .clone();
    let after = rotate(&app, "acme", "RS256").await;
    let new_next = only(&after, "RS256", pb::SigningKeyState::Next).kid.clone();
    let id = tenant_id(&app, "acme").await;
    let store = store(&app).await;
    let published =
        |keys: Vec<SigningKey>| -> BTreeSet<String> { keys.into_iter().map(|k| k.kid).collect() };

    let now = app.clock.now();
    let jwks = published(
        keyhaven_store::signing_keys::published(&store, &id, now)
            .await
            .expect("published"),
    );
    assert_eq!(
        jwks.len(),
        7,
        "both live keys of each algorithm and the retired one"
    );
    assert!(jwks.contains(&old_active) && jwks.contains(&new_next));

    app.clock
        .advance(Duration::from_secs(3600) - Duration::from_millis(1));
    let jwks = published(
        keyhaven_store::signing_keys::published(&store, &id, app.clock.now())
            .await
            .expect("published"),
    );
    assert!(
        jwks.contains(&old_active),
        "an ID token it signed may still be live"
    );

    app.clock.advance(Duration::from_millis(1));
    let jwks = published(
        keyhaven_store::signing_keys::published(&store, &id, app.clock.now())
            .await
            .expect("published"),
    );
    assert_eq!(jwks.len(), 6);
    assert!(
        !jwks.contains(&old_active),
        "everything it signed has expired"
    );

    let listed = list(&app, "acme").await;
    assert_eq!(listed.len(), 7, "the API still lists the retired key");
    let active: BTreeSet<_> = keyhaven_store::signing_keys::active(&store, &id)
        .await
        .expect("active")
        .into_iter()
        .map(|k| (k.algorithm, k.state))
        .collect();
    assert_eq!(
        active,
        SigningAlgorithm::ALL
            .into_iter()
            .map(|alg| (alg, KeyState::Active))
            .collect()
    );
    store.close().await;
    app.stop().await;
}

/// The kids the public runtime serves at the tenant's JWKS endpoint.
async fn served_kids(app: &TestApp, slug: &str) -> BTreeSet<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{}/t/{slug}/oauth2/jwks", app.public_url))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

async fn the_served_jwks_drops_a_retired_key_when_its_publication_ends_not_when_the_cache_would(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    // Tokens of a minute: the retired key is published for a minute, much less than the
    // public runtime keeps a tenant's entry (and its keys) cached.
    create_tenant_with_lifetimes(&app, "acme", 60, 60).await;
    let rotated = rotate(&app, "acme", "ES256").await;
    let retired = only(&rotated, "ES256", pb::SigningKeyState::Retired).clone();
    let until = millis(retired.publish_until_time).expect("publish_until");
    assert!(
        served_kids(&app, "acme").await.contains(&retired.kid),
        "served, and now cached, until its publication ends"
    );

    let now = app.clock.now().unix_millis();
    app.clock.advance(Duration::from_millis(
        u64::try_from(until - now - 1).expect("ahead"),
    ));
    assert!(served_kids(&app, "acme").await.contains(&retired.kid));

    app.clock.advance(Duration::from_millis(1));
    let served = served_kids(&app, "acme").await;
    assert!(!served.contains(&retired.kid), "{served:?}");
    assert_eq!(served.len(), 6, "the live keys stay: {served:?}");
    app.stop().await;
}

async fn concurrent_rotations_leave_one_active_and_one_next_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let rotations: Vec<_> = (0..4)
        .map(|_| {
            let mut client = app.signing_keys(app.root());
            tokio::spawn(async move {
                client
                    .rotate_signing_key(pb::RotateSigningKeyRequest {
                        parent: parent("acme"),
                        algorithm: "ES256".into(),
                    })
                    .await
            })
        })
        .collect();
    for rotation in rotations {
        rotation.await.expect("task").expect("every rotation lands");
    }
    let keys = list(&app, "acme").await;
    only(&keys, "ES256", pb::SigningKeyState::Active);
    only(&keys, "ES256", pb::SigningKeyState::Next);
    let retired = keys
        .iter()
        .filter(|k| k.state() == pb::SigningKeyState::Retired)
        .count();
    assert_eq!(
        retired, 4,
        "each rotation retired the key the one before it activated"
    );
    app.stop().await;
}

/// The sealed column of `kid`, as the database holds it.
async fn sealed_column(app: &TestApp, kid: &str) -> String {
    let db = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT sealed_private_key FROM signing_keys WHERE kid = {placeholder}"),
            [kid.into()],
        ))
        .await
        .expect("query")
        .expect("row");
    let sealed: String = row.try_get("", "sealed_private_key").expect("column");
    db.close().await.ok();
    sealed
}

async fn private_keys_are_stored_sealed_to_their_tenant_and_kid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let kek = generated_kek(&app);
    let acme = tenant_id(&app, "acme").await;
    let globex = tenant_id(&app, "globex").await;
    let other_kek = KeyEncryptionKey::from_bytes([7; 32]);

    for key in list(&app, "acme").await {
        let alg = SigningAlgorithm::parse(&key.algorithm).expect("known algorithm");
        let column = sealed_column(&app, &key.kid).await;
        let sealed = URL_SAFE_NO_PAD.decode(&column).expect("base64url text");
        let ad = keyhaven_store::signing_keys::associated_data(&acme, &key.kid);

        let pkcs8 = kek
            .open(&sealed, &ad)
            .expect("opens with the KEK and its own tenant");
        let signer = Signer::from_pkcs8(&key.kid, alg, &pkcs8).expect("a PKCS#8 key");
        let jwk = PublicJwk::from_json(&serde_json::from_str(&key.public_jwk).expect("json"))
            .expect("jwk");
        let token = signer
            .sign("JWT", &serde_json::json!({"sub": "alice"}))
            .expect("signs");
        Verifier::from_jwk(&jwk)
            .expect("verifier")
            .verify::<serde_json::Value>(&token)
            .expect("the private half belongs to the published public half");

        for encoded in [STANDARD.encode(&pkcs8), URL_SAFE_NO_PAD.encode(&pkcs8)] {
            assert!(!column.contains(&encoded[8..40]), "{alg}: stored in clear");
        }
        assert!(
            !sealed
                .windows(32)
                .any(|w| pkcs8.windows(32).any(|p| p == w)),
            "{alg}: no run of the private key survives sealing"
        );
        assert!(other_kek.open(&sealed, &ad).is_err(), "{alg}: another KEK");
        let elsewhere = keyhaven_store::signing_keys::associated_data(&globex, &key.kid);
        assert!(
            kek.open(&sealed, &elsewhere).is_err(),
            "{alg}: another tenant"
        );
        let renamed = keyhaven_store::signing_keys::associated_data(&acme, "another-kid");
        assert!(kek.open(&sealed, &renamed).is_err(), "{alg}: another kid");
    }
    app.stop().await;
}

async fn signing_keys_are_reached_only_with_their_permission_through_their_own_tenant(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let both = ["signing_keys.read", "signing_keys.write"];
    let (_, acme_token) = app.create_token("tenants/acme", &both, None).await;
    let (_, globex_token) = app.create_token("tenants/globex", &both, None).await;
    let (_, reader) = app
        .create_token("tenants/acme", &["signing_keys.read"], None)
        .await;
    let (_, unrelated) = app
        .create_token("tenants/acme", &["tenants.read", "users.write"], None)
        .await;
    let list_acme = || pb::ListSigningKeysRequest {
        parent: parent("acme"),
    };
    let rotate_acme = || pb::RotateSigningKeyRequest {
        parent: parent("acme"),
        algorithm: "EdDSA".into(),
    };

    let listed = app
        .signing_keys(Some(&acme_token))
        .list_signing_keys(list_acme())
        .await
        .expect("own tenant")
        .into_inner();
    assert_eq!(listed.signing_keys.len(), 6);
    app.signing_keys(Some(&reader))
        .list_signing_keys(list_acme())
        .await
        .expect("reader lists");
    for token in [&globex_token, &unrelated] {
        refused(
            app.signing_keys(Some(token))
                .list_signing_keys(list_acme())
                .await,
            Code::PermissionDenied,
        );
    }
    for token in [&globex_token, &reader, &unrelated] {
        refused(
            app.signing_keys(Some(token))
                .rotate_signing_key(rotate_acme())
                .await,
            Code::PermissionDenied,
        );
    }
    refused(
        app.signing_keys(None).list_signing_keys(list_acme()).await,
        Code::Unauthenticated,
    );
    refused(
        app.signing_keys(app.root())
            .list_signing_keys(pb::ListSigningKeysRequest {
                parent: parent("initech"),
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(
        list(&app, "acme").await,
        listed.signing_keys,
        "nothing rotated"
    );

    let rotated = app
        .signing_keys(Some(&acme_token))
        .rotate_signing_key(rotate_acme())
        .await
        .expect("own tenant, with signing_keys.write")
        .into_inner();
    assert_eq!(rotated.signing_keys.len(), 7);
    app.stop().await;
}

async fn an_unknown_algorithm_or_parent_is_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let before = list(&app, "acme").await;
    for bad in ["", "rs256", "HS256", "none", "PS256", "ES384", "EDDSA"] {
        violation(
            app.signing_keys(app.root())
                .rotate_signing_key(pb::RotateSigningKeyRequest {
                    parent: parent("acme"),
                    algorithm: bad.into(),
                })
                .await,
            "algorithm",
            "RS256, ES256, EdDSA",
        );
    }
    for bad in [
        "acme",
        "tenants/",
        "organizations/default",
        "tenants/acme/signingKeys",
    ] {
        violation(
            app.signing_keys(app.root())
                .rotate_signing_key(pb::RotateSigningKeyRequest {
                    parent: bad.into(),
                    algorithm: "RS256".into(),
                })
                .await,
            "parent",
            "tenants/{tenant}",
        );
        violation(
            app.signing_keys(app.root())
                .list_signing_keys(pb::ListSigningKeysRequest { parent: bad.into() })
                .await,
            "parent",
            "tenants/{tenant}",
        );
    }
    assert_eq!(list(&app, "acme").await, before, "nothing was written");
    app.stop().await;
}

async fn a_restart_on_the_same_data_dir_reuses_the_generated_key_encryption_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let kek = generated_kek(&app);
    let path = app.database.data_dir().join(keyhaven_server::kek::KEK_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the server's user reads it");
    }
    let before = list(&app, "acme").await;
    let (database, clock) = app.stop_keeping_data().await;

    let app = TestApp::start_on(database, clock, None).await;
    assert_eq!(
        generated_kek(&app).to_base64url(),
        kek.to_base64url(),
        "the key file is read, not regenerated"
    );
    assert_eq!(list(&app, "acme").await, before);
    rotate(&app, "acme", "RS256").await;
    app.create_tenant("globex").await;
    let store = store(&app).await;
    for slug in ["acme", "globex"] {
        let id = tenant_id(&app, slug).await;
        for key in keyhaven_store::signing_keys::list(&store, &id)
            .await
            .expect("keys")
        {
            key.signer(&kek)
                .unwrap_or_else(|e| panic!("{slug} {} {}: {e}", key.algorithm, key.state));
        }
    }
    store.close().await;
    app.stop().await;
}
