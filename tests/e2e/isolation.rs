//! The isolation matrix of design.md §5: every kind of call, addressed at tenant acme,
//! made with every kind of token, answers with the code the contract promises.

use std::time::Duration;

use keyhaven_tests::assert::code;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::{Code, Status};

on_both_backends!(
    every_call_answers_each_kind_of_token_with_the_code_the_contract_promises,
    an_organization_token_gets_not_found_for_a_tenant_that_does_not_exist,
    a_service_token_is_denied_alike_for_another_tenant_and_for_one_that_does_not_exist,
    a_service_tokens_tenant_list_holds_only_its_own_tenant,
    a_deleted_tenants_service_tokens_are_unauthenticated_even_when_its_slug_is_reused,
);

/// What a service token of acme or globex holds in the matrix: everything a tenant can
/// be granted except tenants.write.
const SERVICE_PERMISSIONS: &[&str] = &[
    "tenants.read",
    "applications.read",
    "applications.write",
    "management_tokens.read",
    "management_tokens.write",
    "audit.read",
];

/// The kinds of token, in the order of the matrix's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Service token of acme with [`SERVICE_PERMISSIONS`].
    Acme,
    /// Service token of acme with every permission: only its scope can refuse it.
    AcmeAll,
    /// Service token of globex with [`SERVICE_PERMISSIONS`].
    Globex,
    /// Organization token holding tenants.read only.
    Lacking,
    Revoked,
    Expired,
    /// Well-formed, never issued.
    Unknown,
    Malformed,
    Missing,
    /// Organization token with every permission. Last, because its DeleteTenant (the
    /// last row) deletes acme.
    Org,
}

const COLUMNS: [Who; 10] = [
    Who::Acme,
    Who::AcmeAll,
    Who::Globex,
    Who::Lacking,
    Who::Revoked,
    Who::Expired,
    Who::Unknown,
    Who::Malformed,
    Who::Missing,
    Who::Org,
];

/// One representative call of every service and kind. Calls that destroy something
/// (or must not collide) make a fresh victim with the root token first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    CreateTenant,
    GetTenant,
    ListTenants,
    UpdateTenant,
    DeleteTenant,
    CreateApplication,
    GetApplication,
    ListApplications,
    UpdateApplication,
    DeleteApplication,
    CreateRedirectUri,
    ListRedirectUris,
    DeleteRedirectUri,
    SetEnvironmentEnabled,
    RotateClientSecret,
    CreateServiceToken,
    ListServiceTokens,
    RevokeServiceToken,
    CreateOrganizationToken,
    ListOrganizationTokens,
    RevokeOrganizationToken,
    ListTenantAuditEvents,
    ListOrganizationAuditEvents,
    GetOrganization,
    ListOrganizations,
}

const OK: Code = Code::Ok;
const DENIED: Code = Code::PermissionDenied;
const UNAUTH: Code = Code::Unauthenticated;

