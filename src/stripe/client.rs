//! The handful of Stripe API calls portcullis makes, form-encoded with brackets as
//! Stripe documents (`line_items[0][price]=...`), with the secret key as a bearer token
//! and an `Idempotency-Key` on every create. Written by hand: five endpoints do not need
//! a generated SDK of thousands of types (async-stripe 1.0 is still a release candidate).

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// A Stripe API client (the key and the base URL are the host's).
#[derive(Clone)]
pub(crate) struct Stripe {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A subscription as Stripe reports it, reduced to what portcullis keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StripeSubscription {
    pub(crate) id: String,
    pub(crate) customer: String,
    pub(crate) status: String,
    pub(crate) price_id: Option<String>,
    pub(crate) item_id: Option<String>,
    pub(crate) quantity: i64,
    pub(crate) current_period_end: Option<i64>,
    pub(crate) cancel_at_period_end: bool,
}

impl StripeSubscription {
    /// Reads a subscription object (an API answer or an event's `data.object`). The
    /// period's end is read from the subscription, or (in newer API versions) its first
    /// item.
    pub(crate) fn from_object(object: &Value) -> Option<Self> {
        let item = &object["items"]["data"][0];
        let customer = match &object["customer"] {
            Value::String(id) => id.clone(),
            Value::Object(customer) => customer.get("id")?.as_str()?.to_owned(),
            _ => return None,
        };
        Some(Self {
            id: object["id"].as_str()?.to_owned(),
            customer,
            status: object["status"].as_str()?.to_owned(),
            price_id: item["price"]["id"].as_str().map(str::to_owned),
            item_id: item["id"].as_str().map(str::to_owned),
            quantity: item["quantity"].as_i64().unwrap_or(1),
            current_period_end: object["current_period_end"]
                .as_i64()
                .or_else(|| item["current_period_end"].as_i64()),
            cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
        })
    }
}

/// What a new checkout asks Stripe for.
#[derive(Debug)]
pub(crate) struct CheckoutRequest<'a> {
    pub(crate) customer: &'a str,
    pub(crate) price_id: &'a str,
    pub(crate) quantity: u64,
    pub(crate) trial_days: u32,
    pub(crate) success_url: &'a str,
    pub(crate) cancel_url: &'a str,
    /// `user:<id>` or `organization:<id>`.
    pub(crate) payer: &'a str,
    pub(crate) plan_id: &'a str,
    pub(crate) idempotency_key: &'a str,
}

#[derive(Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    url: Option<String>,
}

impl Stripe {
    pub(crate) fn new(base: &str, key: &str, timeout: std::time::Duration) -> Result<Self, String> {
        let http = crate::delivery::http_client::client_with_timeout(timeout)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, Error> {
        let url = format!("{}/v1/{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.key);
        if !form.is_empty() {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in form {
                body.append_pair(key, value);
            }
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.finish());
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|err| {
            tracing::warn!(error = %err, path, "calling Stripe failed");
            Error::Unavailable("Stripe did not answer".into())
        })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|err| {
            tracing::warn!(error = %err, path, "Stripe answered something that is not JSON");
            Error::Unavailable("Stripe answered something unreadable".into())
        })?;
        if !status.is_success() {
            // Stripe's own message is for the host's logs; the caller hears it failed.
            tracing::warn!(%status, path, error = %body["error"]["message"], "Stripe refused a call");
            return Err(Error::Unavailable(
                format!("Stripe refused the call ({status})").into(),
            ));
        }
        Ok(body)
    }

    /// `POST /v1/customers`: a customer for a payer; answers its id.
    pub(crate) async fn create_customer(
        &self,
        email: Option<&str>,
        name: Option<&str>,
        payer: &str,
        idempotency_key: &str,
    ) -> Result<String, Error> {
        let mut form = vec![("metadata[portcullis_payer]".to_owned(), payer.to_owned())];
        if let Some(email) = email {
            form.push(("email".into(), email.to_owned()));
        }
        if let Some(name) = name {
            form.push(("name".into(), name.to_owned()));
        }
        let created: Created = parse(
            self.call(
                reqwest::Method::POST,
                "customers",
                &form,
                Some(idempotency_key),
            )
            .await?,
        )?;
        Ok(created.id)
    }

