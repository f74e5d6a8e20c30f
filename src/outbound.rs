//! What Keyward sends to other systems: webhook requests, signed as the
//! Standard Webhooks specification says, over a client that cannot be turned
//! against the network it runs in.
//!
//! The client ([`Outbound`]) connects only to public addresses (see
//! [`crate::domain::webhook::forbidden`]): a host name is resolved by its own
//! resolver, which refuses the whole name if any address it gives is
//! forbidden, so the address checked is the address connected to (a name that
//! changes its answer between the save and the send, DNS rebinding, is caught
//! at the send). It follows no redirect, uses no proxy from the environment,
//! reads at most [`MAX_RESPONSE_BYTES`] of an answer, and gives up after
//! [`TIMEOUT`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::webhook::{Forbidden, allowed};

/// The longest a webhook request may take, answer included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer's body read; the rest is never downloaded.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Prefix of a Standard Webhooks signing secret.
const SECRET_PREFIX: &str = "whsec_";

/// A webhook endpoint's signing secret: `whsec_` and the base64 of 32 random
/// bytes (Standard Webhooks, "Signature scheme": secrets of 24 to 64 bytes).
pub fn new_signing_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        STANDARD.encode(crate::secrets::random_bytes::<32>())
    )
}

/// The `webhook-signature` value `v1,<base64 HMAC-SHA256>` of one message
/// under `secret` (Standard Webhooks: the signed content is
/// `{webhook-id}.{webhook-timestamp}.{body}`, the key the base64-decoded part
/// of the secret after `whsec_`). `None` for a secret that is not one.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The answer's status, when one came.
    pub status: Option<u16>,
    /// From the start of the request to the end of the (bounded) body.
    pub latency: Duration,
    /// Why it failed, in words for the endpoint's page; `None` for a 2xx.
    pub error: Option<String>,
}

impl Attempt {
    /// Whether the receiver took it (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// Refuses `ip` unless it may receive webhooks.
fn check(ip: IpAddr, allow_loopback: bool) -> Result<(), Refused> {
    allowed(ip, allow_loopback).map_err(|reason| Refused { ip, reason })
}

/// A destination refused: which address and why.
#[derive(Debug, thiserror::Error)]
#[error("{ip} is {}: webhooks go only to public addresses", .reason.describe())]
pub struct Refused {
    ip: IpAddr,
    reason: Forbidden,
}

/// Resolves host names and keeps only names whose every address is allowed.
#[derive(Debug)]
struct GuardedResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs = resolve(&host, allow_loopback).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `host`, or why it may not be sent to.
async fn resolve(
    host: &str,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address").into());
    }
    for addr in &addrs {
        check(addr.ip(), allow_loopback)?;
    }
    Ok(addrs)
}

/// The HTTP client of webhooks.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl Outbound {
    /// A client; `allow_loopback` lets it reach this machine (for tests and
    /// receivers on the same host, `KEYWARD_WEBHOOKS_ALLOW_LOOPBACK=1`).
    pub fn new(allow_loopback: bool) -> Result<Self, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(GuardedResolver { allow_loopback })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    /// Whether loopback receivers are allowed.
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// Checks now where `url` leads: an address literal, or every address
    /// its host name resolves to. The words say why not.
    pub async fn check_destination(&self, url: &url::Url) -> Result<(), String> {
        match url.host() {
            None => Err("the URL has no host".to_owned()),
            Some(url::Host::Ipv4(ip)) => {
                check(IpAddr::V4(ip), self.allow_loopback).map_err(|e| e.to_string())
            }
            Some(url::Host::Ipv6(ip)) => {
                check(IpAddr::V6(ip), self.allow_loopback).map_err(|e| e.to_string())
            }
            Some(url::Host::Domain(name)) => resolve(name, self.allow_loopback)
                .await
                .map(|_| ())
                .map_err(|e| match e.downcast_ref::<Refused>() {
                    Some(refused) => format!("{name} resolves to {refused}"),
                    None => format!("{name} could not be resolved ({e})"),
                }),
        }
    }

    /// POSTs `body` (JSON) to `url` with `headers`; never fails, the attempt
    /// says what happened.
    pub async fn post(&self, url: &url::Url, headers: &[(&str, String)], body: String) -> Attempt {
        let start = Instant::now();
        // An address literal never reaches the resolver: checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(e) = check(ip, self.allow_loopback)
        {
            return Attempt {
                status: None,
                latency: start.elapsed(),
                error: Some(e.to_string()),
            };
        }
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Attempt {
                    status: None,
                    latency: start.elapsed(),
                    error: Some(describe(&e)),
                };
            }
        };
        let status = response.status();
        // Read (and throw away) at most MAX_RESPONSE_BYTES of the body, so a
        // receiver cannot make the sender download without end.
        let mut read = 0usize;
        let mut body_error = None;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(describe(&e));
                    break;
                }
            }
        }
        let latency = start.elapsed();
        let error = if status.is_redirection() {
            Some(format!(
                "the receiver answered {} (a redirect, which webhooks never follow)",
                status.as_u16()
            ))
        } else if !status.is_success() {
            Some(format!("the receiver answered {}", status.as_u16()))
        } else {
            body_error
        };
        Attempt {
            status: Some(status.as_u16()),
            latency,
            error,
        }
    }
}

/// Why a request failed, with its causes, never the URL (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "failed".to_owned()
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        kind
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries (their shared test vector).
    #[test]
    fn signatures_match_the_specifications_test_vector() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "msg", 1, "{}"), None);
    }

    #[test]
    fn new_secrets_are_standard_webhooks_secrets() {
        let secret = new_signing_secret();
        let key = STANDARD
            .decode(secret.trim_start_matches(SECRET_PREFIX))
            .unwrap_or_default();
        assert_eq!(key.len(), 32);
        assert_ne!(secret, new_signing_secret());
    }
}
