//! Health: whether the database answers.

use crate::{Error, context::Context, store};

/// Pings the database: `Ok` when it answers.
pub(crate) async fn database(ctx: &Context) -> Result<(), Error> {
    Ok(store::ping(&ctx.db).await?)
}