    /// `POST /v1/checkout/sessions` in `subscription` mode: answers (id, url).
    pub(crate) async fn create_checkout(
        &self,
        request: &CheckoutRequest<'_>,
    ) -> Result<(String, String), Error> {
        let mut form = vec![
            ("mode".to_owned(), "subscription".to_owned()),
            ("customer".into(), request.customer.to_owned()),
            ("line_items[0][price]".into(), request.price_id.to_owned()),
            (
                "line_items[0][quantity]".into(),
                request.quantity.to_string(),
            ),
            ("success_url".into(), request.success_url.to_owned()),
            ("cancel_url".into(), request.cancel_url.to_owned()),
            ("client_reference_id".into(), request.payer.to_owned()),
            (
                "metadata[portcullis_payer]".into(),
                request.payer.to_owned(),
            ),
            (
                "metadata[portcullis_plan]".into(),
                request.plan_id.to_owned(),
            ),
            (
                "subscription_data[metadata][portcullis_payer]".into(),
                request.payer.to_owned(),
            ),
            (
                "subscription_data[metadata][portcullis_plan]".into(),
                request.plan_id.to_owned(),
            ),
        ];
        if request.trial_days > 0 {
            form.push((
                "subscription_data[trial_period_days]".into(),
                request.trial_days.to_string(),
            ));
        }
        let created: Created = parse(
            self.call(
                reqwest::Method::POST,
                "checkout/sessions",
                &form,
                Some(request.idempotency_key),
            )
            .await?,
        )?;
        let url = created
            .url
            .ok_or_else(|| Error::Unavailable("Stripe gave the checkout no URL".into()))?;
        Ok((created.id, url))
    }

    /// `POST /v1/billing_portal/sessions`: answers the portal's URL.
    pub(crate) async fn create_portal(
        &self,
        customer: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, Error> {
        let form = vec![
            ("customer".to_owned(), customer.to_owned()),
            ("return_url".into(), return_url.to_owned()),
        ];
        let created: Created = parse(
            self.call(
                reqwest::Method::POST,
                "billing_portal/sessions",
                &form,
                Some(idempotency_key),
            )
            .await?,
        )?;
        created
            .url
            .ok_or_else(|| Error::Unavailable("Stripe gave the portal no URL".into()))
    }

    /// `GET /v1/subscriptions/{id}`: what Stripe says now.
    pub(crate) async fn subscription(&self, id: &str) -> Result<StripeSubscription, Error> {
        if !id.starts_with("sub_")
            || id.len() > 255
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Error::invalid_request("not a Stripe subscription id"));
        }
        let object = self
            .call(
                reqwest::Method::GET,
                &format!("subscriptions/{id}"),
                &[],
                None,
            )
            .await?;
        StripeSubscription::from_object(&object)
            .ok_or_else(|| Error::Unavailable("Stripe answered an unreadable subscription".into()))
    }

    /// `POST /v1/subscriptions/{id}`: sets the quantity of its one item.
    pub(crate) async fn set_quantity(
        &self,
        subscription: &str,
        item: &str,
        quantity: u64,
        idempotency_key: &str,
    ) -> Result<(), Error> {
        let form = vec![
            ("items[0][id]".to_owned(), item.to_owned()),
            ("items[0][quantity]".into(), quantity.to_string()),
            ("proration_behavior".into(), "create_prorations".into()),
        ];
        self.call(
            reqwest::Method::POST,
            &format!("subscriptions/{subscription}"),
            &form,
            Some(idempotency_key),
        )
        .await?;
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value)
        .map_err(|_| Error::Unavailable("Stripe answered an unexpected shape".into()))
}
