//! The audit log: every mutation, successful or not, newest first, scoped like everything
//! else, and free of secrets.

use std::time::Duration;

use keyhaven_core::Clock;
use keyhaven_tests::assert::code;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::{Code, Status};

on_both_backends!(
    every_successful_mutation_is_recorded_newest_first_with_actor_action_target_and_tenant,
    a_failed_mutation_is_recorded_with_the_code_it_failed_with,
    a_permission_denied_mutation_is_recorded_as_permission_denied,
    reads_are_not_audited_whether_they_succeed_or_fail,
    a_tenant_parent_lists_only_that_tenants_events_and_only_for_tokens_that_reach_it,
    page_size_walks_every_event_exactly_once,
    no_audit_event_carries_a_token_or_a_secret,
);

const ORG: &str = "organizations/default";

/// actor, action, target, outcome, tenant: what an event says, without its time.
type Row = [String; 5];

fn row(actor: &str, action: &str, target: &str, outcome: &str, tenant: &str) -> Row {
    [actor, action, target, outcome, tenant].map(str::to_owned)
}

fn rows(events: &[pb::AuditEvent]) -> Vec<Row> {
    events
        .iter()
        .map(|e| row(&e.actor, &e.action, &e.target, &e.outcome, &e.tenant))
        .collect()
}

