//! Redirect URIs over the wire: registering, listing and deleting them, the rules of each
//! environment and application type, and switching environments off for an application or
//! a whole tenant.

use keyhaven_tests::assert::{refused, violation};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use pb::ApplicationType::{Native, Service, Spa, Web};
use pb::Environment::{Localhost, Production, Staging};
use pb::RedirectUriPurpose::{Callback, PostLogout};
use tonic::{Code, Response, Status};

use crate::applications::get;

on_both_backends!(
    redirect_uris_are_created_listed_page_by_page_and_deleted,
    redirect_uris_follow_the_rules_of_their_environment_and_application_type,
    a_redirect_uri_is_registered_once_per_purpose,
    service_applications_have_no_redirect_uris,
    a_redirect_uri_needs_a_known_purpose_and_environment,
    switching_an_application_environment_off_disables_its_uris_until_switched_back_on,
    an_environment_switched_off_for_the_tenant_is_disabled_for_its_applications,
);

const HTTP_RULE: &str = "http is allowed only for loopback hosts in the localhost environment";

// ---- helpers ---------------------------------------------------------------------------

pub(crate) async fn add_uri(
    app: &TestApp,
    parent: &str,
    uri: &str,
    purpose: pb::RedirectUriPurpose,
    environment: pb::Environment,
) -> Result<pb::RedirectUri, Status> {
    app.applications(app.root())
        .create_redirect_uri(pb::CreateRedirectUriRequest {
            parent: parent.to_owned(),
            redirect_uri: Some(pb::RedirectUri {
                uri: uri.to_owned(),
                purpose: purpose as i32,
                environment: environment as i32,
                ..Default::default()
            }),
        })
        .await
        .map(Response::into_inner)
}

/// Every redirect URI of an application, walking pages of `page_size`.
pub(crate) async fn list_uris(
    app: &TestApp,
    parent: &str,
    page_size: i32,
) -> Result<Vec<pb::RedirectUri>, Status> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = app
            .applications(app.root())
            .list_redirect_uris(pb::ListRedirectUrisRequest {
                parent: parent.to_owned(),
                page_size,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.redirect_uris);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
    panic!("pagination did not end");
}

/// `(uri, enabled)` of every redirect URI of an application, sorted by URI.
async fn enabled_flags(app: &TestApp, parent: &str) -> Vec<(String, bool)> {
    let mut flags: Vec<_> = list_uris(app, parent, 0)
        .await
        .expect("listed")
        .into_iter()
        .map(|u| (u.uri, u.enabled))
        .collect();
    flags.sort();
    flags
}

pub(crate) async fn set_environment(
    app: &TestApp,
    name: &str,
    environment: pb::Environment,
    enabled: bool,
) -> Result<pb::Application, Status> {
    app.applications(app.root())
        .set_environment_enabled(pb::SetEnvironmentEnabledRequest {
            name: name.to_owned(),
            environment: environment as i32,
            enabled,
        })
        .await
        .map(Response::into_inner)
}

async fn switch_tenant_environments_off(
    app: &TestApp,
    tenant: &str,
    off: &[pb::Environment],
) -> pb::Tenant {
    app.tenants(app.root())
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: tenant.to_owned(),
                disabled_environments: off.iter().map(|e| *e as i32).collect(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled_environments".into()],
            }),
        })
        .await
        .expect("tenant updated")
        .into_inner()
}

// ---- redirect URIs ---------------------------------------------------------------------

