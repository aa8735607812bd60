//! Applications over the wire: types and the grant types and settings that fit them,
//! reading, updating and deleting, tenant boundaries, and retried creates.

use keyhaven_tests::assert::{refused, violation};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use pb::ApplicationType::{Native, Service, Spa, Web};
use pb::Environment::{Localhost, Production, Staging};
use pb::RedirectUriPurpose::Callback;
use tonic::{Code, Response, Status};

use crate::client_secrets::{Secrets, digests, rotate};
use crate::redirect_uris::{add_uri, list_uris, set_environment};

on_both_backends!(
    each_application_type_gets_its_secret_auth_method_and_default_grant_types,
    grant_types_that_fit_the_type_are_kept_as_given,
    grant_types_that_do_not_fit_the_type_are_refused_on_application_grant_types,
    settings_that_do_not_fit_the_type_are_refused_naming_the_field_and_the_rule,
    allowed_origins_are_kept_for_spa_and_pkce_can_be_relaxed_for_confidential_types,
    applications_read_back_as_created_and_list_one_page_at_a_time,
    update_changes_only_the_fields_named_in_the_mask,
    update_with_a_path_outside_the_updatable_fields_is_refused_on_that_path,
    a_stale_etag_aborts_update_and_delete_while_the_current_one_succeeds,
    a_deleted_application_is_not_found_by_any_call,
    an_application_of_another_tenant_is_not_found_under_this_tenant,
    a_retried_create_with_the_same_request_id_returns_the_first_application_without_its_secret,
);

// ---- helpers ---------------------------------------------------------------------------

fn application(app_type: pb::ApplicationType) -> pb::Application {
    pb::Application {
        display_name: "Test app".to_owned(),
        r#type: app_type as i32,
        ..Default::default()
    }
}

async fn create(
    app: &TestApp,
    tenant: &str,
    application: pb::Application,
) -> Result<pb::CreateApplicationResponse, Status> {
    app.applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: format!("tenants/{tenant}"),
            application: Some(application),
            ..Default::default()
        })
        .await
        .map(Response::into_inner)
}

pub(crate) async fn get(app: &TestApp, name: &str) -> Result<pb::Application, Status> {
    app.applications(app.root())
        .get_application(pb::GetApplicationRequest {
            name: name.to_owned(),
        })
        .await
        .map(Response::into_inner)
}

async fn update(
    app: &TestApp,
    application: pb::Application,
    paths: &[&str],
) -> Result<pb::Application, Status> {
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(application),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .await
        .map(Response::into_inner)
}

async fn delete(app: &TestApp, name: &str, etag: &str) -> Result<(), Status> {
    app.applications(app.root())
        .delete_application(pb::DeleteApplicationRequest {
            name: name.to_owned(),
            etag: etag.to_owned(),
        })
        .await
        .map(Response::into_inner)
}

/// Every application of a tenant, walking pages of `page_size`.
async fn list_all(app: &TestApp, tenant: &str, page_size: i32) -> Vec<pb::Application> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = app
            .applications(app.root())
            .list_applications(pb::ListApplicationsRequest {
                parent: format!("tenants/{tenant}"),
                page_size,
                page_token,
            })
            .await
            .expect("listed")
            .into_inner();
        assert!(
            page_size == 0 || page.applications.len() <= usize::try_from(page_size).unwrap_or(0),
            "a page holds at most page_size items"
        );
        all.extend(page.applications);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
    panic!("pagination did not end");
}

// ---- creating applications -------------------------------------------------------------

