//! The permission each RPC needs: the one table the auth layer reads (and the README
//! lists). An RPC of `keyhaven.admin.v1` missing from it is refused, so a new RPC
//! cannot ship without deciding who may call it.

use keyhaven_core::Permission;

/// One RPC of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// `Service.Method`, as audit events name it.
    pub action: &'static str,
    pub permission: Permission,
    /// Mutations are audited, successful or not.
    pub mutation: bool,
}

const fn read(action: &'static str, permission: Permission) -> Rpc {
    Rpc {
        action,
        permission,
        mutation: false,
    }
}

const fn write(action: &'static str, permission: Permission) -> Rpc {
    Rpc {
        action,
        permission,
        mutation: true,
    }
}

use Permission::*;

pub const RPCS: &[Rpc] = &[
    read("OrganizationService.GetOrganization", OrganizationsRead),
    read("OrganizationService.ListOrganizations", OrganizationsRead),
    write("TenantService.CreateTenant", TenantsWrite),
    read("TenantService.GetTenant", TenantsRead),
    read("TenantService.ListTenants", TenantsRead),
    write("TenantService.UpdateTenant", TenantsWrite),
    write("TenantService.DeleteTenant", TenantsWrite),
    write("ApplicationService.CreateApplication", ApplicationsWrite),
    read("ApplicationService.GetApplication", ApplicationsRead),
    read("ApplicationService.ListApplications", ApplicationsRead),
    write("ApplicationService.UpdateApplication", ApplicationsWrite),
    write("ApplicationService.DeleteApplication", ApplicationsWrite),
    write("ApplicationService.CreateRedirectUri", ApplicationsWrite),
    read("ApplicationService.ListRedirectUris", ApplicationsRead),
    write("ApplicationService.DeleteRedirectUri", ApplicationsWrite),
    write(
        "ApplicationService.SetEnvironmentEnabled",
        ApplicationsWrite,
    ),
    write("ApplicationService.RotateClientSecret", ApplicationsWrite),
    write(
        "ManagementTokenService.CreateManagementToken",
        ManagementTokensWrite,
    ),
    read(
        "ManagementTokenService.ListManagementTokens",
        ManagementTokensRead,
    ),
    write(
        "ManagementTokenService.RevokeManagementToken",
        ManagementTokensWrite,
    ),
    read("AuditService.ListAuditEvents", AuditRead),
    write("UserService.CreateUser", UsersWrite),
    read("UserService.GetUser", UsersRead),
    read("UserService.ListUsers", UsersRead),
    write("UserService.UpdateUser", UsersWrite),
    write("UserService.DeleteUser", UsersWrite),
    write("UserService.SetPassword", UsersWrite),
    read("SigningKeyService.ListSigningKeys", SigningKeysRead),
    write("SigningKeyService.RotateSigningKey", SigningKeysWrite),
    read("SessionService.ListSessions", SessionsRead),
    read("SessionService.GetSession", SessionsRead),
    write("SessionService.RevokeSession", SessionsWrite),
    write("SessionService.NativeSsoLogout", SessionsWrite),
];

pub const PACKAGE: &str = "keyhaven.admin.v1";

/// Finds the RPC of a gRPC request path (`/keyhaven.admin.v1.TenantService/GetTenant`).
pub fn lookup(path: &str) -> Option<&'static Rpc> {
    let rest = path
        .strip_prefix('/')?
        .strip_prefix(PACKAGE)?
        .strip_prefix('.')?;
    let (service, method) = rest.split_once('/')?;
    RPCS.iter().find(|rpc| {
        rpc.action
            .split_once('.')
            .is_some_and(|(s, m)| s == service && m == method)
    })
}

/// Whether a path belongs to the control plane (as opposed to health or reflection).
pub fn is_admin_path(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(PACKAGE))
        .is_some_and(|p| p.starts_with('.'))
}

/// The table as the README shows it; a test keeps the two identical.
pub fn markdown_table() -> String {
    let mut out = String::from("| RPC | permission | audited |\n|---|---|---|\n");
    for rpc in RPCS {
        let audited = if rpc.mutation { "yes" } else { "no" };
        out.push_str(&format!(
            "| `{}` | `{}` | {audited} |\n",
            rpc.action, rpc.permission
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every RPC in the proto contract has exactly one row, and every row an RPC.
    #[test]
    fn the_table_covers_every_rpc_of_the_contract_exactly_once() {
        let set =
            prost_types::FileDescriptorSet::decode(keyhaven_proto::admin::v1::FILE_DESCRIPTOR_SET)
                .expect("descriptor set decodes");
        let mut declared = Vec::new();
        for file in set.file.iter().filter(|f| f.package() == PACKAGE) {
            for service in &file.service {
                for method in &service.method {
                    declared.push(format!("{}.{}", service.name(), method.name()));
                }
            }
        }
        declared.sort();
        let mut table: Vec<String> = RPCS.iter().map(|r| r.action.to_owned()).collect();
        table.sort();
        assert_eq!(declared, table);
    }

    #[test]
    fn paths_resolve_to_their_row() {
        let rpc = lookup("/keyhaven.admin.v1.TenantService/CreateTenant").expect("listed");
        assert_eq!(rpc.permission, Permission::TenantsWrite);
        assert!(rpc.mutation);
        assert!(lookup("/keyhaven.admin.v1.TenantService/DropEverything").is_none());
        assert!(lookup("/grpc.health.v1.Health/Check").is_none());
        assert!(is_admin_path(
            "/keyhaven.admin.v1.TenantService/DropEverything"
        ));
        assert!(!is_admin_path("/grpc.health.v1.Health/Check"));
        assert!(!is_admin_path("/keyhaven.admin.v1x.Evil/Call"));
    }
}