async fn redirect_uris_are_created_listed_page_by_page_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, _) = app.create_app("acme", Web).await;
    let wanted = [
        ("https://app.example.com/callback", Callback, Production),
        ("https://app.example.com/signed-out", PostLogout, Production),
        ("https://staging.example.com/callback", Callback, Staging),
        ("http://localhost:3000/callback", Callback, Localhost),
    ];
    let mut created = Vec::new();
    for (uri, purpose, environment) in wanted {
        let registered = add_uri(&app, &web.name, uri, purpose, environment)
            .await
            .expect("registered");
        assert_eq!(registered.uri, uri);
        assert_eq!(registered.purpose, purpose as i32);
        assert_eq!(registered.environment, environment as i32);
        assert!(registered.enabled);
        assert!(
            registered
                .name
                .starts_with(&format!("{}/redirectUris/", web.name)),
            "{}",
            registered.name
        );
        assert!(registered.create_time.is_some());
        created.push(registered);
    }
    assert_eq!(
        list_uris(&app, &web.name, 1).await.expect("listed"),
        created,
        "page_size 1 walks them all in creation order"
    );
    assert_eq!(
        list_uris(&app, &web.name, 0).await.expect("listed"),
        created
    );

    let client = app.applications(app.root());
    client
        .clone()
        .delete_redirect_uri(pb::DeleteRedirectUriRequest {
            name: created[1].name.clone(),
        })
        .await
        .expect("deleted");
    let rest: Vec<_> = created
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(list_uris(&app, &web.name, 0).await.expect("listed"), rest);
    let again = client
        .clone()
        .delete_redirect_uri(pb::DeleteRedirectUriRequest {
            name: created[1].name.clone(),
        })
        .await;
    refused(again, Code::NotFound);
    let malformed = client
        .clone()
        .delete_redirect_uri(pb::DeleteRedirectUriRequest {
            name: format!("{}/redirectUris/../x", web.name),
        })
        .await;
    violation(malformed, "name", "must be a resource name");

    // A URI of another application, named under this one, is not found and stays.
    let (other, _) = app.create_app("acme", Web).await;
    let theirs = add_uri(
        &app,
        &other.name,
        "https://other.example.com/cb",
        Callback,
        Production,
    )
    .await
    .expect("registered");
    let id = theirs.name.rsplit('/').next().expect("id");
    let crossed = client
        .clone()
        .delete_redirect_uri(pb::DeleteRedirectUriRequest {
            name: format!("{}/redirectUris/{id}", web.name),
        })
        .await;
    refused(crossed, Code::NotFound);
    assert_eq!(
        list_uris(&app, &other.name, 0).await.expect("listed"),
        vec![theirs]
    );
    app.stop().await;
}

async fn redirect_uris_follow_the_rules_of_their_environment_and_application_type(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut parents = std::collections::HashMap::new();
    for app_type in [Web, Spa, Native] {
        parents.insert(app_type, app.create_app("acme", app_type).await.0.name);
    }
    let over_long = format!(
        "https://app.example.com/{}",
        "a".repeat(3000 - "https://app.example.com/".len())
    );
    assert_eq!(over_long.len(), 3000);
    // (uri, environment, application type, None if accepted or the rule it breaks)
    #[rustfmt::skip]
    let cases: Vec<(&str, pb::Environment, pb::ApplicationType, Option<&str>)> = vec![
        // https only in production and staging
        ("https://app.example.com/callback", Production, Web, None),
        ("https://app.example.com/cb?tenant=1", Production, Spa, None),
        ("https://staging.example.com/callback", Staging, Web, None),
        ("https://internal-host/callback", Staging, Spa, None),
        ("http://app.example.com/callback", Production, Web, Some(HTTP_RULE)),
        ("http://staging.example.com/callback", Staging, Web, Some(HTTP_RULE)),
        ("http://app.example.com/callback", Production, Native, Some(HTTP_RULE)),
        ("https://10.0.0.8/callback", Production, Web, Some("need a real domain name")),
        ("https://intranet/callback", Production, Web, Some("need a real domain name")),
        // http only on loopback hosts, in the localhost environment; loopback IPs on any port
        ("http://localhost:3000/callback", Localhost, Web, None),
        ("https://localhost:8443/callback", Localhost, Spa, None),
        ("http://127.0.0.1/callback", Localhost, Native, None),
        ("http://127.0.0.1:8765/callback", Localhost, Native, None),
        ("http://[::1]:8765/callback", Localhost, Native, None),
        ("http://example.com/callback", Localhost, Web, Some("accepts only the hosts localhost, 127.0.0.1 and [::1]")),
        ("http://localhost.evil.com/callback", Localhost, Spa, Some("accepts only the hosts localhost")),
        ("https://localhost/callback", Production, Web, Some("belong to the localhost environment")),
        ("http://127.0.0.1/callback", Staging, Native, Some("belong to the localhost environment")),
        // private-use schemes: native applications only, in any environment
        ("com.example.app:/callback", Production, Native, None),
        ("com.example.app:/staging-callback", Staging, Native, None),
        ("com.example.app:/dev-callback", Localhost, Native, None),
        ("com.example.app:/callback", Production, Web, Some("only for native applications")),
        ("com.example.app:/callback", Localhost, Spa, Some("only for native applications")),
        ("com.example.app://callback", Production, Native, Some("single slash after the colon")),
        ("myapp:/callback", Production, Native, Some("scheme 'myapp' is not allowed")),
        ("javascript:alert(1)", Production, Web, Some("scheme 'javascript' is not allowed")),
        // fragments, userinfo, wildcards
        ("https://app.example.com/cb#frag", Production, Web, Some("must not contain a fragment")),
        ("https://user:pw@app.example.com/cb", Production, Web, Some("must not contain user information")),
        ("https://app.example.com@evil.com/cb", Production, Web, Some("must not contain user information")),
        ("https://*.example.com/cb", Production, Web, Some("wildcards are not allowed")),
        ("https://app.example.com/*", Production, Spa, Some("wildcards are not allowed")),
        // internationalised and percent-encoded hosts, other spellings of one URI
        ("https://exämple.com/cb", Production, Web, Some("punycode (xn--) form")),
        ("https://xn--exmple-cua.com/cb", Production, Web, None),
        ("https://exa%6Dple.com/cb", Production, Web, Some("host must not be percent-encoded")),
        ("https://app.example.com/a%2Fb", Production, Web, Some("must not percent-encode")),
        ("https://APP.example.com/cb", Production, Web, Some("register it exactly as https://app.example.com/cb")),
        ("https://app.example.com:443/cb", Production, Web, Some("not in canonical form")),
        // malformed, empty, over-long
        ("", Production, Web, Some("must not be empty")),
        ("/callback", Production, Web, Some("is not an absolute URI")),
        ("https://app.example.com/cb\n", Production, Web, Some("whitespace")),
        (over_long.as_str(), Production, Web, Some("at most 2048 characters long (got 3000)")),
    ];
    let mut accepted: std::collections::HashMap<pb::ApplicationType, Vec<String>> =
        Default::default();
    for (uri, environment, app_type, rule) in &cases {
        let parent = &parents[app_type];
        let result = add_uri(&app, parent, uri, Callback, *environment).await;
        match rule {
            None => {
                let registered = result.unwrap_or_else(|s| {
                    panic!("{uri:?} in {environment:?} for {app_type:?}: {s:?}")
                });
                assert_eq!(
                    (registered.uri.as_str(), registered.environment),
                    (*uri, *environment as i32)
                );
                accepted.entry(*app_type).or_default().push(uri.to_string());
            }
            Some(rule) => {
                eprintln!("case: {uri:?} in {environment:?} for {app_type:?}");
                violation(result, "redirect_uri.uri", rule);
            }
        }
    }
    for (app_type, parent) in &parents {
        let mut listed: Vec<String> = list_uris(&app, parent, 0)
            .await
            .expect("listed")
            .into_iter()
            .map(|u| u.uri)
            .collect();
        let mut expected = accepted.remove(app_type).unwrap_or_default();
        listed.sort();
        expected.sort();
        assert_eq!(
            listed, expected,
            "{app_type:?} holds exactly the accepted URIs"
        );
    }
    app.stop().await;
}

