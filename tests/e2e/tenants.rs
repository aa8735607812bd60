//! TenantService over the wire: lifecycle, validation, concurrency and deletion.

use std::time::Duration;

use keyhaven_tests::assert::violations;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::Code;

on_both_backends!(
    a_tenant_is_created_read_listed_updated_and_deleted,
    invalid_tenant_fields_are_reported_together_with_the_rule_each_broke,
    a_duplicate_slug_is_already_exists_and_changes_nothing,
    a_retried_create_with_the_same_request_id_returns_the_first_tenant,
    updates_change_only_the_masked_fields_and_refuse_a_stale_etag,
    concurrent_partial_updates_of_one_tenant_both_land,
    deleting_a_tenant_removes_what_is_under_it,
    tenants_are_listed_page_by_page,
);

fn tenant(slug: &str, display_name: &str) -> pb::Tenant {
    pb::Tenant {
        slug: slug.to_owned(),
        display_name: display_name.to_owned(),
        ..Default::default()
    }
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn a_tenant_is_created_read_listed_updated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tenants = app.tenants(app.root());
    let created = tenants
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(tenant("acme", "Acme Corp")),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.name, "tenants/acme");
    assert_eq!(created.issuer, format!("{}/t/acme", app.public_url));
    assert_eq!(created.organization, "organizations/default");
    assert_eq!(
        created.access_token_lifetime.as_ref().map(|d| d.seconds),
        Some(600)
    );
    assert!(created.disabled_environments.is_empty());

    let got = tenants
        .get_tenant(pb::GetTenantRequest {
            name: "tenants/acme".into(),
        })
        .await
        .expect("got")
        .into_inner();
    assert_eq!(got, created);
    let listed = tenants
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.tenants, vec![created.clone()]);

    app.clock.advance(Duration::from_secs(1));
    let updated = tenants
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: "tenants/acme".into(),
                display_name: "Acme Inc".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.display_name, "Acme Inc");
    assert_ne!(updated.etag, created.etag);
    let seconds = |t: &pb::Tenant| t.update_time.as_ref().map(|ts| (ts.seconds, ts.nanos));
    assert!(seconds(&updated) > seconds(&created));

    tenants
        .delete_tenant(pb::DeleteTenantRequest {
            name: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("deleted");
    let gone = tenants
        .get_tenant(pb::GetTenantRequest {
            name: "tenants/acme".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(gone.code(), Code::NotFound);
    assert!(
        gone.message().contains("tenants/acme"),
        "{}",
        gone.message()
    );
    app.stop().await;
}

async fn invalid_tenant_fields_are_reported_together_with_the_rule_each_broke(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tenants = app.tenants(app.root());
    let cases: Vec<(pb::Tenant, &str, &str)> = vec![
        (tenant("Acme", "Acme"), "tenant.slug", "lowercase"),
        (tenant("ac", "Acme"), "tenant.slug", "between 3 and 63"),
        (
            tenant(&"a".repeat(64), "Acme"),
            "tenant.slug",
            "between 3 and 63",
        ),
        (tenant("", "Acme"), "tenant.slug", "empty"),
        (tenant("acme-", "Acme"), "tenant.slug", "end with '-'"),
        (tenant("acme", ""), "tenant.display_name", "empty"),
        (
            tenant("acme", &"x".repeat(101)),
            "tenant.display_name",
            "at most 100",
        ),
        (
            tenant("acme", "Line\nbreak"),
            "tenant.display_name",
            "control characters",
        ),
        (
            pb::Tenant {
                access_token_lifetime: Some(prost_types::Duration {
                    seconds: 5,
                    nanos: 0,
                }),
                ..tenant("acme", "Acme")
            },
            "tenant.access_token_lifetime",
            "between 60 and 86400",
        ),
        (
            pb::Tenant {
                disabled_environments: vec![0],
                ..tenant("acme", "Acme")
            },
            "tenant.disabled_environments[0]",
            "required",
        ),
        (
            pb::Tenant {
                disabled_environments: vec![3, 3],
                ..tenant("acme", "Acme")
            },
            "tenant.disabled_environments[1]",
            "listed twice",
        ),
        (
            pb::Tenant {
                disabled_environments: vec![99],
                ..tenant("acme", "Acme")
            },
            "tenant.disabled_environments[0]",
            "unknown value 99",
        ),
    ];
    for (given, field, rule) in cases {
        let status = tenants
            .create_tenant(pb::CreateTenantRequest {
                tenant: Some(given.clone()),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        let found = violations(&status);
        assert!(
            found.iter().any(|(f, d)| f == field && d.contains(rule)),
            "{given:?}: expected {field} to mention {rule:?}, got {found:?}"
        );
    }
    // Several broken fields are reported at once.
    let status = tenants
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(tenant("A!", "")),
            request_id: "x".repeat(65),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        vec!["tenant.slug", "tenant.display_name", "request_id"]
    );
    let missing = tenants
        .create_tenant(pb::CreateTenantRequest::default())
        .await
        .expect_err("refused");
    assert_eq!(
        violations(&missing),
        vec![("tenant".to_owned(), "is required".to_owned())]
    );

    let listed = tenants
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert!(listed.tenants.is_empty(), "nothing was written");
    app.stop().await;
}

async fn a_duplicate_slug_is_already_exists_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.create_tenant("acme").await;
    let status = app
        .tenants(app.root())
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(tenant("acme", "Other name")),
            ..Default::default()
        })
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("slug"), "{}", status.message());
    let got = app
        .tenants(app.root())
        .get_tenant(pb::GetTenantRequest {
            name: "tenants/acme".into(),
        })
        .await
        .expect("got")
        .into_inner();
    assert_eq!(got, first);
    app.stop().await;
}

