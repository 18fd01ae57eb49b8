//! Billing settings: Stripe keys and the host's plan catalog (feature `billing`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// A plan of the host's catalog (`GET /v1/billing/plans` shows it as is).
///
/// ```rust
/// use portcullis::config::Plan;
///
/// let pro = Plan::new("pro", "Pro", "price_123", 1200, "usd", "month")
///     .features(["reports", "export"])
///     .trial_days(14);
/// assert_eq!(pro.id, "pro");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Plan {
    /// The plan's id in the host's catalog (`[a-z0-9_-]`).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The Stripe price (`price_...`) a checkout subscribes to.
    pub price_id: String,
    /// The price in the currency's smallest unit (cents).
    pub amount: u64,
    /// ISO 4217, lower case (`usd`).
    pub currency: String,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// The features a live subscription to it grants (the `features` claim).
    #[serde(default)]
    pub features: Vec<String>,
    /// A trial before the first charge; 0: none.
    #[serde(default)]
    pub trial_days: u32,
    /// Priced per seat: an organization's quantity is its member count.
    #[serde(default)]
    pub per_seat: bool,
}

impl Plan {
    /// A plan with no features, no trial, a flat price.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        price_id: impl Into<String>,
        amount: u64,
        currency: impl Into<String>,
        interval: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            price_id: price_id.into(),
            amount,
            currency: currency.into(),
            interval: interval.into(),
            features: Vec::new(),
            trial_days: 0,
            per_seat: false,
        }
    }

    /// The features a live subscription grants.
    #[must_use]
    pub fn features<I, S>(mut self, features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features = features.into_iter().map(Into::into).collect();
        self
    }

    /// A trial of `days` before the first charge.
    #[must_use]
    pub fn trial_days(mut self, days: u32) -> Self {
        self.trial_days = days;
        self
    }

    /// Priced per seat.
    #[must_use]
    pub fn per_seat(mut self, per_seat: bool) -> Self {
        self.per_seat = per_seat;
        self
    }
}

/// Stripe and the plans. Billing is on when a secret key is set.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BillingConfig {
    /// Stripe's secret key (`sk_live_...` or `sk_test_...`: which one decides the
    /// `livemode` events must have).
    pub stripe_secret_key: Option<String>,
    /// The webhook endpoint's signing secrets (`whsec_...`); several while rotating.
    pub webhook_secrets: Vec<String>,
    /// Stripe's API origin (a local stand-in in tests). Default `https://api.stripe.com`.
    pub api_base: String,
    /// The catalog.
    pub plans: Vec<Plan>,
    /// How long a `past_due` subscription keeps its features. Default 7 days.
    #[serde(with = "duration")]
    pub past_due_grace: Duration,
    /// How long a call to Stripe may take. Default 10 s.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            stripe_secret_key: None,
            webhook_secrets: Vec::new(),
            api_base: "https://api.stripe.com".into(),
            plans: Vec::new(),
            past_due_grace: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

// Hand-written: the keys stay out of logs.
impl std::fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingConfig")
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("webhook_secrets", &self.webhook_secrets.len())
            .field("api_base", &self.api_base)
            .field("plans", &self.plans)
            .field("past_due_grace", &self.past_due_grace)
            .finish_non_exhaustive()
    }
}

impl BillingConfig {
    /// Whether billing is on.
    pub(crate) fn enabled(&self) -> bool {
        self.stripe_secret_key.is_some()
    }

    /// The `livemode` Stripe events must carry (from the secret key's kind).
    pub(crate) fn livemode(&self) -> bool {
        self.stripe_secret_key
            .as_deref()
            .is_some_and(|key| key.starts_with("sk_live_") || key.starts_with("rk_live_"))
    }

    /// The plan called `id`.
    pub(crate) fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|plan| plan.id == id)
    }

    /// The plan whose Stripe price is `price_id`.
    pub(crate) fn plan_of_price(&self, price_id: &str) -> Option<&Plan> {
        self.plans.iter().find(|plan| plan.price_id == price_id)
    }

    /// Checks the catalog and keys; a message when something is unusable.
    pub(crate) fn problem(&self) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let key = self.stripe_secret_key.as_deref().unwrap_or_default();
        if !["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
        {
            return Some(
                "stripe_secret_key: expected sk_live_..., sk_test_... (or a restricted rk_ key)"
                    .into(),
            );
        }
        if self.webhook_secrets.is_empty() {
            return Some(
                "webhook_secrets: at least one (whsec_...) is needed to receive events".into(),
            );
        }
        if crate::origin::Origin::parse(&self.api_base).is_none() {
            return Some(format!("api_base: {:?} is not an origin", self.api_base));
        }
        for (i, plan) in self.plans.iter().enumerate() {
            let id_ok = !plan.id.is_empty()
                && plan.id.len() <= 64
                && plan.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !id_ok {
                return Some(format!(
                    "plan {:?}: ids are 1 to 64 of a-z 0-9 _ -",
                    plan.id
                ));
            }
            if !plan.price_id.starts_with("price_") {
                return Some(format!(
                    "plan {:?}: price_id must be a Stripe price (price_...)",
                    plan.id
                ));
            }
            if plan.currency.len() != 3 || !plan.currency.bytes().all(|b| b.is_ascii_lowercase()) {
                return Some(format!(
                    "plan {:?}: currency is three lower-case letters (usd)",
                    plan.id
                ));
            }
            if !["day", "week", "month", "year"].contains(&plan.interval.as_str()) {
                return Some(format!(
                    "plan {:?}: interval is day, week, month or year",
                    plan.id
                ));
            }
            if plan.trial_days > 730 {
                return Some(format!("plan {:?}: trial_days is at most 730", plan.id));
            }
            let earlier = &self.plans[..i];
            if earlier.iter().any(|other| other.id == plan.id) {
                return Some(format!("plan {:?} is declared twice", plan.id));
            }
            if earlier.iter().any(|other| other.price_id == plan.price_id) {
                return Some(format!(
                    "plan {:?}: its price_id is another plan's",
                    plan.id
                ));
            }
        }
        None
    }
}
