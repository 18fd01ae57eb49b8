//! Glob-import the entity types: `use portcullis::entity::prelude::*;`.

pub use super::api_key::Entity as ApiKey;
pub use super::audit_event::Entity as AuditEvent;
pub use super::billing_customer::Entity as BillingCustomer;
pub use super::code_failure::Entity as CodeFailure;
pub use super::invitation::Entity as Invitation;
pub use super::membership::Entity as Membership;
pub use super::oauth_account::Entity as OauthAccount;
pub use super::oauth_state::Entity as OauthState;
pub use super::one_time_secret::Entity as OneTimeSecret;
pub use super::organization::Entity as Organization;
pub use super::outbox_message::Entity as OutboxMessage;
pub use super::passkey::Entity as Passkey;
pub use super::password_credential::Entity as PasswordCredential;
pub use super::recovery_code::Entity as RecoveryCode;
pub use super::session::Entity as Session;
pub use super::signing_key::Entity as SigningKey;
pub use super::stripe_event::Entity as StripeEvent;
pub use super::subscription::Entity as Subscription;
pub use super::tombstone::Entity as Tombstone;
pub use super::totp::Entity as Totp;
pub use super::user::Entity as User;
pub use super::waitlist_entry::Entity as WaitlistEntry;
pub use super::webauthn_challenge::Entity as WebauthnChallenge;
pub use super::webauthn_handle::Entity as WebauthnHandle;
