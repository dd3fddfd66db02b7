//! `use`: the child's environment, its exit status, signals, and `--check`.

use std::collections::{BTreeSet, HashMap};

use crate::support::*;

/// Reads `env -0` output that a child wrote to a file.
fn read_env(path: &std::path::Path) -> HashMap<String, String> {
    std::fs::read(path)
        .unwrap()
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (k, v) = entry.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn the_child_gets_the_run_key_and_never_the_broker_credential() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    let run_key = created.var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env");
    let out = runkey(&["use", "--", "sh", "-c", "env -0 > \"$DUMP\""])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &run_key)
        .env("OCTOPUS_API_KEY", &f.broker_key)
        .env("OCTOPUS_ACCESS_TOKEN", "eyJbroker-token")
        .env("OCTOPUS_SPACE_NAME", "Default")
        .env("DUMP", &dump)
        .run();
    out.code(0).never_shows(&run_key).never_shows(&f.broker_key);
    let env = read_env(&dump);
    for name in ["OCTOPUS_API_KEY", "OCTOPUS_APIKEY", "OCTOPUS_CLI_API_KEY"] {
        assert_eq!(env.get(name), Some(&run_key), "{name}");
    }
    assert_eq!(env.get("OCTOPUS_URL"), Some(&f.sim.url()));
    assert_eq!(env.get("OCTOPUS_CLI_SERVER"), Some(&f.sim.url()));
    assert_eq!(
        env.get("OCTOPUS_SPACE").map(String::as_str),
        Some("Default")
    );
    assert!(!env.contains_key("OCTOPUS_ACCESS_TOKEN"));
    assert!(
        !env.values().any(|v| v.contains(&f.broker_key)),
        "broker key reached the child"
    );
    assert_eq!(
        env.get("DUMP").map(std::path::PathBuf::from),
        Some(dump),
        "the parent's environment is kept"
    );
}

#[test]
fn exits_with_the_childs_status() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-2").var("ApiKey");
    let status = |script: &str| {
        runkey(&["use", "--", "sh", "-c", script])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", &key)
            .run()
            .code
    };
    assert_eq!(status("exit 0"), 0);
    assert_eq!(status("exit 7"), 7);
    assert_eq!(
        status("kill -TERM $$"),
        143,
        "killed by signal 15 is 128+15"
    );
    assert_eq!(status("kill -KILL $$"), 137);
}

#[test]
fn a_command_that_cannot_be_found_exits_127() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-3").var("ApiKey");
    let out = runkey(&["use", "--", "no-such-command-here"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .run();
    out.code(127);
    assert!(
        out.stderr()
            .contains("'no-such-command-here' was not found"),
        "{}",
        out.stderr()
    );
}

#[test]
fn check_says_whose_key_it_is_and_refuses_a_dead_one() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-4");
    let key = created.var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let out = runkey(&["use", "--check", "--", "sh", "-c", "touch \"$RAN\""])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .env("RAN", &ran)
        .run();
    out.code(0);
    assert!(ran.exists(), "the command runs once the check passed");
    assert!(
        out.stdout
            .contains("The run key is valid: it acts as Runbook Broker (svc-runbooks, Users-2)."),
        "{}",
        out.stdout
    );
    // The check is a read, which Octopus does not audit; the revoke below is a change made
    // with the same key, recorded under the operator's purpose.
    let check = f.sim.requests().pop().unwrap();
    assert!(
        check
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-octopus-apikey") && *v == key)
    );

    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        .run()
        .code(0);
    let last = f.sim.audit().pop().unwrap();
    assert!(
        last.identity_established_with
            .contains("Jane Doe (jane.doe)")
    );
    let should_not_run = dir.path().join("should-not-run");
    let out = check_then_touch(&f, &key, &should_not_run).run();
    out.code(1);
    assert!(
        !should_not_run.exists(),
        "the command never runs with a dead key"
    );
    assert!(
        out.stderr().contains("(401)") && out.stderr().contains("run the create step again"),
        "{}",
        out.stderr()
    );
}

/// `use --check -- touch <file>` with `key`.
fn check_then_touch(f: &Fixture, key: &str, file: &std::path::Path) -> Run {
    runkey(&["use", "--check", "--", "touch", file.to_str().unwrap()])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", key)
}

#[test]
fn sigterm_is_passed_on_to_the_child() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-5").var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = start_until_ready(
        runkey(&[
            "use",
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 5' TERM; touch \"$READY\"; while :; do sleep 0.05; done",
        ])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .env("READY", &ready),
        &ready,
    );
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&output.stdout).contains("got-term"));
}

#[test]
fn a_sigterm_during_the_check_means_the_command_never_starts() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-6").var("ApiKey");
    f.sim.inject(Fault::new(
        "GET",
        "/api/users/me",
        FaultKind::Delay(std::time::Duration::from_millis(1500)),
    ));
    let dir = tempfile::tempdir().unwrap();
    let should_not_run = dir.path().join("should-not-run");
    let before = f.sim.connections();
    let mut run = check_then_touch(&f, &key, &should_not_run);
    let child = run
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The check's answer comes after 1.5 s: the signal comes once the check has connected
    // (the signals are caught by then), while its answer is awaited.
    let started = std::time::Instant::now();
    while f.sim.connections() == before {
        assert!(
            started.elapsed().as_secs() < 10,
            "the check never connected"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !should_not_run.exists(),
        "the command started after the cancel"
    );
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
