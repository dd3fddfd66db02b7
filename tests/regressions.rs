//! Regression tests, each named after the defect it pins, with the issue that reported it
//! (as ripgrep's `tests/regression.rs` does): what was found when the tool was tried as a
//! new user and as a hostile environment would treat it, and what mutation testing showed
//! no test would notice.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;

use octopus_sim::PartialPurpose;

use crate::support::*;

// Issue 16, item 1 (revoke by task with only the run key).
#[test]
fn revoke_by_task_with_only_the_run_key_deletes_the_tasks_other_keys_before_its_own() {
    let f = Fixture::new();
    create(&f, "ServerTasks-91");
    let second = create(&f, "ServerTasks-91");
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", second.var("ApiKey"))
        .env("OCTOPUS_TASK_ID", "ServerTasks-91")
        .run();
    out.code(0);
    assert!(runkey_keys(&f).is_empty(), "left: {:?}", runkey_keys(&f));
    seeded_keys_survive(&f);
    // The other key went first: the run key's own DELETE is the last request.
    let deletes: Vec<String> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.target)
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(deletes[1].ends_with(&second.var("ApiKeyId")), "{deletes:?}");
}

// Issue 16, item 2 (a server's filter is never proof).
#[test]
fn a_server_filter_that_matches_by_prefix_or_like_is_never_taken_for_absence() {
    for mode in [PartialPurpose::Prefix, PartialPurpose::SqlLike] {
        let f = Fixture::new();
        f.sim.set_options(|o| o.partial_purpose_filter = mode);
        let created = create(&f, "ServerTasks-92");
        let out = as_broker(&f, &["list", "--json"]).run();
        out.code(0);
        let listed: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        assert!(
            listed
                .iter()
                .any(|k| k["Id"] == created.var("ApiKeyId").as_str()),
            "{mode:?}: {}",
            out.stdout
        );
        let out = as_broker(&f, &["revoke"])
            .env("OCTOPUS_TASK_ID", "ServerTasks-92")
            .run();
        out.code(0);
        assert!(
            !out.stdout.contains("already revoked"),
            "{mode:?}: {}",
            out.stdout
        );
        assert!(runkey_keys(&f).is_empty(), "{mode:?}");
        seeded_keys_survive(&f);
    }
}

// Issue 16, item 5 (--allow-unattributed means it).
#[test]
fn allow_unattributed_covers_a_run_record_that_is_missing_or_forbidden() {
    let f = Fixture::new();
    let env = |run_id: &str| {
        vec![
            ("OCTOPUS_URL", f.sim.url()),
            ("OCTOPUS_API_KEY", f.broker_key.clone()),
            ("OCTOPUS_TASK_ID", "ServerTasks-93".to_string()),
            ("OCTOPUS_SPACE_ID", f.space_id.clone()),
            ("OCTOPUS_RUNBOOKRUN_ID", run_id.to_string()),
        ]
    };
    let out = runkey(&["create", "--allow-unattributed"])
        .envs(env("RunbookRuns-404"))
        .run();
    out.code(0)
        .warns(&["runbook run RunbookRuns-404 could not be read"]);
    assert!(out.var("ApiKeyPurpose").starts_with("unattributed run"));

    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    f.sim.revoke_permission(&f.broker_id, "RunbookRunView");
    let out = runkey(&["create", "--allow-unattributed"])
        .envs(env(&run.id))
        .run();
    out.code(0).warns(&["RunbookRunView"]);
    assert!(out.var("ApiKeyPurpose").starts_with("unattributed run"));
}

// Issue 16, item 6 (clean-up messages tell the truth).
#[test]
fn a_failed_clean_up_after_the_output_could_not_be_written_says_the_key_stays_live() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("DELETE", "/apikeys/", FaultKind::status(500)).times(3));
    let mut child = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-94"))
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The step's output is gone before create writes: its first write fails.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("deleting run key") && stderr.contains("stays live until"),
        "{stderr}"
    );
    assert!(!stderr.contains("was deleted again"), "{stderr}");
    assert_eq!(runkey_keys(&f).len(), 1);
}