async fn a_retried_create_with_the_same_request_id_returns_the_first_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let request = pb::CreateTenantRequest {
        tenant: Some(tenant("acme", "Acme")),
        request_id: "6f1c2d7e-retry".into(),
        ..Default::default()
    };
    let first = app
        .tenants(app.root())
        .create_tenant(request.clone())
        .await
        .expect("created")
        .into_inner();
    let again = app
        .tenants(app.root())
        .create_tenant(request)
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(first, again);
    let other = app
        .tenants(app.root())
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(tenant("globex", "Globex")),
            request_id: "another".into(),
            ..Default::default()
        })
        .await
        .expect("a new request id creates")
        .into_inner();
    assert_eq!(other.slug, "globex");
    let listed = app
        .tenants(app.root())
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.tenants.len(), 2);
    app.stop().await;
}

async fn updates_change_only_the_masked_fields_and_refuse_a_stale_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_tenant("acme").await;
    let mut tenants = app.tenants(app.root());
    let update = |fields: pb::Tenant, paths: &[&str]| pb::UpdateTenantRequest {
        tenant: Some(pb::Tenant {
            name: "tenants/acme".into(),
            ..fields
        }),
        update_mask: mask(paths),
    };
    // Fields outside the mask are ignored, even when sent.
    let updated = tenants
        .update_tenant(update(
            pb::Tenant {
                display_name: "Ignored".into(),
                access_token_lifetime: Some(prost_types::Duration {
                    seconds: 300,
                    nanos: 0,
                }),
                disabled_environments: vec![pb::Environment::Localhost as i32],
                ..Default::default()
            },
            &["access_token_lifetime", "disabled_environments"],
        ))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.display_name, created.display_name);
    assert_eq!(
        updated.access_token_lifetime.as_ref().map(|d| d.seconds),
        Some(300)
    );
    assert_eq!(
        updated.refresh_token_lifetime,
        created.refresh_token_lifetime
    );
    assert_eq!(
        updated.disabled_environments,
        vec![pb::Environment::Localhost as i32]
    );

    let no_mask = tenants
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: "tenants/acme".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect_err("mask required");
    assert_eq!(violations(&no_mask)[0].0, "update_mask");
    let bad_path = tenants
        .update_tenant(update(pb::Tenant::default(), &["slug"]))
        .await
        .expect_err("slug is immutable");
    assert_eq!(violations(&bad_path)[0].0, "update_mask.paths[0]");
    let missing_value = tenants
        .update_tenant(update(pb::Tenant::default(), &["id_token_lifetime"]))
        .await
        .expect_err("value required");
    assert_eq!(violations(&missing_value)[0].0, "tenant.id_token_lifetime");

    let stale = tenants
        .update_tenant(update(
            pb::Tenant {
                display_name: "Stale".into(),
                etag: created.etag.clone(),
                ..Default::default()
            },
            &["display_name"],
        ))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    let fresh = tenants
        .update_tenant(update(
            pb::Tenant {
                display_name: "Fresh".into(),
                etag: updated.etag.clone(),
                ..Default::default()
            },
            &["display_name"],
        ))
        .await
        .expect("current etag")
        .into_inner();
    assert_eq!(fresh.display_name, "Fresh");
    let stale_delete = tenants
        .delete_tenant(pb::DeleteTenantRequest {
            name: "tenants/acme".into(),
            etag: updated.etag,
        })
        .await
        .expect_err("stale etag");
    assert_eq!(stale_delete.code(), Code::Aborted);
    app.stop().await;
}