async fn a_redirect_uri_is_registered_once_per_purpose(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, _) = app.create_app("acme", Web).await;
    let (other, _) = app.create_app("acme", Web).await;
    let uri = "https://app.example.com/cb";
    add_uri(&app, &web.name, uri, Callback, Production)
        .await
        .expect("registered");
    let status = refused(
        add_uri(&app, &web.name, uri, Callback, Production).await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains("already exists"), "{status:?}");
    add_uri(&app, &web.name, uri, PostLogout, Production)
        .await
        .expect("the same URI with the other purpose is fine");
    refused(
        add_uri(&app, &web.name, uri, PostLogout, Production).await,
        Code::AlreadyExists,
    );
    add_uri(&app, &other.name, uri, Callback, Production)
        .await
        .expect("another application may register the same URI");
    assert_eq!(
        list_uris(&app, &web.name, 0).await.expect("listed").len(),
        2
    );
    app.stop().await;
}

async fn service_applications_have_no_redirect_uris(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (service, _) = app.create_app("acme", Service).await;
    for (uri, purpose) in [
        ("https://app.example.com/cb", Callback),
        ("https://app.example.com/bye", PostLogout),
    ] {
        let status = refused(
            add_uri(&app, &service.name, uri, purpose, Production).await,
            Code::FailedPrecondition,
        );
        assert!(
            status.message().contains("client_credentials"),
            "{status:?}"
        );
    }
    assert!(
        list_uris(&app, &service.name, 0)
            .await
            .expect("listed")
            .is_empty()
    );
    app.stop().await;
}

async fn a_redirect_uri_needs_a_known_purpose_and_environment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (web, _) = app.create_app("acme", Web).await;
    let uri = "https://app.example.com/cb";
    let raw = |purpose: i32, environment: i32| pb::CreateRedirectUriRequest {
        parent: web.name.clone(),
        redirect_uri: Some(pb::RedirectUri {
            uri: uri.into(),
            purpose,
            environment,
            ..Default::default()
        }),
    };
    let cases = [
        (
            raw(0, Production as i32),
            "redirect_uri.purpose",
            "is required: REDIRECT_URI_PURPOSE_CALLBACK or REDIRECT_URI_PURPOSE_POST_LOGOUT",
        ),
        (
            raw(42, Production as i32),
            "redirect_uri.purpose",
            "unknown value 42",
        ),
        (
            raw(Callback as i32, 0),
            "redirect_uri.environment",
            "is required: ENVIRONMENT_PRODUCTION",
        ),
        (
            raw(Callback as i32, 42),
            "redirect_uri.environment",
            "unknown value 42",
        ),
    ];
    for (request, field, rule) in cases {
        violation(
            app.applications(app.root())
                .create_redirect_uri(request)
                .await,
            field,
            rule,
        );
    }
    let missing = pb::CreateRedirectUriRequest {
        parent: web.name.clone(),
        redirect_uri: None,
    };
    violation(
        app.applications(app.root())
            .create_redirect_uri(missing)
            .await,
        "redirect_uri",
        "is required",
    );
    assert!(
        list_uris(&app, &web.name, 0)
            .await
            .expect("listed")
            .is_empty()
    );
    app.stop().await;
}