async fn every_successful_mutation_is_recorded_newest_first_with_actor_action_target_and_tenant(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let root = root_name(&app).await;
    let acme = "tenants/acme";
    let mut expected = Vec::new();
    let tick = || app.clock.advance(Duration::from_secs(1));

    tick();
    app.create_tenant("acme").await;
    expected.push(row(&root, "TenantService.CreateTenant", acme, "OK", acme));

    tick();
    update_tenant(&app, app.root(), "acme", "")
        .await
        .expect("updated");
    expected.push(row(&root, "TenantService.UpdateTenant", acme, "OK", acme));

    tick();
    let (web, _) = app.create_app("acme", pb::ApplicationType::Web).await;
    expected.push(row(
        &root,
        "ApplicationService.CreateApplication",
        &web.name,
        "OK",
        acme,
    ));

    tick();
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name: web.name.clone(),
                display_name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("updated");
    expected.push(row(
        &root,
        "ApplicationService.UpdateApplication",
        &web.name,
        "OK",
        acme,
    ));

    tick();
    let uri = create_redirect_uri(&app, &web.name, "https://app.example.com/callback")
        .await
        .expect("created");
    expected.push(row(
        &root,
        "ApplicationService.CreateRedirectUri",
        &uri.name,
        "OK",
        acme,
    ));

    tick();
    app.applications(app.root())
        .set_environment_enabled(pb::SetEnvironmentEnabledRequest {
            name: web.name.clone(),
            environment: pb::Environment::Staging as i32,
            enabled: false,
        })
        .await
        .expect("switched off");
    expected.push(row(
        &root,
        "ApplicationService.SetEnvironmentEnabled",
        &web.name,
        "OK",
        acme,
    ));

    tick();
    rotate(&app, app.root(), &web.name).await.expect("rotated");
    expected.push(row(
        &root,
        "ApplicationService.RotateClientSecret",
        &web.name,
        "OK",
        acme,
    ));

    tick();
    let (service, service_token) = app.create_token(acme, &["applications.write"], None).await;
    let create_token = "ManagementTokenService.CreateManagementToken";
    expected.push(row(&root, create_token, &service.name, "OK", acme));

    tick();
    let spa = app
        .applications(Some(&service_token))
        .create_application(pb::CreateApplicationRequest {
            parent: acme.into(),
            application: Some(pb::Application {
                display_name: "Created by a service token".into(),
                r#type: pb::ApplicationType::Spa as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
        .application
        .expect("application");
    expected.push(row(
        &service.name,
        "ApplicationService.CreateApplication",
        &spa.name,
        "OK",
        acme,
    ));

    tick();
    let revoke_token = "ManagementTokenService.RevokeManagementToken";
    revoke(&app, &service.name).await;
    expected.push(row(&root, revoke_token, &service.name, "OK", acme));

    tick();
    let (org_token, _) = app.create_token(ORG, &["tenants.read"], None).await;
    expected.push(row(&root, create_token, &org_token.name, "OK", ""));

    tick();
    revoke(&app, &org_token.name).await;
    expected.push(row(&root, revoke_token, &org_token.name, "OK", ""));

    tick();
    app.applications(app.root())
        .delete_redirect_uri(pb::DeleteRedirectUriRequest {
            name: uri.name.clone(),
        })
        .await
        .expect("deleted");
    expected.push(row(
        &root,
        "ApplicationService.DeleteRedirectUri",
        &uri.name,
        "OK",
        acme,
    ));

    tick();
    app.applications(app.root())
        .delete_application(pb::DeleteApplicationRequest {
            name: spa.name.clone(),
            ..Default::default()
        })
        .await
        .expect("deleted");
    expected.push(row(
        &root,
        "ApplicationService.DeleteApplication",
        &spa.name,
        "OK",
        acme,
    ));

    tick();
    delete_tenant(&app, "acme").await;
    expected.push(row(&root, "TenantService.DeleteTenant", acme, "OK", acme));

    let events = list(&app, app.root(), ORG, 1000).await.expect("listed");
    expected.reverse();
    assert_eq!(rows(&events), expected, "the whole log, newest first");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e.create_time.expect("create_time").seconds)
        .collect();
    assert_eq!(times.first().copied(), Some(app.clock.now().unix_seconds()));
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "newest first: {times:?}"
    );
    app.stop().await;
}

async fn a_failed_mutation_is_recorded_with_the_code_it_failed_with(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = root_name(&app).await;
    let acme = "tenants/acme";
    app.create_tenant("acme").await;
    let (web, _) = app.create_app("acme", pb::ApplicationType::Web).await;
    let missing_app = format!("{acme}/applications/doesnotexist");
    let before = list(&app, app.root(), ORG, 1000).await.expect("listed");

    let cases: Vec<(Result<(), Status>, Row)> = vec![
        (
            // An unparsable name is not echoed into the log.
            create_tenant(&app, app.root(), "Not A Slug").await,
            row(
                &root,
                "TenantService.CreateTenant",
                "",
                "INVALID_ARGUMENT",
                "",
            ),
        ),
        (
            create_tenant(&app, app.root(), "acme").await,
            row(
                &root,
                "TenantService.CreateTenant",
                acme,
                "ALREADY_EXISTS",
                "",
            ),
        ),
        (
            update_tenant(&app, app.root(), "acme", "\"999\"").await,
            row(&root, "TenantService.UpdateTenant", acme, "ABORTED", acme),
        ),
        (
            create_redirect_uri(&app, &web.name, "http://app.example.com/callback")
                .await
                .map(drop),
            row(
                &root,
                "ApplicationService.CreateRedirectUri",
                &web.name,
                "INVALID_ARGUMENT",
                acme,
            ),
        ),
        (
            rotate(&app, app.root(), &missing_app).await,
            row(
                &root,
                "ApplicationService.RotateClientSecret",
                &missing_app,
                "NOT_FOUND",
                acme,
            ),
        ),
    ];
    let mut expected = Vec::new();
    for (result, row) in cases {
        let code = result.err().map(|s| s.code());
        assert_eq!(Some(row[3].as_str()), code.map(code_name), "{row:?}");
        expected.push(row);
    }
    expected.reverse();
    let events = list(&app, app.root(), ORG, 1000).await.expect("listed");
    assert_eq!(rows(&events[..events.len() - before.len()]), expected);
    app.stop().await;
}

async fn a_permission_denied_mutation_is_recorded_as_permission_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = "tenants/acme";
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (globex_app, _) = app.create_app("globex", pb::ApplicationType::Web).await;
    let (reader, reader_token) = app
        .create_token(acme, &["applications.read", "audit.read"], None)
        .await;
    let (writer, writer_token) = app
        .create_token(
            acme,
            &["applications.write", "management_tokens.write"],
            None,
        )
        .await;
    let before = list(&app, app.root(), ORG, 1000).await.expect("listed");

    // Refused for a permission the token lacks.
    let lacking = create_app(&app, Some(&reader_token), acme).await;
    // Refused for the token's scope: another tenant, then the organization.
    let other_tenant = rotate(&app, Some(&writer_token), &globex_app.name).await;
    let organization = app
        .tokens(Some(&writer_token))
        .create_management_token(pb::CreateManagementTokenRequest {
            parent: ORG.into(),
            management_token: Some(pb::ManagementToken {
                display_name: "escalation".into(),
                permissions: vec!["applications.write".into()],
                ..Default::default()
            }),
        })
        .await
        .map(drop);
    for result in [&lacking, &other_tenant, &organization] {
        assert_eq!(
            result.as_ref().err().map(Status::code),
            Some(Code::PermissionDenied)
        );
    }

    let events = list(&app, app.root(), ORG, 1000).await.expect("listed");
    let new = rows(&events[..events.len() - before.len()]);
    let denied = "PERMISSION_DENIED";
    // The auth layer refuses before the request is read, so it cannot name a target.
    let [actor, action, _, outcome, tenant] = &new[2];
    assert_eq!(
        [actor, action, outcome, tenant].map(String::as_str),
        [
            reader.name.as_str(),
            "ApplicationService.CreateApplication",
            denied,
            acme
        ]
    );
    assert_eq!(
        new[..2],
        [
            row(
                &writer.name,
                "ManagementTokenService.CreateManagementToken",
                ORG,
                denied,
                acme
            ),
            row(
                &writer.name,
                "ApplicationService.RotateClientSecret",
                &globex_app.name,
                denied,
                acme
            ),
        ]
    );
    app.stop().await;
}

async fn reads_are_not_audited_whether_they_succeed_or_fail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (web, _) = app.create_app("acme", pb::ApplicationType::Web).await;
    let (_, globex) = app.create_token("tenants/globex", &["*"], None).await;
    let (_, tenants_only) = app.create_token(ORG, &["tenants.read"], None).await;
    let before = list(&app, app.root(), ORG, 1000).await.expect("listed");

    let root = app.root();
    let reads: Vec<(&str, Result<(), Status>, Code)> = vec![
        ("GetTenant", get_tenant(&app, root, "acme").await, Code::Ok),
        ("ListTenants", list_tenants(&app, root).await, Code::Ok),
        (
            "GetApplication",
            get_app(&app, root, &web.name).await,
            Code::Ok,
        ),
        (
            "ListApplications",
            list_apps(&app, root, "tenants/acme").await,
            Code::Ok,
        ),
        (
            "ListManagementTokens",
            list_tokens(&app, root, ORG).await,
            Code::Ok,
        ),
        (
            "ListAuditEvents",
            list(&app, root, ORG, 5).await.map(drop),
            Code::Ok,
        ),
        (
            "GetOrganization",
            get_organization(&app, root).await,
            Code::Ok,
        ),
        (
            "GetTenant",
            get_tenant(&app, root, "doesnotexist").await,
            Code::NotFound,
        ),
        (
            "GetApplication",
            get_app(&app, Some(&globex), &web.name).await,
            Code::PermissionDenied,
        ),
        (
            "ListApplications",
            list_apps(&app, Some(&tenants_only), "tenants/acme").await,
            Code::PermissionDenied,
        ),
        (
            "ListTenants",
            list_tenants(&app, Some("not-a-token")).await,
            Code::Unauthenticated,
        ),
    ];
    for (what, result, expected) in &reads {
        let got = code(result);
        assert_eq!(got, *expected, "{what}");
    }

    let after = list(&app, app.root(), ORG, 1000).await.expect("listed");
    let added = rows(&after[..after.len() - before.len()]);
    assert!(added.is_empty(), "reads were audited: {added:?}");
    app.stop().await;
}

