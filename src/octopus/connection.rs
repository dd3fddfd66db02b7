//! How to reach the server, as `settings` resolves it: its URL, the extra CA, the request
//! timeout and the proxy. The transport sends with it, and messages name the proxy from it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::url::ServerUrl;

/// The longest `Retry-After` honoured: a step should not sit silent for minutes.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// How to reach the server: everything the client needs, resolved by `settings` (and handed
/// to the guard whole).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    pub server: ServerUrl,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
    /// The proxy for this server and the variable it came from (`None`: connect directly).
    pub proxy: Option<ProxySetting>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySetting {
    pub url: String,
    pub variable: String,
}

impl ProxySetting {
    /// The proxy as messages show it: `host:port`, never a password.
    pub fn shown(&self) -> &str {
        proxy_host(&self.url)
    }
}

/// The host of a proxy URL, for messages: never its password.
fn proxy_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_messages_never_show_a_password() {
        assert_eq!(proxy_host("http://bob:secret@proxy:3128/"), "proxy:3128");
        assert_eq!(proxy_host("proxy:3128"), "proxy:3128");
    }
}