// Issue 16, item 7 (a command that cannot start is explained by its cause).
#[test]
fn a_command_that_cannot_start_is_explained_by_its_cause() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-95").var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
        path
    };
    let crlf = write("crlf.sh", b"#!/bin/sh\r\necho hi\r\n");
    let missing = write("missing.sh", b"#!/usr/bin/no-such-shell\necho hi\n");
    let bare = write("bare.sh", b"echo hi\n");
    let cases = [
        (crlf, 127, "Windows line endings"),
        (
            missing,
            127,
            "'/usr/bin/no-such-shell' named in the #! line",
        ),
        (bare, 126, "has no #! line"),
        (dir.path().to_path_buf(), 126, "is a directory"),
    ];
    for (path, code, why) in cases {
        let out = runkey(&["use", "--", path.to_str().unwrap()])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", &key)
            .run();
        out.code(code).one_error_line(&[why]);
    }

    // A file without the execute bit is named as such, with chmod as the fix.
    let plain = dir.path().join("plain.sh");
    std::fs::write(&plain, b"#!/bin/sh\necho hi\n").unwrap();
    runkey(&["use", "--", plain.to_str().unwrap()])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .run()
        .code(126)
        .one_error_line(&["permission denied", "chmod +x"]);

    // The cause is found the way the command was found: a relative path from the working
    // directory, a bare name on PATH (never the working directory).
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write("sub/crlf.sh", b"#!/bin/sh\r\necho hi\r\n");
    let path = format!(
        "{}:{}",
        dir.path().join("sub").display(),
        std::env::var("PATH").unwrap()
    );
    let elsewhere = tempfile::tempdir().unwrap();
    for (cwd, command) in [(dir.path(), "sub/crlf.sh"), (elsewhere.path(), "crlf.sh")] {
        let mut run = runkey(&["use", "--", command])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", &key)
            .env("PATH", &path);
        run.command().current_dir(cwd);
        run.run()
            .code(127)
            .one_error_line(&["Windows line endings"]);
    }
}

// Issue 16, item 8 (an answer over the size limit).
#[test]
fn an_answer_over_the_size_limit_is_named_and_not_asked_for_again() {
    let f = Fixture::new();
    f.sim.inject(
        Fault::new(
            "GET",
            "/api/users/me",
            FaultKind::Body {
                status: 200,
                body: "x".repeat(11_000_000),
            },
        )
        .times(3),
    );
    let out = as_broker(&f, &["list"]).run();
    out.code(1).one_error_line(&["is larger than the 10 MB"]);
    let asked = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target == "/api/users/me")
        .count();
    assert_eq!(asked, 1);
}

// Issue 11, item 1 (proxies are named when they fail).
#[test]
fn a_refused_proxy_is_named_with_its_variable_and_the_bypass() {
    let f = Fixture::new();
    f.sim.expect_no_requests();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = as_broker(&f, &["list", "--timeout", "5"])
        .env("HTTP_PROXY", format!("http://bob:hunter2@127.0.0.1:{port}"))
        .run();
    out.code(1).one_error_line(&[
        &format!("the proxy 127.0.0.1:{port} (from HTTP_PROXY)"),
        "NO_PROXY",
    ]);
    out.never_shows("hunter2");
}

// Issue 11, item 2 (unexpected answers).
#[test]
fn a_compressed_answer_nobody_asked_for_is_named_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\nConnection: close\r\n\r\n\x1f\x8b\x08\x00",
        );
    });
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", &url)
        .env("OCTOPUS_API_KEY", "API-BROKER1")
        .run();
    out.code(1).one_error_line(&["gzip-compressed", "NO_PROXY"]);
    server.join().unwrap();
}

// Issue 17 (a cargo-mutants survivor in the transport).
#[test]
fn an_answer_marked_identity_or_with_an_empty_encoding_is_read_as_it_is() {
    for encoding in ["identity", " IDENTITY", ""] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = r#"{"Id":"Users-2","Username":"svc-runkey","DisplayName":"Broker","IsService":true}"#;
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {encoding}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        });
        let out = runkey(&["use", "--check", "--", "true"])
            .env("OCTOPUS_URL", &url)
            .env("RUNKEY_API_KEY", NOT_A_REAL_KEY)
            .run();
        out.code(0);
        assert!(
            out.stdout.contains("svc-runkey"),
            "{encoding:?}: {}",
            out.stdout
        );
        assert!(out.stderr().is_empty(), "{encoding:?}: {}", out.stderr());
        server.join().unwrap();
    }
}

// Issue 11, item 4 (values that are not UTF-8).
#[test]
fn a_variable_that_is_not_utf8_is_named_as_such_not_as_missing() {
    let f = Fixture::new();
    f.sim.expect_no_requests();
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-96"))
        .env(
            "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
            std::ffi::OsStr::from_bytes(b"Jane \xff Doe"),
        )
        .run();
    out.code(2).one_error_line(&[
        "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME holds a value that is not valid UTF-8",
    ]);
}