// ---- environments ----------------------------------------------------------------------

async fn switching_an_application_environment_off_disables_its_uris_until_switched_back_on(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let (native, _) = app.create_app("acme", Native).await;
    let (neighbour, _) = app.create_app("acme", Native).await;
    let prod = "https://app.example.com/cb";
    let staging = "https://staging.example.com/cb";
    let local = "http://127.0.0.1/cb";
    for (uri, environment) in [(prod, Production), (staging, Staging), (local, Localhost)] {
        add_uri(&app, &native.name, uri, Callback, environment)
            .await
            .expect("registered");
        add_uri(&app, &neighbour.name, uri, Callback, environment)
            .await
            .expect("registered");
    }
    let all_on = vec![
        (local.to_owned(), true),
        (prod.to_owned(), true),
        (staging.to_owned(), true),
    ];
    assert_eq!(enabled_flags(&app, &native.name).await, all_on);

    let switched = set_environment(&app, &native.name, Localhost, false)
        .await
        .expect("switched off");
    assert_eq!(switched.disabled_environments, [Localhost as i32]);
    assert_eq!(
        enabled_flags(&app, &native.name).await,
        vec![
            (local.to_owned(), false),
            (prod.to_owned(), true),
            (staging.to_owned(), true)
        ]
    );
    assert_eq!(
        enabled_flags(&app, &neighbour.name).await,
        all_on,
        "another application is not affected"
    );
    assert_eq!(
        get(&app, &native.name)
            .await
            .expect("found")
            .disabled_environments,
        [Localhost as i32]
    );
    let again = set_environment(&app, &native.name, Localhost, false)
        .await
        .expect("switching off twice is harmless");
    assert_eq!(again.disabled_environments, [Localhost as i32]);

    let restored = set_environment(&app, &native.name, Localhost, true)
        .await
        .expect("switched on");
    assert!(restored.disabled_environments.is_empty());
    assert_eq!(
        enabled_flags(&app, &native.name).await,
        all_on,
        "switching back on restores the URIs"
    );

    violation(
        set_environment(&app, &native.name, pb::Environment::Unspecified, false).await,
        "environment",
        "is required",
    );
    app.stop().await;
}

async fn an_environment_switched_off_for_the_tenant_is_disabled_for_its_applications(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let (web, _) = app.create_app("acme", Web).await;
    let prod = "https://app.example.com/cb";
    let staging = "https://staging.example.com/cb";
    let local = "http://localhost:3000/cb";
    for (uri, environment) in [(prod, Production), (staging, Staging), (local, Localhost)] {
        add_uri(&app, &web.name, uri, Callback, environment)
            .await
            .expect("registered");
    }
    let updated = switch_tenant_environments_off(&app, &tenant.name, &[Staging, Localhost]).await;
    assert_eq!(
        updated.disabled_environments,
        [Staging as i32, Localhost as i32]
    );
    assert_eq!(
        enabled_flags(&app, &web.name).await,
        vec![
            (local.to_owned(), false),
            (prod.to_owned(), true),
            (staging.to_owned(), false)
        ]
    );
    assert!(
        get(&app, &web.name)
            .await
            .expect("found")
            .disabled_environments
            .is_empty(),
        "the application's own switches are unchanged"
    );

    // Off at either level is off.
    set_environment(&app, &web.name, Production, false)
        .await
        .expect("switched off");
    switch_tenant_environments_off(&app, &tenant.name, &[Localhost]).await;
    assert_eq!(
        enabled_flags(&app, &web.name).await,
        vec![
            (local.to_owned(), false),
            (prod.to_owned(), false),
            (staging.to_owned(), true)
        ]
    );
    set_environment(&app, &web.name, Production, true)
        .await
        .expect("switched on");
    switch_tenant_environments_off(&app, &tenant.name, &[]).await;
    assert!(
        enabled_flags(&app, &web.name)
            .await
            .iter()
            .all(|(_, enabled)| *enabled)
    );
    app.stop().await;
}
