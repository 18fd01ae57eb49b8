//! Rules the host can tune: what a password must be ([`PasswordPolicy`], the
//! [`BreachedPasswords`] corpus) and who may do what in an organization ([`roles`]).

pub mod password;
pub mod roles;

pub use self::password::{BreachedPasswords, PasswordPolicy};
pub use self::roles::{Role, Roles};
