//! Organization roles and permissions.
//!
//! Three roles are built in, each a set of permissions and a rank (nobody grants a role
//! ranked above their own):
//!
//! | role | rank | permissions |
//! |---|---|---|
//! | `owner` | 300 | everything |
//! | `admin` | 200 | `org:read`, `org:update`, `members:read`, `members:manage`, `invitations:manage`, `billing:manage` |
//! | `member` | 100 | `org:read`, `members:read` |
//!
//! Hosts add their own roles (and permissions, any `noun:verb` string) in the builder:
//!
//! ```rust,no_run
//! # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis::{Portcullis, Secret, policy::Role};
//!
//! let auth = Portcullis::builder(db)
//!     .secret(Secret::generate())
//!     .role(Role::new("billing", 150, ["org:read", "billing:manage", "invoices:export"]))
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Handlers require a permission in the caller's active organization with
//! [`RequirePermission`](crate::extract::RequirePermission), which re-reads the membership from the
//! database on every request: removing a member or changing a role takes effect at once,
//! whatever the access token says.

use std::collections::BTreeMap;

/// Read the organization.
pub const ORG_READ: &str = "org:read";
/// Rename the organization, change its metadata.
pub const ORG_UPDATE: &str = "org:update";
/// Delete the organization.
pub const ORG_DELETE: &str = "org:delete";
/// List members.
pub const MEMBERS_READ: &str = "members:read";
/// Change roles, remove members.
pub const MEMBERS_MANAGE: &str = "members:manage";
/// Invite people, list and revoke invitations.
pub const INVITATIONS_MANAGE: &str = "invitations:manage";
/// Manage the subscription.
pub const BILLING_MANAGE: &str = "billing:manage";
/// Create, list and revoke the organization's API keys.
pub const API_KEYS_MANAGE: &str = "api_keys:manage";
/// What a user API key may be limited to besides organization permissions: read the
/// account (`GET /me`).
pub const USER_READ: &str = "user:read";
/// ... and change it (`PATCH /me`).
pub const USER_WRITE: &str = "user:write";

/// The deployment role (a user's `role`, apart from organization roles) of everyone.
pub const USER_ROLE: &str = "user";
/// The deployment role of an admin, who may use the admin router.
pub const ADMIN_ROLE: &str = "admin";

/// A role: a name, a rank and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `[a-z0-9_-]`, at most 32 characters.
    pub name: String,
    /// Higher ranks may manage lower ones; owners are 300.
    pub rank: u16,
    /// Permission names.
    pub permissions: Vec<String>,
}

impl Role {
    /// A role named `name`, ranked `rank`, granting `permissions`.
    pub fn new<I, S>(name: impl Into<String>, rank: u16, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            rank,
            permissions: permissions.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether the role grants `permission`.
    #[must_use]
    pub fn grants(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// The owner role's name.
pub const OWNER: &str = "owner";
/// The admin role's name.
pub const ADMIN: &str = "admin";
/// The member role's name.
pub const MEMBER: &str = "member";

/// Every role of a deployment: the built-in ones and the host's.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: BTreeMap<String, Role>,
}

impl Default for Roles {
    fn default() -> Self {
        let all = [
            ORG_READ,
            ORG_UPDATE,
            ORG_DELETE,
            MEMBERS_READ,
            MEMBERS_MANAGE,
            INVITATIONS_MANAGE,
            BILLING_MANAGE,
            API_KEYS_MANAGE,
        ];
        let built_in = [
            Role::new(OWNER, 300, all),
            Role::new(
                ADMIN,
                200,
                [
                    ORG_READ,
                    ORG_UPDATE,
                    MEMBERS_READ,
                    MEMBERS_MANAGE,
                    INVITATIONS_MANAGE,
                    BILLING_MANAGE,
                    API_KEYS_MANAGE,
                ],
            ),
            Role::new(MEMBER, 100, [ORG_READ, MEMBERS_READ]),
        ];
        Self {
            roles: built_in
                .into_iter()
                .map(|role| (role.name.clone(), role))
                .collect(),
        }
    }
}

impl Roles {
    /// Adds a host-defined role.
    ///
    /// # Errors
    ///
    /// A message when the name is malformed or taken, the rank is not below the owner's,
    /// or a permission is not a `noun:verb` string.
    pub(crate) fn add(&mut self, role: Role) -> Result<(), String> {
        let name_ok = !role.name.is_empty()
            && role.name.len() <= 32
            && role
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(format!(
                "role {:?}: names are 1 to 32 of a-z 0-9 _ -",
                role.name
            ));
        }
        if self.roles.contains_key(&role.name) {
            return Err(format!("role {:?} already exists", role.name));
        }
        if role.rank == 0 || role.rank >= 300 {
            return Err(format!(
                "role {:?}: rank must be between 1 and 299 (owners are 300)",
                role.name
            ));
        }
        for permission in &role.permissions {
            let ok = permission.split_once(':').is_some_and(|(noun, verb)| {
                !noun.is_empty()
                    && !verb.is_empty()
                    && permission.len() <= 64
                    && permission
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
            });
            if !ok {
                return Err(format!(
                    "role {:?}: permission {permission:?} is not noun:verb",
                    role.name
                ));
            }
        }
        self.roles.insert(role.name.clone(), role);
        Ok(())
    }

    /// The role called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Whether any role grants `permission` (a name an API key may be limited to).
    #[must_use]
    pub fn knows(&self, permission: &str) -> bool {
        self.roles.values().any(|role| role.grants(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_matrix() {
        let roles = Roles::default();
        let owner = roles.get(OWNER).unwrap();
        let admin = roles.get(ADMIN).unwrap();
        let member = roles.get(MEMBER).unwrap();
        for permission in [
            ORG_READ,
            ORG_UPDATE,
            ORG_DELETE,
            MEMBERS_READ,
            MEMBERS_MANAGE,
            INVITATIONS_MANAGE,
            BILLING_MANAGE,
        ] {
            assert!(owner.grants(permission));
        }
        assert!(!admin.grants(ORG_DELETE));
        assert!(admin.grants(MEMBERS_MANAGE));
        assert!(member.grants(ORG_READ) && member.grants(MEMBERS_READ));
        assert!(
            !member.grants(ORG_UPDATE)
                && !member.grants(MEMBERS_MANAGE)
                && !member.grants(BILLING_MANAGE)
        );
        assert!(owner.rank > admin.rank && admin.rank > member.rank);
    }

    #[test]
    fn host_roles_are_checked() {
        let mut roles = Roles::default();
        assert!(
            roles
                .add(Role::new("billing", 150, ["billing:manage"]))
                .is_ok()
        );
        assert!(
            roles
                .add(Role::new("billing", 150, ["billing:manage"]))
                .is_err()
        );
        assert!(roles.add(Role::new("owner", 150, ["org:read"])).is_err());
        assert!(roles.add(Role::new("king", 300, ["org:read"])).is_err());
        assert!(roles.add(Role::new("Bad Name", 10, ["org:read"])).is_err());
        assert!(roles.add(Role::new("x", 10, ["noverb"])).is_err());
    }
}
