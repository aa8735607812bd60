//! Client secrets over the wire: RotateClientSecret, the grace period during which the
//! previous secret still works, and public applications that have no secret.

use std::time::Duration;

use keyhaven_core::{
    ApplicationId, ClientId, Clock, SecretDigest, SecretKind, Slug, TenantId, Timestamp,
};
use keyhaven_store::Store;
use keyhaven_tests::assert::{refused, violation};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use pb::ApplicationType::{Native, Service, Spa, Web};
use tonic::{Code, Response, Status};

on_both_backends!(
    a_rotated_secret_keeps_the_previous_one_live_for_the_default_grace_of_24_hours,
    a_custom_grace_sets_when_the_previous_secret_stops_working,
    a_second_rotation_ends_the_first_secret_at_once,
    a_grace_period_outside_0_to_30_days_is_refused,
    public_applications_have_no_secret_to_rotate,
);

// ---- helpers ---------------------------------------------------------------------------

pub(crate) async fn rotate(
    app: &TestApp,
    name: &str,
    grace: Option<prost_types::Duration>,
) -> Result<pb::RotateClientSecretResponse, Status> {
    app.applications(app.root())
        .rotate_client_secret(pb::RotateClientSecretRequest {
            name: name.to_owned(),
            previous_secret_grace: grace,
        })
        .await
        .map(Response::into_inner)
}

fn seconds(s: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: s,
        nanos: 0,
    }
}

fn wire_time(at: Timestamp) -> prost_types::Timestamp {
    let millis = at.unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).expect("fits"),
    }
}

/// The store's view of an application's secrets: the row ids the API does not expose.
pub(crate) struct Secrets {
    store: Store,
    tenant: TenantId,
    application: ApplicationId,
}

impl Secrets {
    pub(crate) async fn of(app: &TestApp, tenant: &str, client_id: &str) -> Secrets {
        let store = Store::connect(&app.database.url)
            .await
            .expect("store connects");
        let org = keyhaven_store::organizations::get_by_slug(
            &store,
            &Slug::parse("default").expect("slug"),
        )
        .await
        .expect("read")
        .expect("organization default exists");
        let tenant =
            keyhaven_store::tenants::get(&store, &org.id, &Slug::parse(tenant).expect("slug"))
                .await
                .expect("read")
                .expect("tenant exists");
        let application = keyhaven_store::applications::get(
            &store,
            &tenant.id,
            &ClientId::parse(client_id).expect("client id"),
        )
        .await
        .expect("read")
        .expect("application exists");
        Secrets {
            store,
            tenant: tenant.id,
            application: application.id,
        }
    }

    /// Hex digests of the secrets that authenticate the application now, sorted.
    pub(crate) async fn live(&self, app: &TestApp) -> Vec<String> {
        let mut live: Vec<String> = keyhaven_store::applications::live_secrets(
            &self.store,
            &self.tenant,
            &self.application,
            app.clock.now(),
        )
        .await
        .expect("read")
        .into_iter()
        .map(SecretDigest::to_hex)
        .collect();
        live.sort();
        live
    }

    pub(crate) async fn close(self) {
        self.store.close().await;
    }
}

/// Hex digests of client secrets as presented, sorted.
pub(crate) fn digests(secrets: &[&str]) -> Vec<String> {
    let mut hex: Vec<String> = secrets
        .iter()
        .map(|s| {
            SecretDigest::of_presented(SecretKind::ClientSecret, s)
                .expect("a well-formed client secret")
                .to_hex()
        })
        .collect();
    hex.sort();
    hex
}

// ---- client secrets --------------------------------------------------------------------

async fn a_rotated_secret_keeps_the_previous_one_live_for_the_default_grace_of_24_hours(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, first) = app.create_app("acme", Web).await;
    let secrets = Secrets::of(&app, "acme", &web.client_id).await;
    assert_eq!(secrets.live(&app).await, digests(&[&first]));

    let now = app.clock.now();
    let rotated = rotate(&app, &web.name, None).await.expect("rotated");
    let second = rotated.client_secret;
    assert!(second.starts_with("khs_"));
    assert_ne!(second, first);
    let grace = Duration::from_secs(24 * 3600);
    assert_eq!(
        rotated.expire_time,
        Some(wire_time(now.saturating_add(grace))),
        "the previous secret works for 24 hours"
    );
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&first, &second]),
        "both work during the grace period"
    );

    app.clock.advance(grace - Duration::from_secs(1));
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&first, &second]),
        "still both, a second before the end"
    );
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&second]),
        "after the grace period only the new one"
    );
    app.clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&second]),
        "the current secret does not expire"
    );
    secrets.close().await;
    app.stop().await;
}