async fn each_application_type_gets_its_secret_auth_method_and_default_grant_types(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    #[rustfmt::skip]
    let cases = [
        (Web, true, "client_secret_basic", vec!["authorization_code", "refresh_token"]),
        (Spa, false, "none", vec!["authorization_code", "refresh_token"]),
        (Native, false, "none", vec!["authorization_code", "refresh_token"]),
        (Service, true, "client_secret_basic", vec!["client_credentials"]),
    ];
    for (app_type, confidential, auth_method, grants) in cases {
        let created = create(&app, "acme", application(app_type))
            .await
            .expect("created");
        let a = created.application.expect("application");
        if confidential {
            assert!(
                created.client_secret.starts_with("khs_"),
                "{app_type:?}: secret {:?}",
                created.client_secret
            );
            assert!(created.client_secret.len() > "khs_".len());
        } else {
            assert_eq!(
                created.client_secret, "",
                "{app_type:?} is public and has no secret"
            );
        }
        assert_eq!(a.r#type, app_type as i32);
        assert_eq!(a.token_endpoint_auth_method, auth_method, "{app_type:?}");
        assert_eq!(a.grant_types, grants, "{app_type:?}");
        assert!(!a.client_id.is_empty());
        assert_eq!(a.name, format!("tenants/acme/applications/{}", a.client_id));
        assert_eq!(a.display_name, "Test app");
        assert!(a.disabled_environments.is_empty());
        assert!(!a.etag.is_empty());
        assert!(a.create_time.is_some() && a.update_time.is_some());
    }
    app.stop().await;
}

async fn grant_types_that_fit_the_type_are_kept_as_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    #[rustfmt::skip]
    let cases: &[(pb::ApplicationType, &[&str])] = &[
        (Web, &["authorization_code", "client_credentials"]),
        (Web, &["client_credentials"]),
        (Spa, &["authorization_code"]),
        (Native, &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange", "refresh_token"]),
        (Service, &["client_credentials"]),
    ];
    for (app_type, grants) in cases {
        let requested = pb::Application {
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            ..application(*app_type)
        };
        let created = create(&app, "acme", requested)
            .await
            .expect("created")
            .application
            .expect("application");
        assert_eq!(created.grant_types, *grants, "{app_type:?}");
    }
    app.stop().await;
}

async fn grant_types_that_do_not_fit_the_type_are_refused_on_application_grant_types(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    #[rustfmt::skip]
    let cases: &[(pb::ApplicationType, &[&str], &str)] = &[
        (Service, &["authorization_code"], "service applications use client_credentials only"),
        (Service, &["client_credentials", "refresh_token"], "service applications use client_credentials only"),
        (Spa, &["client_credentials"], "a public client has no secret to authenticate with"),
        (Native, &["client_credentials"], "a public client has no secret to authenticate with"),
        (Web, &["password"], "unknown grant type \"password\""),
        (Web, &["implicit"], "unknown grant type \"implicit\""),
        (Web, &["refresh_token"], "refresh_token needs authorization_code"),
        (Web, &["authorization_code", "authorization_code"], "listed twice"),
    ];
    for (app_type, grants, rule) in cases {
        let requested = pb::Application {
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            ..application(*app_type)
        };
        violation(
            create(&app, "acme", requested).await,
            "application.grant_types",
            rule,
        );
    }
    assert!(
        list_all(&app, "acme", 0).await.is_empty(),
        "nothing refused was stored"
    );
    app.stop().await;
}

async fn settings_that_do_not_fit_the_type_are_refused_naming_the_field_and_the_rule(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let origins = || vec!["https://app.example.com".to_owned()];
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    #[rustfmt::skip]
    let cases: Vec<(&str, pb::Application, &str, &str)> = vec![
        ("allowed origins on web", pb::Application { allowed_origins: origins(), ..application(Web) }, "application.allowed_origins", "spa applications only"),
        ("allowed origins on native", pb::Application { allowed_origins: origins(), ..application(Native) }, "application.allowed_origins", "spa applications only"),
        ("allowed origins on service", pb::Application { allowed_origins: origins(), ..application(Service) }, "application.allowed_origins", "spa applications only"),
        ("an origin with a path", pb::Application { allowed_origins: strings(&["https://app.example.com/cb"]), ..application(Spa) }, "application.allowed_origins", "must be an origin"),
        ("an http origin", pb::Application { allowed_origins: strings(&["http://app.example.com"]), ..application(Spa) }, "application.allowed_origins", "must use https"),
        ("spa without PKCE", pb::Application { allow_code_without_pkce: true, ..application(Spa) }, "application.allow_code_without_pkce", "always require PKCE"),
        ("native without PKCE", pb::Application { allow_code_without_pkce: true, ..application(Native) }, "application.allow_code_without_pkce", "always require PKCE"),
        ("missing type", application(pb::ApplicationType::Unspecified), "application.type", "is required"),
        ("unknown type", pb::Application { r#type: 42, ..application(Web) }, "application.type", "unknown value 42"),
        ("duplicate scopes", pb::Application { scopes: strings(&["openid", "email", "openid"]), ..application(Web) }, "application.scopes", "\"openid\" is listed twice"),
        ("a scope with a space", pb::Application { scopes: strings(&["openid email"]), ..application(Web) }, "application.scopes", "RFC 6749 §3.3"),
        ("empty display name", pb::Application { display_name: String::new(), ..application(Web) }, "application.display_name", "must not be empty"),
    ];
    for (case, requested, field, rule) in cases {
        eprintln!("case: {case}");
        violation(create(&app, "acme", requested).await, field, rule);
    }
    assert!(
        list_all(&app, "acme", 0).await.is_empty(),
        "nothing refused was stored"
    );
    app.stop().await;
}

async fn allowed_origins_are_kept_for_spa_and_pkce_can_be_relaxed_for_confidential_types(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let origins = vec![
        "https://app.example.com".to_owned(),
        "http://localhost:5173".to_owned(),
    ];
    let spa = create(
        &app,
        "acme",
        pb::Application {
            allowed_origins: origins.clone(),
            ..application(Spa)
        },
    )
    .await
    .expect("created")
    .application
    .expect("application");
    assert_eq!(spa.allowed_origins, origins);
    assert!(!spa.allow_code_without_pkce);
    for app_type in [Web, Service] {
        let relaxed = create(
            &app,
            "acme",
            pb::Application {
                allow_code_without_pkce: true,
                ..application(app_type)
            },
        )
        .await
        .expect("created")
        .application
        .expect("application");
        assert!(relaxed.allow_code_without_pkce, "{app_type:?}");
    }
    app.stop().await;
}

// ---- reading, updating and deleting ----------------------------------------------------

async fn applications_read_back_as_created_and_list_one_page_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut created = Vec::new();
    for app_type in [Web, Spa, Native, Service] {
        let requested = pb::Application {
            display_name: format!("{app_type:?} app"),
            scopes: vec!["openid".to_owned(), "profile".to_owned()],
            first_party: app_type == Web,
            ..application(app_type)
        };
        created.push(
            create(&app, "acme", requested)
                .await
                .expect("created")
                .application
                .expect("application"),
        );
    }
    for a in &created {
        assert_eq!(&get(&app, &a.name).await.expect("found"), a);
        assert_eq!(a.scopes, ["openid", "profile"]);
    }

    let walked = list_all(&app, "acme", 1).await;
    let mut expected = created.clone();
    expected.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    assert_eq!(
        walked, expected,
        "page_size 1 walks every application once, in client_id order"
    );
    assert_eq!(
        list_all(&app, "acme", 0).await,
        expected,
        "the default page holds them all"
    );

    let first = app
        .applications(app.root())
        .list_applications(pb::ListApplicationsRequest {
            parent: "tenants/acme".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(first.applications.len(), 1);
    assert!(!first.next_page_token.is_empty());
    app.stop().await;
}

async fn update_changes_only_the_fields_named_in_the_mask(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let before = create(
        &app,
        "acme",
        pb::Application {
            scopes: vec!["openid".into()],
            ..application(Web)
        },
    )
    .await
    .expect("created")
    .application
    .expect("application");

    let change = pb::Application {
        name: before.name.clone(),
        display_name: "Renamed".into(),
        scopes: vec!["openid".into(), "email".into()],
        first_party: true,
        allow_code_without_pkce: true,
        // Outside the mask: ignored, although the value would be refused.
        grant_types: vec!["password".into()],
        allowed_origins: vec!["not an origin".into()],
        r#type: Spa as i32,
        ..Default::default()
    };
    let after = update(&app, change, &["display_name", "scopes"])
        .await
        .expect("updated");
    assert_eq!(after.display_name, "Renamed");
    assert_eq!(after.scopes, ["openid", "email"]);
    assert_ne!(after.etag, before.etag, "an update changes the etag");
    let unchanged = pb::Application {
        display_name: before.display_name.clone(),
        scopes: before.scopes.clone(),
        etag: before.etag.clone(),
        update_time: before.update_time,
        ..after.clone()
    };
    assert_eq!(
        unchanged, before,
        "fields outside the mask keep their values"
    );
    assert_eq!(get(&app, &before.name).await.expect("found"), after);

    let flags = pb::Application {
        name: before.name.clone(),
        first_party: true,
        disabled_environments: vec![Staging as i32],
        ..Default::default()
    };
    let after = update(&app, flags, &["first_party", "disabled_environments"])
        .await
        .expect("updated");
    assert!(after.first_party);
    assert_eq!(after.disabled_environments, [Staging as i32]);
    assert_eq!(
        after.display_name, "Renamed",
        "display_name is outside this mask"
    );

    let bad = pb::Application {
        name: before.name.clone(),
        grant_types: vec!["password".into()],
        ..Default::default()
    };
    violation(
        update(&app, bad, &["grant_types"]).await,
        "application.grant_types",
        "unknown grant type",
    );
    let spa = create(&app, "acme", application(Spa))
        .await
        .expect("created")
        .application
        .expect("application");
    let no_pkce = pb::Application {
        name: spa.name.clone(),
        allow_code_without_pkce: true,
        ..Default::default()
    };
    violation(
        update(&app, no_pkce, &["allow_code_without_pkce"]).await,
        "application.allow_code_without_pkce",
        "always require PKCE",
    );
    assert_eq!(
        get(&app, &before.name).await.expect("found"),
        after,
        "a refused update changes nothing"
    );
    app.stop().await;
}

async fn update_with_a_path_outside_the_updatable_fields_is_refused_on_that_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (before, _) = app.create_app("acme", Web).await;
    for path in [
        "type",
        "client_id",
        "name",
        "etag",
        "nonsense",
        "display_name.x",
        "",
    ] {
        let change = pb::Application {
            name: before.name.clone(),
            display_name: "Renamed".into(),
            ..Default::default()
        };
        violation(
            update(&app, change, &[path]).await,
            "update_mask.paths[0]",
            "cannot be updated; updatable fields: display_name",
        );
    }
    let change = pb::Application {
        name: before.name.clone(),
        display_name: "Renamed".into(),
        ..Default::default()
    };
    violation(
        update(&app, change.clone(), &["display_name", "type"]).await,
        "update_mask.paths[1]",
        "cannot be updated",
    );
    violation(
        update(&app, change.clone(), &[]).await,
        "update_mask.paths",
        "must name at least one of",
    );
    let no_mask = app
        .applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(change),
            update_mask: None,
        })
        .await;
    violation(no_mask, "update_mask", "is required");
    assert_eq!(get(&app, &before.name).await.expect("found"), before);
    app.stop().await;
}

async fn a_stale_etag_aborts_update_and_delete_while_the_current_one_succeeds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (first, _) = app.create_app("acme", Web).await;
    let rename = |etag: &str, to: &str| pb::Application {
        name: first.name.clone(),
        etag: etag.to_owned(),
        display_name: to.to_owned(),
        ..Default::default()
    };
    let second = update(&app, rename(&first.etag, "Second"), &["display_name"])
        .await
        .expect("the current etag works");
    assert_ne!(second.etag, first.etag);

    let status = refused(
        update(&app, rename(&first.etag, "Lost"), &["display_name"]).await,
        Code::Aborted,
    );
    assert!(status.message().contains("etag"), "{status:?}");
    assert_eq!(
        get(&app, &first.name).await.expect("found").display_name,
        "Second"
    );

    let third = update(&app, rename(&second.etag, "Third"), &["display_name"])
        .await
        .expect("the current etag works");
    assert_eq!(third.display_name, "Third");
    violation(
        update(&app, rename("garbage", "X"), &["display_name"]).await,
        "application.etag",
        "not an etag",
    );

    refused(delete(&app, &first.name, &second.etag).await, Code::Aborted);
    assert!(
        get(&app, &first.name).await.is_ok(),
        "a refused delete deletes nothing"
    );
    delete(&app, &first.name, &third.etag)
        .await
        .expect("deleted with the current etag");
    refused(get(&app, &first.name).await, Code::NotFound);
    app.stop().await;
}

