//! `keyhaven user ...`: the end users of a tenant in UserService.

use std::io::{IsTerminal as _, Read};

use clap::{Args, Subcommand};
use keyhaven_proto::admin::v1::user_service_client::UserServiceClient;
use keyhaven_proto::admin::v1::{
    CreateUserRequest, DeleteUserRequest, GetUserRequest, ListUsersRequest, SetPasswordRequest,
    UpdateUserRequest, User,
};
use prost_types::FieldMask;

use crate::connection::{AdminChannel, Connection};
use crate::error::CliError;
use crate::output::{Printer, Record, Value};
use crate::paging::{self, Page, PageArgs};
use crate::tenant;

/// Users are the people who sign in on a tenant's pages.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the initial password is read from stdin
    Create(CreateArgs),
    /// Show one user
    Get(UserRef),
    /// List a tenant's users
    List {
        /// The tenant: its slug (acme) or resource name (tenants/acme)
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: PageArgs,
    },
    /// Change a user's e-mail address or names; only the given flags are changed
    Update(UpdateArgs),
    /// Stop a user from signing in; the user and their password are kept
    Disable(UserRef),
    /// Let a disabled user sign in again
    Enable(UserRef),
    /// Replace a user's password with one read from stdin
    SetPassword {
        #[command(flatten)]
        user: UserRef,
        /// Read the new password from stdin, such as
        /// `printf '%s\n' "$PASSWORD" | keyhaven user set-password ... --password-stdin`
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user
    Delete(UserRef),
}

/// Which user: its resource name, or its username with `--tenant`.
#[derive(Args, Debug)]
pub struct UserRef {
    /// The user: tenants/<tenant>/users/<id>, or a username with --tenant
    #[arg(value_name = "USER")]
    pub user: String,
    /// The tenant of a username: its slug (acme) or tenants/acme
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The tenant: its slug (acme) or resource name (tenants/acme)
    #[arg(long)]
    pub tenant: String,
    /// What the user types on the sign-in page: up to 64 of a-z, 0-9 and . _ - @ +, stored
    /// lowercased. Cannot be changed later
    #[arg(long)]
    pub username: String,
    /// E-mail address (the email claim)
    #[arg(long)]
    pub email: Option<String>,
    /// Given name (the given_name claim), at most 100 characters
    #[arg(long)]
    pub given_name: Option<String>,
    /// Family name (the family_name claim), at most 100 characters
    #[arg(long)]
    pub family_name: Option<String>,
    /// Read the initial password (8 characters to 256 bytes) from stdin, such as
    /// `printf '%s\n' "$PASSWORD" | keyhaven user create ... --password-stdin`. A password
    /// is never taken as an argument, where other users of the machine could read it
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub user: UserRef,
    /// New e-mail address; "" removes it
    #[arg(long)]
    pub email: Option<String>,
    /// New given name; "" removes it
    #[arg(long)]
    pub given_name: Option<String>,
    /// New family name; "" removes it
    #[arg(long)]
    pub family_name: Option<String>,
    /// Fail with ABORTED unless this is the user's current etag (from `user get`)
    #[arg(long)]
    pub etag: Option<String>,
}

