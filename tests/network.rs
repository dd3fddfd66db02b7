//! The server and the network: faults on every request kind (retried, settled, or failing
//! in bounded time with one line), statuses and answers that are not Octopus's, TLS,
//! proxies, redirects, paging links and URLs. Whatever goes wrong, no live key is left
//! behind and no step hangs.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::proxy::TestProxy;
use crate::support::*;

/// The four request kinds and a command that makes each.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `GET /api/users/me`, through `list`.
    Me,
    /// `POST /api/users/{id}/apikeys`, through `create`.
    Post,
    /// `GET /api/users/{id}/apikeys` (a listing), through `revoke` by task.
    List,
    /// `DELETE /api/users/{id}/apikeys/{key}`, through `revoke` by id.
    Delete,
}

impl Kind {
    fn fault(self, kind: FaultKind, times: usize) -> Fault {
        let (method, path) = match self {
            Kind::Me => ("GET", "/api/users/me"),
            Kind::Post => ("POST", "/apikeys"),
            Kind::List => ("GET", "/apikeys"),
            Kind::Delete => ("DELETE", "/apikeys/"),
        };
        Fault::new(method, path, kind).times(times)
    }

    /// Prepares the server, injects `fault`, runs the command: its output and time taken.
    fn run(self, f: &Fixture, fault: Fault) -> (Out, Duration) {
        let task = "ServerTasks-500";
        let run = match self {
            Kind::Me => as_broker(f, &["list"]),
            Kind::Post => runkey(&["create"]).envs(create_env(f, task)),
            Kind::List => {
                create(f, task);
                as_broker(f, &["revoke"]).env("OCTOPUS_TASK_ID", task)
            }
            Kind::Delete => {
                let created = create(f, task);
                as_broker(f, &["revoke"])
                    .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
                    .env("RUNKEY_API_KEY_OWNER_ID", &f.broker_id)
            }
        };
        f.sim.inject(fault);
        let started = Instant::now();
        let out = run.run();
        (out, started.elapsed())
    }

    /// What a successful run leaves on the server: one working key after create, none after
    /// a revoke; and what it said: a create whose POST failed warns that it settled the
    /// attempt and tried once more, every other run that rode a fault out is silent.
    fn assert_succeeded(self, f: &Fixture, out: &Out, what: &str) {
        assert_eq!(
            out.code,
            0,
            "{self:?} {what}\n{}\n{}",
            out.stdout,
            out.stderr()
        );
        match self {
            Kind::Post => {
                out.warns(&["creating it once more"]);
            }
            _ => assert_eq!(out.stderr(), "", "{self:?} {what}: nothing on stderr"),
        }
        let keys = runkey_keys(f);
        match self {
            Kind::Post => {
                assert_eq!(keys.len(), 1, "{what}: exactly one live key");
                assert_eq!(keys[0].id, out.var("ApiKeyId"));
                assert_eq!(
                    call_me(f, &out.var("ApiKey")).0,
                    200,
                    "{what}: the emitted key works"
                );
            }
            Kind::List | Kind::Delete => assert!(keys.is_empty(), "{self:?} {what}: revoked"),
            Kind::Me => {}
        }
    }
}

const KINDS: [Kind; 4] = [Kind::Me, Kind::Post, Kind::List, Kind::Delete];

fn transient_faults() -> Vec<(&'static str, FaultKind)> {
    vec![
        ("500", FaultKind::status(500)),
        (
            "503 Retry-After 1",
            FaultKind::Status {
                status: 503,
                retry_after: Some(1),
            },
        ),
        (
            "429 Retry-After 1",
            FaultKind::Status {
                status: 429,
                retry_after: Some(1),
            },
        ),
        ("reset before the answer", FaultKind::ResetBeforeResponse),
        ("HTML 502 from a proxy", FaultKind::Html502),
    ]
}

#[test]
fn one_transient_fault_on_any_request_is_ridden_out() {
    for kind in KINDS {
        for (name, fault) in transient_faults() {
            let f = Fixture::new();
            let (out, _) = kind.run(&f, kind.fault(fault, 1));
            kind.assert_succeeded(&f, &out, name);
        }
    }
}

