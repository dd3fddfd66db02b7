//! The Octopus REST client: authentication, one pooled connection for the whole run,
//! paging through `Links["Page.Next"]`, retries for GET and DELETE, and every failure turned
//! into one line that names the request, the cause and the fix.
//!
//! Wire types use Octopus's own PascalCase field names, ignore unknown fields, and make
//! every field optional that an older server may leave out (before 2020.6 there was no
//! `Expires`, and a listed key's `ApiKey` was a masked string rather than an object, so a
//! listed key's `ApiKey` is never read).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use crate::error::usage;
use crate::secret::Secret;
use crate::settings::{self, Connection};

/// How many keys one page asks for. Servers may cap it; paging follows `Page.Next` anyway.
const PAGE_SIZE: u32 = 100;
const ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured: a step should not sit silent for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Who the client acts as: the broker service account, or a run key acting as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Broker,
    RunKey,
}

/// A credential and the variable it came from (for messages: never the value).
#[derive(Debug, Clone)]
pub struct Credential {
    secret: Secret,
    bearer: bool,
    source: &'static str,
}

impl Credential {
    pub fn api_key(secret: Secret, source: &'static str) -> Credential {
        Credential {
            secret,
            bearer: false,
            source,
        }
    }

    pub fn bearer(secret: Secret, source: &'static str) -> Credential {
        Credential {
            secret,
            bearer: true,
            source,
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn role(&self) -> Role {
        if self.source == settings::RUNKEY_API_KEY.name {
            Role::RunKey
        } else {
            Role::Broker
        }
    }

    fn header(&self) -> (&'static str, String) {
        if self.bearer {
            ("Authorization", format!("Bearer {}", self.secret.expose()))
        } else {
            ("X-Octopus-ApiKey", self.secret.expose().to_string())
        }
    }

    fn header_name(&self) -> &'static str {
        if self.bearer {
            "Authorization"
        } else {
            "X-Octopus-ApiKey"
        }
    }

    fn fix_for_401(&self) -> &'static str {
        match (self.role(), self.bearer) {
            (Role::RunKey, _) => "the run key expired or was revoked; run the create step again",
            (Role::Broker, true) => {
                "get a fresh access token for the broker service account (they last one hour)"
            }
            (Role::Broker, false) => {
                "give the step a current API key of the broker service account"
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl User {
    /// `Display Name (username, Users-N)`, with whatever of the names the server sent.
    pub fn describe(&self) -> String {
        let id = &self.id;
        match (self.display_name.as_deref(), self.username.as_deref()) {
            (Some(d), Some(u)) if d != u && !d.is_empty() => format!("{d} ({u}, {id})"),
            (_, Some(u)) | (Some(u), None) => format!("{u} ({id})"),
            (None, None) => id.clone(),
        }
    }
}

/// The answer to creating a key: the only time the server shows the key itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedKey {
    pub id: String,
    #[serde(default)]
    pub purpose: Option<String>,
    pub api_key: Secret,
    #[serde(default)]
    pub expires: Option<String>,
}

/// A listed key. Its `ApiKey` field (masked) is deliberately not read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKeyInfo {
    pub id: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
}

impl ApiKeyInfo {
    pub fn purpose(&self) -> &str {
        self.purpose.as_deref().unwrap_or("")
    }

    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires.as_deref().and_then(parse_timestamp)
    }

    pub fn created_at(&self) -> Option<Timestamp> {
        self.created.as_deref().and_then(parse_timestamp)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    links: HashMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunbookRun {
    #[serde(default)]
    pub deployed_by: Option<String>,
    #[serde(default)]
    pub deployed_by_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    errors: Option<Vec<String>>,
}

/// The server answered with a status that is not success.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    pub retry_after: Option<Duration>,
    message: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// Whether a request that failed in transport may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Failed before the request left (refused, unresolvable, TLS): safe to send again.
    No,
    /// The request may have been carried out; only its answer is missing.
    Maybe,
}

/// No HTTP answer at all.
#[derive(Debug)]
pub struct TransportError {
    pub sent: Sent,
    retryable: bool,
    message: String,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// The HTTP status behind an error, if the server answered at all.
pub fn status_of(error: &anyhow::Error) -> Option<u16> {
    error.downcast_ref::<HttpError>().map(|e| e.status)
}

pub enum Created {
    Key(CreatedKey),
    /// The create may or may not have happened: the answer was lost or unreadable.
    Unknown(anyhow::Error),
}

pub enum Deleted {
    Now,
    AlreadyGone,
}

struct Reply {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
    location: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

pub struct Client {
    agent: Agent,
    /// `https://host[:port][/vdir]` without a trailing slash.
    base: String,
    /// `https://host[:port]`.
    origin: String,
    /// `/vdir` or empty.
    base_path: String,
    credential: Credential,
    timeout: Duration,
    verbose: bool,
}

impl Client {
    pub fn new(connection: &Connection, credential: Credential) -> Result<Client> {
        let tls = TlsConfig::builder()
            .root_certs(root_certs(connection)?)
            .build();
        let proxy = match &connection.proxy {
            Some(url) => Some(Proxy::new(url).map_err(|_| {
                usage(format!(
                    "the proxy '{}' (from HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) is not a proxy URL: use http://host:port",
                    settings::host_of(url)
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
        let base = connection.server.clone();
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let (origin, base_path) = match base[after_scheme..].find('/') {
            Some(slash) => base.split_at(after_scheme + slash),
            None => (base.as_str(), ""),
        };
        Ok(Client {
            agent: Agent::new_with_config(config),
            origin: origin.to_string(),
            base_path: base_path.to_string(),
            base,
            credential,
            timeout: connection.timeout,
            verbose: connection.verbose,
        })
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// `GET /api/users/me`: the user the credential belongs to.
    pub fn me(&self) -> Result<User> {
        self.get("/api/users/me")
    }

    pub fn user(&self, id: &str) -> Result<User> {
        self.get(&format!("/api/users/{}", encode(id)))
    }

    pub fn runbook_run(&self, space_id: &str, run_id: &str) -> Result<RunbookRun> {
        self.get(&format!(
            "/api/{}/runbookRuns/{}",
            encode(space_id),
            encode(run_id)
        ))
    }

    /// One key of `owner`, or `None` when the server does not know it.
    pub fn api_key(&self, owner: &str, id: &str) -> Result<Option<ApiKeyInfo>> {
        match self.get(&format!(
            "/api/users/{}/apikeys/{}",
            encode(owner),
            encode(id)
        )) {
            Ok(key) => Ok(Some(key)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every key of `owner` whose purpose contains `partial_purpose` on servers that filter
    /// (`partialPurpose`), or every key on servers that ignore the parameter: callers filter
    /// by marker either way.
    pub fn list_api_keys(&self, owner: &str, partial_purpose: &str) -> Result<Vec<ApiKeyInfo>> {
        let label = format!("GET /api/users/{owner}/apikeys");
        let mut next = Some(format!(
            "{}/api/users/{}/apikeys?skip=0&take={PAGE_SIZE}&partialPurpose={}",
            self.base,
            encode(owner),
            encode(partial_purpose)
        ));
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                bail!(
                    "{label}: the server's Page.Next link repeats a page ({url}); the listing cannot be completed"
                );
            }
            let reply = self.exchange(Method::Get, &url, &label, None)?;
            let page: Page<ApiKeyInfo> = self.decode(&label, &reply.body)?;
            if page.items.is_empty() {
                break;
            }
            keys.extend(page.items);
            if let Some(Some(link)) = page.links.get("Page.Next") {
                next = Some(self.resolve_link(link, &label)?);
            }
        }
        Ok(keys)
    }

    /// `DELETE /api/users/{owner}/apikeys/{id}`; a key that is already gone is not an error.
    pub fn delete_api_key(&self, owner: &str, id: &str) -> Result<Deleted> {
        let path = format!("/api/users/{}/apikeys/{}", encode(owner), encode(id));
        let label = format!("DELETE {path}");
        match self.exchange(
            Method::Delete,
            &format!("{}{path}", self.base),
            &label,
            None,
        ) {
            Ok(_) => Ok(Deleted::Now),
            Err(e) if status_of(&e) == Some(404) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/users/{owner}/apikeys`. Never repeated once it may have reached the
    /// server: an answer that is lost, unreadable or a server error is [`Created::Unknown`],
    /// and the caller settles it through the attempt's nonce.
    pub fn create_api_key(
        &self,
        owner: &str,
        purpose: &str,
        expires: Timestamp,
    ) -> Result<Created> {
        let path = format!("/api/users/{}/apikeys", encode(owner));
        let label = format!("POST {path}");
        let body = serde_json::json!({
            "Purpose": purpose,
            "Expires": format_expires(expires),
            "UserId": owner,
        });
        let body = serde_json::to_vec(&body)?;
        let reply = match self.exchange(
            Method::Post,
            &format!("{}{path}", self.base),
            &label,
            Some(&body),
        ) {
            Ok(reply) => reply,
            Err(e) => {
                let unknown = match (
                    e.downcast_ref::<HttpError>(),
                    e.downcast_ref::<TransportError>(),
                ) {
                    (Some(http), _) => http.status >= 500 || http.status == 429,
                    (_, Some(transport)) => transport.sent == Sent::Maybe,
                    _ => false,
                };
                return if unknown {
                    Ok(Created::Unknown(e))
                } else {
                    Err(e)
                };
            }
        };
        match serde_json::from_str::<CreatedKey>(&reply.body) {
            Ok(key) if is_key_shaped(key.api_key.expose()) => Ok(Created::Key(key)),
            _ => Ok(Created::Unknown(anyhow!(
                "{label}: the server answered {} but the body is not a created API key",
                reply.status
            ))),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let label = format!("GET {}", path.split('?').next().unwrap_or(path));
        let reply = self.exchange(Method::Get, &format!("{}{path}", self.base), &label, None)?;
        self.decode(&label, &reply.body)
    }

    fn decode<T: DeserializeOwned>(&self, label: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| {
            anyhow!(
                "{label}: the server's answer is not the JSON Octopus sends ({e}); check that {} is an Octopus Server",
                self.base
            )
        })
    }

    /// Octopus links are paths from the server root (they include a virtual directory).
    /// A link to another origin is refused: the credential goes only to the configured server.
    fn resolve_link(&self, link: &str, label: &str) -> Result<String> {
        if link.starts_with("http://") || link.starts_with("https://") {
            if link.starts_with(&format!("{}/", self.origin)) {
                return Ok(link.to_string());
            }
            bail!(
                "{label}: the server's Page.Next link points at another server ({link}); refusing to send the credential there"
            );
        }
        let link = link.strip_prefix('~').unwrap_or(link);
        if !self.base_path.is_empty() && link.starts_with(&format!("{}/", self.base_path)) {
            Ok(format!("{}{link}", self.origin))
        } else {
            Ok(format!("{}{link}", self.base))
        }
    }

    /// Sends one request, retrying GET and DELETE (and a request that never left) up to
    /// three times on connection errors, 5xx and 429, honouring `Retry-After`.
    fn exchange(
        &self,
        method: Method,
        url: &str,
        label: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let idempotent = method != Method::Post;
        let mut attempt = 1;
        loop {
            let result = self.send_once(method, url, label, body);
            let wait = match &result {
                Ok(reply) if idempotent && (reply.status >= 500 || reply.status == 429) => Some(
                    reply
                        .retry_after
                        .map_or_else(|| backoff(attempt), |d| d.min(MAX_RETRY_AFTER)),
                ),
                Err(e) if e.retryable && (idempotent || e.sent == Sent::No) => {
                    Some(backoff(attempt))
                }
                _ => None,
            };
            match (wait, attempt < ATTEMPTS) {
                (Some(wait), true) => {
                    if self.verbose {
                        eprintln!(
                            "octopus-runkey: retrying {label} in {} ms (attempt {} of {ATTEMPTS})",
                            wait.as_millis(),
                            attempt + 1
                        );
                    }
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => {
                    let reply = result?;
                    return if (200..300).contains(&reply.status) {
                        Ok(reply)
                    } else {
                        Err(self.status_error(label, &reply).into())
                    };
                }
            }
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        label: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, TransportError> {
        let started = Instant::now();
        if self.verbose {
            eprintln!(
                "octopus-runkey: > {} {url} ({}: (redacted))",
                method.as_str(),
                self.credential.header_name()
            );
        }
        let (name, value) = self.credential.header();
        let result = match (method, body) {
            (Method::Get, _) => self
                .agent
                .get(url)
                .header(name, &value)
                .header("Accept", "application/json")
                .call(),
            (Method::Delete, _) => self
                .agent
                .delete(url)
                .header(name, &value)
                .header("Accept", "application/json")
                .call(),
            (Method::Post, body) => self
                .agent
                .post(url)
                .header(name, &value)
                .header("Accept", "application/json")
                .content_type("application/json")
                .send(body.unwrap_or_default()),
        };
        let mut response = result.map_err(|e| self.transport_error(label, e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = header("location");
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport_error(label, e))?;
        if self.verbose {
            eprintln!(
                "octopus-runkey: < {status} {label} in {} ms",
                started.elapsed().as_millis()
            );
        }
        Ok(Reply {
            status,
            body,
            retry_after,
            location,
        })
    }

    fn status_error(&self, label: &str, reply: &Reply) -> HttpError {
        let status = reply.status;
        let parsed = serde_json::from_str::<ErrorBody>(&reply.body)
            .ok()
            .and_then(|b| {
                let mut parts: Vec<String> = b
                    .error_message
                    .into_iter()
                    .filter(|m| !m.is_empty())
                    .collect();
                for error in b.errors.unwrap_or_default() {
                    if !parts.contains(&error) {
                        parts.push(error);
                    }
                }
                (!parts.is_empty()).then(|| shorten(&parts.join("; ")))
            });
        let source = self.credential.source();
        let message = match (status, &parsed) {
            (300..=399, _) => format!(
                "{label} was redirected ({status}) to {}: set OCTOPUS_URL to the server's own address",
                reply.location.as_deref().unwrap_or("another address")
            ),
            (401, _) => format!(
                "{label} was refused (401): {source} is invalid or expired, or its user is disabled; {}",
                self.credential.fix_for_401()
            ),
            (403, Some(text)) => match text.split("Missing permission:").nth(1) {
                Some(permission) => {
                    let permission = permission.trim().trim_end_matches('.');
                    format!(
                        "{label} was forbidden (403): the account behind {source} lacks the permission {permission}; add {permission} to a team of that account"
                    )
                }
                None => format!("{label} was forbidden (403): {text}"),
            },
            (429, _) => format!(
                "{label} was rate limited (429) by the server; wait a little and run the step again"
            ),
            (_, None) => {
                let kind = if reply.body.trim_start().starts_with('<') {
                    "an HTML page, likely from a proxy or load balancer in front of Octopus"
                } else {
                    "not an Octopus error"
                };
                format!(
                    "{label} failed with HTTP {status} and an answer that is {kind}; check that {} is the Octopus Server and that it is up",
                    self.base
                )
            }
            (404, Some(text)) => format!("{label}: not found (404): {text}"),
            (500.., Some(text)) => format!(
                "{label} failed on the server (HTTP {status}): {text}; try again, or check the server's log"
            ),
            (_, Some(text)) => format!("{label} was rejected (HTTP {status}): {text}"),
        };
        HttpError {
            status,
            retry_after: reply.retry_after,
            message,
        }
    }

    fn transport_error(&self, label: &str, error: ureq::Error) -> TransportError {
        let host = settings::host_of(&self.base);
        let origin = &self.origin;
        let secs = self.timeout.as_secs();
        let detail = error.to_string();
        let tls_like = matches!(
            error,
            ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_)
        ) || detail.contains("certificate")
            || detail.contains("UnknownIssuer");
        let (sent, retryable, message) = match &error {
            _ if tls_like => (
                Sent::No,
                false,
                format!(
                    "the TLS connection to {host} failed during {label} ({detail}): if the server uses a private CA, pass --ca-cert /path/to/ca.pem, set SSL_CERT_FILE, or add the CA to the worker's trust store"
                ),
            ),
            ureq::Error::HostNotFound => (
                Sent::No,
                true,
                format!(
                    "could not resolve the host '{host}' for {label}: check the host name in OCTOPUS_URL and the worker's DNS"
                ),
            ),
            ureq::Error::Io(_) if detail.contains("failed to lookup address") => (
                Sent::No,
                true,
                format!(
                    "could not resolve the host '{host}' for {label}: check the host name in OCTOPUS_URL and the worker's DNS"
                ),
            ),
            ureq::Error::Timeout(ureq::Timeout::Resolve) => (
                Sent::No,
                true,
                format!(
                    "resolving the host '{host}' timed out during {label}: check the worker's DNS"
                ),
            ),
            ureq::Error::Timeout(ureq::Timeout::Connect) => (
                Sent::No,
                true,
                format!(
                    "connecting to {origin} timed out during {label} (limit {}s): check that the server is reachable from this worker (firewall, proxy)",
                    CONNECT_TIMEOUT.min(self.timeout).as_secs()
                ),
            ),
            ureq::Error::Timeout(_) => (
                Sent::Maybe,
                true,
                format!(
                    "{label} timed out after {secs}s waiting for {origin}: the server did not answer in time; check the server, or raise --timeout"
                ),
            ),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
                Sent::No,
                true,
                format!(
                    "could not connect to {origin} for {label}: connection refused; check OCTOPUS_URL and that the server is up"
                ),
            ),
            ureq::Error::ConnectionFailed => (
                Sent::No,
                true,
                format!(
                    "could not connect to {origin} for {label}: check OCTOPUS_URL and that the server is up"
                ),
            ),
            _ => (
                Sent::Maybe,
                true,
                format!(
                    "the connection to {origin} broke during {label} ({detail}); the server or a proxy closed it: check the server, then run the step again"
                ),
            ),
        };
        TransportError {
            sent,
            retryable,
            message,
        }
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

fn backoff(attempt: u32) -> Duration {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    Duration::from_millis(200 * u64::from(attempt) + u64::from(jitter[0]) / 2)
}

/// What Octopus accepts for `Expires`: `2026-11-22T10:00:00.000+00:00`.
pub fn format_expires(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// A time as the tool shows it: ISO 8601 UTC to the second, `2026-11-22T10:00:00Z`.
pub fn utc(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Octopus dates: ISO 8601 with an offset and up to 7 fractional digits; a date without an
/// offset (older servers) is read as UTC.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse::<Timestamp>().ok().or_else(|| {
        text.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}

pub fn is_key_shaped(key: &str) -> bool {
    key.strip_prefix("API-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters pass).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn shorten(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.trim_end_matches('.').to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_is_sent_with_milliseconds_and_an_offset() {
        let at: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(format_expires(at), "2026-11-22T10:00:00.000+00:00");
    }

    #[test]
    fn octopus_dates_parse_with_offsets_and_seven_digits() {
        let a = parse_timestamp("2026-11-22T10:00:00.1234567+00:00").unwrap();
        let b = parse_timestamp("2026-11-22T20:00:00.1234567+10:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse_timestamp("2026-11-22T10:00:00"),
            parse_timestamp("2026-11-22T10:00:00Z")
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn encoding_keeps_ids_and_escapes_markers() {
        assert_eq!(encode("Users-1"), "Users-1");
        assert_eq!(
            encode("[runkey ServerTasks-1/"),
            "%5Brunkey%20ServerTasks-1%2F"
        );
    }

    #[test]
    fn wire_types_ignore_unknown_fields_and_tolerate_old_servers() {
        let listed: ApiKeyInfo = serde_json::from_str(
            r#"{"Id":"apikeys-1","Purpose":"p","ApiKey":"API-XXXX****","Created":"2019-01-01T00:00:00+00:00","Future":1}"#,
        ).unwrap();
        assert_eq!(listed.expires, None);
        let user: User =
            serde_json::from_str(r#"{"Id":"Users-1","Username":"svc","DisplayName":null}"#)
                .unwrap();
        assert_eq!(user.describe(), "svc (Users-1)");
    }

    #[test]
    fn resolves_links_with_and_without_a_virtual_directory() {
        let conn = |server: &str| Connection {
            server: server.into(),
            ca_cert: None,
            timeout: Duration::from_secs(5),
            verbose: false,
            proxy: None,
        };
        let cred = Credential::api_key(Secret::new("API-X"), "OCTOPUS_API_KEY");
        let plain = Client::new(&conn("https://o.example"), cred.clone()).unwrap();
        assert_eq!(
            plain.resolve_link("/api/x?skip=3", "l").unwrap(),
            "https://o.example/api/x?skip=3"
        );
        let vdir = Client::new(&conn("https://o.example/octopus"), cred).unwrap();
        assert_eq!(
            vdir.resolve_link("/octopus/api/x", "l").unwrap(),
            "https://o.example/octopus/api/x"
        );
        assert_eq!(
            vdir.resolve_link("/api/x", "l").unwrap(),
            "https://o.example/octopus/api/x"
        );
        assert!(
            vdir.resolve_link("https://evil.example/api/x", "l")
                .is_err()
        );
    }
}