async fn a_tenant_parent_lists_only_that_tenants_events_and_only_for_tokens_that_reach_it(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    for slug in ["acme", "globex"] {
        app.create_tenant(slug).await;
        app.create_app(slug, pb::ApplicationType::Web).await;
        update_tenant(&app, app.root(), slug, "")
            .await
            .expect("updated");
    }
    app.create_token(ORG, &["tenants.read"], None).await;
    let (_, acme_token) = app
        .create_token("tenants/acme", &["audit.read"], None)
        .await;

    let all = list(&app, app.root(), ORG, 1000).await.expect("listed");
    let acme_only: Vec<pb::AuditEvent> = all
        .iter()
        .filter(|e| e.tenant == "tenants/acme")
        .cloned()
        .collect();
    assert!(acme_only.len() >= 3 && acme_only.len() < all.len());
    for token in [app.root(), Some(acme_token.as_str())] {
        let listed = list(&app, token, "tenants/acme", 1000)
            .await
            .expect("listed");
        assert_eq!(rows(&listed), rows(&acme_only));
    }
    for parent in ["tenants/globex", ORG] {
        let status = list(&app, Some(&acme_token), parent, 1000)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied, "{parent}");
    }
    app.stop().await;
}

async fn page_size_walks_every_event_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for slug in ["acme", "globex", "initech"] {
        app.create_tenant(slug).await;
        app.create_app(slug, pb::ApplicationType::Spa).await;
        update_tenant(&app, app.root(), slug, "")
            .await
            .expect("updated");
    }
    for parent in [ORG, "tenants/acme"] {
        let whole = list(&app, app.root(), parent, 1000).await.expect("listed");
        assert!(whole.len() >= 3, "{parent}");
        for size in [1, 2, 4] {
            let mut walked = Vec::new();
            let mut page_token = String::new();
            let mut pages = 0;
            loop {
                let page = app
                    .audit(app.root())
                    .list_audit_events(pb::ListAuditEventsRequest {
                        parent: parent.into(),
                        page_size: size,
                        page_token: page_token.clone(),
                    })
                    .await
                    .expect("page")
                    .into_inner();
                pages += 1;
                assert!(
                    page.audit_events.len() <= size as usize,
                    "{parent} by {size}"
                );
                walked.extend(page.audit_events);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
                assert!(
                    pages <= whole.len(),
                    "{parent} by {size}: the walk does not end"
                );
            }
            assert_eq!(walked, whole, "{parent} by {size}");
        }
    }
    app.stop().await;
}