/// Call addressed at acme x token -> code.
#[rustfmt::skip]
const MATRIX: &[(Call, [Code; 10])] = &[
    //                               acme    acme*   globex  lacking revoked expired unknown malformed missing org
    (Call::CreateTenant,            [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::GetTenant,               [OK,     OK,     DENIED, OK,     UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListTenants,             [OK,     OK,     OK,     OK,     UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::UpdateTenant,            [DENIED, OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::CreateApplication,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::GetApplication,          [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListApplications,        [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::UpdateApplication,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::DeleteApplication,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::CreateRedirectUri,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListRedirectUris,        [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::DeleteRedirectUri,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::SetEnvironmentEnabled,   [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::RotateClientSecret,      [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::CreateServiceToken,      [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListServiceTokens,       [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::RevokeServiceToken,      [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::CreateOrganizationToken, [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListOrganizationTokens,  [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::RevokeOrganizationToken, [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListTenantAuditEvents,   [OK,     OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListOrganizationAuditEvents,
                                    [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::GetOrganization,         [DENIED, OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::ListOrganizations,       [DENIED, OK,     DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
    (Call::DeleteTenant,            [DENIED, DENIED, DENIED, DENIED, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, OK]),
];

/// Every call that names a tenant, for the tests that address other tenants.
const TENANT_CALLS: &[Call] = &[
    Call::GetTenant,
    Call::UpdateTenant,
    Call::DeleteTenant,
    Call::CreateApplication,
    Call::GetApplication,
    Call::ListApplications,
    Call::UpdateApplication,
    Call::DeleteApplication,
    Call::CreateRedirectUri,
    Call::ListRedirectUris,
    Call::DeleteRedirectUri,
    Call::SetEnvironmentEnabled,
    Call::RotateClientSecret,
    Call::CreateServiceToken,
    Call::ListServiceTokens,
    Call::RevokeServiceToken,
    Call::ListTenantAuditEvents,
];

async fn every_call_answers_each_kind_of_token_with_the_code_the_contract_promises(
    backend: Backend,
) {
    let world = World::build(backend).await;
    assert_eq!(
        MATRIX.last().map(|(call, _)| *call),
        Some(Call::DeleteTenant),
        "DeleteTenant must stay the last row: the organization token deletes acme"
    );
    let mut mismatches = Vec::new();
    for (call, expected) in MATRIX {
        for (who, expected) in COLUMNS.iter().zip(expected) {
            let result = world.call(*call, "acme", world.token(*who)).await;
            let got = code(&result);
            if got != *expected {
                mismatches.push(format!(
                    "{call:?} with {who:?}: expected {expected:?}, got {got:?} ({})",
                    message(&result)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cells differ:\n{}",
        mismatches.len(),
        MATRIX.len() * COLUMNS.len(),
        mismatches.join("\n")
    );
    world.app.stop().await;
}

async fn an_organization_token_gets_not_found_for_a_tenant_that_does_not_exist(backend: Backend) {
    let world = World::build(backend).await;
    let mut mismatches = Vec::new();
    for call in TENANT_CALLS {
        let result = world
            .call(*call, "doesnotexist", world.token(Who::Org))
            .await;
        if code(&result) != Code::NotFound {
            mismatches.push(format!(
                "{call:?}: expected NotFound, got {:?} ({})",
                code(&result),
                message(&result)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    world.app.stop().await;
}

/// The acme token holding every permission is used, so that its scope is the only
/// reason to refuse it; the answer must not tell an existing tenant from a missing one.
async fn a_service_token_is_denied_alike_for_another_tenant_and_for_one_that_does_not_exist(
    backend: Backend,
) {
    let world = World::build(backend).await;
    let token = world.token(Who::AcmeAll);
    let mut mismatches = Vec::new();
    for call in TENANT_CALLS {
        let existing = world.call(*call, "globex", token).await;
        let missing = world.call(*call, "doesnotexist", token).await;
        let shapes = (
            message(&existing).replace("globex", "{tenant}"),
            message(&missing).replace("doesnotexist", "{tenant}"),
        );
        if code(&existing) != DENIED || code(&missing) != DENIED || shapes.0 != shapes.1 {
            mismatches.push(format!(
                "{call:?}: globex gave {:?} ({}), doesnotexist gave {:?} ({})",
                code(&existing),
                message(&existing),
                code(&missing),
                message(&missing)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    world.app.stop().await;
}

async fn a_service_tokens_tenant_list_holds_only_its_own_tenant(backend: Backend) {
    let world = World::build(backend).await;
    world.app.create_tenant("initech").await;
    for (who, own) in [(Who::Acme, "acme"), (Who::Globex, "globex")] {
        let listed = world
            .app
            .tenants(world.token(who))
            .list_tenants(pb::ListTenantsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner();
        let slugs: Vec<&str> = listed.tenants.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, vec![own], "{who:?}");
        assert_eq!(listed.next_page_token, "", "{who:?}: no page follows");
    }
    let all = world
        .app
        .tenants(world.token(Who::Org))
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    let slugs: Vec<&str> = all.tenants.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, vec!["acme", "globex", "initech"]);
    world.app.stop().await;
}

async fn a_deleted_tenants_service_tokens_are_unauthenticated_even_when_its_slug_is_reused(
    backend: Backend,
) {
    let world = World::build(backend).await;
    world
        .app
        .tenants(world.token(Who::Org))
        .delete_tenant(pb::DeleteTenantRequest {
            name: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("acme deleted");
    let after_delete = world
        .call(Call::ListTenants, "acme", world.token(Who::Acme))
        .await;
    assert_eq!(code(&after_delete), UNAUTH, "{}", message(&after_delete));

    world.app.create_tenant("acme").await;
    let mut mismatches = Vec::new();
    for who in [Who::Acme, Who::AcmeAll] {
        for call in [Call::GetTenant, Call::ListTenants, Call::ListApplications] {
            let result = world.call(call, "acme", world.token(who)).await;
            if code(&result) != UNAUTH {
                mismatches.push(format!(
                    "{call:?} with {who:?}: expected Unauthenticated, got {:?} ({})",
                    code(&result),
                    message(&result)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let globex = world
        .call(Call::ListTenants, "globex", world.token(Who::Globex))
        .await;
    assert_eq!(code(&globex), OK, "globex's token is untouched");
    world.app.stop().await;
}

/// Tenants acme and globex with a web application each, and one token of each kind.
struct World {
    app: TestApp,
    /// Client id of acme's application.
    client_id: String,
    acme: String,
    acme_all: String,
    globex: String,
    lacking: String,
    revoked: String,
    expired: String,
    org: String,
}

impl World {
    async fn build(backend: Backend) -> World {
        let app = TestApp::spawn(backend).await;
        app.create_tenant("acme").await;
        app.create_tenant("globex").await;
        let (acme_app, _) = app.create_app("acme", pb::ApplicationType::Web).await;
        app.create_app("globex", pb::ApplicationType::Web).await;

        let org = "organizations/default";
        let (_, org_token) = app.create_token(org, &["*"], None).await;
        let (_, acme) = app
            .create_token("tenants/acme", SERVICE_PERMISSIONS, None)
            .await;
        let (_, acme_all) = app.create_token("tenants/acme", &["*"], None).await;
        let (_, globex) = app
            .create_token("tenants/globex", SERVICE_PERMISSIONS, None)
            .await;
        let (_, lacking) = app.create_token(org, &["tenants.read"], None).await;
        let (revoked_token, revoked) = app.create_token(org, &["*"], None).await;
        app.tokens(app.root())
            .revoke_management_token(pb::RevokeManagementTokenRequest {
                name: revoked_token.name,
            })
            .await
            .expect("revoked");
        let (_, expired) = app
            .create_token(org, &["*"], Some(from_now(&app, Duration::from_secs(60))))
            .await;
        app.clock.advance(Duration::from_secs(120));

        World {
            client_id: acme_app.client_id,
            acme,
            acme_all,
            globex,
            lacking,
            revoked,
            expired,
            org: org_token,
            app,
        }
    }

    fn token(&self, who: Who) -> Option<&str> {
        Some(match who {
            Who::Acme => &self.acme,
            Who::AcmeAll => &self.acme_all,
            Who::Globex => &self.globex,
            Who::Lacking => &self.lacking,
            Who::Revoked => &self.revoked,
            Who::Expired => &self.expired,
            Who::Unknown => "khm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Who::Malformed => "not-a-token",
            Who::Missing => return None,
            Who::Org => &self.org,
        })
    }

    /// Makes `call` with `token`, addressed at `tenant`. Applications, redirect URIs and
    /// tokens are acme's, named under `tenant`: addressed at another tenant they are out
    /// of reach.
    async fn call(&self, call: Call, tenant: &str, token: Option<&str>) -> Result<(), Status> {
        let app = &self.app;
        let parent = format!("tenants/{tenant}");
        let application = format!("{parent}/applications/{}", self.client_id);
        let org = "organizations/default".to_owned();
        let new_token = |parent: String| pb::CreateManagementTokenRequest {
            parent,
            management_token: Some(pb::ManagementToken {
                display_name: "matrix".into(),
                permissions: vec!["applications.read".into()],
                ..Default::default()
            }),
        };
        match call {
            Call::CreateTenant => app
                .tenants(token)
                .create_tenant(pb::CreateTenantRequest {
                    tenant: Some(pb::Tenant {
                        slug: format!("t{}", fresh()),
                        display_name: "Fresh".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::GetTenant => app
                .tenants(token)
                .get_tenant(pb::GetTenantRequest { name: parent })
                .await
                .map(drop),
            Call::ListTenants => app
                .tenants(token)
                .list_tenants(pb::ListTenantsRequest::default())
                .await
                .map(drop),
            Call::UpdateTenant => app
                .tenants(token)
                .update_tenant(pb::UpdateTenantRequest {
                    tenant: Some(pb::Tenant {
                        name: parent,
                        display_name: "Renamed".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(mask("display_name")),
                })
                .await
                .map(drop),
            Call::DeleteTenant => app
                .tenants(token)
                .delete_tenant(pb::DeleteTenantRequest {
                    name: parent,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::CreateApplication => app
                .applications(token)
                .create_application(pb::CreateApplicationRequest {
                    parent,
                    application: Some(pb::Application {
                        display_name: "Matrix app".into(),
                        r#type: pb::ApplicationType::Web as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::GetApplication => app
                .applications(token)
                .get_application(pb::GetApplicationRequest { name: application })
                .await
                .map(drop),
            Call::ListApplications => app
                .applications(token)
                .list_applications(pb::ListApplicationsRequest {
                    parent,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::UpdateApplication => app
                .applications(token)
                .update_application(pb::UpdateApplicationRequest {
                    application: Some(pb::Application {
                        name: application,
                        display_name: "Renamed app".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(mask("display_name")),
                })
                .await
                .map(drop),
            Call::DeleteApplication => {
                let (victim, _) = app.create_app("acme", pb::ApplicationType::Spa).await;
                app.applications(token)
                    .delete_application(pb::DeleteApplicationRequest {
                        name: format!("{parent}/applications/{}", victim.client_id),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            }
            Call::CreateRedirectUri => app
                .applications(token)
                .create_redirect_uri(redirect_uri(application))
                .await
                .map(drop),
            Call::ListRedirectUris => app
                .applications(token)
                .list_redirect_uris(pb::ListRedirectUrisRequest {
                    parent: application,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::DeleteRedirectUri => {
                let acme_application = format!("tenants/acme/applications/{}", self.client_id);
                let victim = app
                    .applications(app.root())
                    .create_redirect_uri(redirect_uri(acme_application))
                    .await
                    .expect("redirect URI created")
                    .into_inner();
                app.applications(token)
                    .delete_redirect_uri(pb::DeleteRedirectUriRequest {
                        name: format!("{application}/redirectUris/{}", last_segment(&victim.name)),
                    })
                    .await
                    .map(drop)
            }
            Call::SetEnvironmentEnabled => app
                .applications(token)
                .set_environment_enabled(pb::SetEnvironmentEnabledRequest {
                    name: application,
                    environment: pb::Environment::Staging as i32,
                    enabled: false,
                })
                .await
                .map(drop),
            Call::RotateClientSecret => app
                .applications(token)
                .rotate_client_secret(pb::RotateClientSecretRequest {
                    name: application,
                    previous_secret_grace: None,
                })
                .await
                .map(drop),
            Call::CreateServiceToken => app
                .tokens(token)
                .create_management_token(new_token(parent))
                .await
                .map(drop),
            Call::ListServiceTokens => app
                .tokens(token)
                .list_management_tokens(pb::ListManagementTokensRequest {
                    parent,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::RevokeServiceToken => {
                let (victim, _) = app
                    .create_token("tenants/acme", &["applications.read"], None)
                    .await;
                app.tokens(token)
                    .revoke_management_token(pb::RevokeManagementTokenRequest {
                        name: format!("{parent}/managementTokens/{}", last_segment(&victim.name)),
                    })
                    .await
                    .map(drop)
            }
            Call::CreateOrganizationToken => app
                .tokens(token)
                .create_management_token(new_token(org))
                .await
                .map(drop),
            Call::ListOrganizationTokens => app
                .tokens(token)
                .list_management_tokens(pb::ListManagementTokensRequest {
                    parent: org,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::RevokeOrganizationToken => {
                let (victim, _) = app.create_token(&org, &["applications.read"], None).await;
                app.tokens(token)
                    .revoke_management_token(pb::RevokeManagementTokenRequest { name: victim.name })
                    .await
                    .map(drop)
            }
            Call::ListTenantAuditEvents => app
                .audit(token)
                .list_audit_events(pb::ListAuditEventsRequest {
                    parent,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::ListOrganizationAuditEvents => app
                .audit(token)
                .list_audit_events(pb::ListAuditEventsRequest {
                    parent: org,
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::GetOrganization => app
                .organizations(token)
                .get_organization(pb::GetOrganizationRequest { name: org })
                .await
                .map(drop),
            Call::ListOrganizations => app
                .organizations(token)
                .list_organizations(pb::ListOrganizationsRequest::default())
                .await
                .map(drop),
        }
    }
}

fn redirect_uri(parent: String) -> pb::CreateRedirectUriRequest {
    pb::CreateRedirectUriRequest {
        parent,
        redirect_uri: Some(pb::RedirectUri {
            uri: format!("https://app.example.com/callback/{}", fresh()),
            purpose: pb::RedirectUriPurpose::Callback as i32,
            environment: pb::Environment::Production as i32,
            ..Default::default()
        }),
    }
}

fn mask(path: &str) -> prost_types::FieldMask {
    prost_types::FieldMask {
        paths: vec![path.to_owned()],
    }
}

fn message(result: &Result<(), Status>) -> String {
    result
        .as_ref()
        .err()
        .map(|s| s.message().to_owned())
        .unwrap_or_default()
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or_default()
}

/// A short unique suffix for slugs and URIs.
fn fresh() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// The server's time `by` from now, as the wire carries it.
fn from_now(app: &TestApp, by: Duration) -> prost_types::Timestamp {
    use keyhaven_core::Clock;
    let millis = app.clock.now().saturating_add(by).unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}
