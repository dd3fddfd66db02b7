//! Hardening: faults on every request kind, TLS, proxies, cancellation, concurrency and
//! secret hygiene. Whatever goes wrong, no live key is left behind, no secret leaks, and no
//! step hangs.

use std::collections::BTreeSet;
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
        assert!(out.result_message().is_some());
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

#[test]
fn a_hung_server_fails_in_bounded_time_naming_the_request() {
    let f = Fixture::new();
    f.sim
        .inject(Kind::Me.fault(FaultKind::Delay(Duration::from_secs(30)), 3));
    let started = Instant::now();
    let out = as_broker(&f, &["list", "--timeout", "2"]).run();
    out.code(1);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr()
            .contains("GET /api/users/me timed out after 2s"),
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
fn sigint_is_passed_to_the_child_and_exec_then_revokes() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = start_until_ready(
        runkey(&[
            "exec",
            "--",
            "sh",
            "-c",
            "trap 'echo got-int; exit 9' INT; touch \"$READY\"; while :; do sleep 0.05; done",
        ])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("READY", &ready),
        &ready,
    );
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(9));
    assert!(String::from_utf8_lossy(&output.stdout).contains("got-int"));
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn twenty_parallel_runs_each_keep_their_own_key() {
    let f = Fixture::new();
    let check = r#"sleep 0.3
hostport=${OCTOPUS_URL#http://}
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'GET /api/users/me HTTP/1.1\r\nHost: o\r\nX-Octopus-ApiKey: %s\r\nConnection: close\r\n\r\n' "$OCTOPUS_API_KEY" >&3
read -r status <&3
case "$status" in *" 200 "*) exit 0 ;; *) echo "key failed: $status"; exit 1 ;; esac"#;
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let env = create_env(&f, &format!("ServerTasks-{}", 1000 + i));
            std::thread::spawn(move || runkey(&["exec", "--", "bash", "-c", check]).envs(env).run())
        })
        .collect();
    let outs: Vec<Out> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ids = BTreeSet::new();
    for out in &outs {
        out.code(0);
        let created = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Created run key "))
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let revoked = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Revoked run key "))
            .unwrap()
            .trim_end_matches('.')
            .to_string();
        assert_eq!(created, revoked, "each run revoked its own key");
        ids.insert(created);
    }
    assert_eq!(ids.len(), 20);
    assert!(runkey_keys(&f).is_empty(), "zero keys remain");
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn secrets_never_reach_argv_and_the_broker_key_never_reaches_the_child() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    let run_key = created.var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut child = start_until_ready(
        runkey(&[
            "use",
            "--check",
            "--",
            "sh",
            "-c",
            "touch \"$READY\"; sleep 5",
        ])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &run_key)
        .env("OCTOPUS_API_KEY", &f.broker_key)
        .env("READY", &ready),
        &ready,
    );
    let pid = child.id();
    let shell = children(pid);
    assert_eq!(shell.len(), 1);
    for p in [pid, shell[0]] {
        let argv = cmdline(p);
        assert!(!argv.is_empty());
        assert!(
            !argv.contains(&run_key) && !argv.contains(&f.broker_key),
            "argv of {p}: {argv}"
        );
    }
    let environ =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/environ", shell[0])).unwrap())
            .into_owned();
    assert!(environ.contains(&run_key), "the child has the run key");
    assert!(
        !environ.contains(&f.broker_key),
        "the child never has the broker key"
    );
    signal(&child, libc::SIGTERM);
    let _ = child.wait();
}

#[test]
fn the_tool_writes_no_files() {
    let f = Fixture::new();
    let (cwd, home, tmp) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let in_dirs = |mut run: Run| {
        run.command().current_dir(cwd.path());
        run.env("HOME", home.path()).env("TMPDIR", tmp.path()).run()
    };
    let created = in_dirs(runkey(&["create"]).envs(create_env(&f, "ServerTasks-1")));
    created.code(0);
    in_dirs(runkey(&["exec", "--", "true"]).envs(create_env(&f, "ServerTasks-2"))).code(0);
    in_dirs(as_broker(&f, &["list", "--json"])).code(0);
    in_dirs(
        runkey(&["revoke"])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", created.var("ApiKey"))
            .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId")),
    )
    .code(0);
    for dir in [&cwd, &home, &tmp] {
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{} stays empty",
            dir.path().display()
        );
    }
}

#[test]
fn the_run_key_is_on_stdout_only_inside_mask_and_the_sensitive_variable() {
    use base64::Engine;
    let f = Fixture::new();
    let out = create(&f, "ServerTasks-1");
    let key = out.var("ApiKey");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
    let carrying: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(&encoded))
        .collect();
    assert_eq!(carrying.len(), 2, "{carrying:?}");
    assert!(carrying[0].starts_with("##octopus[mask value="));
    assert!(
        carrying[1].starts_with("##octopus[setVariable name='QXBpS2V5'")
            && carrying[1].ends_with("sensitive='VHJ1ZQ==']")
    );
    out.never_shows(&key);
}

#[test]
fn the_childs_environment_is_the_parents_plus_the_contracts_variables() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env");
    let parent = [
        ("OCTOPUS_URL", f.sim.url()),
        ("RUNKEY_API_KEY", created.var("ApiKey")),
        ("OCTOPUS_ACCESS_TOKEN", "eyJbroker".to_string()),
        ("OCTOPUS_SPACE_ID", "Spaces-1".to_string()),
        ("SOMETHING_ELSE", "kept".to_string()),
        ("DUMP", dump.display().to_string()),
    ];
    runkey(&["use", "--", "sh", "-c", "env -0 > \"$DUMP\""])
        .envs(parent.clone())
        .run()
        .code(0);
    let names: BTreeSet<String> = std::fs::read(&dump)
        .unwrap()
        .split(|b| *b == 0)
        .filter_map(|e| {
            String::from_utf8_lossy(e)
                .split_once('=')
                .map(|(k, _)| k.to_string())
        })
        .filter(|k| !matches!(k.as_str(), "PWD" | "SHLVL" | "_"))
        .collect();
    let mut expected: BTreeSet<String> = parent
        .iter()
        .map(|(k, _)| k.to_string())
        // What the test helper sets in every run's environment.
        .chain(["PATH".to_string(), "RUNKEY_NO_GUARD".to_string()])
        .collect();
    expected.remove("OCTOPUS_ACCESS_TOKEN");
    for added in [
        "OCTOPUS_API_KEY",
        "OCTOPUS_APIKEY",
        "OCTOPUS_CLI_API_KEY",
        "OCTOPUS_CLI_SERVER",
        "OCTOPUS_SPACE",
    ] {
        expected.insert(added.to_string());
    }
    assert_eq!(names, expected);
}