#[test]
fn two_faults_in_a_row_on_a_get_or_delete_are_ridden_out() {
    for kind in [Kind::Me, Kind::List, Kind::Delete] {
        let f = Fixture::new();
        let (out, _) = kind.run(&f, kind.fault(FaultKind::ResetBeforeResponse, 2));
        kind.assert_succeeded(&f, &out, "two resets");
    }
}

#[test]
fn an_answer_lost_after_the_work_was_done_is_settled() {
    // The POST's key exists but its answer is lost: it is found by nonce and replaced.
    let f = Fixture::new();
    let (out, _) = Kind::Post.run(&f, Kind::Post.fault(FaultKind::CommitThenReset, 1));
    Kind::Post.assert_succeeded(&f, &out, "commit-then-reset");
    // The DELETE happened but its answer is lost: the retry finds it gone.
    let f = Fixture::new();
    let (out, _) = Kind::Delete.run(&f, Kind::Delete.fault(FaultKind::CommitThenReset, 1));
    Kind::Delete.assert_succeeded(&f, &out, "commit-then-reset");
    assert!(out.stdout.contains("already revoked"), "{}", out.stdout);
}

#[test]
fn persistent_failure_fails_in_bounded_time_with_one_line_and_nothing_left() {
    for kind in KINDS {
        let f = Fixture::new();
        let (out, took) = kind.run(&f, kind.fault(FaultKind::status(500), 100));
        out.code(1);
        assert!(took < Duration::from_secs(15), "{kind:?} took {took:?}");
        let errors = out
            .stderr()
            .lines()
            .filter(|l| !l.starts_with("octopus-runkey: warning:"))
            .count();
        assert_eq!(errors, 1, "{kind:?}: one error line: {}", out.stderr());
        assert!(
            out.stderr().contains("HTTP 500"),
            "{kind:?}: {}",
            out.stderr()
        );
        // Outside Octopus, no task summary line.
        assert!(out.result_message().is_none());
        if let Kind::Me | Kind::Post = kind {
            assert!(
                runkey_keys(&f).is_empty(),
                "{kind:?}: nothing left on the server"
            );
        }
        if let Kind::Post = kind {
            // The server answered each time: not a lost answer, and nothing was left.
            let stderr = out.stderr();
            assert!(
                stderr.contains("the server failed twice creating the run key")
                    && stderr.contains("none is left")
                    && !stderr.contains("was lost")
                    && !stderr.contains("without a readable answer"),
                "{stderr}"
            );
        }
        if let Kind::Delete = kind {
            assert!(
                out.stderr().contains("DELETE /api/users/"),
                "{}",
                out.stderr()
            );
        }
    }
}

#[test]
fn retry_after_is_honoured_but_capped() {
    let f = Fixture::new();
    let (out, took) = Kind::Me.run(
        &f,
        Kind::Me.fault(
            FaultKind::Status {
                status: 503,
                retry_after: Some(3600),
            },
            1,
        ),
    );
    out.code(0);
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "waited {took:?}: Retry-After capped at 10 s"
    );
}

/// Merged from two tests that pinned the same thing (`errors::a_hung_server_times_out_...`
/// and `hardening::a_hung_server_fails_...`): both bounds are kept.
#[test]
fn a_hung_server_fails_in_bounded_time_naming_the_request() {
    let f = Fixture::new();
    f.sim
        .inject(Kind::Me.fault(FaultKind::Delay(Duration::from_secs(30)), 3));
    let started = Instant::now();
    let out = as_broker(&f, &["list", "--timeout", "1"]).run();
    out.code(1);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "bounded by --timeout and the retries, not the server's delay: {:?}",
        started.elapsed()
    );
    assert!(
        out.stderr()
            .contains("GET /api/users/me timed out after 1s"),
        "{}",
        out.stderr()
    );
}