async fn a_deleted_application_is_not_found_by_any_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (kept, _) = app.create_app("acme", Web).await;
    let (gone, _) = app.create_app("acme", Web).await;
    let uri = add_uri(
        &app,
        &gone.name,
        "https://app.example.com/cb",
        Callback,
        Production,
    )
    .await
    .expect("registered");
    delete(&app, &gone.name, "").await.expect("deleted");

    assert_eq!(
        list_all(&app, "acme", 0).await,
        vec![kept.clone()],
        "only the other application is listed"
    );
    let name = gone.name.as_str();
    let client = app.applications(app.root());
    let results: Vec<(&str, Result<(), Status>)> = vec![
        ("get", get(&app, name).await.map(drop)),
        (
            "update",
            update(
                &app,
                pb::Application {
                    name: name.into(),
                    display_name: "X".into(),
                    ..Default::default()
                },
                &["display_name"],
            )
            .await
            .map(drop),
        ),
        ("delete", delete(&app, name, "").await),
        (
            "create redirect uri",
            add_uri(
                &app,
                name,
                "https://app.example.com/other",
                Callback,
                Production,
            )
            .await
            .map(drop),
        ),
        (
            "list redirect uris",
            list_uris(&app, name, 0).await.map(drop),
        ),
        (
            "delete redirect uri",
            client
                .clone()
                .delete_redirect_uri(pb::DeleteRedirectUriRequest {
                    name: uri.name.clone(),
                })
                .await
                .map(drop),
        ),
        (
            "set environment",
            set_environment(&app, name, Localhost, false)
                .await
                .map(drop),
        ),
        ("rotate secret", rotate(&app, name, None).await.map(drop)),
    ];
    for (call, result) in results {
        let status = refused(result, Code::NotFound);
        assert!(status.message().contains(name), "{call}: {status:?}");
    }
    assert_eq!(get(&app, &kept.name).await.expect("found"), kept);
    app.stop().await;
}