// Issue 11, item 5 (clap errors' task summary).
#[test]
fn command_line_errors_give_a_task_summary_with_the_fix() {
    for (args, summary) in [
        (
            &[][..],
            "no command given: name one of create, use, revoke, exec, list, audit or setup",
        ),
        (
            &["setup", "--oidc-subject", "space:ops:*"][..],
            "a required argument is missing: --broker <USERNAME>, --oidc;",
        ),
        (
            &["use", "--"][..],
            "the command to run is missing: give it after --",
        ),
        (
            &["create", "--ttl", "-5m"][..],
            "see 'octopus-runkey <command> --help'",
        ),
    ] {
        let out = as_step(args).run();
        out.code(2);
        let _ = out.stderr();
        let message = out.result_message().unwrap_or_default();
        assert!(message.contains(summary), "{args:?}: {message}");
        assert!(
            !message.contains("Per-run, short-lived"),
            "{args:?}: {message}"
        );
    }
}

// Issue 8, item 7 (an expiry the server did not confirm).
#[test]
fn an_expiry_the_server_did_not_confirm_is_warned_about_and_reported_as_the_server_said() {
    use jiff::{SignedDuration, Timestamp};
    use octopus_sim::ExpiryMode;

    let expires_of = |out: &Out| out.var("ApiKeyExpires");
    // Ignored: the server's default (180 days) instead of the hour asked for.
    let f = Fixture::new();
    f.sim.set_options(|o| o.expiry = ExpiryMode::Ignored);
    let out = runkey(&["create", "--ttl", "1h"])
        .envs(create_env(&f, "ServerTasks-97"))
        .run();
    out.code(0)
        .warns(&["the server did not honour the requested expiry"]);
    let at: Timestamp = expires_of(&out).parse().unwrap();
    assert!(
        at > Timestamp::now() + SignedDuration::from_hours(24 * 170),
        "{at}"
    );

    // Omitted (a server before 2020.6): no expiry at all, and ApiKeyExpires says nothing.
    let f = Fixture::new();
    f.sim.set_options(|o| o.expiry = ExpiryMode::Omitted);
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-98"))
        .run();
    out.code(0).warns(&["it answered no expiry"]);
    assert_eq!(expires_of(&out), "");
    out.stdout_contains("the server named none");

    // Shortened: earlier than asked is no harm, and what the server said is reported.
    let f = Fixture::new();
    f.sim
        .set_options(|o| o.expiry = ExpiryMode::CappedAt(SignedDuration::from_mins(30)));
    let out = runkey(&["create", "--ttl", "2h"])
        .envs(create_env(&f, "ServerTasks-99"))
        .run();
    out.code(0);
    let at: Timestamp = expires_of(&out).parse().unwrap();
    assert!(
        at <= Timestamp::now() + SignedDuration::from_mins(31),
        "{at}"
    );
    assert_eq!(
        f.sim
            .keys(&f.broker_id)
            .iter()
            .find(|k| k.id == out.var("ApiKeyId"))
            .and_then(|k| k.expires)
            .map(|t| t.as_second()),
        Some(at.as_second())
    );
}

// Issue 17 (a cargo-mutants survivor in revoke).
#[test]
fn revoke_by_task_with_a_dead_run_key_says_the_tasks_other_keys_cannot_be_checked() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-100");
    let key = created.var("ApiKey");
    as_broker(&f, &["revoke"])
        .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        .run()
        .code(0);
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .env("OCTOPUS_TASK_ID", "ServerTasks-100")
        .run();
    out.code(1).one_error_line(&[
        "(401)",
        "the other keys of this task cannot be checked with it",
        "OCTOPUS_API_KEY",
    ]);
    // Any other failure is what it is, not a dead run key.
    f.sim
        .inject(Fault::new("GET", "/apikeys", FaultKind::status(500)).times(3));
    let out = as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", "ServerTasks-100")
        .run();
    out.code(1).one_error_line(&["HTTP 500"]);
    assert!(
        !out.stderr().contains("can no longer act"),
        "{}",
        out.stderr()
    );
    // Nor with a live run key that meets a server error.
    let live = create(&f, "ServerTasks-101");
    f.sim
        .inject(Fault::new("GET", "/apikeys", FaultKind::status(500)).times(3));
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", live.var("ApiKey"))
        .env("OCTOPUS_TASK_ID", "ServerTasks-101")
        .run();
    out.code(1).one_error_line(&["HTTP 500"]);
    assert!(
        !out.stderr().contains("can no longer act"),
        "{}",
        out.stderr()
    );
}

/// `revoke` by task `task` with `run_key` only.
fn revoke_task_with_run_key(f: &Fixture, run_key: &str, task: &str) -> Out {
    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", run_key)
        .env("OCTOPUS_TASK_ID", task)
        .run()
}