pub(crate) async fn run(connection: &Connection, command: UserCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        UserCommand::Create(args) => {
            let password = password_from_stdin(args.password_stdin)?;
            let request = create_request(args, password);
            let mut client = UserServiceClient::new(connection.connect().await?);
            let user = client.create_user(request).await?.into_inner();
            printer.one(&record(&user))
        }
        UserCommand::Get(user) => {
            let target = user.target()?;
            let mut client = UserServiceClient::new(connection.connect().await?);
            let user = match target {
                Target::Name(name) => client.get_user(GetUserRequest { name }).await?.into_inner(),
                Target::Username { parent, username } => {
                    find_by_username(&mut client, parent, &username).await?
                }
            };
            printer.one(&record(&user))
        }
        UserCommand::List { tenant, paging } => {
            let parent = tenant::resource_name(&tenant);
            let client = UserServiceClient::new(connection.connect().await?);
            let users = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                let request = ListUsersRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token,
                };
                async move {
                    let response = client.list_users(request).await?.into_inner();
                    Ok(Page {
                        items: response.users,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            let records: Vec<Record> = users.iter().map(record).collect();
            printer.many("users", &records)
        }
        UserCommand::Update(args) => {
            let target = args.user.target()?;
            let mut request = update_request(args)?;
            let mut client = UserServiceClient::new(connection.connect().await?);
            if let Some(user) = request.user.as_mut() {
                user.name = resolve(&mut client, target).await?;
            }
            let user = client.update_user(request).await?.into_inner();
            printer.one(&record(&user))
        }
        UserCommand::Disable(user) => set_disabled(connection, printer, &user, true).await,
        UserCommand::Enable(user) => set_disabled(connection, printer, &user, false).await,
        UserCommand::SetPassword {
            user,
            password_stdin,
        } => {
            let target = user.target()?;
            let password = password_from_stdin(password_stdin)?;
            let mut client = UserServiceClient::new(connection.connect().await?);
            let name = resolve(&mut client, target).await?;
            client
                .set_password(SetPasswordRequest {
                    name: name.clone(),
                    password,
                })
                .await?;
            printer.done(&format!("Set the password of {name}."))
        }
        UserCommand::Delete(user) => {
            let target = user.target()?;
            let mut client = UserServiceClient::new(connection.connect().await?);
            let name = resolve(&mut client, target).await?;
            client
                .delete_user(DeleteUserRequest { name: name.clone() })
                .await?;
            printer.done(&format!("Deleted {name}."))
        }
    }
}

async fn set_disabled(
    connection: &Connection,
    printer: Printer,
    user: &UserRef,
    disabled: bool,
) -> Result<(), CliError> {
    let target = user.target()?;
    let mut client = UserServiceClient::new(connection.connect().await?);
    let name = resolve(&mut client, target).await?;
    let user = client
        .update_user(disabled_request(name, disabled))
        .await?
        .into_inner();
    printer.one(&record(&user))
}

/// A user as the command line names it, before anything is sent.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `tenants/<tenant>/users/<id>`, sent as it is.
    Name(String),
    /// A username, looked up among the users of `parent`.
    Username { parent: String, username: String },
}

impl UserRef {
    fn target(&self) -> Result<Target, CliError> {
        if self.user.starts_with("tenants/") {
            return Ok(Target::Name(self.user.clone()));
        }
        match &self.tenant {
            Some(tenant) => Ok(Target::Username {
                parent: tenant::resource_name(tenant),
                username: self.user.clone(),
            }),
            None => Err(CliError::Usage(format!(
                "which tenant is {:?} in? Name the user as tenants/<tenant>/users/<id>, or \
                 pass --tenant",
                self.user
            ))),
        }
    }
}

/// The resource name of the user, looking a username up if that is what was given.
async fn resolve(
    client: &mut UserServiceClient<AdminChannel>,
    target: Target,
) -> Result<String, CliError> {
    match target {
        Target::Name(name) => Ok(name),
        Target::Username { parent, username } => {
            Ok(find_by_username(client, parent, &username).await?.name)
        }
    }
}

/// The resource name of a user given as `tenants/<tenant>/users/<id>` or as a username
/// of `tenant`, for the commands of other resources that filter by user.
pub(crate) async fn resource_name(
    connection: &Connection,
    tenant: &str,
    user: &str,
) -> Result<String, CliError> {
    let target = UserRef {
        user: user.to_owned(),
        tenant: Some(tenant.to_owned()),
    }
    .target()?;
    if let Target::Name(name) = target {
        return Ok(name);
    }
    let mut client = UserServiceClient::new(connection.connect().await?);
    resolve(&mut client, target).await
}

/// UserService has no lookup by username, so this pages through the tenant's users until
/// one matches (usernames are stored lowercased, so the match ignores ASCII case).
async fn find_by_username(
    client: &mut UserServiceClient<AdminChannel>,
    parent: String,
    username: &str,
) -> Result<User, CliError> {
    let mut page_token = String::new();
    loop {
        let request = ListUsersRequest {
            parent: parent.clone(),
            page_size: 1000,
            page_token: page_token.clone(),
        };
        let response = client.list_users(request).await?.into_inner();
        if let Some(user) = response
            .users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
        {
            return Ok(user);
        }
        if response.next_page_token.is_empty() || response.next_page_token == page_token {
            return Err(CliError::UnknownUsername {
                tenant: parent,
                username: username.to_owned(),
            });
        }
        page_token = response.next_page_token;
    }
}

