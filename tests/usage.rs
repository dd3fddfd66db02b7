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
        let out = runkey(&args).envs(env).run();
        assert_usage_error(&out, variable, source);
    }
    // Usage errors never reach the server, nor start the command.
    f.sim.expect_no_requests();
    assert!(!std::path::Path::new(ran).exists(), "a command ran");
}

#[test]
fn an_unsubstituted_octopus_expression_is_called_out() {
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", "#{Octopus.Web.ServerUri}")
        .env("OCTOPUS_API_KEY", "API-X")
        .run();
    assert_usage_error(&out, "OCTOPUS_URL", "was not substituted");
}

#[test]
fn bad_durations_and_task_ids_are_usage_errors() {
    let f = Fixture::new();
    let out = runkey(&["create", "--ttl", "soon"])
        .envs(create_env(&f, "ServerTasks-1"))
        .run();
    assert_usage_error(&out, "--ttl", "like 90s, 45m, 2h, 1d, 2w or 1h30m");
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("RUNKEY_TTL", "30m1h")
        .run();
    assert_usage_error(&out, "RUNKEY_TTL", "like 90s");
    let out = runkey(&["create"])
        .envs(create_env(&f, "Server/Tasks"))
        .run();
    assert_usage_error(&out, "OCTOPUS_TASK_ID", "Octopus.Task.Id");
    let out = runkey(&["frobnicate"]).run();
    out.code(2)
        .stderr_contains("unrecognized subcommand 'frobnicate'");
    assert!(out.result_message().unwrap().contains("frobnicate"));
    f.sim.expect_no_requests();
}

#[test]
fn version_and_help_exit_0() {
    let out = runkey(&["--version"]).run();
    out.code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("octopus-runkey {}", env!("CARGO_PKG_VERSION"))
    );
    let out = runkey(&["create", "--help"]).run();
    out.code(0);
    assert!(out.stdout.contains("--allow-unattributed"));
}