async fn a_custom_grace_sets_when_the_previous_secret_stops_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (service, first) = app.create_app("acme", Service).await;
    let secrets = Secrets::of(&app, "acme", &service.client_id).await;
    let now = app.clock.now();
    let rotated = rotate(&app, &service.name, Some(seconds(3600)))
        .await
        .expect("rotated");
    assert_eq!(
        rotated.expire_time,
        Some(wire_time(now.saturating_add(Duration::from_secs(3600))))
    );
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&first, &rotated.client_secret])
    );
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(secrets.live(&app).await, digests(&[&rotated.client_secret]));

    let now = app.clock.now();
    let immediate = rotate(&app, &service.name, Some(seconds(0)))
        .await
        .expect("rotated");
    assert_eq!(
        immediate.expire_time,
        Some(wire_time(now)),
        "a grace of 0 ends the previous secret now"
    );
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&immediate.client_secret])
    );

    let now = app.clock.now();
    let longest = rotate(&app, &service.name, Some(seconds(30 * 24 * 3600)))
        .await
        .expect("30 days is allowed");
    assert_eq!(
        longest.expire_time,
        Some(wire_time(
            now.saturating_add(Duration::from_secs(30 * 24 * 3600))
        ))
    );
    secrets.close().await;
    app.stop().await;
}

async fn a_second_rotation_ends_the_first_secret_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, first) = app.create_app("acme", Web).await;
    let secrets = Secrets::of(&app, "acme", &web.client_id).await;
    let second = rotate(&app, &web.name, None)
        .await
        .expect("rotated")
        .client_secret;
    app.clock.advance(Duration::from_secs(60));
    let third = rotate(&app, &web.name, None)
        .await
        .expect("rotated")
        .client_secret;
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&second, &third]),
        "at most two secrets are live: the first ended at once"
    );
    let fourth = rotate(&app, &web.name, None)
        .await
        .expect("rotated")
        .client_secret;
    assert_eq!(secrets.live(&app).await, digests(&[&third, &fourth]));
    assert_eq!(
        [&first, &second, &third, &fourth]
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        4,
        "every secret is new"
    );
    secrets.close().await;
    app.stop().await;
}

async fn a_grace_period_outside_0_to_30_days_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, first) = app.create_app("acme", Web).await;
    let cases = [
        (seconds(30 * 24 * 3600 + 1), "must be between 0 and 30 days"),
        (seconds(365 * 24 * 3600), "must be between 0 and 30 days"),
        (seconds(-1), "must be between 0 and 30 days"),
        (
            prost_types::Duration {
                seconds: 60,
                nanos: 500,
            },
            "whole number of seconds",
        ),
    ];
    for (grace, rule) in cases {
        violation(
            rotate(&app, &web.name, Some(grace)).await,
            "previous_secret_grace",
            rule,
        );
    }
    let secrets = Secrets::of(&app, "acme", &web.client_id).await;
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&first]),
        "a refused rotation leaves the secret alone"
    );
    secrets.close().await;
    app.stop().await;
}

async fn public_applications_have_no_secret_to_rotate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    for app_type in [Spa, Native] {
        let (public, _) = app.create_app("acme", app_type).await;
        let status = refused(
            rotate(&app, &public.name, None).await,
            Code::FailedPrecondition,
        );
        assert!(
            status
                .message()
                .contains("public clients and have no client secret"),
            "{status:?}"
        );
        let secrets = Secrets::of(&app, "acme", &public.client_id).await;
        assert!(
            secrets.live(&app).await.is_empty(),
            "{app_type:?} has no secret at all"
        );
        secrets.close().await;
    }
    app.stop().await;
}