#[test]
fn a_create_whose_post_hangs_fails_in_bounded_time_and_says_when_a_late_key_expires() {
    let f = Fixture::new();
    f.sim
        .inject(Kind::Post.fault(FaultKind::Delay(Duration::from_secs(4)), 2));
    let started = Instant::now();
    let out = runkey(&["create", "--timeout", "1"])
        .envs(create_env(&f, "ServerTasks-9"))
        .run();
    out.code(1);
    assert!(started.elapsed() < Duration::from_secs(12));
    let stderr = out.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "a warning, then the error:\n{stderr}");
    assert!(
        lines[0].starts_with("octopus-runkey: warning: ")
            && lines[0].contains("timed out after 1s")
            && lines[0].contains("creating it once more"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("octopus-runkey: error: ")
            && lines[1].contains("timed out after 1s")
            && lines[1].contains("should the server still finish one")
            && lines[1].contains("that key expires at"),
        "{stderr}"
    );
    assert!(out.output_variables().is_empty());
}

#[test]
fn exec_finds_a_key_that_a_slow_server_made_after_the_create_gave_up() {
    let f = Fixture::new();
    // The first POST is answered after the client's 1 s timeout: the key appears later.
    f.sim
        .inject(Kind::Post.fault(FaultKind::Delay(Duration::from_millis(1500)), 1));
    let out = runkey(&["exec", "--timeout", "1", "--", "sleep", "2"])
        .envs(create_env(&f, "ServerTasks-3"))
        .run();
    out.code(0)
        .warns(&["the answer to creating the run key was lost"]);
    assert!(
        out.stdout
            .contains("Also deleted 1 key(s) left by a create attempt"),
        "{}",
        out.stdout
    );
    assert!(runkey_keys(&f).is_empty(), "no key outlives the run");
}

#[test]
fn malformed_answers_give_a_clear_error_and_never_a_panic() {
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "{\"Id\": 5}",
        "{\"Items\": \"nope\"}",
        "<html><body>Service Unavailable</body></html>",
        "{\"Id\":\"Users-1\",\"Username\":",
        "\u{0}\u{1}binary",
    ];
    for body in bodies {
        let f = Fixture::new();
        f.sim.inject(Fault::new(
            "GET",
            "/api/users/me",
            FaultKind::Body {
                status: 200,
                body: body.to_string(),
            },
        ));
        let out = as_broker(&f, &["list"]).run();
        out.code(1);
        assert!(
            !out.stderr().contains("panicked"),
            "{body:?}: {}",
            out.stderr()
        );
        assert_eq!(
            out.stderr().lines().count(),
            1,
            "{body:?}: {}",
            out.stderr()
        );
        assert!(
            out.stderr().contains("is not the JSON Octopus sends"),
            "{body:?}: {}",
            out.stderr()
        );
    }
    for body in [
        "{}",
        "{\"Id\": \"apikeys-1\"}",
        "{\"ApiKey\": {\"HasValue\": true}}",
        "not json",
    ] {
        let f = Fixture::new();
        f.sim.inject(
            Fault::new(
                "POST",
                "/apikeys",
                FaultKind::Body {
                    status: 200,
                    body: body.to_string(),
                },
            )
            .times(2),
        );
        let out = runkey(&["create"])
            .envs(create_env(&f, "ServerTasks-1"))
            .run();
        out.code(1);
        assert!(!out.stderr().contains("panicked"));
        assert!(
            out.stderr().contains("not a created API key"),
            "{body:?}: {}",
            out.stderr()
        );
        assert!(runkey_keys(&f).is_empty());
    }
}

fn ca_file(ca: &TestCa) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &ca.ca_pem).unwrap();
    file
}

#[test]
fn tls_an_untrusted_server_is_refused_with_how_to_trust_it() {
    let ca = TestCa::new();
    let f = Fixture::with_tls(&ca);
    assert!(f.sim.url().starts_with("https://"));
    let out = as_broker(&f, &["list"]).run();
    out.code(1);
    let line = out.stderr().trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("TLS connection to 127.0.0.1 failed"),
        "{line}"
    );
    assert!(
        line.contains("--ca-cert")
            && line.contains("SSL_CERT_FILE")
            && line.contains("trust store"),
        "{line}"
    );
    // The handshake failed, so no request reached the server.
    f.sim.expect_no_requests();
}

