//! `portcullis_tombstones`: users and organizations deleted recently.
//!
//! Deleting a user (or an organization) deletes its sessions and keys with it, so other
//! instances would find no revocation to read: the tombstone tells their revocation views
//! to refuse every token of that subject issued before it. Swept once no such token can
//! still be valid.

use sea_orm::entity::prelude::*;

/// A deleted user or organization.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_tombstones")]
pub struct Model {
    /// The deleted user's or organization's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_id: Uuid,
    /// `user` or `organization`.
    pub kind: String,
    /// When it was deleted (the database's clock).
    pub deleted_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