async fn an_application_of_another_tenant_is_not_found_under_this_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (theirs, secret) = app.create_app("globex", Web).await;
    let uri = add_uri(
        &app,
        &theirs.name,
        "https://globex.example.com/cb",
        Callback,
        Production,
    )
    .await
    .expect("registered");
    let name = format!("tenants/acme/applications/{}", theirs.client_id);
    let uri_name = format!(
        "{name}/redirectUris/{}",
        uri.name.rsplit('/').next().expect("id")
    );

    let client = app.applications(app.root());
    let results: Vec<(&str, Result<(), Status>)> = vec![
        ("get", get(&app, &name).await.map(drop)),
        (
            "update",
            update(
                &app,
                pb::Application {
                    name: name.clone(),
                    display_name: "Hijacked".into(),
                    ..Default::default()
                },
                &["display_name"],
            )
            .await
            .map(drop),
        ),
        (
            "create redirect uri",
            add_uri(
                &app,
                &name,
                "https://evil.example.com/cb",
                Callback,
                Production,
            )
            .await
            .map(drop),
        ),
        (
            "list redirect uris",
            list_uris(&app, &name, 0).await.map(drop),
        ),
        (
            "delete redirect uri",
            client
                .clone()
                .delete_redirect_uri(pb::DeleteRedirectUriRequest { name: uri_name })
                .await
                .map(drop),
        ),
        (
            "set environment",
            set_environment(&app, &name, Production, false)
                .await
                .map(drop),
        ),
        ("rotate secret", rotate(&app, &name, None).await.map(drop)),
        ("delete", delete(&app, &name, "").await),
    ];
    for (call, result) in results {
        let status = refused(result, Code::NotFound);
        assert!(
            !status.message().contains("globex"),
            "{call} must not reveal the other tenant: {status:?}"
        );
    }
    assert!(
        list_all(&app, "acme", 0).await.is_empty(),
        "acme lists nothing of globex"
    );

    assert_eq!(
        get(&app, &theirs.name).await.expect("still there"),
        theirs,
        "globex's application is untouched"
    );
    assert_eq!(
        list_uris(&app, &theirs.name, 0).await.expect("listed"),
        vec![uri]
    );
    let secrets = Secrets::of(&app, "globex", &theirs.client_id).await;
    assert_eq!(
        secrets.live(&app).await,
        digests(&[&secret]),
        "its secret was not rotated"
    );
    secrets.close().await;
    app.stop().await;
}

