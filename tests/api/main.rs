//! Integration tests: the mounted routers driven in-process against a real database
//! (SQLite by default; PostgreSQL or MySQL with `PORTCULLIS_TEST_DATABASE_URL`).
#![allow(unreachable_pub, clippy::needless_pass_by_value)]

mod common;
#[cfg(feature = "openapi")]
mod conformance;
mod relay;
mod smtp_sink;
mod stripe_stand_in;

mod account;
mod admin;
mod api_keys;
mod billing;
mod clients;
mod email;
mod errors;
mod faults;
mod hardening;
mod health;
mod keys;
mod layer;
mod mfa;
mod migrations;
mod oauth;
#[cfg(feature = "openapi")]
mod openapi;
mod orgs;
mod outbox;
mod passkeys;
mod password;
mod passwordless;
#[cfg(feature = "redis")]
mod redis_limits;
mod round_trips;
mod sessions;
mod waitlists;
mod wiring;