async fn no_audit_event_carries_a_token_or_a_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut secrets = vec![app.root_token.clone()];
    let (web, client_secret) = app.create_app("acme", pb::ApplicationType::Web).await;
    secrets.push(client_secret);
    let rotated = app
        .applications(app.root())
        .rotate_client_secret(pb::RotateClientSecretRequest {
            name: web.name.clone(),
            previous_secret_grace: None,
        })
        .await
        .expect("rotated")
        .into_inner();
    secrets.push(rotated.client_secret);
    let (_, org_token) = app.create_token(ORG, &["*"], None).await;
    let (service, service_token) = app.create_token("tenants/acme", &["*"], None).await;
    secrets.extend([org_token, service_token.clone()]);

    // Secrets pasted where names go, and mutations made with each token.
    let pasted = service_token.clone();
    let refused = create_tenant(&app, Some(&secrets[3]), &pasted).await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::InvalidArgument));
    let refused = app
        .tokens(Some(&service_token))
        .revoke_management_token(pb::RevokeManagementTokenRequest {
            name: format!("tenants/acme/managementTokens/{pasted}"),
        })
        .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::InvalidArgument));
    create_redirect_uri(
        &app,
        &web.name,
        &format!(
            "https://app.example.com/callback?state={}",
            &secrets[1][4..]
        ),
    )
    .await
    .expect("created");
    create_app(&app, Some(&service_token), "tenants/acme")
        .await
        .expect("created");
    revoke(&app, &service.name).await;

    let events = list(&app, app.root(), ORG, 1000).await.expect("listed");
    assert!(events.len() >= 8);
    let mut leaks = Vec::new();
    for event in &events {
        let shown = format!("{event:?}");
        for secret in &secrets {
            // The random part alone is as secret as the whole.
            if shown.contains(secret.as_str()) || shown.contains(&secret[4..]) {
                leaks.push(shown.clone());
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "audit events carry secrets:\n{}",
        leaks.join("\n")
    );
    app.stop().await;
}

async fn root_name(app: &TestApp) -> String {
    app.tokens(app.root())
        .list_management_tokens(pb::ListManagementTokensRequest {
            parent: ORG.into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .management_tokens
        .into_iter()
        .next()
        .expect("the bootstrap token")
        .name
}

/// Every event under `parent`, walking pages of `page_size`.
async fn list(
    app: &TestApp,
    token: Option<&str>,
    parent: &str,
    page_size: i32,
) -> Result<Vec<pb::AuditEvent>, Status> {
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .audit(token)
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: parent.to_owned(),
                page_size,
                page_token,
            })
            .await?
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return Ok(events);
        }
        page_token = page.next_page_token;
    }
}

