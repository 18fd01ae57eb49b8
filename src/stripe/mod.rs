//! Stripe: the API calls billing makes ([`client`]) and the webhook signature
//! ([`webhook`]). The billing flow is `flows::billing`.

pub(crate) mod client;
pub(crate) mod webhook;

pub(crate) use client::{CheckoutRequest, Stripe, StripeSubscription};