async fn a_retried_create_with_the_same_request_id_returns_the_first_application_without_its_secret(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let request = pb::CreateApplicationRequest {
        parent: "tenants/acme".into(),
        application: Some(application(Web)),
        request_id: "3f6c2a4e-8d1b-4c7a-9e2f-5b0d1a7c9e31".into(),
    };
    let first = app
        .applications(app.root())
        .create_application(request.clone())
        .await
        .expect("created")
        .into_inner();
    let retry = app
        .applications(app.root())
        .create_application(request.clone())
        .await
        .expect("replayed")
        .into_inner();
    assert!(first.client_secret.starts_with("khs_"));
    assert_eq!(
        retry.client_secret, "",
        "the secret is shown once, to the first request"
    );
    assert_eq!(
        retry.application, first.application,
        "the retry returns the application created the first time"
    );
    assert_eq!(
        list_all(&app, "acme", 0).await.len(),
        1,
        "only one application exists"
    );

    let other = pb::CreateApplicationRequest {
        request_id: "another-request".into(),
        ..request
    };
    let second = app
        .applications(app.root())
        .create_application(other)
        .await
        .expect("created")
        .into_inner();
    assert_ne!(
        second.application.expect("application").client_id,
        first.application.expect("application").client_id
    );
    assert_eq!(list_all(&app, "acme", 0).await.len(), 2);
    app.stop().await;
}
