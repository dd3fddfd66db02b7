//! `exec`: create, run, revoke whatever happens.

use std::time::Duration;

use crate::support::*;

fn exec(f: &Fixture, task: &str, script: &str) -> Run {
    let mut args = vec!["exec", "--", "sh", "-c"];
    args.push(script);
    runkey(&args).envs(create_env(f, task))
}

#[test]
fn runs_the_command_with_a_working_key_then_revokes_it() {
    let f = Fixture::new();
    f.sim.reset_counters();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("key");
    let out = exec(
        &f,
        "ServerTasks-1",
        "printf %s \"$OCTOPUS_API_KEY\" > \"$DUMP\"",
    )
    .env("DUMP", &dump)
    .run();
    out.code(0);
    let key = std::fs::read_to_string(&dump).unwrap();
    assert!(key.starts_with("API-") && key != f.broker_key);
    out.never_shows(&key).never_shows(&f.broker_key);
    let masks: Vec<_> = out
        .messages()
        .into_iter()
        .filter(|m| m.name == "mask")
        .collect();
    assert_eq!(masks.len(), 1);
    assert_eq!(masks[0].get("value"), Some(key.as_str()));
    assert!(out.stdout.contains("Revoked run key"), "{}", out.stdout);
    assert!(runkey_keys(&f).is_empty(), "nothing left on the server");
    seeded_keys_survive(&f);
    // Who the broker is, the key, whether it was used, what it changed and minted (none),
    // the revoke.
    let requests: Vec<String> = f
        .sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target.split('?').next().unwrap()))
        .collect();
    let owner = &f.broker_id;
    assert_eq!(
        requests,
        [
            "GET /api/users/me".to_string(),
            format!("POST /api/users/{owner}/apikeys"),
            format!("GET /api/users/{owner}/apikeys/{}", runkey_audit_key(&f)),
            "GET /api/events".to_string(),
            format!("DELETE /api/users/{owner}/apikeys/{}", runkey_audit_key(&f)),
        ]
    );
    assert_eq!(f.sim.connections(), 1);
}

#[test]
fn the_child_can_call_the_api_as_the_operator() {
    let f = Fixture::new();
    let out = exec(
        &f,
        "ServerTasks-2",
        "test \"$OCTOPUS_URL\" != '' && test \"$OCTOPUS_APIKEY\" = \"$OCTOPUS_API_KEY\"",
    )
    .run();
    out.code(0);
    let created = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.category == "Created" && e.message.starts_with("User API key "))
        .unwrap();
    assert!(
        created
            .message
            .contains("Jane Doe (jane.doe) ran 'Restart web'"),
        "{}",
        created.message
    );
}

#[test]
fn revokes_after_a_failing_command_and_keeps_its_status() {
    let f = Fixture::new();
    let out = exec(&f, "ServerTasks-3", "exit 3").run();
    out.code(3);
    assert!(runkey_keys(&f).is_empty());
    assert!(out.stdout.contains("Revoked run key"));
}

#[test]
fn revokes_when_the_command_cannot_start() {
    let f = Fixture::new();
    let out = runkey(&["exec", "--", "no-such-command-here"])
        .envs(create_env(&f, "ServerTasks-4"))
        .run();
    out.code(127)
        .one_error_line(&["the command 'no-such-command-here' was not found"]);
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn revokes_after_sigterm() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = start_until_ready(
        exec(
            &f,
            "ServerTasks-5",
            "touch \"$READY\"; while :; do sleep 0.05; done",
        )
        .env("READY", &ready),
        &ready,
    );
    assert_eq!(
        runkey_keys(&f).len(),
        1,
        "the key is live while the command runs"
    );
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(143),
        "the command was ended by SIGTERM"
    );
    assert!(runkey_keys(&f).is_empty(), "revoked after the cancel");
}

#[test]
fn a_second_signal_kills_a_command_that_ignores_the_first() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = start_until_ready(
        exec(
            &f,
            "ServerTasks-6",
            "trap '' TERM INT; touch \"$READY\"; while :; do sleep 0.05; done",
        )
        .env("READY", &ready),
        &ready,
    );
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(137),
        "SIGKILL after the second signal"
    );
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn a_failed_revoke_after_success_exits_1_with_the_reason() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("DELETE", "/apikeys/", FaultKind::status(500)).times(3));
    let out = exec(&f, "ServerTasks-7", "true").run();
    out.code(1);
    assert!(
        out.stderr()
            .contains("the command succeeded but revoking the run key failed"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("stays live until"),
        "{}",
        out.stderr()
    );
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

/// The id of the one key created in this simulator's audit log.
fn runkey_audit_key(f: &Fixture) -> String {
    let created = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.action.starts_with("POST"))
        .unwrap();
    created.related_document_ids[0].clone()
}

// Issue 22, item 7: keys a run key mints do not outlive the run.
#[test]
fn a_key_the_command_minted_with_the_run_key_is_revoked_with_it() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let minted = dir.path().join("minted");
    let out = runkey(&["exec", "--", "bash", "-c", MINT_WITH_THE_RUN_KEY])
        .envs(create_env(&f, "ServerTasks-91"))
        .envs(mint_env(&f, &minted))
        .run();
    out.code(0);
    let minted = std::fs::read_to_string(&minted).unwrap();
    assert!(minted.starts_with("apikeys-"), "{minted:?}");
    out.stdout_contains(&format!("Revoked key {minted}, which run key"));
    assert!(
        !f.sim.keys(&f.broker_id).iter().any(|k| k.id == minted),
        "the minted key is gone"
    );
    assert!(runkey_keys(&f).is_empty());
    seeded_keys_survive(&f);
}

#[test]
fn keep_minted_keeps_what_the_command_minted_and_says_so() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let minted = dir.path().join("minted");
    let out = runkey(&[
        "exec",
        "--keep-minted",
        "--",
        "bash",
        "-c",
        MINT_WITH_THE_RUN_KEY,
    ])
    .envs(create_env(&f, "ServerTasks-92"))
    .envs(mint_env(&f, &minted))
    .run();
    let minted = std::fs::read_to_string(&minted).unwrap();
    out.code(0).warns(&[&format!(
        "({minted}), as --keep-minted asks: they live until their expiry"
    )]);
    assert!(f.sim.keys(&f.broker_id).iter().any(|k| k.id == minted));
    assert!(runkey_keys(&f).is_empty(), "the run key itself is revoked");
}
