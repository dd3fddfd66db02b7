//! Sending requests: one pooled connection for the whole run, the TLS roots (the OS trust
//! store, plus `--ca-cert`), the proxy, timeouts, and retries. GET and DELETE (and any
//! request that never left) are retried up to three times on connection errors, 5xx and
//! 429, with backoff and the server's `Retry-After` (capped); a POST that may have reached
//! the server is never sent twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use super::connection::{Connection, MAX_RETRY_AFTER, ProxySetting};
use super::errors::{self, Answer, Context, HttpError, Sent, TransportError};
use super::url::ServerUrl;
use crate::console::Console;
use crate::credential::Credential;
use crate::exit::usage;

const ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

macro_rules! boundary {
    () => {
        "octopus-runkey-7c1e0b5a93d24f68"
    };
}

/// The boundary of a multipart body: the caller checks that the parts do not contain it.
pub const MULTIPART_BOUNDARY: &str = boundary!();
const MULTIPART_CONTENT_TYPE: &str = concat!("multipart/form-data;boundary=", boundary!());

/// What a POST or PUT sends.
#[derive(Clone, Copy)]
pub struct Body<'a> {
    pub content_type: &'static str,
    pub bytes: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn json(bytes: &'a [u8]) -> Body<'a> {
        Body {
            content_type: "application/json",
            bytes,
        }
    }

    pub fn form(bytes: &'a [u8]) -> Body<'a> {
        Body {
            content_type: "application/x-www-form-urlencoded",
            bytes,
        }
    }

    /// A `multipart/form-data` body whose parts are separated by [`MULTIPART_BOUNDARY`].
    pub fn multipart(bytes: &'a [u8]) -> Body<'a> {
        Body {
            content_type: MULTIPART_CONTENT_TYPE,
            bytes,
        }
    }
}

/// A successful answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

struct Raw {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
    location: Option<String>,
}

pub struct Transport {
    agent: Agent,
    pub server: ServerUrl,
    credential: Credential,
    timeout: Duration,
    proxy: Option<ProxySetting>,
    console: Console,
}

impl Transport {
    pub fn new(
        connection: &Connection,
        credential: Credential,
        console: Console,
    ) -> Result<Transport> {
        let tls = TlsConfig::builder()
            .root_certs(root_certs(connection)?)
            .build();
        let proxy = match &connection.proxy {
            Some(proxy) => Some(Proxy::new(&proxy.url).map_err(|_| {
                usage(format!(
                    "the proxy '{}' (from {}) is not a proxy URL: use http://host:port",
                    proxy.shown(),
                    proxy.variable
                ))
            })?),
            None => None,
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(connection.timeout))
            .timeout_connect(Some(connection.timeout.min(CONNECT_TIMEOUT)))
            .user_agent(format!("octopus-runkey/{}", env!("CARGO_PKG_VERSION")))
            .proxy(proxy)
            .tls_config(tls)
            .build();
        Ok(Transport {
            agent: Agent::new_with_config(config),
            server: connection.server.clone(),
            credential,
            timeout: connection.timeout,
            proxy: connection.proxy.clone(),
            console,
        })
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Sends one request, retrying as the module says. `label` (`GET /api/...`) names the
    /// request in every message.
    pub fn exchange(
        &self,
        method: Method,
        url: &str,
        label: &str,
        body: Option<Body>,
    ) -> Result<Reply> {
        let idempotent = method != Method::Post;
        let mut attempt = 1;
        loop {
            let result = self.send_once(method, url, label, body);
            let wait = match &result {
                Ok(raw) if idempotent && (raw.status >= 500 || raw.status == 429) => {
                    Some(raw.retry_after.unwrap_or_else(|| backoff(attempt)))
                }
                Err(e) if e.retryable && (idempotent || e.sent == Sent::No) => {
                    Some(backoff(attempt))
                }
                _ => None,
            };
            match (wait, attempt < ATTEMPTS) {
                (Some(wait), true) => {
                    self.console.verbose(&format!(
                        "retrying {label} in {} ms (attempt {} of {ATTEMPTS})",
                        wait.as_millis(),
                        attempt + 1
                    ));
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => {
                    let raw = result?;
                    return if (200..300).contains(&raw.status) {
                        Ok(Reply {
                            status: raw.status,
                            body: raw.body,
                        })
                    } else {
                        Err(self.status_error(label, &raw).into())
                    };
                }
            }
        }
    }

    fn context<'a>(&'a self, label: &'a str) -> Context<'a> {
        Context {
            label,
            server: &self.server,
            credential: &self.credential,
            timeout: self.timeout,
            connect_timeout: CONNECT_TIMEOUT.min(self.timeout),
            proxy: self.proxy.as_ref(),
        }
    }

    fn status_error(&self, label: &str, raw: &Raw) -> HttpError {
        errors::status_error(
            &self.context(label),
            &Answer {
                status: raw.status,
                body: &raw.body,
                retry_after: raw.retry_after,
                location: raw.location.as_deref(),
            },
        )
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        label: &str,
        body: Option<Body>,
    ) -> Result<Raw, TransportError> {
        let started = Instant::now();
        let name = self.credential.header_name();
        let value = self.credential.header_value();
        match value {
            Some(_) => self
                .console
                .verbose(&format!("> {} {url} ({name}: (redacted))", method.as_str())),
            None => self
                .console
                .verbose(&format!("> {} {url}", method.as_str())),
        }
        let result = match method {
            Method::Get => with_credential(self.agent.get(url), name, &value)
                .header("Accept", "application/json")
                .call(),
            Method::Delete => with_credential(self.agent.delete(url), name, &value)
                .header("Accept", "application/json")
                .call(),
            Method::Post => {
                let body = body.unwrap_or(Body::json(b""));
                with_credential(self.agent.post(url), name, &value)
                    .header("Accept", "application/json")
                    .content_type(body.content_type)
                    .send(body.bytes)
            }
            Method::Put => {
                let body = body.unwrap_or(Body::json(b""));
                with_credential(self.agent.put(url), name, &value)
                    .header("Accept", "application/json")
                    .content_type(body.content_type)
                    .send(body.bytes)
            }
        };
        let transport = |e| errors::transport_error(&self.context(label), e);
        let mut response = result.map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after")
            .and_then(|v| retry_after(&v))
            .map(|wait| wait.min(MAX_RETRY_AFTER));
        let location = header("location");
        if let Some(encoding) = header("content-encoding")
            .filter(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"))
        {
            return Err(errors::encoded_answer(
                &self.context(label),
                encoding.trim(),
            ));
        }
        let body = response.body_mut().read_to_string().map_err(transport)?;
        self.console.verbose(&format!(
            "< {status} {label} in {} ms",
            started.elapsed().as_millis()
        ));
        Ok(Raw {
            status,
            body,
            retry_after,
            location,
        })
    }
}

fn with_credential<B>(
    request: ureq::RequestBuilder<B>,
    name: &str,
    value: &Option<String>,
) -> ureq::RequestBuilder<B> {
    match value {
        Some(value) => request.header(name, value),
        None => request,
    }
}

fn root_certs(connection: &Connection) -> Result<RootCerts> {
    let Some(path) = &connection.ca_cert else {
        return Ok(RootCerts::PlatformVerifier);
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("--ca-cert {}: cannot read it", path.display()))?;
    let mut certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(usage(format!(
            "--ca-cert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA's certificate in PEM form",
            path.display()
        )));
    }
    // The platform verifier cannot take extra roots through ureq, so with --ca-cert the OS
    // store (which honours SSL_CERT_FILE and SSL_CERT_DIR) is loaded beside the given CA.
    let native = rustls_native_certs::load_native_certs();
    certs.extend(
        native
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
    );
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// `Retry-After` as seconds or as an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S GMT", value)
        .ok()?
        .to_datetime()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

fn backoff(attempt: u32) -> Duration {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    Duration::from_millis(200 * u64::from(attempt) + u64::from(jitter[0]) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_200_ms_an_attempt_with_up_to_127_ms_of_jitter() {
        for attempt in 1..=3u32 {
            let base = 200 * u128::from(attempt);
            let waits: Vec<u128> = (0..64).map(|_| backoff(attempt).as_millis()).collect();
            assert!(
                waits.iter().all(|w| (base..base + 128).contains(w)),
                "{attempt}: {waits:?}"
            );
            // Half the draws add more than 60 ms: 64 draws all below is a chance of 10^-20.
            assert!(waits.iter().any(|w| *w > base + 60), "no jitter: {waits:?}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = soon.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = retry_after(&date).unwrap();
        assert!((28..=31).contains(&wait.as_secs()), "{wait:?} from {date}");
        assert_eq!(
            retry_after("Mon, 01 Jan 2001 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
