//! `portcullis_code_failures`: wrong six-digit codes per address, across every code sent
//! to it, in a rolling day.

use sea_orm::entity::prelude::*;

/// The wrong codes counted against one address (or number) for one purpose.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_code_failures")]
pub struct Model {
    /// The purpose of the codes (`email_otp`, `sms_otp`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub purpose: String,
    /// The exact email address or phone number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub identifier: String,
    /// Wrong codes since the window started (reset by a right one).
    pub failures: i32,
    /// When the current window started; a window lasts a day.
    pub window_started_at: TimeDateTimeWithTimeZone,
    /// When the owner was told the cap was reached, in this window.
    pub notified_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