async fn concurrent_partial_updates_of_one_tenant_both_land(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut calls = Vec::new();
    for round in 0..8i64 {
        let mut names = app.tenants(app.root());
        let mut lifetimes = app.tenants(app.root());
        calls.push(tokio::spawn(async move {
            names
                .update_tenant(pb::UpdateTenantRequest {
                    tenant: Some(pb::Tenant {
                        name: "tenants/acme".into(),
                        display_name: format!("Name {round}"),
                        ..Default::default()
                    }),
                    update_mask: mask(&["display_name"]),
                })
                .await
                .map(|_| ())
        }));
        calls.push(tokio::spawn(async move {
            lifetimes
                .update_tenant(pb::UpdateTenantRequest {
                    tenant: Some(pb::Tenant {
                        name: "tenants/acme".into(),
                        refresh_token_lifetime: Some(prost_types::Duration {
                            seconds: 7200 + round,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                    update_mask: mask(&["refresh_token_lifetime"]),
                })
                .await
                .map(|_| ())
        }));
    }
    for call in calls {
        call.await
            .expect("joined")
            .expect("every concurrent update succeeds");
    }
    let got = app
        .tenants(app.root())
        .get_tenant(pb::GetTenantRequest {
            name: "tenants/acme".into(),
        })
        .await
        .expect("got")
        .into_inner();
    assert!(
        got.display_name.starts_with("Name "),
        "{}",
        got.display_name
    );
    assert!(
        got.refresh_token_lifetime
            .as_ref()
            .is_some_and(|d| d.seconds >= 7200),
        "{got:?}"
    );
    // Sixteen updates, each one version: none was lost.
    assert_eq!(got.etag, "\"17\"");
    app.stop().await;
}

async fn deleting_a_tenant_removes_what_is_under_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (acme_app, _) = app.create_app("acme", pb::ApplicationType::Web).await;
    let (globex_app, _) = app.create_app("globex", pb::ApplicationType::Web).await;
    let (_, service_token) = app
        .create_token("tenants/acme", &["applications.read"], None)
        .await;
    app.applications(Some(&service_token))
        .get_application(pb::GetApplicationRequest {
            name: acme_app.name.clone(),
        })
        .await
        .expect("works before the delete");

    app.tenants(app.root())
        .delete_tenant(pb::DeleteTenantRequest {
            name: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("deleted");

    let status = app
        .applications(app.root())
        .get_application(pb::GetApplicationRequest {
            name: acme_app.name.clone(),
        })
        .await
        .expect_err("gone with its tenant");
    assert_eq!(status.code(), Code::NotFound);
    let status = app
        .applications(Some(&service_token))
        .list_applications(pb::ListApplicationsRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect_err("service token of a deleted tenant");
    assert_eq!(status.code(), Code::Unauthenticated);
    app.applications(app.root())
        .get_application(pb::GetApplicationRequest {
            name: globex_app.name,
        })
        .await
        .expect("other tenants are untouched");
    // The slug is free again, and the new tenant starts empty.
    app.create_tenant("acme").await;
    let apps = app
        .applications(app.root())
        .list_applications(pb::ListApplicationsRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert!(apps.applications.is_empty());
    app.stop().await;
}

async fn tenants_are_listed_page_by_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for slug in ["delta", "alpha", "echo", "charlie", "bravo"] {
        app.create_tenant(slug).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .tenants(app.root())
            .list_tenants(pb::ListTenantsRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.tenants.len() <= 2);
        seen.extend(page.tenants.into_iter().map(|t| t.slug));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, vec!["alpha", "bravo", "charlie", "delta", "echo"]);
    let bad = app
        .tenants(app.root())
        .list_tenants(pb::ListTenantsRequest {
            page_size: 2,
            page_token: "garbage".into(),
        })
        .await
        .expect_err("bad token");
    assert_eq!(violations(&bad)[0].0, "page_token");
    app.stop().await;
}