#[test]
fn tls_trusted_through_ca_cert_or_ssl_cert_file_works() {
    let ca = TestCa::new();
    let f = Fixture::with_tls(&ca);
    let pem = ca_file(&ca);
    let out = runkey(&[
        "exec",
        "--ca-cert",
        pem.path().to_str().unwrap(),
        "--",
        "true",
    ])
    .envs(create_env(&f, "ServerTasks-1"))
    .run();
    out.code(0);
    assert!(runkey_keys(&f).is_empty());
    // SSL_CERT_FILE is where the OS trust store is read from: the default verifier uses it.
    let out = as_broker(&f, &["list"])
        .env("SSL_CERT_FILE", pem.path())
        .run();
    out.code(0);
}

#[test]
fn there_is_no_option_that_skips_verification() {
    for flag in ["--insecure", "-k", "--no-verify", "--skip-tls-verify"] {
        let out = runkey(&["list", flag]).run();
        out.code(2)
            .stderr_contains(&format!("unexpected argument '{flag}' found"));
    }
    let help = runkey(&["--help"]).run().stdout.to_lowercase();
    assert!(!help.contains("insecure") && !help.contains("skip"));
}

#[test]
fn proxies_are_honoured_and_no_proxy_bypasses_them() {
    let f = Fixture::new();
    let proxy = TestProxy::start();
    let list = |vars: &[(&str, String)]| {
        as_broker(&f, &["list"])
            .envs(vars.iter().map(|(k, v)| (*k, v.clone())))
            .run()
    };
    let target = f.sim.url().trim_start_matches("http://").to_string();
    list(&[("HTTP_PROXY", proxy.url())]).code(0);
    assert_eq!(
        proxy.requests(),
        [format!("CONNECT {target}")],
        "one tunnel for the whole run"
    );
    list(&[
        ("http_proxy", proxy.url()),
        ("NO_PROXY", "localhost,127.0.0.1".to_string()),
    ])
    .code(0);
    list(&[("HTTPS_PROXY", proxy.url())]).code(0);
    assert_eq!(
        proxy.requests().len(),
        1,
        "NO_PROXY bypasses; HTTPS_PROXY is not for http:// servers"
    );
    // A proxy that is down fails clearly.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = list(&[("HTTP_PROXY", dead_url)]);
    out.code(1)
        .one_error_line(&["(from HTTP_PROXY) refused the connection"]);
}

#[test]
fn https_goes_through_the_proxy_with_connect() {
    let ca = TestCa::new();
    let f = Fixture::with_tls(&ca);
    let proxy = TestProxy::start();
    let pem = ca_file(&ca);
    let out = runkey(&[
        "exec",
        "--ca-cert",
        pem.path().to_str().unwrap(),
        "--",
        "true",
    ])
    .envs(create_env(&f, "ServerTasks-1"))
    .env("HTTPS_PROXY", proxy.url())
    .run();
    out.code(0);
    let target = f.sim.url().trim_start_matches("https://").to_string();
    assert_eq!(proxy.requests(), [format!("CONNECT {target}")]);
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn a_bad_key_exits_1_with_a_401_message_and_a_result_message() {
    let f = Fixture::new();
    let bogus = NOT_A_REAL_KEY;
    let out = as_step(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("OCTOPUS_API_KEY", bogus)
        .run();
    out.code(1).never_shows(bogus);
    let line = out.stderr().trim_end();
    assert_eq!(line.lines().count(), 1);
    assert!(
        line.contains("GET /api/users/me was refused (401)"),
        "{line}"
    );
    assert!(
        line.contains("current API key of the broker service account"),
        "{line}"
    );
    assert!(out.result_message().unwrap().contains("401"));
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn a_missing_permission_is_named() {
    let f = Fixture::new();
    let broker = f.sim.add_user("svc-blind", "Blind Broker", true, &[]);
    let (_, key) = f.sim.add_api_key(&broker, "blind", None);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let out = runkey(&["create"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", &key)
        .env("OCTOPUS_SPACE_ID", &f.space_id)
        .env("OCTOPUS_RUNBOOKRUN_ID", &run.id)
        .run();
    out.code(1);
    assert!(
        out.stderr().contains("(403)")
            && out.stderr().contains("lacks the permission RunbookRunView"),
        "{}",
        out.stderr()
    );
}

#[test]
fn gets_are_retried_on_503_honouring_retry_after() {
    let f = Fixture::new();
    f.sim.inject(
        Fault::new(
            "GET",
            "/api/users/me",
            FaultKind::Status {
                status: 503,
                retry_after: Some(1),
            },
        )
        .times(2),
    );
    let started = std::time::Instant::now();
    let out = as_broker(&f, &["list"]).run();
    out.code(0);
    assert!(
        started.elapsed().as_millis() >= 2000,
        "waited Retry-After twice"
    );
    let tries = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target == "/api/users/me")
        .count();
    assert_eq!(tries, 3);
}

#[test]
fn persistent_failure_gives_up_after_three_attempts() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::status(500)).times(10));
    let out = as_broker(&f, &["list"]).run();
    out.code(1);
    assert!(
        out.stderr().contains("failed on the server (HTTP 500)"),
        "{}",
        out.stderr()
    );
    assert_eq!(f.sim.requests().len(), 3);
}

#[test]
fn an_html_502_from_a_proxy_gives_a_short_message() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::Html502).times(3));
    let out = as_broker(&f, &["list"]).run();
    out.code(1);
    assert!(
        out.stderr().contains("HTTP 502") && out.stderr().contains("HTML page"),
        "{}",
        out.stderr()
    );
    assert!(
        !out.stderr().contains("<html>") && !out.stderr().contains("nginx"),
        "{}",
        out.stderr()
    );
    assert_eq!(out.stderr().lines().count(), 1);
}

