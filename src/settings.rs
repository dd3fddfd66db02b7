//! The command line plus the step's environment, resolved into what the commands need.
//! Commands never read the environment themselves: every variable is named here once,
//! with the Octopus variable that feeds it, so that a missing one is reported the same way
//! everywhere (exit 2, naming both).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::cli::GlobalArgs;
use crate::duration;
use crate::error::usage;
use crate::octopus::Credential;
use crate::purpose::{self, Operator, RunContext};
use crate::secret::Secret;

/// An environment variable the tool reads and the Octopus variable the step maps into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! vars {
    ($($ident:ident = $source:literal;)*) => {
        $(pub const $ident: Var = Var { name: stringify!($ident), source: $source };)*
    };
}

vars! {
    OCTOPUS_URL = "Octopus.Web.ServerUri";
    OCTOPUS_WEB_SERVERURI = "Octopus.Web.ServerUri";
    OCTOPUS_API_KEY = "the broker service account's API key (a sensitive parameter)";
    OCTOPUS_ACCESS_TOKEN = "an access token of the broker service account";
    OCTOPUS_DEPLOYMENT_CREATEDBY_ID = "Octopus.Deployment.CreatedBy.Id";
    OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME = "Octopus.Deployment.CreatedBy.Username";
    OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME = "Octopus.Deployment.CreatedBy.DisplayName";
    OCTOPUS_TASK_ID = "Octopus.Task.Id";
    OCTOPUS_RUNBOOKRUN_ID = "Octopus.RunbookRun.Id";
    OCTOPUS_RUNBOOK_NAME = "Octopus.Runbook.Name";
    OCTOPUS_PROJECT_NAME = "Octopus.Project.Name";
    OCTOPUS_ENVIRONMENT_NAME = "Octopus.Environment.Name";
    OCTOPUS_TENANT_NAME = "Octopus.Deployment.Tenant.Name";
    OCTOPUS_SPACE_ID = "Octopus.Space.Id";
    OCTOPUS_SPACE_NAME = "Octopus.Space.Name";
    RUNKEY_API_KEY = "Octopus.Action[<create step>].Output.ApiKey";
    RUNKEY_API_KEY_ID = "Octopus.Action[<create step>].Output.ApiKeyId";
    RUNKEY_API_KEY_OWNER_ID = "Octopus.Action[<create step>].Output.ApiKeyOwnerId";
    RUNKEY_TTL = "the template's TTL parameter";
}

pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// A snapshot of the process environment. Empty values count as missing.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The variable's value; `None` when unset, empty, or an Octopus expression that was
    /// never substituted (`#{...}`), which is as good as missing.
    pub fn get(&self, var: Var) -> Option<&str> {
        self.raw(var.name).filter(|v| !is_unsubstituted(v))
    }

    pub fn get_string(&self, var: Var) -> Option<String> {
        self.get(var).map(str::to_string)
    }

    /// Tentacle and Calamari put these in every step's environment.
    pub fn under_octopus(&self) -> bool {
        [
            "TentacleHome",
            "TentacleVersion",
            "OctopusCalamariWorkingDirectory",
        ]
        .iter()
        .any(|name| self.raw(name).is_some())
    }
}

fn is_unsubstituted(value: &str) -> bool {
    value.starts_with("#{") && value.ends_with('}')
}

/// The usage error for a variable that is missing; `extra` adds a way out.
pub fn missing(env: &Env, var: Var, extra: &str) -> anyhow::Error {
    let why = match env.raw(var.name) {
        Some(v) if is_unsubstituted(v) => format!(
            "{} holds the Octopus expression '{v}', which was not substituted",
            var.name
        ),
        _ => format!("{} is not set", var.name),
    };
    usage(format!(
        "{why}: map it from {} in the step{extra}",
        var.source
    ))
}

/// Where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The server's base URL without a trailing slash, e.g. `https://octopus.example.com`.
    pub server: String,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
    pub verbose: bool,
    /// The proxy for this server, from the environment (`None`: connect directly).
    pub proxy: Option<String>,
}

