//! A failed request as one line that names the request, the cause and the fix: an HTTP
//! status the server answered ([`HttpError`]) or no answer at all ([`TransportError`]).
//! Every message the client can produce is written here, and Octopus's error bodies are
//! read only here: the missing permission of a 403, and whether a 404 is Octopus's own.

use std::fmt;
use std::time::Duration;

use super::connection::ProxySetting;
use super::url::ServerUrl;
use super::wire::ErrorBody;
use crate::credential::Credential;

/// The server answered with a status that is not success.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    /// The server's `Retry-After`, already capped at what the client honours.
    pub retry_after: Option<Duration>,
    /// Octopus's own `ErrorMessage`/`Errors`, when the body was an Octopus error.
    pub server_message: Option<String>,
    /// The start of the body, for answers in another shape (an OAuth error).
    pub body: String,
    message: String,
}

impl HttpError {
    /// Whether this is Octopus's JSON answer that the resource `id` does not exist: the only
    /// 404 that proves a key gone ("The resource 'apikeys-…' was not found.").
    pub fn says_not_found(&self, id: &str) -> bool {
        self.is_octopus_404()
            && self
                .server_message
                .as_deref()
                .is_some_and(|m| m.contains(&format!("'{id}'")))
    }

    /// Whether this is Octopus's own JSON 404 (not a proxy's page): the resource, whatever
    /// it names, does not exist.
    pub fn is_octopus_404(&self) -> bool {
        self.status == 404 && self.server_message.is_some()
    }

    /// The permission a 403 names ("... Missing permission: TaskView").
    pub fn missing_permission(&self) -> Option<String> {
        if self.status != 403 {
            return None;
        }
        missing_permission_in(self.server_message.as_deref()?)
    }
}

/// Whether `error` is Octopus's own JSON 404.
pub fn is_octopus_404(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<HttpError>()
        .is_some_and(HttpError::is_octopus_404)
}

/// The permission named after "Missing permission:" in Octopus's 403 text.
fn missing_permission_in(text: &str) -> Option<String> {
    let permission = text
        .split("Missing permission:")
        .nth(1)?
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ';']);
    (!permission.is_empty()).then(|| permission.to_string())
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
    pub retryable: bool,
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

/// What a failed request is described with.
pub struct Context<'a> {
    pub label: &'a str,
    pub server: &'a ServerUrl,
    pub credential: &'a Credential,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub proxy: Option<&'a ProxySetting>,
}

/// Permissions that belong to administrators: never advised for the broker.
const ADMIN_PERMISSIONS: [&str; 8] = [
    "AdministerSystem",
    "ConfigureServer",
    "UserEdit",
    "UserInvite",
    "UserRoleEdit",
    "TeamEdit",
    "SpaceEdit",
    "SpaceCreate",
];

/// The answer's status, body and headers, as far as a message needs them.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a str,
    pub retry_after: Option<Duration>,
    pub location: Option<&'a str>,
}

