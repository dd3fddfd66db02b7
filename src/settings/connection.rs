//! Where the server is and how to reach it: the URL (from `--server`, `OCTOPUS_URL` or
//! `OCTOPUS_WEB_SERVERURI`), the extra CA, the timeout, and the proxy the environment names
//! for that server (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, unless `NO_PROXY` says not).

use std::time::Duration;

use anyhow::Result;

use super::env::{Env, OCTOPUS_URL, OCTOPUS_WEB_SERVERURI};
use crate::cli::GlobalArgs;
use crate::exit::usage;
use crate::octopus::{Connection, ProxySetting, ServerUrl, UrlProblem};

pub fn resolve(global: &GlobalArgs, env: &Env) -> Result<Connection> {
    let text = match (
        &global.server,
        env.get(OCTOPUS_URL),
        env.get(OCTOPUS_WEB_SERVERURI),
    ) {
        (Some(url), _, _) => url.trim().to_string(),
        (None, Some(url), _) | (None, None, Some(url)) => url.to_string(),
        (None, None, None) => {
            return Err(env.missing(
                OCTOPUS_URL,
                " (or set OCTOPUS_WEB_SERVERURI, or pass --server URL)",
            ));
        }
    };
    let server = ServerUrl::parse(&text).map_err(|problem| url_error(&text, problem))?;
    if server.base_path().to_ascii_lowercase().ends_with("/api") {
        return Err(usage(format!(
            "the server URL '{}' ends in /api: give the server's address without it, like {}",
            server.base(),
            server
                .base()
                .trim_end_matches(|c| c != '/')
                .trim_end_matches('/')
        )));
    }
    if let Some(path) = &global.ca_cert {
        if path.is_dir() {
            return Err(usage(format!(
                "--ca-cert {} is a directory: give the path of a PEM file with the CA certificate",
                path.display()
            )));
        }
        if !path.is_file() {
            return Err(usage(format!(
                "--ca-cert {}: no such file; give the path of a PEM file with the CA certificate",
                path.display()
            )));
        }
    }
    let proxy = proxy_for(&server, env);
    if let Some(proxy) = &proxy {
        let scheme = proxy
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), None | Some("http" | "https")) {
            return Err(usage(format!(
                "the proxy {} (from {}) is a {} proxy, which octopus-runkey does not support: use an HTTP proxy, or add {} to NO_PROXY to connect directly",
                proxy.shown(),
                proxy.variable,
                scheme.unwrap_or_default(),
                server.host()
            )));
        }
    }
    Ok(Connection {
        proxy,
        server,
        ca_cert: global.ca_cert.clone(),
        timeout: Duration::from_secs(global.timeout),
    })
}

const LIKE: &str =
    "set OCTOPUS_URL to the Octopus Server's address, like https://octopus.example.com";

fn url_error(text: &str, problem: UrlProblem) -> anyhow::Error {
    let shown = without_password(text);
    usage(match problem {
        UrlProblem::Scheme => {
            format!("the server URL '{shown}' does not start with https:// or http://: {LIKE}")
        }
        UrlProblem::NoHost => format!("the server URL '{shown}' has no host: {LIKE}"),
        UrlProblem::Credentials => format!(
            "the server URL '{shown}' holds a user name or password: remove it (credentials go only in OCTOPUS_API_KEY or OCTOPUS_ACCESS_TOKEN); {LIKE}"
        ),
        UrlProblem::QueryOrFragment => format!(
            "the server URL '{shown}' has a ?query or #fragment: give only the server's address, {}",
            LIKE.trim_start_matches("set OCTOPUS_URL to the Octopus Server's address, ")
        ),
        UrlProblem::Invalid(why) => {
            format!("the server URL '{shown}' is not a valid URL ({why}): {LIKE}")
        }
    })
}

/// The URL with any `user:password@` shown as `***@`.
fn without_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