impl Connection {
    pub fn resolve(global: &GlobalArgs, env: &Env) -> Result<Connection> {
        let server = match (
            &global.server,
            env.get(OCTOPUS_URL),
            env.get(OCTOPUS_WEB_SERVERURI),
        ) {
            (Some(url), _, _) => url.trim().to_string(),
            (None, Some(url), _) | (None, None, Some(url)) => url.to_string(),
            (None, None, None) => {
                return Err(missing(
                    env,
                    OCTOPUS_URL,
                    " (or set OCTOPUS_WEB_SERVERURI, or pass --server URL)",
                ));
            }
        };
        validate_server_url(&server)?;
        if let Some(path) = &global.ca_cert
            && !path.is_file()
        {
            return Err(usage(format!(
                "--ca-cert {}: no such file; give the path of a PEM file with the CA certificate",
                path.display()
            )));
        }
        let server = server.trim_end_matches('/').to_string();
        Ok(Connection {
            proxy: proxy_for(&server, env),
            server,
            ca_cert: global.ca_cert.clone(),
            timeout: Duration::from_secs(global.timeout),
            verbose: global.verbose,
        })
    }

    /// Plain HTTP to anything but this machine sends the key in clear text.
    pub fn is_insecure(&self) -> bool {
        self.server.starts_with("http://") && !is_loopback(host_of(&self.server))
    }
}

/// The proxy Tentacle (or the machine) configured for this server: `HTTPS_PROXY` for an
/// https:// server, `HTTP_PROXY` for http://, else `ALL_PROXY` (upper or lower case), unless
/// the host matches `NO_PROXY`. The client talks to this one server only, so the choice is
/// made once, here.
fn proxy_for(server: &str, env: &Env) -> Option<String> {
    let host = host_of(server);
    let no_proxy = env
        .raw("NO_PROXY")
        .or_else(|| env.raw("no_proxy"))
        .unwrap_or("");
    if bypasses_proxy(host, no_proxy) {
        return None;
    }
    let names: [&str; 4] = if server.starts_with("https://") {
        ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .find_map(|name| env.raw(name))
        .map(str::to_string)
}

/// `NO_PROXY` entries: `*` (everything), a host or IP (itself and, for names, its
/// subdomains), `.example.com` or `*.example.com` (subdomains); a `:port` is ignored.
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
            let entry = match entry.rsplit_once(':') {
                Some((name, port))
                    if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    name
                }
                _ => entry,
            };
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

fn validate_server_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            usage(format!(
                "the server URL '{url}' does not start with https:// or http://: set OCTOPUS_URL to the Octopus Server's address, like https://octopus.example.com"
            ))
        })?;
    if rest.is_empty() || rest.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(usage(format!(
            "the server URL '{url}' has no host: set OCTOPUS_URL to the Octopus Server's address, like https://octopus.example.com"
        )));
    }
    Ok(())
}

/// The host of an `http(s)://host[:port]/...` URL, without brackets or port.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The broker's credential: `OCTOPUS_API_KEY`, else `OCTOPUS_ACCESS_TOKEN`.
pub fn broker_credential(env: &Env) -> Result<Option<Credential>> {
    if let Some(key) = env.get(OCTOPUS_API_KEY) {
        check_key_shape(OCTOPUS_API_KEY, key)?;
        return Ok(Some(Credential::api_key(
            Secret::new(key),
            OCTOPUS_API_KEY.name,
        )));
    }
    Ok(env
        .get(OCTOPUS_ACCESS_TOKEN)
        .map(|token| Credential::bearer(Secret::new(token), OCTOPUS_ACCESS_TOKEN.name)))
}

pub fn require_broker_credential(env: &Env) -> Result<Credential> {
    broker_credential(env)?.ok_or_else(|| {
        missing(
            env,
            OCTOPUS_API_KEY,
            " (or set OCTOPUS_ACCESS_TOKEN to an access token of that account)",
        )
    })
}

/// The run key handed on by the create step.
pub fn run_key(env: &Env) -> Result<Option<Credential>> {
    match env.get(RUNKEY_API_KEY) {
        Some(key) => {
            check_key_shape(RUNKEY_API_KEY, key)?;
            Ok(Some(Credential::api_key(
                Secret::new(key),
                RUNKEY_API_KEY.name,
            )))
        }
        None => Ok(None),
    }
}

