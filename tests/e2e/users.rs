//! UserService over the wire: the end users of a tenant, their passwords at rest, and
//! who may manage them.

use keyhaven_tests::assert::{refused, violations};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

on_both_backends!(
    a_user_is_created_read_listed_updated_and_deleted,
    usernames_are_unique_per_tenant_ignoring_case,
    bad_usernames_emails_and_passwords_are_refused_naming_the_field,
    passwords_are_stored_only_as_owasp_argon2id_hashes_and_can_be_replaced,
    users_are_reached_only_through_their_own_tenant,
);

fn user(username: &str) -> pb::User {
    pb::User {
        username: username.to_owned(),
        email: format!("{}@example.com", username.to_lowercase()),
        given_name: "Alice".into(),
        family_name: "Liddell".into(),
        ..Default::default()
    }
}

fn create(parent: &str, user: pb::User, password: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        parent: parent.into(),
        user: Some(user),
        password: password.into(),
    }
}

const PASSWORD: &str = "correct horse battery staple";

async fn a_user_is_created_read_listed_updated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut users = app.users(app.root());
    let created = users
        .create_user(create("tenants/acme", user("Alice"), PASSWORD))
        .await
        .expect("created")
        .into_inner();
    assert!(
        created.name.starts_with("tenants/acme/users/"),
        "{}",
        created.name
    );
    assert_eq!(created.username, "alice", "usernames are stored lowercased");
    assert!(!created.disabled);

    let got = users
        .get_user(pb::GetUserRequest {
            name: created.name.clone(),
        })
        .await
        .expect("got")
        .into_inner();
    assert_eq!(got, created);
    users
        .create_user(create("tenants/acme", user("bob"), PASSWORD))
        .await
        .expect("second user");
    let listed = users
        .list_users(pb::ListUsersRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(
        listed
            .users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );

    let updated = users
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: created.name.clone(),
                disabled: true,
                given_name: "Ignored".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("updated")
        .into_inner();
    assert!(updated.disabled);
    assert_eq!(
        updated.given_name, "Alice",
        "fields outside the mask are kept"
    );
    let stale = users
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: created.name.clone(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["given_name".into()],
            }),
        })
        .await;
    refused(stale, Code::Aborted);

    users
        .delete_user(pb::DeleteUserRequest {
            name: created.name.clone(),
        })
        .await
        .expect("deleted");
    refused(
        users
            .get_user(pb::GetUserRequest {
                name: created.name.clone(),
            })
            .await,
        Code::NotFound,
    );
    refused(
        users
            .delete_user(pb::DeleteUserRequest { name: created.name })
            .await,
        Code::NotFound,
    );
    app.stop().await;
}

async fn usernames_are_unique_per_tenant_ignoring_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let mut users = app.users(app.root());
    users
        .create_user(create("tenants/acme", user("alice"), PASSWORD))
        .await
        .expect("created");
    let duplicate = refused(
        users
            .create_user(create("tenants/acme", user("ALICE"), PASSWORD))
            .await,
        Code::AlreadyExists,
    );
    assert!(
        duplicate.message().contains("username"),
        "{}",
        duplicate.message()
    );
    users
        .create_user(create(
            "tenants/globex",
            user("alice"),
            "a different password",
        ))
        .await
        .expect("another tenant may have an alice");
    app.stop().await;
}

async fn bad_usernames_emails_and_passwords_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut users = app.users(app.root());
    let too_long = "x".repeat(257);
    let cases: Vec<(pb::User, &str, &str, &str)> = vec![
        (user(""), PASSWORD, "user.username", "must not be empty"),
        (
            user("al ice"),
            PASSWORD,
            "user.username",
            "may contain only",
        ),
        (
            user(&"a".repeat(65)),
            PASSWORD,
            "user.username",
            "at most 64",
        ),
        (
            pb::User {
                email: "not-an-email".into(),
                ..user("alice")
            },
            PASSWORD,
            "user.email",
            "name@domain",
        ),
        (
            pb::User {
                given_name: "x".repeat(101),
                ..user("alice")
            },
            PASSWORD,
            "user.given_name",
            "at most 100",
        ),
        (user("alice"), "short", "password", "at least 8"),
        (user("alice"), &too_long, "password", "at most 256 bytes"),
    ];
    for (given, password, field, rule) in cases {
        let status = refused(
            users
                .create_user(create("tenants/acme", given.clone(), password))
                .await,
            Code::InvalidArgument,
        );
        let found = violations(&status);
        assert!(
            found.iter().any(|(f, d)| f == field && d.contains(rule)),
            "{given:?}: expected {field} ~ {rule:?}, got {found:?}"
        );
    }
    let listed = users
        .list_users(pb::ListUsersRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert!(listed.users.is_empty(), "nothing was written");
    app.stop().await;
}

async fn stored_hash(app: &TestApp, name: &str) -> String {
    let id = name.rsplit('/').next().expect("id");
    let db = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT password_hash FROM users WHERE id = {placeholder}"),
            [id.into()],
        ))
        .await
        .expect("query")
        .expect("row");
    let hash: String = row.try_get("", "password_hash").expect("column");
    db.close().await.ok();
    hash
}

async fn passwords_are_stored_only_as_owasp_argon2id_hashes_and_can_be_replaced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let mut users = app.users(app.root());
    let alice = users
        .create_user(create("tenants/acme", user("alice"), PASSWORD))
        .await
        .expect("created")
        .into_inner();
    let first = stored_hash(&app, &alice.name).await;
    assert!(
        first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{first}"
    );
    assert!(!first.contains(PASSWORD));

    users
        .set_password(pb::SetPasswordRequest {
            name: alice.name.clone(),
            password: "a brand new passphrase".into(),
        })
        .await
        .expect("replaced");
    let second = stored_hash(&app, &alice.name).await;
    assert!(second.starts_with("$argon2id$"));
    assert_ne!(first, second);
    let weak = refused(
        users
            .set_password(pb::SetPasswordRequest {
                name: alice.name.clone(),
                password: "1234".into(),
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violations(&weak)[0].0, "password");
    assert_eq!(
        stored_hash(&app, &alice.name).await,
        second,
        "a refused password changes nothing"
    );
    app.stop().await;
}

async fn users_are_reached_only_through_their_own_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let alice = app
        .users(app.root())
        .create_user(create("tenants/acme", user("alice"), PASSWORD))
        .await
        .expect("created")
        .into_inner();
    let (_, acme_token) = app
        .create_token("tenants/acme", &["users.read", "users.write"], None)
        .await;
    let (_, globex_token) = app
        .create_token("tenants/globex", &["users.read", "users.write"], None)
        .await;
    let (_, reader) = app
        .create_token("tenants/acme", &["users.read"], None)
        .await;

    app.users(Some(&acme_token))
        .get_user(pb::GetUserRequest {
            name: alice.name.clone(),
        })
        .await
        .expect("own tenant");
    refused(
        app.users(Some(&globex_token))
            .get_user(pb::GetUserRequest {
                name: alice.name.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    refused(
        app.users(Some(&reader))
            .delete_user(pb::DeleteUserRequest {
                name: alice.name.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    refused(
        app.users(None)
            .list_users(pb::ListUsersRequest {
                parent: "tenants/acme".into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
    );
    let elsewhere = alice.name.replace("tenants/acme", "tenants/globex");
    refused(
        app.users(app.root())
            .get_user(pb::GetUserRequest { name: elsewhere })
            .await,
        Code::NotFound,
    );
    app.users(app.root())
        .get_user(pb::GetUserRequest { name: alice.name })
        .await
        .expect("still there");
    app.stop().await;
}
