//! Usage errors (exit 2): a missing or unsubstituted variable, a bad duration or task id,
//! each named with its Octopus source in one line, before any request; `--version` and
//! `--help`.

use crate::support::*;

/// (arguments, environment, the variable named, the Octopus source named)
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, &'a str, &'a str);

fn assert_usage_error(out: &Out, variable: &str, source: &str) {
    out.code(2).one_error_line(&[variable, source]);
    let summary = out.result_message().expect("a resultMessage");
    assert!(summary.contains(variable));
}

#[test]
fn every_missing_variable_names_itself_and_its_octopus_source() {
    let f = Fixture::new();
    // The command of exec and use, which a usage error never starts.
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let ran = ran.to_str().unwrap();
    let url = ("OCTOPUS_URL", f.sim.url());
    let broker = ("OCTOPUS_API_KEY", f.broker_key.clone());
    let user = (
        "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
        "jane.doe".to_string(),
    );
    let cases: Vec<Case> = vec![
        (
            vec!["create"],
            vec![broker.clone(), user.clone()],
            "OCTOPUS_URL",
            "Octopus.Web.ServerUri",
        ),
        (
            vec!["create"],
            vec![url.clone(), user.clone()],
            "OCTOPUS_API_KEY",
            "broker service account",
        ),
        (
            vec!["create"],
            vec![url.clone(), broker.clone()],
            "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
            "Octopus.Deployment.CreatedBy.Username",
        ),
        (
            vec!["exec", "--", "touch", ran],
            vec![broker.clone(), user.clone()],
            "OCTOPUS_URL",
            "Octopus.Web.ServerUri",
        ),
        (
            vec!["exec", "--", "touch", ran],
            vec![url.clone(), user.clone()],
            "OCTOPUS_API_KEY",
            "broker service account",
        ),
        (
            vec!["list"],
            vec![broker.clone()],
            "OCTOPUS_URL",
            "Octopus.Web.ServerUri",
        ),
        (
            vec!["list"],
            vec![url.clone()],
            "OCTOPUS_API_KEY",
            "broker service account",
        ),
        (
            vec!["use", "--", "touch", ran],
            vec![],
            "OCTOPUS_URL",
            "Octopus.Web.ServerUri",
        ),
        (
            vec!["use", "--", "touch", ran],
            vec![url.clone()],
            "RUNKEY_API_KEY",
            "Octopus.Action[<create step>].Output.ApiKey",
        ),
        (
            vec!["revoke"],
            vec![broker.clone()],
            "OCTOPUS_URL",
            "Octopus.Web.ServerUri",
        ),
        (
            vec!["revoke"],
            vec![url.clone(), broker.clone()],
            "RUNKEY_API_KEY_ID",
            "Octopus.Action[<create step>].Output.ApiKeyId",
        ),
        (
            vec!["revoke"],
            vec![url.clone(), ("RUNKEY_API_KEY_ID", "apikeys-x".into())],
            "RUNKEY_API_KEY",
            "Octopus.Action[<create step>].Output.ApiKey",
        ),
        (
            vec!["revoke", "--sweep"],
            vec![url.clone()],
            "OCTOPUS_API_KEY",
            "broker service account",
        ),
    ];
    for (args, env, variable, source) in cases {
        let out = as_step(&args).envs(env).run();
        assert_usage_error(&out, variable, source);
    }
    // Usage errors never reach the server, nor start the command.
    f.sim.expect_no_requests();
    assert!(!std::path::Path::new(ran).exists(), "a command ran");
}

#[test]
fn an_unsubstituted_octopus_expression_is_called_out() {
    let out = as_step(&["list"])
        .env("OCTOPUS_URL", "#{Octopus.Web.ServerUri}")
        .env("OCTOPUS_API_KEY", "API-X")
        .run();
    assert_usage_error(&out, "OCTOPUS_URL", "was not substituted");
}

