//! Server reflection and health: what grpcurl and probes rely on.

use std::collections::BTreeSet;

use keyhaven_tests::{Backend, TestApp, on_both_backends};
use prost::Message;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

on_both_backends!(
    reflection_resolves_every_service_method_and_message,
    health_reports_every_service_as_serving_without_a_token,
);

async fn ask(
    client: &mut ServerReflectionClient<tonic::transport::Channel>,
    request: MessageRequest,
) -> MessageResponse {
    let outbound = tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .expect("reflection stream")
        .into_inner();
    let response: ServerReflectionResponse = inbound
        .message()
        .await
        .expect("answer")
        .expect("one message");
    response.message_response.expect("a response")
}

async fn reflection_resolves_every_service_method_and_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = ServerReflectionClient::new(app.channel());
    let MessageResponse::ListServicesResponse(list) =
        ask(&mut client, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let services: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in keyhaven_admin_services() {
        assert!(
            services.contains(expected),
            "{expected} missing from {services:?}"
        );
    }
    assert!(services.contains("grpc.health.v1.Health"));

    let mut resolved_messages = 0;
    for service in services
        .iter()
        .filter(|s| s.starts_with("keyhaven.admin.v1."))
    {
        let MessageResponse::FileDescriptorResponse(files) = ask(
            &mut client,
            MessageRequest::FileContainingSymbol(service.clone()),
        )
        .await
        else {
            panic!("{service} did not resolve");
        };
        let files: Vec<prost_types::FileDescriptorProto> = files
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("descriptor decodes")
            })
            .collect();
        let short = service.rsplit('.').next().expect("name");
        let descriptor = files
            .iter()
            .flat_map(|f| f.service.iter())
            .find(|s| s.name() == short)
            .unwrap_or_else(|| panic!("{service} not in its own file"));
        assert!(!descriptor.method.is_empty());
        for method in &descriptor.method {
            for type_name in [method.input_type(), method.output_type()] {
                let symbol = type_name.trim_start_matches('.').to_owned();
                match ask(
                    &mut client,
                    MessageRequest::FileContainingSymbol(symbol.clone()),
                )
                .await
                {
                    MessageResponse::FileDescriptorResponse(found) => {
                        assert!(!found.file_descriptor_proto.is_empty(), "{symbol}");
                        resolved_messages += 1;
                    }
                    other => panic!(
                        "{symbol} of {service}.{} did not resolve: {other:?}",
                        method.name()
                    ),
                }
            }
        }
    }
    assert!(
        resolved_messages >= 2 * 21,
        "every RPC's request and response resolved ({resolved_messages})"
    );
    app.stop().await;
}

async fn health_reports_every_service_as_serving_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut health = HealthClient::new(app.channel());
    for service in keyhaven_admin_services().into_iter().chain([""]) {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"))
            .into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service}");
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "keyhaven.admin.v1.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    app.stop().await;
}

fn keyhaven_admin_services() -> Vec<&'static str> {
    vec![
        "keyhaven.admin.v1.OrganizationService",
        "keyhaven.admin.v1.TenantService",
        "keyhaven.admin.v1.ApplicationService",
        "keyhaven.admin.v1.ManagementTokenService",
        "keyhaven.admin.v1.AuditService",
        "keyhaven.admin.v1.UserService",
        "keyhaven.admin.v1.SigningKeyService",
    ]
}
