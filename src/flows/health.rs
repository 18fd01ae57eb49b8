//! Health: whether the database answers, within a bound.

use std::time::Duration;

use crate::{Error, context::Context, store};

/// How long a readiness probe waits for the database.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Pings the database: `Ok` when it answers within [`READY_WITHIN`], 503 otherwise.
pub(crate) async fn database(ctx: &Context) -> Result<(), Error> {
    match tokio::time::timeout(READY_WITHIN, store::ping(&ctx.db)).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(Error::Unavailable(
            "the database did not answer in time".into(),
        )),
    }
}