/// Octopus keys are `API-` plus capitals and digits. Catching anything else here turns a
/// mis-wired parameter into a clear usage error instead of a 401 (the value is not shown).
fn check_key_shape(var: Var, key: &str) -> Result<()> {
    if crate::octopus::is_key_shaped(key) {
        Ok(())
    } else {
        Err(usage(format!(
            "{} does not hold an Octopus API key (API- followed by capital letters and digits): map it from {} in the step",
            var.name, var.source
        )))
    }
}

pub fn ttl(arg: Option<&str>, env: &Env) -> Result<Duration> {
    match (arg, env.get(RUNKEY_TTL)) {
        (Some(text), _) => duration::parse(text).map_err(|e| usage(format!("--ttl: {e}"))),
        (None, Some(text)) => duration::parse(text).map_err(|e| usage(format!("RUNKEY_TTL: {e}"))),
        (None, None) => Ok(DEFAULT_TTL),
    }
}

pub fn max_age(text: &str) -> Result<Duration> {
    duration::parse(text).map_err(|e| usage(format!("--max-age: {e}")))
}

/// `OCTOPUS_TASK_ID`, checked so that it can stand in a key's marker.
pub fn task_id(env: &Env) -> Result<Option<String>> {
    match env.get(OCTOPUS_TASK_ID) {
        Some(task) => {
            purpose::validate_task_id(task).map_err(|why| {
                usage(format!(
                    "OCTOPUS_TASK_ID '{task}' {why}: map it from Octopus.Task.Id in the step"
                ))
            })?;
            Ok(Some(task.to_string()))
        }
        None => Ok(None),
    }
}

pub fn run_context(env: &Env) -> RunContext {
    RunContext {
        runbook: env.get_string(OCTOPUS_RUNBOOK_NAME),
        project: env.get_string(OCTOPUS_PROJECT_NAME),
        environment: env.get_string(OCTOPUS_ENVIRONMENT_NAME),
        tenant: env.get_string(OCTOPUS_TENANT_NAME),
        space: env
            .get_string(OCTOPUS_SPACE_NAME)
            .or_else(|| env.get_string(OCTOPUS_SPACE_ID)),
    }
}

/// The operator as the `Octopus.Deployment.CreatedBy.*` variables name them, if they do.
pub fn operator_from_env(env: &Env) -> Option<Operator> {
    let username = env.get_string(OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME)?;
    Some(Operator {
        display_name: env
            .get_string(OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME)
            .unwrap_or_else(|| username.clone()),
        id: env.get_string(OCTOPUS_DEPLOYMENT_CREATEDBY_ID),
        username,
    })
}

/// Where to look the operator up when the variables are empty: (space id, runbook run id).
pub fn runbook_run(env: &Env) -> Option<(String, String)> {
    Some((
        env.get_string(OCTOPUS_SPACE_ID)?,
        env.get_string(OCTOPUS_RUNBOOKRUN_ID)?,
    ))
}

