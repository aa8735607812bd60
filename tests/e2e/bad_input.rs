//! What the control plane does with input it cannot use: bodies that are not protobuf,
//! unknown enum values, strings out of bounds, duplicates, garbage credentials and
//! methods that do not exist. Each is refused with the right code and changes nothing.

use bytes::{Buf, BufMut};
use keyhaven_tests::assert::{refused, violation, violations};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};

on_both_backends!(
    a_body_that_is_not_protobuf_is_invalid_argument_not_internal,
    unknown_enum_values_are_refused_naming_the_field,
    empty_and_over_long_strings_are_refused_naming_the_field,
    strings_at_their_limits_are_accepted,
    a_duplicate_tenant_slug_is_already_exists,
    garbage_in_the_authorization_header_is_unauthenticated_with_an_actionable_message,
    a_method_that_does_not_exist_is_unimplemented,
);

// ---- helpers ---------------------------------------------------------------------------

/// Sends and receives message bodies as raw bytes, to put on the wire what no generated
/// client would.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// A unary call of `path` with `body` as the message bytes, authenticated with `token`.
async fn raw_call(
    app: &TestApp,
    path: &'static str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel());
    grpc.ready().await.expect("channel ready");
    let mut request = Request::new(body);
    if let Some(token) = token {
        let value = MetadataValue::try_from(format!("Bearer {token}")).expect("ascii");
        request.metadata_mut().insert("authorization", value);
    }
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(Response::into_inner)
}