async fn create_tenant(app: &TestApp, token: Option<&str>, slug: &str) -> Result<(), Status> {
    app.tenants(token)
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant {
                slug: slug.to_owned(),
                display_name: "Tenant".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(drop)
}

async fn update_tenant(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    etag: &str,
) -> Result<(), Status> {
    app.tenants(token)
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: format!("tenants/{slug}"),
                display_name: "Renamed".into(),
                etag: etag.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .map(drop)
}

async fn delete_tenant(app: &TestApp, slug: &str) {
    app.tenants(app.root())
        .delete_tenant(pb::DeleteTenantRequest {
            name: format!("tenants/{slug}"),
            ..Default::default()
        })
        .await
        .expect("deleted");
}

async fn get_tenant(app: &TestApp, token: Option<&str>, slug: &str) -> Result<(), Status> {
    app.tenants(token)
        .get_tenant(pb::GetTenantRequest {
            name: format!("tenants/{slug}"),
        })
        .await
        .map(drop)
}

async fn list_tenants(app: &TestApp, token: Option<&str>) -> Result<(), Status> {
    app.tenants(token)
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .map(drop)
}

async fn create_app(app: &TestApp, token: Option<&str>, parent: &str) -> Result<(), Status> {
    app.applications(token)
        .create_application(pb::CreateApplicationRequest {
            parent: parent.to_owned(),
            application: Some(pb::Application {
                display_name: "App".into(),
                r#type: pb::ApplicationType::Native as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(drop)
}

async fn get_app(app: &TestApp, token: Option<&str>, name: &str) -> Result<(), Status> {
    app.applications(token)
        .get_application(pb::GetApplicationRequest {
            name: name.to_owned(),
        })
        .await
        .map(drop)
}

async fn list_apps(app: &TestApp, token: Option<&str>, parent: &str) -> Result<(), Status> {
    app.applications(token)
        .list_applications(pb::ListApplicationsRequest {
            parent: parent.to_owned(),
            ..Default::default()
        })
        .await
        .map(drop)
}

async fn create_redirect_uri(
    app: &TestApp,
    application: &str,
    uri: &str,
) -> Result<pb::RedirectUri, Status> {
    app.applications(app.root())
        .create_redirect_uri(pb::CreateRedirectUriRequest {
            parent: application.to_owned(),
            redirect_uri: Some(pb::RedirectUri {
                uri: uri.to_owned(),
                purpose: pb::RedirectUriPurpose::Callback as i32,
                environment: pb::Environment::Production as i32,
                ..Default::default()
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn rotate(app: &TestApp, token: Option<&str>, application: &str) -> Result<(), Status> {
    app.applications(token)
        .rotate_client_secret(pb::RotateClientSecretRequest {
            name: application.to_owned(),
            previous_secret_grace: None,
        })
        .await
        .map(drop)
}

async fn list_tokens(app: &TestApp, token: Option<&str>, parent: &str) -> Result<(), Status> {
    app.tokens(token)
        .list_management_tokens(pb::ListManagementTokensRequest {
            parent: parent.to_owned(),
            ..Default::default()
        })
        .await
        .map(drop)
}

async fn get_organization(app: &TestApp, token: Option<&str>) -> Result<(), Status> {
    app.organizations(token)
        .get_organization(pb::GetOrganizationRequest { name: ORG.into() })
        .await
        .map(drop)
}

async fn revoke(app: &TestApp, name: &str) {
    app.tokens(app.root())
        .revoke_management_token(pb::RevokeManagementTokenRequest {
            name: name.to_owned(),
        })
        .await
        .expect("revoked");
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::Aborted => "ABORTED",
        Code::NotFound => "NOT_FOUND",
        Code::PermissionDenied => "PERMISSION_DENIED",
        _ => "another code",
    }
}