/// The space for `OCTOPUS_SPACE` in the child: the name, else the id.
pub fn space(env: &Env) -> Option<String> {
    env.get_string(OCTOPUS_SPACE_NAME)
        .or_else(|| env.get_string(OCTOPUS_SPACE_ID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code_for;

    fn global() -> GlobalArgs {
        GlobalArgs {
            server: None,
            ca_cert: None,
            timeout: 30,
            verbose: false,
        }
    }

    #[test]
    fn server_comes_from_the_flag_then_octopus_url_then_serveruri() {
        let env = Env::from_pairs(&[
            ("OCTOPUS_URL", "https://a.example/"),
            ("OCTOPUS_WEB_SERVERURI", "https://b.example"),
        ]);
        assert_eq!(
            Connection::resolve(&global(), &env).unwrap().server,
            "https://a.example"
        );
        let env = Env::from_pairs(&[
            ("OCTOPUS_URL", ""),
            ("OCTOPUS_WEB_SERVERURI", "https://b.example"),
        ]);
        assert_eq!(
            Connection::resolve(&global(), &env).unwrap().server,
            "https://b.example"
        );
        let mut args = global();
        args.server = Some("https://c.example".into());
        assert_eq!(
            Connection::resolve(&args, &env).unwrap().server,
            "https://c.example"
        );
    }

    #[test]
    fn a_missing_server_is_a_usage_error_naming_the_octopus_variable() {
        let err = Connection::resolve(&global(), &Env::default()).unwrap_err();
        assert_eq!(exit_code_for(&err), 2);
        let text = err.to_string();
        assert!(text.contains("OCTOPUS_URL is not set"), "{text}");
        assert!(text.contains("Octopus.Web.ServerUri"), "{text}");
    }

    #[test]
    fn unsubstituted_expressions_count_as_missing_and_say_so() {
        let env = Env::from_pairs(&[("OCTOPUS_URL", "#{Octopus.Web.ServerUri}")]);
        let err = Connection::resolve(&global(), &env).unwrap_err();
        assert!(err.to_string().contains("was not substituted"), "{err}");
    }

    #[test]
    fn server_urls_need_a_scheme_and_host() {
        for bad in ["octopus.example.com", "ftp://x", "https://", "https:///api"] {
            let env = Env::from_pairs(&[("OCTOPUS_URL", bad)]);
            assert!(Connection::resolve(&global(), &env).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_proxy_follows_the_scheme_and_no_proxy() {
        let env = Env::from_pairs(&[
            ("HTTPS_PROXY", "http://secure-proxy:3128"),
            ("http_proxy", "http://plain-proxy:3128"),
            ("NO_PROXY", "localhost, .internal.example,10.0.0.7:8080"),
        ]);
        assert_eq!(
            proxy_for("https://octopus.example.com", &env).as_deref(),
            Some("http://secure-proxy:3128")
        );
        assert_eq!(
            proxy_for("http://octopus.example.com", &env).as_deref(),
            Some("http://plain-proxy:3128")
        );
        assert_eq!(proxy_for("https://localhost:8443", &env), None);
        assert_eq!(proxy_for("https://octo.internal.example", &env), None);
        assert_eq!(proxy_for("http://10.0.0.7", &env), None);
        let all = Env::from_pairs(&[("ALL_PROXY", "http://all:1"), ("no_proxy", "*")]);
        assert_eq!(proxy_for("https://x", &all), None);
        let all = Env::from_pairs(&[("ALL_PROXY", "http://all:1")]);
        assert_eq!(
            proxy_for("https://x", &all).as_deref(),
            Some("http://all:1")
        );
        assert!(bypasses_proxy("www.example.com", "example.com"));
        assert!(!bypasses_proxy("notexample.com", "example.com"));
    }

    #[test]
    fn plain_http_is_insecure_except_on_loopback() {
        let conn = |url: &str| Connection {
            server: url.into(),
            ca_cert: None,
            timeout: Duration::from_secs(1),
            verbose: false,
            proxy: None,
        };
        assert!(conn("http://octopus.example.com").is_insecure());
        assert!(!conn("http://127.0.0.1:8080").is_insecure());
        assert!(!conn("http://localhost/octopus").is_insecure());
        assert!(!conn("http://[::1]:80").is_insecure());
        assert!(!conn("https://octopus.example.com").is_insecure());
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused_without_showing_them() {
        let env = Env::from_pairs(&[("OCTOPUS_API_KEY", "api-lowercase-secret")]);
        let err = broker_credential(&env).unwrap_err();
        assert_eq!(exit_code_for(&err), 2);
        assert!(!err.to_string().contains("lowercase-secret"));
    }

    #[test]
    fn ttl_comes_from_the_flag_then_runkey_ttl_then_one_hour() {
        let env = Env::from_pairs(&[("RUNKEY_TTL", "2h")]);
        assert_eq!(ttl(Some("90s"), &env).unwrap(), Duration::from_secs(90));
        assert_eq!(ttl(None, &env).unwrap(), Duration::from_secs(7200));
        assert_eq!(ttl(None, &Env::default()).unwrap(), DEFAULT_TTL);
        assert_eq!(exit_code_for(&ttl(Some("soon"), &env).unwrap_err()), 2);
    }

    #[test]
    fn operator_display_name_defaults_to_username() {
        let env = Env::from_pairs(&[("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "jane.doe")]);
        let op = operator_from_env(&env).unwrap();
        assert_eq!(
            (op.username.as_str(), op.display_name.as_str()),
            ("jane.doe", "jane.doe")
        );
        assert_eq!(operator_from_env(&Env::default()), None);
    }

    #[test]
    fn host_of_handles_ports_paths_and_ipv6() {
        assert_eq!(host_of("https://octo.example:8443/vdir"), "octo.example");
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        assert_eq!(host_of("https://user@host"), "host");
    }
}