/// The password piped to stdin. This build cannot switch a terminal's echo off without a
/// new dependency, so it never prompts: it reads only a pipe or a file, and only when
/// asked to with `--password-stdin`.
fn password_from_stdin(password_stdin: bool) -> Result<String, CliError> {
    if !password_stdin {
        return Err(CliError::Usage(
            "the password is read from stdin: pass --password-stdin and pipe it in, such as \
             printf '%s\\n' \"$PASSWORD\" | keyhaven user ... --password-stdin (a password is \
             never taken as an argument, where other users of the machine could read it, and \
             this build cannot prompt for it without echo)"
                .to_owned(),
        ));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::Usage(
            "--password-stdin reads a pipe or a file, not a terminal, where the password would \
             be echoed: printf '%s\\n' \"$PASSWORD\" | keyhaven user ... --password-stdin"
                .to_owned(),
        ));
    }
    read_password(stdin.lock())
}

/// Everything `input` holds but one final line ending, so that `echo`, `<<<` and a file
/// with one line all work; spaces are part of the password.
fn read_password(mut input: impl Read) -> Result<String, CliError> {
    let mut text = String::new();
    input.read_to_string(&mut text).map_err(|error| {
        CliError::Usage(format!("could not read the password from stdin: {error}"))
    })?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(CliError::Usage("no password on stdin".to_owned()));
    }
    Ok(password.to_owned())
}

fn create_request(args: CreateArgs, password: String) -> CreateUserRequest {
    CreateUserRequest {
        parent: tenant::resource_name(&args.tenant),
        user: Some(User {
            username: args.username,
            email: args.email.unwrap_or_default(),
            given_name: args.given_name.unwrap_or_default(),
            family_name: args.family_name.unwrap_or_default(),
            ..User::default()
        }),
        password,
    }
}