#[test]
fn connection_refused_names_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", &url)
        .env("OCTOPUS_API_KEY", "API-ABC")
        .run();
    out.code(1);
    assert!(
        out.stderr().contains(&url) && out.stderr().contains("connection refused"),
        "{}",
        out.stderr()
    );
}

#[test]
fn plain_http_to_another_host_warns() {
    let out = runkey(&["list", "--timeout", "1"])
        .env("OCTOPUS_URL", "http://octopus.invalid")
        .env("OCTOPUS_API_KEY", "API-ABC")
        .run();
    assert!(
        out.stderr()
            .contains("warning: http://octopus.invalid uses plain http://"),
        "{}",
        out.stderr()
    );
    out.code(1);
    assert!(
        out.stderr()
            .contains("could not resolve the host 'octopus.invalid'"),
        "{}",
        out.stderr()
    );
}

#[test]
fn redirects_are_not_followed_so_the_key_goes_nowhere_else() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::status(301)));
    let out = as_broker(&f, &["list"]).run();
    out.code(1);
    assert!(
        out.stderr().contains("was redirected (301)") && out.stderr().contains("set OCTOPUS_URL"),
        "{}",
        out.stderr()
    );
    assert_eq!(f.sim.requests().len(), 1);
}

/// The broker's real first page of keys, three to a page, with its `Page.Next` replaced.
fn first_page_linking_to(f: &Fixture, next: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!(
            "{}/api/users/{}/apikeys?skip=0&take=3",
            f.sim.url(),
            f.broker_id
        ))
        .header("X-Octopus-ApiKey", &f.broker_key)
        .call()
        .unwrap();
    let mut page: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(
        page["Links"]["Page.Next"].is_string(),
        "the real page has a next"
    );
    page["Links"]["Page.Next"] = serde_json::Value::String(next.to_string());
    page.to_string()
}

#[test]
fn a_paging_link_to_another_server_is_refused_and_nothing_connects_there() {
    let other = OtherServer::start();
    let elsewhere = |f: &Fixture| {
        let path = format!("/api/users/{}/apikeys?skip=3&take=3", f.broker_id);
        let port = other.port();
        [
            ("another port", format!("http://127.0.0.1:{port}{path}")),
            ("another scheme", format!("https://127.0.0.1:{port}{path}")),
            ("protocol-relative", format!("//127.0.0.1:{port}{path}")),
        ]
    };
    for command in [vec!["list", "--json"], vec!["revoke"]] {
        let f = Fixture::with_options(Options {
            max_take: Some(3),
            ..Options::default()
        });
        // Six keys of the broker: the listing needs a second page.
        for task in ["ServerTasks-60", "ServerTasks-61", "ServerTasks-62"] {
            create(&f, task);
        }
        for (what, link) in elsewhere(&f) {
            f.sim.inject(Fault::new(
                "GET",
                "/apikeys",
                FaultKind::Body {
                    status: 200,
                    body: first_page_linking_to(&f, &link),
                },
            ));
            let out = as_broker(&f, &command)
                .under_octopus()
                .env("OCTOPUS_TASK_ID", "ServerTasks-60")
                .run();
            out.code(1).one_error_line(&[
                "Page.Next link points at another server",
                "refusing to send the credential there",
            ]);
            // Under Octopus the task summary gets the reason, `list --json` too.
            assert!(out.result_message().is_some(), "{command:?} {what}");
            assert_eq!(other.connections(), 0, "{command:?} {what}: it connected");
        }
        seeded_keys_survive(&f);
    }
}