#[test]
fn bad_durations_and_task_ids_are_usage_errors() {
    let f = Fixture::new();
    let out = as_step(&["create", "--ttl", "soon"])
        .envs(create_env(&f, "ServerTasks-1"))
        .run();
    assert_usage_error(&out, "--ttl", "like 90s, 45m, 2h, 1d, 2w or 1h30m");
    let out = as_step(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("RUNKEY_TTL", "30m1h")
        .run();
    assert_usage_error(&out, "RUNKEY_TTL", "like 90s");
    let out = as_step(&["create"])
        .envs(create_env(&f, "Server/Tasks"))
        .run();
    assert_usage_error(&out, "OCTOPUS_TASK_ID", "Octopus.Task.Id");
    let out = as_step(&["frobnicate"]).run();
    out.code(2)
        .stderr_contains("unrecognized subcommand 'frobnicate'");
    assert!(out.result_message().unwrap().contains("frobnicate"));
    f.sim.expect_no_requests();
}

#[test]
fn version_and_help_exit_0() {
    // Issue 26, item 1: the version, the commit and the target, so that a binary on a
    // worker says which release and platform it is.
    let out = runkey(&["--version"]).run();
    out.code(0);
    let line = out.stdout.trim();
    let pattern = regex::Regex::new(&format!(
        r"^octopus-runkey {} \(commit ([0-9a-f]{{12}}|unknown), {}\)$",
        regex::escape(env!("CARGO_PKG_VERSION")),
        regex::escape(&target())
    ))
    .unwrap();
    assert!(pattern.is_match(line), "{line}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    // Built from this checkout: its commit (build.rs watches .git for a new one; a git
    // worktree's .git is a file it cannot watch, so there only the shape is checked).
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".git");
    if let Some(head) = head.filter(|_| repository.is_dir()) {
        assert!(
            line.contains(&format!("(commit {head}, ")),
            "{line} is not {head}"
        );
    }
    let out = runkey(&["create", "--help"]).run();
    out.code(0);
    assert!(out.stdout.contains("--allow-unattributed"));
}

/// The target this test binary (and so the tool under test) was built for.
fn target() -> String {
    let triple = std::env::var("RUNKEY_TEST_TARGET").unwrap_or_default();
    if !triple.is_empty() {
        return triple;
    }
    // Tests and the binary share their target: read it from the binary's own path
    // (target/<triple>/debug/...), or the host's when built without one.
    let bin = std::path::PathBuf::from(BIN);
    bin.ancestors()
        .nth(2)
        .and_then(|dir| dir.file_name())
        .map(|name| name.to_string_lossy().to_string())
        .filter(|name| name.contains('-'))
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_string())
}

// Issue 26, item 5: a mistyped command or flag gets clap's suggestion, on stderr and (under
// Octopus) in the task summary.
#[test]
fn a_mistyped_command_or_flag_gets_a_suggestion() {
    let out = as_step(&["revok"]).run();
    out.code(2)
        .stderr_contains("tip: a similar subcommand exists: 'revoke'");
    assert!(
        out.result_message()
            .is_some_and(|m| m.contains("unrecognized subcommand 'revok' (did you mean 'revoke'?)")),
        "{:?}",
        out.result_message()
    );
    let out = as_step(&["create", "--tll", "1h"]).run();
    out.code(2)
        .stderr_contains("tip: a similar argument exists: '--ttl'");
    assert!(
        out.result_message()
            .is_some_and(|m| m.contains("(did you mean '--ttl'?)"))
    );
}

// Issue 26, item 5: outside Octopus no service message is printed for an error: stdout
// stays empty (a bare `octopus-runkey` once printed base64 there).
#[test]
fn outside_octopus_an_error_prints_no_task_summary() {
    for args in [
        &[][..],
        &["revok"][..],
        &["list"][..],
        &["create", "--ttl", "soon"][..],
    ] {
        let out = runkey(args).run();
        out.code(2);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(!out.stderr().is_empty());
        let out = as_step(args).run();
        out.code(2);
        assert!(!out.stderr().is_empty());
        assert!(out.result_message().is_some(), "{args:?}");
    }
}

// Issue 26, item 5: completion scripts for four shells, generated from the same definition
// as the parser, without the internal guard command.
#[test]
fn completions_for_bash_zsh_fish_and_powershell() {
    for (shell, says) in [
        ("bash", "complete -F _octopus__runkey"),
        ("zsh", "#compdef octopus-runkey"),
        ("fish", "complete -c octopus-runkey"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = runkey(&["completions", shell]).run();
        out.code(0);
        assert!(out.stdout.contains(says), "{shell}:\n{}", out.stdout);
        for command in [
            "create",
            "revoke",
            "audit",
            "setup",
            "sweep-project",
            "dry-run",
        ] {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
        assert!(!out.stdout.contains("__guard"), "{shell} offers the guard");
    }
    // The bash script is valid bash.
    let bash = runkey(&["completions", "bash"]).run();
    let checked = std::process::Command::new("bash")
        .args(["-n", "-c", &bash.stdout])
        .status()
        .unwrap();
    assert!(checked.success());
    let out = runkey(&["completions", "tcsh"]).run();
    out.code(2)
        .stderr_contains("[possible values: bash, zsh, fish, powershell]");
}