// Issue 17 (cargo-mutants survivors in revoke by task).
#[test]
fn a_run_key_that_stops_working_before_its_own_key_names_the_keys_left() {
    let f = Fixture::new();
    let other = create(&f, "ServerTasks-110");
    let own = create(&f, "ServerTasks-110");
    f.sim.inject(Fault::new(
        "DELETE",
        &other.var("ApiKeyId"),
        FaultKind::status(401),
    ));
    let out = revoke_task_with_run_key(&f, &own.var("ApiKey"), "ServerTasks-110");
    out.code(1).one_error_line(&[&format!(
        "the run key stopped working (401) with 2 key(s) of task ServerTasks-110 left ({}, {})",
        other.var("ApiKeyId"),
        own.var("ApiKeyId")
    )]);
    // A server error is the server's, not a dead run key.
    f.sim
        .inject(Fault::new("DELETE", &other.var("ApiKeyId"), FaultKind::status(500)).times(5));
    let out = revoke_task_with_run_key(&f, &own.var("ApiKey"), "ServerTasks-110");
    out.code(1)
        .one_error_line(&["DELETE /api/users/", "HTTP 500"]);
    assert!(
        !out.stderr().contains("stopped working"),
        "{}",
        out.stderr()
    );
    assert_eq!(runkey_keys(&f).len(), 2);
}

// Issue 17 (cargo-mutants survivors in revoke by task).
#[test]
fn a_401_on_the_run_keys_own_key_when_it_is_the_last_means_it_was_gone_already() {
    let f = Fixture::new();
    // Alone, and after the task's other key.
    let alone = create(&f, "ServerTasks-111");
    f.sim.inject(Fault::new(
        "DELETE",
        &alone.var("ApiKeyId"),
        FaultKind::status(401),
    ));
    let out = revoke_task_with_run_key(&f, &alone.var("ApiKey"), "ServerTasks-111");
    out.code(0);
    assert!(out.stdout.contains("can no longer act"), "{}", out.stdout);

    let other = create(&f, "ServerTasks-112");
    let own = create(&f, "ServerTasks-112");
    f.sim.inject(Fault::new(
        "DELETE",
        &own.var("ApiKeyId"),
        FaultKind::status(401),
    ));
    let out = revoke_task_with_run_key(&f, &own.var("ApiKey"), "ServerTasks-112");
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("Revoked run key {}", other.var("ApiKeyId")))
            && out.stdout.contains("can no longer act"),
        "{}",
        out.stdout
    );
}

// Issue 17 (cargo-mutants survivors in revoke by task).
#[test]
fn a_401_on_the_last_key_that_is_not_the_run_keys_own_is_a_failure() {
    let f = Fixture::new();
    let theirs = create(&f, "ServerTasks-113");
    let mine = create(&f, "ServerTasks-114");
    f.sim.inject(Fault::new(
        "DELETE",
        &theirs.var("ApiKeyId"),
        FaultKind::status(401),
    ));
    let out = revoke_task_with_run_key(&f, &mine.var("ApiKey"), "ServerTasks-113");
    out.code(1).one_error_line(&[&format!(
        "with 1 key(s) of task ServerTasks-113 left ({})",
        theirs.var("ApiKeyId")
    )]);
}

// Issue 17 (cargo-mutants survivors in revoke by task).
#[test]
fn without_hints_a_401_after_a_key_that_may_have_been_its_own_leaves_the_rest_named() {
    let f = Fixture::new();
    let first = create(&f, "ServerTasks-115");
    let second = create(&f, "ServerTasks-115");
    // A server that shows no key hints: either key may be the run key's own.
    let items: Vec<serde_json::Value> = [&first, &second]
        .iter()
        .map(|c| {
            serde_json::json!({
                "Id": c.var("ApiKeyId"),
                "Purpose": c.var("ApiKeyPurpose"),
                "Created": "2026-01-01T00:00:00.000+00:00",
                "Expires": null,
            })
        })
        .collect();
    let listing = serde_json::json!({
        "ItemType": "ApiKey",
        "TotalResults": 2,
        "ItemsPerPage": 30,
        "NumberOfPages": 1,
        "LastPageNumber": 0,
        "Items": items,
        "Links": {},
    });
    f.sim.inject(Fault::new(
        "GET",
        "/apikeys",
        FaultKind::Body {
            status: 200,
            body: listing.to_string(),
        },
    ));
    f.sim.inject(Fault::new(
        "DELETE",
        &second.var("ApiKeyId"),
        FaultKind::status(401),
    ));
    let out = revoke_task_with_run_key(&f, &second.var("ApiKey"), "ServerTasks-115");
    out.code(1).one_error_line(&[&format!(
        "with 1 key(s) of task ServerTasks-115 left ({})",
        second.var("ApiKeyId")
    )]);
}