#[test]
fn a_password_in_the_server_url_is_refused_before_any_request_and_shown_nowhere() {
    let f = Fixture::new();
    let url = format!("http://jane:hunter2@{}", f.sim.addr());
    let run_key = ("RUNKEY_API_KEY", "API-RUNKEY0000000000000000".to_string());
    let key_id = ("RUNKEY_API_KEY_ID", "apikeys-x".to_string());
    type Command<'a> = (Vec<&'a str>, Vec<(&'a str, String)>);
    let commands: [Command; 5] = [
        (vec!["create"], create_env(&f, "ServerTasks-70")),
        (vec!["exec", "--", "true"], create_env(&f, "ServerTasks-70")),
        (vec!["list"], create_env(&f, "ServerTasks-70")),
        (vec!["revoke"], vec![run_key.clone(), key_id]),
        (vec!["use", "--check", "--", "true"], vec![run_key]),
    ];
    for (args, env) in commands {
        let out = as_step(&args).envs(env).env("OCTOPUS_URL", &url).run();
        out.code(2)
            .one_error_line(&["holds a user name or password: remove it"])
            .never_shows("hunter2");
        let summary = out.result_message().expect("a resultMessage");
        assert!(summary.contains("remove it"), "{args:?}: {summary}");
        assert!(!summary.contains("hunter2"), "{args:?}: {summary}");
    }
    f.sim.expect_no_requests();
}

/// A server elsewhere on loopback that counts who connects to it.
struct OtherServer {
    listener: TcpListener,
}

impl OtherServer {
    fn start() -> OtherServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        OtherServer { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Connections made to it so far (each accepted, then dropped).
    fn connections(&self) -> usize {
        let mut count = 0;
        while self.listener.accept().is_ok() {
            count += 1;
        }
        count
    }
}

// Issue 22, item 5: pages end.
#[test]
fn a_listing_that_never_ends_or_repeats_itself_stops_with_one_line() {
    for (paging, says) in [
        (Paging::Endless, "the listing did not end after 1000 pages"),
        (
            Paging::SkipIgnored,
            "the server answered a page of items it had listed already",
        ),
        (
            Paging::NextRepeats,
            "the server's Page.Next link repeats a page",
        ),
    ] {
        let f = Fixture::new();
        let task = f.sim.add_task(None, TaskState::Success);
        create(&f, &task);
        f.sim.set_options(|o| {
            o.paging = paging;
            o.max_take = Some(3);
        });
        let listing = format!("GET /api/users/{}/apikeys", f.broker_id);
        for (what, run) in [
            ("list", as_broker(&f, &["list"]).under_octopus()),
            (
                "revoke by task",
                as_broker(&f, &["revoke"])
                    .under_octopus()
                    .env("OCTOPUS_TASK_ID", &task),
            ),
            (
                "sweep",
                as_broker(&f, &["revoke", "--sweep"]).under_octopus(),
            ),
        ] {
            let out = run.run();
            out.code(1).one_error_line(&[&listing, says]);
            assert!(out.result_message().unwrap().contains(says), "{what}");
        }
        let out = as_broker(&f, &["audit"]).under_octopus().run();
        out.code(1).one_error_line(&["GET /api/events"]);
        // Nothing was deleted on the strength of a listing that never ended.
        assert_eq!(runkey_keys(&f).len(), 1, "{paging:?}");
    }
}