/// The user carries only the given fields, and the update mask names exactly those. Its
/// name is filled in once the user is resolved.
fn update_request(args: UpdateArgs) -> Result<UpdateUserRequest, CliError> {
    let mut user = User {
        etag: args.etag.unwrap_or_default(),
        ..User::default()
    };
    let mut paths = Vec::new();
    let fields = [
        (args.email, &mut user.email, "email"),
        (args.given_name, &mut user.given_name, "given_name"),
        (args.family_name, &mut user.family_name, "family_name"),
    ];
    for (given, field, path) in fields {
        if let Some(value) = given {
            *field = value;
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(CliError::Usage(
            "nothing to update: give at least one of --email, --given-name, --family-name \
             (and `keyhaven user disable|enable` to stop or allow signing in)"
                .to_owned(),
        ));
    }
    Ok(UpdateUserRequest {
        user: Some(user),
        update_mask: Some(FieldMask {
            paths: paths.into_iter().map(str::to_owned).collect(),
        }),
    })
}

fn disabled_request(name: String, disabled: bool) -> UpdateUserRequest {
    UpdateUserRequest {
        user: Some(User {
            name,
            disabled,
            ..User::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["disabled".to_owned()],
        }),
    }
}

/// How a user is shown, in tables and in JSON.
pub(crate) fn record(user: &User) -> Record {
    Record::default()
        .field("name", user.name.as_str())
        .field("username", user.username.as_str())
        .field("email", user.email.as_str())
        .detail("given_name", user.given_name.as_str())
        .detail("family_name", user.family_name.as_str())
        .field("disabled", user.disabled)
        .detail("etag", user.etag.as_str())
        .field("create_time", Value::time(user.create_time.as_ref()))
        .detail("update_time", Value::time(user.update_time.as_ref()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: UserCommand,
    }

    fn parse(args: &[&str]) -> Result<UserCommand, String> {
        let argv = std::iter::once(&"user").chain(args);
        Cli::try_parse_from(argv)
            .map(|cli| cli.command)
            .map_err(|e| e.to_string())
    }

    /// `keyhaven user update <args>` as the request it sends, or the error it prints.
    fn update(args: &[&str]) -> Result<UpdateUserRequest, String> {
        let argv: Vec<&str> = std::iter::once("update")
            .chain(args.iter().copied())
            .collect();
        let UserCommand::Update(args) = parse(&argv)? else {
            return Err("not an update".to_owned());
        };
        update_request(args).map_err(|e| e.to_string())
    }

    fn target(args: &[&str]) -> Result<Target, String> {
        let argv: Vec<&str> = std::iter::once("get").chain(args.iter().copied()).collect();
        let UserCommand::Get(user) = parse(&argv)? else {
            return Err("not a get".to_owned());
        };
        user.target().map_err(|e| e.to_string())
    }

    /// `keyhaven user create <args>` with `password` on stdin, as the request it sends.
    fn create(args: &[&str], password: &str) -> Result<CreateUserRequest, String> {
        let argv: Vec<&str> = std::iter::once("create")
            .chain(args.iter().copied())
            .collect();
        let UserCommand::Create(args) = parse(&argv)? else {
            return Err("not a create".to_owned());
        };
        if !args.password_stdin {
            return Err("no --password-stdin".to_owned());
        }
        Ok(create_request(args, password.to_owned()))
    }

    #[test]
    fn a_create_carries_the_profile_and_the_password_from_stdin() {
        let request = create(
            &[
                "--tenant",
                "acme",
                "--username",
                "alice",
                "--email",
                "alice@example.com",
                "--given-name",
                "Alice",
                "--password-stdin",
            ],
            "correct horse battery staple",
        )
        .unwrap_or_default();
        assert_eq!(request.parent, "tenants/acme");
        assert_eq!(request.password, "correct horse battery staple");
        let user = request.user.unwrap_or_default();
        assert_eq!(
            (user.username.as_str(), user.email.as_str()),
            ("alice", "alice@example.com")
        );
        assert_eq!(
            (user.given_name.as_str(), user.family_name.as_str()),
            ("Alice", "")
        );
    }

    #[test]
    fn a_password_is_never_taken_as_an_argument() {
        let error = parse(&[
            "create",
            "--tenant",
            "acme",
            "--username",
            "alice",
            "--password",
            "hunter22",
        ])
        .err()
        .unwrap_or_default();
        assert!(
            error.contains("unexpected argument '--password'"),
            "{error}"
        );
        assert!(parse(&["set-password", "tenants/acme/users/u1", "hunter22"]).is_err());
    }

    #[test]
    fn without_password_stdin_nothing_is_read_and_the_flag_is_named() {
        let error = password_from_stdin(false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--password-stdin"), "{error}");
        assert!(error.contains("cannot prompt"), "{error}");
    }

    #[test]
    fn one_final_line_ending_is_dropped_from_the_password_and_nothing_else() {
        let read = |input: &str| read_password(input.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(read("correct horse\n"), Ok("correct horse".to_owned()));
        assert_eq!(read("correct horse\r\n"), Ok("correct horse".to_owned()));
        assert_eq!(read(" correct horse "), Ok(" correct horse ".to_owned()));
        assert_eq!(read("correct horse\n\n"), Ok("correct horse\n".to_owned()));
        assert_eq!(read("\n"), Err("no password on stdin".to_owned()));
        assert_eq!(read(""), Err("no password on stdin".to_owned()));
    }

    #[test]
    fn the_user_update_mask_names_only_the_given_flags() {
        let request = update(&[
            "alice",
            "--tenant",
            "acme",
            "--family-name",
            "Liddell",
            "--email",
            "",
            "--etag",
            "W/3",
        ]);
        let mask = request.as_ref().ok().and_then(|r| r.update_mask.clone());
        assert_eq!(
            mask.map(|m| m.paths),
            Some(vec!["email".to_owned(), "family_name".to_owned()])
        );
        let user = request.ok().and_then(|r| r.user).unwrap_or_default();
        assert_eq!(
            (user.email.as_str(), user.family_name.as_str()),
            ("", "Liddell")
        );
        assert_eq!(user.etag, "W/3");
    }

    #[test]
    fn a_user_update_without_any_change_is_refused_before_sending() {
        let error = update(&["tenants/acme/users/u1"]).err().unwrap_or_default();
        assert!(error.starts_with("nothing to update"), "{error}");
    }

    #[test]
    fn disabling_sends_only_the_disabled_flag() {
        let request = disabled_request("tenants/acme/users/u1".to_owned(), true);
        assert_eq!(
            request.update_mask.map(|m| m.paths),
            Some(vec!["disabled".to_owned()])
        );
        let user = request.user.unwrap_or_default();
        assert_eq!(
            (user.name.as_str(), user.disabled),
            ("tenants/acme/users/u1", true)
        );
    }

    #[test]
    fn a_user_is_named_by_its_resource_name_or_by_its_username_and_tenant() {
        assert_eq!(
            target(&["tenants/acme/users/u1"]),
            Ok(Target::Name("tenants/acme/users/u1".to_owned()))
        );
        assert_eq!(
            target(&["alice", "--tenant", "acme"]),
            Ok(Target::Username {
                parent: "tenants/acme".to_owned(),
                username: "alice".to_owned()
            })
        );
        let error = target(&["alice"]).err().unwrap_or_default();
        assert!(error.contains("--tenant"), "{error}");
    }
}
