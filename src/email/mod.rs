//! Sending email: over SMTP (`KEYWARD_SMTP_URL`) or, without a mail server, into an
//! outbox folder as `.eml` files, so the default setup shows what would be sent.
//! Every email has a plain-text and an HTML part, each rendered by Askama.

pub mod messages;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// A mail could not be sent. The message names the problem, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message could not be built (a bad address, say).
    #[error("the email could not be built: {0}")]
    Build(String),
    /// The server could not be reached, did not answer in time, or refused for
    /// now (a 4xx answer): worth trying again later.
    #[error("the mail server did not accept the email: {0}")]
    Transport(String),
    /// The server refused for good (a 5xx answer, RFC 5321 §4.2.1): trying
    /// again would not help.
    #[error("the mail server refused the email: {0}")]
    Rejected(String),
}

impl MailError {
    /// Whether sending it again later could succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::Build(_))
    }
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Sends emails. Cheap to share.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    description: String,
    timeout: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.description)
            .finish_non_exhaustive()
    }
}

/// An email ready to send.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// A Message-ID that stays the same if this email is sent again, so mail
    /// systems can recognise a repeat.
    pub message_id: Option<String>,
}

impl Mailer {
    /// The mailer the settings describe.
    pub fn from_settings(settings: &Settings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| MailError::Build(format!("KEYWARD_MAIL_FROM: {e}")))?;
        match &settings.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| MailError::Build(format!("KEYWARD_SMTP_URL: {e}")))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                // Host and port only: the URL may hold a password.
                let description = url::Url::parse(url.expose_secret())
                    .map(|u| {
                        format!(
                            "SMTP server {}:{}",
                            u.host_str().unwrap_or("?"),
                            u.port_or_known_default().unwrap_or(25)
                        )
                    })
                    .unwrap_or_else(|_| "SMTP server".to_owned());
                Ok(Self {
                    transport: Transport::Smtp(transport),
                    from,
                    description,
                    timeout: settings.smtp_timeout,
                    metrics: None,
                })
            }
            None => Ok(Self::outbox(settings.outbox_dir(), from)),
        }
    }

    fn outbox(dir: PathBuf, from: Mailbox) -> Self {
        Self {
            description: format!("outbox folder {}", dir.display()),
            transport: Transport::Outbox(AsyncFileTransport::<Tokio1Executor>::new(&dir), dir),
            from,
            timeout: Duration::from_secs(30),
            metrics: None,
        }
    }

    /// Where emails go, for the console: host and port, or the outbox folder.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Sends one email.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let result = self.deliver(email).await;
        if let Some(metrics) = &self.metrics {
            metrics.email(match &result {
                Ok(()) => "sent",
                Err(MailError::Rejected(_)) => "rejected",
                Err(_) => "failed",
            });
        }
        result
    }

    /// Counts each email's outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<crate::metrics::Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    async fn deliver(&self, email: &Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Build(format!("recipient: {e}")))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        if let Some(id) = &email.message_id {
            builder = builder.message_id(Some(id.clone()));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            // lettre bounds only the connection by its timeout: the whole
            // exchange is bounded here, so a server that stalls mid-way cannot
            // hold a send (and the job) for minutes.
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(self.timeout, smtp.send(message)).await {
                    Err(_) => Err(MailError::Transport(format!(
                        "no answer within {} s",
                        self.timeout.as_secs()
                    ))),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) if e.is_permanent() => Err(MailError::Rejected(e.to_string())),
                    Ok(Err(e)) => Err(MailError::Transport(e.to_string())),
                }
            }
            Transport::Outbox(outbox, dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| MailError::Transport(e.to_string()))?;
                outbox
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Transport(e.to_string()))
            }
        }
    }
}
