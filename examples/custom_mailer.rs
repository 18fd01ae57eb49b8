//! A mailer of the host's own: every email portcullis sends goes through it (here to an
//! in-process queue a worker drains; a real one would call an email API).
//!
//! ```sh
//! cargo run --example custom_mailer
//! ```

use portcullis::{
    Portcullis, Secret,
    delivery::{Email, MailError, Mailer},
    users::NewUser,
};
use tokio::sync::mpsc;

/// Hands each email to a queue; a worker sends it on.
#[derive(Debug, Clone)]
struct QueueMailer {
    queue: mpsc::UnboundedSender<Email>,
}

#[async_trait::async_trait]
impl Mailer for QueueMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.queue
            .send(email.clone())
            .map_err(|_| MailError("the mail worker has stopped".into()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = sea_orm::Database::connect("sqlite::memory:").await?;
    portcullis::migrate(&db).await?;
    let (queue, mut outbox) = mpsc::unbounded_channel();
    let auth = Portcullis::builder(db)
        .secret(Secret::generate())
        .mailer(QueueMailer { queue })
        .build()
        .await?;

    // A user created from Rust, then a password-reset email: through our mailer.
    let user = auth
        .users()
        .create(NewUser::new("ada@example.com").password("a long and unusual passphrase"))
        .await?;
    println!("created {}", user.id);
    let app = auth.router::<()>();
    let request = http::Request::post("/password/forgot")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"email":"ada@example.com"}"#))?;
    let response = tower::ServiceExt::oneshot(app, request).await?;
    println!("POST /password/forgot -> {}", response.status());

    let email = outbox.recv().await.ok_or("no email")?;
    println!("to {}: {} ({})", email.to, email.subject, email.kind);
    Ok(())
}
