//! Graceful shutdown: calls in flight when the stop begins finish; nothing is half-written.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::Code;

on_both_backends!(a_shutdown_lets_calls_in_flight_finish_and_loses_none_of_them);

async fn a_shutdown_lets_calls_in_flight_finish_and_loses_none_of_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut calls = Vec::new();
    let (first_answer, mut answered) = tokio::sync::mpsc::channel::<()>(64);
    for i in 0..40 {
        let mut client = app.applications(app.root());
        let first_answer = first_answer.clone();
        calls.push(tokio::spawn(async move {
            let result = client
                .create_application(pb::CreateApplicationRequest {
                    parent: "tenants/acme".into(),
                    application: Some(pb::Application {
                        display_name: format!("App {i}"),
                        r#type: pb::ApplicationType::Web as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await;
            let _ = first_answer.try_send(());
            result
        }));
    }
    // Stop while the server is busy with the calls: once the first is answered, the
    // others are in flight or queued behind it.
    let _ = answered.recv().await;
    let token = app.root_token.clone();
    let (database, clock) = app.stop_keeping_data().await;

    let mut succeeded = 0;
    for call in calls {
        match call.await.expect("joined") {
            Ok(_) => succeeded += 1,
            // Not yet accepted when the stop began: refused by the server's graceful
            // GOAWAY, or still in the client's queue when the connection closed. The
            // client may retry elsewhere; the count below proves none was half-done.
            Err(status) => {
                let debug = format!("{status:?}");
                let refused = status.code() == Code::Unavailable
                    || debug.contains("GoAway(b\"\", NO_ERROR")
                    || (status.code() == Code::Cancelled && debug.contains("connection closed"));
                assert!(refused, "{status:?}");
            }
        }
    }
    let app = TestApp::start_on(database, clock, None).await;
    let listed = app
        .applications(Some(&token))
        .list_applications(pb::ListApplicationsRequest {
            parent: "tenants/acme".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(
        listed.applications.len(),
        succeeded,
        "every acknowledged create is stored, and only those"
    );
    assert!(
        succeeded > 0,
        "calls already sent when the stop began were served"
    );
    app.stop().await;
}