pub fn status_error(cx: &Context, answer: &Answer) -> HttpError {
    let label = cx.label;
    let status = answer.status;
    let parsed = server_text(answer.body);
    let source = cx.credential.source();
    let base = cx.server.base();
    let message = match (status, &parsed) {
        (300..=399, _) => format!(
            "{label} was redirected ({status}) to {}: set OCTOPUS_URL to the server's own address",
            answer.location.unwrap_or("another address")
        ),
        (401, _) => format!(
            "{label} was refused (401): {source} is invalid or expired, or its user is disabled; {}",
            cx.credential.fix_for_401()
        ),
        (403, Some(text)) => match missing_permission_in(text) {
            Some(permission) => {
                if ADMIN_PERMISSIONS.contains(&permission.as_str()) {
                    format!(
                        "{label} was forbidden (403): the server wants {permission}, an administrator's permission, which the broker should not hold; {}",
                        if cx.credential.role() == crate::credential::Role::RunKey {
                            "it refused the run key's own revocation: give the revoke step the broker key in OCTOPUS_API_KEY, or let the guard and the key's expiry cover it"
                        } else {
                            "do not grant it; check that OCTOPUS_URL and the request are the ones meant"
                        }
                    )
                } else {
                    format!(
                        "{label} was forbidden (403): the account behind {source} lacks the permission {permission}; add {permission} to a team of that account"
                    )
                }
            }
            None => format!("{label} was forbidden (403): {text}"),
        },
        (429, _) => format!(
            "{label} was rate limited (429) by the server; wait a little and run the step again"
        ),
        (_, None) => {
            let kind = if answer.body.trim_start().starts_with('<') {
                "an HTML page, likely from a proxy or load balancer in front of Octopus"
            } else {
                "not an Octopus error"
            };
            format!(
                "{label} failed with HTTP {status} and an answer that is {kind}; check that {base} is the Octopus Server and that it is up"
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
        retry_after: answer.retry_after,
        server_message: parsed,
        body: answer.body.chars().take(2000).collect(),
        message,
    }
}

/// Octopus's `ErrorMessage` and `Errors` joined, if the body is an Octopus error.
fn server_text(body: &str) -> Option<String> {
    let body = serde_json::from_str::<ErrorBody>(body).ok()?;
    let mut parts: Vec<String> = body
        .error_message
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    for error in body.errors.unwrap_or_default() {
        if !parts.contains(&error) {
            parts.push(error);
        }
    }
    (!parts.is_empty()).then(|| shorten(&parts.join("; ")))
}

/// An answer in an encoding nobody asked for (`Content-Encoding: gzip`): a proxy in
/// between compressed it. Read as text it would look like a broken connection.
pub fn encoded_answer(cx: &Context, encoding: &str) -> TransportError {
    TransportError {
        sent: Sent::Maybe,
        retryable: false,
        message: format!(
            "the answer to {} came {encoding}-compressed although the tool asks for none: a proxy between this worker and {} compresses answers; have it pass them unchanged, or add {} to NO_PROXY",
            cx.label,
            cx.server.base(),
            cx.server.host()
        ),
    }
}

pub fn transport_error(cx: &Context, error: ureq::Error) -> TransportError {
    let label = cx.label;
    let host = cx.server.host();
    let origin = cx.server.origin();
    let secs = cx.timeout.as_secs();
    let detail = error.to_string();
    let tls_like = matches!(
        error,
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_)
    ) || detail.contains("certificate")
        || detail.contains("UnknownIssuer");
    let unresolved = || {
        format!(
            "could not resolve the host '{host}' for {label}: check the host name in OCTOPUS_URL and the worker's DNS"
        )
    };
    if let Some(proxy) = cx.proxy {
        let named = format!("the proxy {} (from {})", proxy.shown(), proxy.variable);
        let bypass = format!("or add {host} to NO_PROXY to connect directly");
        let through_proxy = match &error {
            ureq::Error::ConnectProxyFailed(why) if !cx.server.is_https() => Some(format!(
                "{named} refused to tunnel to {origin} during {label} ({why}): plain http:// goes through a proxy with CONNECT, which proxies refuse for port 80 by default; use https://, {bypass}"
            )),
            ureq::Error::ConnectProxyFailed(why) => Some(format!(
                "{named} refused to connect to {origin} during {label} ({why}): check the proxy's rules, {bypass}"
            )),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Some(format!(
                "could not reach {named} for {label}: check the proxy's address, {bypass}"
            )),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Some(format!(
                    "{named} refused the connection for {label}: check that the proxy is up, {bypass}"
                ))
            }
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => Some(format!(
                "connecting to {named} timed out during {label}: check the proxy, {bypass}"
            )),
            _ => None,
        };
        if let Some(message) = through_proxy {
            return TransportError {
                sent: Sent::No,
                retryable: true,
                message,
            };
        }
    }
    let (sent, retryable, message) = match &error {
        ureq::Error::BodyExceedsLimit(limit) => (
            Sent::Maybe,
            false,
            format!(
                "the answer to {label} is larger than the {} MB the tool reads: check that {} is the Octopus Server and that no proxy in between answers instead",
                limit / 1_000_000,
                cx.server.base()
            ),
        ),
        _ if tls_like => (
            Sent::No,
            false,
            format!(
                "the TLS connection to {host} failed during {label} ({detail}): if the server uses a private CA, pass --ca-cert /path/to/ca.pem, set SSL_CERT_FILE, or add the CA to the worker's trust store"
            ),
        ),
        ureq::Error::HostNotFound => (Sent::No, true, unresolved()),
        ureq::Error::Io(_) if detail.contains("failed to lookup address") => {
            (Sent::No, true, unresolved())
        }
        ureq::Error::Timeout(ureq::Timeout::Resolve) => (
            Sent::No,
            true,
            format!("resolving the host '{host}' timed out during {label}: check the worker's DNS"),
        ),
        ureq::Error::Timeout(ureq::Timeout::Connect) => (
            Sent::No,
            true,
            format!(
                "connecting to {origin} timed out during {label} (limit {}s): check that the server is reachable from this worker (firewall, proxy)",
                cx.connect_timeout.as_secs()
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

/// A server's message on one line, at most 300 characters.
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
    use crate::credential::{Origin, Role, Scheme};
    use crate::secret::Secret;

    fn message(status: u16, body: &str) -> String {
        http(status, body).to_string()
    }

    #[test]
    fn a_403_names_the_missing_permission() {
        let text = message(
            403,
            r#"{"ErrorMessage":"You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: TaskView"}"#,
        );
        assert!(text.contains("lacks the permission TaskView"), "{text}");
    }

    #[test]
    fn an_administrators_permission_is_never_advised() {
        let text = message(
            403,
            r#"{"ErrorMessage":"You do not have permission to perform this action. Missing permission: UserEdit"}"#,
        );
        assert!(!text.contains("add UserEdit"), "{text}");
        assert!(text.contains("should not hold"), "{text}");
    }

    #[test]
    fn an_html_page_is_not_taken_for_octopus() {
        let text = message(404, "<html><body>Not Found</body></html>");
        assert!(text.contains("an HTML page"), "{text}");
        let text = message(
            404,
            r#"{"ErrorMessage":"The resource 'apikeys-1' was not found."}"#,
        );
        assert!(
            text.contains("The resource 'apikeys-1' was not found"),
            "{text}"
        );
    }

    #[test]
    fn long_server_messages_are_shortened_to_one_line() {
        let long = format!(r#"{{"ErrorMessage":"{}\nmore"}}"#, "x".repeat(400));
        let text = message(400, &long);
        assert!(!text.contains('\n'));
        assert!(text.ends_with('…'), "{text}");
    }

    /// A failed request's context: `server` and, when given, the proxy the request went through.
    fn with_context<R>(
        server: &str,
        label: &str,
        proxy: Option<&ProxySetting>,
        f: impl FnOnce(&Context) -> R,
    ) -> R {
        let server = ServerUrl::parse(server).unwrap();
        let credential = Credential::new(
            Secret::new("API-X"),
            Scheme::ApiKey,
            Role::Broker,
            Origin::Variable("OCTOPUS_API_KEY"),
        );
        f(&Context {
            label,
            server: &server,
            credential: &credential,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            proxy,
        })
    }

    fn http(status: u16, body: &str) -> HttpError {
        let label = "DELETE /api/users/Users-2/apikeys/apikeys-1";
        with_context("https://o.example", label, None, |cx| {
            status_error(
                cx,
                &Answer {
                    status,
                    body,
                    retry_after: None,
                    location: None,
                },
            )
        })
    }

    #[test]
    fn only_octopus_naming_the_key_says_it_is_not_found() {
        let named = r#"{"ErrorMessage":"The resource 'apikeys-1' was not found."}"#;
        assert!(http(404, named).says_not_found("apikeys-1"));
        assert!(!http(404, named).says_not_found("apikeys-2"));
        assert!(!http(400, named).says_not_found("apikeys-1"));
        assert!(!http(404, "<html>apikeys-1</html>").says_not_found("apikeys-1"));
        let user = r#"{"ErrorMessage":"The resource 'Users-2' was not found."}"#;
        assert!(!http(404, user).says_not_found("apikeys-1"));
        assert_eq!(
            http(404, r#"{"ErrorMessage":"","Errors":[]}"#).server_message,
            None
        );
        let err = anyhow::Error::new(http(409, named));
        assert_eq!(status_of(&err), Some(409));
        assert_eq!(status_of(&anyhow::anyhow!("no answer")), None);
    }

    fn through_proxy(https: bool, error: ureq::Error) -> String {
        let server = if https {
            "https://o.example"
        } else {
            "http://o.example"
        };
        let proxy = ProxySetting {
            url: "http://bob:secret@proxy.example:3128".into(),
            variable: "HTTPS_PROXY".into(),
        };
        let err = with_context(server, "GET /api/users/me", Some(&proxy), |cx| {
            transport_error(cx, error)
        });
        assert!(!err.to_string().contains("secret"), "{err}");
        err.to_string()
    }

    #[test]
    fn proxy_failures_name_the_proxy_its_variable_and_the_bypass() {
        let text = through_proxy(false, ureq::Error::ConnectProxyFailed("403".into()));
        assert!(
            text.contains("plain http://") && text.contains("port 80"),
            "{text}"
        );
        let text = through_proxy(true, ureq::Error::ConnectProxyFailed("403".into()));
        assert!(
            text.contains("refused to connect to https://o.example"),
            "{text}"
        );
        assert!(!text.contains("port 80"), "{text}");
        for error in [ureq::Error::HostNotFound, ureq::Error::ConnectionFailed] {
            let text = through_proxy(true, error);
            assert!(
                text.contains("could not reach the proxy proxy.example:3128 (from HTTPS_PROXY)"),
                "{text}"
            );
            assert!(text.contains("NO_PROXY"), "{text}");
        }
        let text = through_proxy(true, ureq::Error::Timeout(ureq::Timeout::Connect));
        assert!(text.contains("connecting to the proxy"), "{text}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let text = through_proxy(true, ureq::Error::Io(refused));
        assert!(text.contains("refused the connection"), "{text}");
    }

    fn direct(error: ureq::Error) -> String {
        with_context("https://o.example", "GET /api/users/me", None, |cx| {
            transport_error(cx, error).to_string()
        })
    }

    #[test]
    fn each_transport_failure_without_a_proxy_names_its_own_cause() {
        let io = |text: &str| ureq::Error::Io(std::io::Error::other(text.to_string()));
        for tls in [io("invalid peer certificate"), io("UnknownIssuer")] {
            assert!(direct(tls).contains("the TLS connection to o.example failed"));
        }
        assert!(
            direct(ureq::Error::HostNotFound).contains("could not resolve the host 'o.example'")
        );
        assert!(
            direct(ureq::Error::Timeout(ureq::Timeout::Resolve))
                .contains("resolving the host 'o.example' timed out")
        );
        assert!(
            direct(ureq::Error::Timeout(ureq::Timeout::Connect)).contains(
                "connecting to https://o.example timed out during GET /api/users/me (limit 10s)"
            )
        );
        assert!(direct(ureq::Error::ConnectionFailed).contains(
            "could not connect to https://o.example for GET /api/users/me: check OCTOPUS_URL"
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(direct(ureq::Error::Io(refused)).contains(
            "could not connect to https://o.example for GET /api/users/me: connection refused;"
        ));
        assert!(
            direct(io("failed to lookup address information"))
                .contains("could not resolve the host 'o.example'")
        );
        assert!(
            direct(ureq::Error::Timeout(ureq::Timeout::Global))
                .contains("GET /api/users/me timed out after 30s waiting for https://o.example")
        );
        assert!(
            direct(ureq::Error::BodyExceedsLimit(10_000_000))
                .contains("is larger than the 10 MB the tool reads")
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(
            direct(ureq::Error::Io(reset)).contains("the connection to https://o.example broke")
        );
    }

    #[test]
    fn a_proxy_that_resets_the_connection_is_not_called_a_refusal() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let text = through_proxy(true, ureq::Error::Io(reset));
        assert!(!text.contains("refused the connection"), "{text}");
        assert!(text.contains("broke"), "{text}");
    }

    #[test]
    fn a_message_of_exactly_300_characters_is_kept_whole() {
        assert_eq!(shorten(&"x".repeat(300)), "x".repeat(300));
        assert!(shorten(&"x".repeat(301)).ends_with('…'));
    }
}
