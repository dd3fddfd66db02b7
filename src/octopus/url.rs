//! The server's address, parsed once with `http::Uri` (re-exported by ureq): scheme, host,
//! port and base path (a virtual directory such as `/octopus`). Every request URL is built
//! from it, and a link from the server (paging) is followed only when it resolves to the same
//! scheme, host, port and base path, so that the credential goes nowhere else.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ureq::http::Uri;

/// What is wrong with a server URL; `settings` turns it into a message with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not `http://` or `https://`.
    Scheme,
    /// No host after the scheme.
    NoHost,
    /// `user:password@host`: credentials travel only in headers.
    Credentials,
    /// A `?query` or `#fragment`, which no Octopus base URL has.
    QueryOrFragment,
    /// Something `http::Uri` cannot parse, with its reason.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    https: bool,
    /// `host[:port]` as given (brackets kept for IPv6).
    authority: String,
    /// The host without brackets or port.
    host: String,
    port: u16,
    /// `/vdir` or empty: never a trailing slash.
    base_path: String,
}

/// RFC 3986 unreserved characters stay; everything else in a path segment or query value
/// is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// As its base URL (`https://host:port/vdir`): what the guard's spec carries.
impl serde::Serialize for ServerUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.base())
    }
}

impl<'de> serde::Deserialize<'de> for ServerUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ServerUrl::parse(&text).map_err(|_| serde::de::Error::custom("not a server URL"))
    }
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, UrlProblem> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let https = if lower.starts_with("https://") {
            true
        } else if lower.starts_with("http://") {
            false
        } else {
            return Err(UrlProblem::Scheme);
        };
        let rest = &text[text.find("://").map_or(0, |i| i + 3)..];
        if rest.is_empty() || rest.starts_with('/') {
            return Err(UrlProblem::NoHost);
        }
        if text.contains(char::is_whitespace) {
            return Err(UrlProblem::Invalid("it contains white space".into()));
        }
        let uri: Uri = text
            .parse()
            .map_err(|e: ureq::http::uri::InvalidUri| UrlProblem::Invalid(e.to_string()))?;
        let authority = uri.authority().ok_or(UrlProblem::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(UrlProblem::Credentials);
        }
        if uri.query().is_some() || text.contains('#') || text.contains('?') {
            return Err(UrlProblem::QueryOrFragment);
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(UrlProblem::NoHost);
        }
        if authority.as_str().rsplit_once(':').is_some_and(|(h, p)| {
            !h.ends_with(']') && h.contains(':') || !p.is_empty() && authority.port_u16().is_none()
        }) {
            return Err(UrlProblem::Invalid(
                "its port is not a number up to 65535".into(),
            ));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(ServerUrl {
            https,
            authority: authority.as_str().to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            base_path: uri.path().trim_end_matches('/').to_string(),
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host without brackets or port, e.g. `octopus.example.com` or `::1`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `https://host[:port]`.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// `https://host[:port][/vdir]`: what the tool shows and hands to the child.
    pub fn base(&self) -> String {
        format!("{}{}", self.origin(), self.base_path)
    }

    /// The base path, `/vdir` or empty.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The URL of an API path such as `/api/users/me`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Plain HTTP to anything but this machine sends keys in clear text.
    pub fn is_insecure(&self) -> bool {
        !self.https && !is_loopback(&self.host)
    }

    /// A link from the server (`Links["Page.Next"]`) as a URL on this server, or `None`
    /// when it points anywhere else: another scheme, host, port or base path. Octopus
    /// links are paths from the server root that include the virtual directory; a path
    /// without it is taken as relative to the base.
    pub fn resolve_link(&self, link: &str) -> Option<String> {
        let link = link.trim();
        let lower = link.to_ascii_lowercase();
        let candidate = if lower.starts_with("http://") || lower.starts_with("https://") {
            link.to_string()
        } else {
            let path = link.strip_prefix('~').unwrap_or(link);
            if !path.starts_with('/') || path.starts_with("//") {
                return None;
            }
            if !self.base_path.is_empty() && path.starts_with(&format!("{}/", self.base_path)) {
                format!("{}{path}", self.origin())
            } else {
                format!("{}{path}", self.base())
            }
        };
        let uri: Uri = candidate.parse().ok()?;
        let authority = uri.authority()?;
        let same_origin = uri.scheme_str()?.eq_ignore_ascii_case(self.scheme())
            && !authority.as_str().contains('@')
            && authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(&self.host)
            && authority
                .port_u16()
                .unwrap_or(if self.https { 443 } else { 80 })
                == self.port;
        let path = uri.path();
        // With no base path this is every path ("/..."), as it should be.
        let under_base =
            path == self.base_path || path.starts_with(&format!("{}/", self.base_path));
        (same_origin && under_base && !path.contains("/../") && !path.ends_with("/..")).then(|| {
            match uri.query() {
                Some(query) => format!("{}{path}?{query}", self.origin()),
                None => format!("{}{path}", self.origin()),
            }
        })
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ServerUrl {
        ServerUrl::parse(text).unwrap()
    }

    #[test]
    fn parses_scheme_host_port_and_base_path() {
        let u = url("HTTPS://Octo.Example:8443/octopus/");
        assert_eq!(u.base(), "https://Octo.Example:8443/octopus");
        assert_eq!(u.host(), "Octo.Example");
        assert_eq!(
            u.url("/api/users/me"),
            "https://Octo.Example:8443/octopus/api/users/me"
        );
        assert_eq!(url("http://[::1]:80/").host(), "::1");
        assert_eq!(url("https://o.example").base(), "https://o.example");
    }

    #[test]
    fn refuses_what_no_octopus_base_url_has() {
        assert_eq!(
            ServerUrl::parse("octopus.example.com"),
            Err(UrlProblem::Scheme)
        );
        assert_eq!(ServerUrl::parse("ftp://x"), Err(UrlProblem::Scheme));
        assert_eq!(ServerUrl::parse("https://"), Err(UrlProblem::NoHost));
        assert_eq!(ServerUrl::parse("https:///api"), Err(UrlProblem::NoHost));
        assert_eq!(
            ServerUrl::parse("https://jane:hunter2@octo.example"),
            Err(UrlProblem::Credentials)
        );
        assert_eq!(
            ServerUrl::parse("https://octo.example/?x=1"),
            Err(UrlProblem::QueryOrFragment)
        );
        assert_eq!(
            ServerUrl::parse("https://octo.example/#top"),
            Err(UrlProblem::QueryOrFragment)
        );
        assert!(matches!(
            ServerUrl::parse("https://octo.example:99999"),
            Err(UrlProblem::Invalid(_))
        ));
    }

    #[test]
    fn plain_http_is_insecure_except_on_loopback() {
        assert!(url("http://octopus.example.com").is_insecure());
        assert!(!url("http://127.0.0.1:8080").is_insecure());
        assert!(!url("http://localhost/octopus").is_insecure());
        assert!(!url("http://[::1]:80").is_insecure());
        assert!(!url("https://octopus.example.com").is_insecure());
    }

    #[test]
    fn links_resolve_with_and_without_a_virtual_directory() {
        let plain = url("https://o.example");
        assert_eq!(
            plain.resolve_link("/api/x?skip=3").as_deref(),
            Some("https://o.example/api/x?skip=3")
        );
        let vdir = url("https://o.example/octopus");
        assert_eq!(
            vdir.resolve_link("/octopus/api/x").as_deref(),
            Some("https://o.example/octopus/api/x")
        );
        assert_eq!(
            vdir.resolve_link("/api/x").as_deref(),
            Some("https://o.example/octopus/api/x")
        );
        assert_eq!(
            vdir.resolve_link("~/api/x").as_deref(),
            Some("https://o.example/octopus/api/x")
        );
        assert_eq!(
            vdir.resolve_link("https://O.EXAMPLE:443/octopus/api/x?skip=1")
                .as_deref(),
            Some("https://o.example/octopus/api/x?skip=1")
        );
    }

    #[test]
    fn links_to_anywhere_else_are_refused() {
        let vdir = url("https://o.example/octopus");
        for foreign in [
            "https://evil.example/octopus/api/x",
            "http://o.example/octopus/api/x",
            "https://o.example:8443/octopus/api/x",
            "https://o.example/other/api/x",
            "https://user@o.example/octopus/api/x",
            "//evil.example/api/x",
            "api/x",
            "https://o.example/octopus/../admin",
            "javascript:alert(1)",
        ] {
            assert_eq!(vdir.resolve_link(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn encoding_keeps_ids_and_escapes_markers() {
        assert_eq!(encode("Users-1"), "Users-1");
        assert_eq!(
            encode("[runkey ServerTasks-1/"),
            "%5Brunkey%20ServerTasks-1%2F"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }
}
