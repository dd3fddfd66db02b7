//! Secrets: the broker key, the run key, an OIDC JWT and an access token never reach argv,
//! a file, a log line or a child that should not have them; the run key is on stdout only
//! inside the mask and the sensitive output variable.

use crate::support::*;

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

// Issue 22, item 6: secrets the server echoes are never printed.
#[test]
fn a_credential_an_error_quotes_is_not_printed() {
    let f = Fixture::new();
    f.sim.set_options(|o| o.echo_credentials = true);
    // A key the server does not know: its 401 quotes it.
    let unknown = NOT_A_REAL_KEY;
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", unknown)
        .run();
    out.code(1)
        .never_shows(unknown)
        .stderr_contains("refused (401)");
    // The broker's key, appended to a server error's text.
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::status(500)).times(3));
    let out = as_broker(&f, &["list"]).run();
    out.code(1)
        .never_shows(&f.broker_key)
        .stderr_contains("(redacted)");
    // And the run key, appended to a 403 that the run key met (the line names the
    // permission, not the server's text).
    let created = create(&f, "ServerTasks-3");
    f.sim.revoke_permission(&f.broker_id, "EventView");
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", created.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        .run();
    out.code(0)
        .never_shows(&created.var("ApiKey"))
        .warns(&["changed in this run, and any key a script minted with it, cannot be read"]);
}

#[test]
fn a_jwt_the_token_exchange_quotes_is_not_printed() {
    let f = Fixture::new();
    f.sim.set_options(|o| o.echo_credentials = true);
    let audience = f.sim.add_oidc_identity(&f.broker_id, "space:other:*");
    let jwt = f.sim.oidc_jwt(
        "space:default:project:ops",
        &audience,
        jiff::SignedDuration::from_mins(10),
    );
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_OIDC_JWT", &jwt)
        .env("RUNKEY_OIDC_AUDIENCE", &audience)
        .run();
    out.code(1)
        .never_shows(&jwt)
        .stderr_contains("The subject_token was: (redacted)");
    // Nor any long part of it: its payload and signature.
    for part in jwt.split('.').skip(1) {
        out.never_shows(&part[..part.len().min(20)]);
    }
}