/// The proxy Tentacle (or the machine) configured for this server: `HTTPS_PROXY` for an
/// https:// server, `HTTP_PROXY` for http://, else `ALL_PROXY` (upper or lower case), unless
/// the host matches `NO_PROXY`. The client talks to this one server only, so the choice is
/// made once, here.
fn proxy_for(server: &ServerUrl, env: &Env) -> Option<ProxySetting> {
    let no_proxy = env
        .raw("NO_PROXY")
        .or_else(|| env.raw("no_proxy"))
        .unwrap_or("");
    if bypasses_proxy(server.host(), no_proxy) {
        return None;
    }
    let names: [&'static str; 4] = if server.is_https() {
        ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.iter().find_map(|name| {
        env.raw(name).map(|url| ProxySetting {
            url: url.to_string(),
            variable: name.to_string(),
        })
    })
}

/// `NO_PROXY` entries: `*` (everything), a host or IP (itself and, for names, its
/// subdomains), `.example.com` or `*.example.com` (subdomains), an IPv6 address bare or in
/// brackets; a `:port` is ignored.
fn bypasses_proxy(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = match entry.strip_prefix('[') {
                // `[v6]` or `[v6]:port`
                Some(bracketed) => bracketed.split_once(']').map_or(bracketed, |(ip, _)| ip),
                None => match entry.rsplit_once(':') {
                    // `name:port`; a bare IPv6 address has more than one colon
                    Some((name, port))
                        if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        name
                    }
                    _ => entry,
                },
            };
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitStatus;

    fn global() -> GlobalArgs {
        GlobalArgs {
            server: None,
            ca_cert: None,
            timeout: 30,
            verbose: false,
        }
    }

    fn server(env: &Env) -> String {
        resolve(&global(), env).unwrap().server.base()
    }

    #[test]
    fn server_comes_from_the_flag_then_octopus_url_then_serveruri() {
        let env = Env::from_pairs(&[
            ("OCTOPUS_URL", "https://a.example/"),
            ("OCTOPUS_WEB_SERVERURI", "https://b.example"),
        ]);
        assert_eq!(server(&env), "https://a.example");
        let env = Env::from_pairs(&[
            ("OCTOPUS_URL", ""),
            ("OCTOPUS_WEB_SERVERURI", "https://b.example"),
        ]);
        assert_eq!(server(&env), "https://b.example");
        let mut args = global();
        args.server = Some("https://c.example".into());
        assert_eq!(
            resolve(&args, &env).unwrap().server.base(),
            "https://c.example"
        );
    }

    #[test]
    fn a_missing_server_is_a_usage_error_naming_the_octopus_variable() {
        let err = resolve(&global(), &Env::default()).unwrap_err();
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Usage);
        let text = err.to_string();
        assert!(text.contains("OCTOPUS_URL is not set"), "{text}");
        assert!(text.contains("Octopus.Web.ServerUri"), "{text}");
    }

    #[test]
    fn unsubstituted_expressions_count_as_missing_and_say_so() {
        let env = Env::from_pairs(&[("OCTOPUS_URL", "#{Octopus.Web.ServerUri}")]);
        let err = resolve(&global(), &env).unwrap_err();
        assert!(err.to_string().contains("was not substituted"), "{err}");
    }

    #[test]
    fn bad_server_urls_are_usage_errors_that_never_show_a_password() {
        for bad in [
            "octopus.example.com",
            "ftp://x",
            "https://",
            "https:///api",
            "https://jane:hunter2@octo.example",
            "https://octo.example/?tab=1",
        ] {
            let env = Env::from_pairs(&[("OCTOPUS_URL", bad)]);
            let err = resolve(&global(), &env).unwrap_err();
            assert_eq!(ExitStatus::of_error(&err), ExitStatus::Usage, "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn what_people_paste_is_fixed_or_explained() {
        assert_eq!(
            server(&Env::from_pairs(&[(
                "OCTOPUS_URL",
                " HTTPS://octo.example/ \r\n"
            )])),
            "https://octo.example"
        );
        let err = resolve(
            &global(),
            &Env::from_pairs(&[("OCTOPUS_URL", "https://octo.example/api")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ends in /api"), "{err}");
        assert!(
            err.to_string().contains("like https://octo.example"),
            "{err}"
        );
        let err = resolve(
            &global(),
            &Env::from_pairs(&[
                ("OCTOPUS_URL", "https://octo.example"),
                ("HTTPS_PROXY", "socks5://bob:pw@proxy:1080"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("socks5 proxy") && text.contains("HTTPS_PROXY"),
            "{text}"
        );
        assert!(text.contains("NO_PROXY") && !text.contains("pw"), "{text}");
        let mut args = global();
        args.ca_cert = Some(std::env::temp_dir());
        let err = resolve(
            &args,
            &Env::from_pairs(&[("OCTOPUS_URL", "https://o.example")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn the_proxy_follows_the_scheme_and_no_proxy() {
        let env = Env::from_pairs(&[
            ("HTTPS_PROXY", "http://secure-proxy:3128"),
            ("http_proxy", "http://plain-proxy:3128"),
            ("NO_PROXY", "localhost, .internal.example,10.0.0.7:8080"),
        ]);
        let proxy = |url: &str, env: &Env| {
            proxy_for(&ServerUrl::parse(url).unwrap(), env).map(|p| (p.url, p.variable))
        };
        assert_eq!(
            proxy("https://octopus.example.com", &env),
            Some(("http://secure-proxy:3128".into(), "HTTPS_PROXY".into()))
        );
        assert_eq!(
            proxy("http://octopus.example.com", &env),
            Some(("http://plain-proxy:3128".into(), "http_proxy".into()))
        );
        assert_eq!(proxy("https://localhost:8443", &env), None);
        assert_eq!(proxy("https://octo.internal.example", &env), None);
        assert_eq!(proxy("http://10.0.0.7", &env), None);
        let all = Env::from_pairs(&[("ALL_PROXY", "http://all:1"), ("no_proxy", "*")]);
        assert_eq!(proxy("https://x", &all), None);
        let all = Env::from_pairs(&[("ALL_PROXY", "http://all:1")]);
        assert_eq!(
            proxy("https://x", &all),
            Some(("http://all:1".into(), "ALL_PROXY".into()))
        );
        assert!(bypasses_proxy("www.example.com", "example.com"));
        assert!(!bypasses_proxy("notexample.com", "example.com"));
    }

    #[test]
    fn no_proxy_ports_are_dropped_but_ipv6_addresses_are_kept_whole() {
        assert!(bypasses_proxy("octo.example.com", "octo.example.com:8443"));
        assert!(bypasses_proxy("::1", "::1"));
        assert!(bypasses_proxy("::1", "[::1]"));
        assert!(bypasses_proxy("::1", "[::1]:8080"));
        assert!(bypasses_proxy("fd00::7", "fd00::7"));
        // Not a port: the entry is taken whole, and names nothing.
        assert!(!bypasses_proxy(
            "octo.example.com",
            "octo.example.com:https"
        ));
    }

    #[test]
    fn a_url_is_shown_in_messages_with_its_password_hidden() {
        assert_eq!(
            without_password("https://bob:hunter2@octo.example.com/app"),
            "https://***@octo.example.com/app"
        );
        assert_eq!(
            without_password("https://octo.example.com/a@b"),
            "https://octo.example.com/a@b"
        );
        assert_eq!(without_password("octo.example.com"), "octo.example.com");
        assert_eq!(
            without_password("https://octo.example.com"),
            "https://octo.example.com"
        );
    }
}
