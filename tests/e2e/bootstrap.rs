//! First start on an empty database, and its absence on every later start.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};

on_both_backends!(
    first_start_writes_a_working_organization_token_with_mode_0600,
    a_second_start_neither_bootstraps_again_nor_rewrites_the_token,
    a_supplied_bootstrap_token_is_used_and_never_written_to_disk,
);

async fn first_start_writes_a_working_organization_token_with_mode_0600(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = app.database.data_dir().join("bootstrap-token");
    let metadata = std::fs::metadata(&path).expect("token file exists");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    }
    assert!(app.root_token.starts_with("khm_"));

    let orgs = app
        .organizations(app.root())
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(orgs.organizations.len(), 1);
    assert_eq!(orgs.organizations[0].name, "organizations/default");
    let tokens = app
        .tokens(app.root())
        .list_management_tokens(pb::ListManagementTokensRequest {
            parent: "organizations/default".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(tokens.management_tokens.len(), 1);
    assert_eq!(tokens.management_tokens[0].permissions, vec!["*"]);
    app.stop().await;
}

async fn a_second_start_neither_bootstraps_again_nor_rewrites_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.root_token.clone();
    app.create_tenant("acme").await;
    let (database, clock) = app.stop_keeping_data().await;
    let path = database.data_dir().join("bootstrap-token");
    std::fs::remove_file(&path).expect("token file removed");

    let app = TestApp::start_on(database, clock, None).await;
    assert!(
        !path.exists(),
        "a second start must not write a new bootstrap token"
    );
    assert_eq!(
        app.running.bootstrap,
        keyhaven_server::bootstrap::Outcome::AlreadyInitialised
    );
    let tenants = app
        .tenants(Some(&token))
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("old token works")
        .into_inner();
    assert_eq!(
        tenants
            .tenants
            .iter()
            .map(|t| t.slug.as_str())
            .collect::<Vec<_>>(),
        vec!["acme"]
    );
    let orgs = app
        .organizations(Some(&token))
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(orgs.organizations.len(), 1);
    app.stop().await;
}

async fn a_supplied_bootstrap_token_is_used_and_never_written_to_disk(backend: Backend) {
    let database = keyhaven_tests::Database::fresh(backend).await;
    let supplied = "vault-injected-bootstrap-token-0123456789".to_owned();
    let clock = TestApp::spawn_clock();
    let app = TestApp::start_on(database, clock, Some(supplied.clone())).await;
    assert!(!app.database.data_dir().join("bootstrap-token").exists());
    assert_eq!(
        app.running.bootstrap,
        keyhaven_server::bootstrap::Outcome::Supplied
    );
    app.tenants(Some(&supplied))
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("supplied token works");
    app.stop().await;
}