/// `message` with `header` as its raw authorization metadata (none when `None`).
fn with_header<T>(header: Option<&[u8]>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(raw) = header {
        let value = MetadataValue::try_from(raw).expect("a header value");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Everything the API lists: tenants, and each tenant's applications.
async fn snapshot(app: &TestApp) -> (Vec<pb::Tenant>, Vec<Vec<pb::Application>>) {
    let tenants = app
        .tenants(app.root())
        .list_tenants(pb::ListTenantsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert!(tenants.next_page_token.is_empty());
    let mut applications = Vec::new();
    for tenant in &tenants.tenants {
        let listed = app
            .applications(app.root())
            .list_applications(pb::ListApplicationsRequest {
                parent: tenant.name.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner();
        applications.push(listed.applications);
    }
    (tenants.tenants, applications)
}

/// A tenant and an application, so that a snapshot has something to lose.
async fn seed(app: &TestApp) {
    app.create_tenant("acme").await;
    app.create_app("acme", pb::ApplicationType::Web).await;
}

fn tenant(slug: &str, display_name: &str) -> pb::CreateTenantRequest {
    pb::CreateTenantRequest {
        tenant: Some(pb::Tenant {
            slug: slug.to_owned(),
            display_name: display_name.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn application(display_name: &str, app_type: i32) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        parent: "tenants/acme".into(),
        application: Some(pb::Application {
            display_name: display_name.to_owned(),
            r#type: app_type,
            ..Default::default()
        }),
        ..Default::default()
    }
}

// ---- tests -----------------------------------------------------------------------------

async fn a_body_that_is_not_protobuf_is_invalid_argument_not_internal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    #[rustfmt::skip]
    let bodies: &[(&str, &[u8])] = &[
        ("a length running past the end", &[0x0a, 0x7f, 0x12, 0x04]),
        ("wire type 7, which does not exist", &[0x0f, 0x01]),
        ("a varint that never ends", &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ("field number 0", &[0x00, 0x01]),
        ("a nested tenant whose slug is not UTF-8", &[0x0a, 0x04, 0x12, 0x02, 0xc3, 0x28]),
        ("JSON", b"{\"tenant\": {\"slug\": \"json\"}}"),
    ];
    for (case, body) in bodies {
        let result = raw_call(
            &app,
            "/keyhaven.admin.v1.TenantService/CreateTenant",
            app.root(),
            body.to_vec(),
        )
        .await;
        let status = refused(result, Code::InvalidArgument);
        assert!(
            status.message().contains("not a valid protobuf message"),
            "{case}: {status:?}"
        );
    }
    assert_eq!(snapshot(&app).await, before, "nothing was created");

    // The same bytes a generated client sends are accepted: the codec is not the problem.
    let valid = prost::Message::encode_to_vec(&tenant("raw-bytes", "Raw bytes"));
    raw_call(
        &app,
        "/keyhaven.admin.v1.TenantService/CreateTenant",
        app.root(),
        valid,
    )
    .await
    .expect("a valid body is accepted");
    app.stop().await;
}

async fn unknown_enum_values_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    violation(
        app.applications(app.root())
            .create_application(application("Typed", 42))
            .await,
        "application.type",
        "unknown value 42",
    );
    violation(
        app.applications(app.root())
            .create_application(application("Typed", -1))
            .await,
        "application.type",
        "unknown value -1",
    );

    let mut envs = tenant("envs", "Environments");
    if let Some(t) = envs.tenant.as_mut() {
        t.disabled_environments = vec![pb::Environment::Staging as i32, 42];
    }
    violation(
        app.tenants(app.root()).create_tenant(envs).await,
        "tenant.disabled_environments[1]",
        "unknown value 42",
    );
    assert_eq!(snapshot(&app).await, before);

    let web = before.1[0][0].clone();
    let uri = pb::CreateRedirectUriRequest {
        parent: web.name.clone(),
        redirect_uri: Some(pb::RedirectUri {
            uri: "https://app.example.com/cb".into(),
            purpose: 7,
            environment: 9,
            ..Default::default()
        }),
    };
    let result = app
        .applications(app.root())
        .create_redirect_uri(uri.clone())
        .await;
    let status = refused(result, Code::InvalidArgument);
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["redirect_uri.purpose", "redirect_uri.environment"],
        "both bad fields are named at once"
    );
    violation(
        app.applications(app.root()).create_redirect_uri(uri).await,
        "redirect_uri.environment",
        "unknown value 9",
    );
    let switch = pb::SetEnvironmentEnabledRequest {
        name: web.name.clone(),
        environment: 42,
        enabled: false,
    };
    violation(
        app.applications(app.root())
            .set_environment_enabled(switch)
            .await,
        "environment",
        "unknown value 42",
    );
    assert_eq!(snapshot(&app).await, before);
    app.stop().await;
}

async fn empty_and_over_long_strings_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    let long_name = "x".repeat(101);
    let long_slug = "a".repeat(64);
    #[rustfmt::skip]
    let tenants = [
        (tenant("", "Empty slug"), "tenant.slug", "must not be empty"),
        (tenant(&long_slug, "Long slug"), "tenant.slug", "between 3 and 63 characters long (got 64)"),
        (tenant("ab", "Short slug"), "tenant.slug", "between 3 and 63 characters long (got 2)"),
        (tenant("Acme", "Upper case"), "tenant.slug", "only lowercase letters"),
        (tenant("globex", ""), "tenant.display_name", "must not be empty"),
        (tenant("globex", "   "), "tenant.display_name", "must not be empty"),
        (tenant("globex", &long_name), "tenant.display_name", "at most 100 characters long (got 101)"),
        (tenant("globex", &"é".repeat(101)), "tenant.display_name", "at most 100 characters long (got 101)"),
    ];
    for (request, field, rule) in tenants {
        violation(
            app.tenants(app.root()).create_tenant(request).await,
            field,
            rule,
        );
    }
    let missing = pb::CreateTenantRequest::default();
    violation(
        app.tenants(app.root()).create_tenant(missing).await,
        "tenant",
        "is required",
    );

    // Both fields wrong: both reported in one answer.
    let both = refused(
        app.tenants(app.root()).create_tenant(tenant("", "")).await,
        Code::InvalidArgument,
    );
    let mut fields: Vec<String> = violations(&both).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["tenant.display_name", "tenant.slug"]);

    let web = pb::ApplicationType::Web as i32;
    violation(
        app.applications(app.root())
            .create_application(application("", web))
            .await,
        "application.display_name",
        "must not be empty",
    );
    violation(
        app.applications(app.root())
            .create_application(application(&long_name, web))
            .await,
        "application.display_name",
        "at most 100 characters long (got 101)",
    );

    // A request id is at most 64 visible ASCII characters; the rule is stated once, not
    // prefixed with the field name a second time.
    let rule = "must be at most 64 visible ASCII characters (a UUID is a good choice)";
    for request_id in ["r".repeat(65), "two words".to_owned()] {
        let retried_tenant = pb::CreateTenantRequest {
            request_id: request_id.clone(),
            ..tenant("globex", "Globex")
        };
        let retried_app = pb::CreateApplicationRequest {
            request_id: request_id.clone(),
            ..application("Retried", web)
        };
        let results = [
            app.tenants(app.root())
                .create_tenant(retried_tenant)
                .await
                .map(drop),
            app.applications(app.root())
                .create_application(retried_app)
                .await
                .map(drop),
        ];
        for result in results {
            let status = refused(result, Code::InvalidArgument);
            let violations = violations(&status);
            assert_eq!(violations, [("request_id".to_owned(), rule.to_owned())]);
            assert_eq!(status.message(), format!("invalid request_id: {rule}"));
        }
    }

    let rename = pb::UpdateTenantRequest {
        tenant: Some(pb::Tenant {
            name: "tenants/acme".into(),
            display_name: long_name.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    violation(
        app.tenants(app.root()).update_tenant(rename).await,
        "tenant.display_name",
        "at most 100 characters",
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "no refused call changed anything"
    );
    app.stop().await;
}

async fn strings_at_their_limits_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let slug = format!("a{}", "b".repeat(62));
    let created = app
        .tenants(app.root())
        .create_tenant(tenant(&slug, &"é".repeat(100)))
        .await
        .expect("63-character slug, 100-character name")
        .into_inner();
    assert_eq!(created.slug, slug);
    assert_eq!(created.display_name.chars().count(), 100);
    app.tenants(app.root())
        .create_tenant(tenant("abc", "A"))
        .await
        .expect("3-character slug");
    app.stop().await;
}

async fn a_duplicate_tenant_slug_is_already_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    let status = refused(
        app.tenants(app.root())
            .create_tenant(tenant("acme", "Another Acme"))
            .await,
        Code::AlreadyExists,
    );
    assert!(
        status
            .message()
            .contains("a tenant with this slug already exists"),
        "{status:?}"
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "the first tenant is unchanged"
    );
    app.stop().await;
}

async fn garbage_in_the_authorization_header_is_unauthenticated_with_an_actionable_message(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    let root = app.root_token.clone();
    let malformed = "malformed authorization metadata: expected `Bearer <management token>`";
    let not_a_token = "the bearer token is not a well-formed management token";
    let mut non_ascii = b"Bearer ".to_vec();
    non_ascii.extend_from_slice("ключ-управления-ключ-управления".as_bytes());
    // (case, raw header value or None for no header, what the message must say)
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("no header", None, "missing authorization metadata: send `authorization: Bearer <management token>`"),
        ("no scheme", Some(root.clone().into_bytes()), malformed),
        ("basic", Some(b"Basic xyz".to_vec()), malformed),
        ("basic with the token", Some(format!("Basic {root}").into_bytes()), malformed),
        ("the scheme alone", Some(b"Bearer".to_vec()), malformed),
        ("bearer with nothing", Some(b"Bearer ".to_vec()), not_a_token),
        ("non-ASCII bytes", Some(non_ascii), malformed),
        ("a 10 KB token", Some(format!("Bearer {}", "k".repeat(10 * 1024)).into_bytes()), not_a_token),
        ("a token with spaces", Some(format!("Bearer {}", "a b".repeat(20)).into_bytes()), not_a_token),
        ("an unknown token", Some(format!("Bearer khm_{}", "A".repeat(43)).into_bytes()), "unknown management token"),
    ];
    for (case, header, says) in &cases {
        let header = header.as_deref();
        let results: Vec<(&str, Result<(), Status>)> = vec![
            (
                "ListTenants",
                app.tenants(None)
                    .list_tenants(with_header(header, pb::ListTenantsRequest::default()))
                    .await
                    .map(drop),
            ),
            (
                "CreateTenant",
                app.tenants(None)
                    .create_tenant(with_header(header, tenant("intruder", "Intruder")))
                    .await
                    .map(drop),
            ),
            (
                "DeleteTenant",
                app.tenants(None)
                    .delete_tenant(with_header(
                        header,
                        pb::DeleteTenantRequest {
                            name: "tenants/acme".into(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(drop),
            ),
            (
                "CreateApplication",
                app.applications(None)
                    .create_application(with_header(
                        header,
                        application("Intruder", pb::ApplicationType::Web as i32),
                    ))
                    .await
                    .map(drop),
            ),
        ];
        for (rpc, result) in results {
            let status = refused(result, Code::Unauthenticated);
            assert!(
                status.message().contains(says),
                "{case} on {rpc}: {:?} should say {says:?}",
                status.message()
            );
            assert!(
                status.message().len() < 300,
                "{case} on {rpc}: the message must not echo the header"
            );
            assert!(
                !status.message().contains(&root),
                "{case} on {rpc}: the message must not echo the token"
            );
        }
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "no refused call changed anything"
    );
    app.stop().await;
}

async fn a_method_that_does_not_exist_is_unimplemented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let before = snapshot(&app).await;
    let paths = [
        "/keyhaven.admin.v1.TenantService/Nope",
        "/keyhaven.admin.v1.NopeService/ListNopes",
        "/some.other.v1.Service/Call",
    ];
    for path in paths {
        for token in [app.root(), None] {
            let status = refused(
                raw_call(&app, path, token, Vec::new()).await,
                Code::Unimplemented,
            );
            if path.starts_with("/keyhaven.admin.v1.") {
                assert!(
                    status.message().contains("is not a method of this API"),
                    "{path}: {status:?}"
                );
            }
        }
    }
    assert_eq!(snapshot(&app).await, before);
    app.stop().await;
}
