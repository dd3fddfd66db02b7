//! Failures: every missing variable is a one-line usage error (exit 2) naming it and its
//! Octopus source; server and network failures exit 1 with the cause, the fix and a
//! resultMessage for the task summary.

use crate::support::*;

fn assert_usage_error(out: &Out, variable: &str, source: &str) {
    out.code(2).one_error_line(&[variable, source]);
    let summary = out.result_message().expect("a resultMessage");
    assert!(summary.contains(variable));
}

/// (arguments, environment, the variable named, the Octopus source named)
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, &'a str, &'a str);

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
    assert_usage_error(&out, "--ttl", "like 90s, 45m, 2h or 1d");
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("RUNKEY_TTL", "1w")
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
fn a_bad_key_exits_1_with_a_401_message_and_a_result_message() {
    let f = Fixture::new();
    let bogus = NOT_A_REAL_KEY;
    let out = runkey(&["create"])
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
fn a_hung_server_times_out_naming_the_request() {
    let f = Fixture::new();
    f.sim.inject(
        Fault::new(
            "GET",
            "/api/users/me",
            FaultKind::Delay(std::time::Duration::from_secs(8)),
        )
        .times(3),
    );
    let started = std::time::Instant::now();
    let out = as_broker(&f, &["list", "--timeout", "1"]).run();
    out.code(1);
    assert!(
        started.elapsed().as_secs() < 8,
        "bounded by --timeout and the retries"
    );
    assert!(
        out.stderr()
            .contains("GET /api/users/me timed out after 1s"),
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
fn under_octopus_warnings_are_a_stdout_warning_block() {
    let out = runkey(&["list", "--timeout", "1"])
        .env("OCTOPUS_URL", "http://octopus.invalid")
        .env("OCTOPUS_API_KEY", "API-ABC")
        .env("TentacleHome", "/etc/octopus")
        .run();
    let messages: Vec<String> = out.messages().into_iter().map(|m| m.name).collect();
    assert_eq!(
        messages[..2],
        ["stdout-warning".to_string(), "stdout-default".to_string()]
    );
    // The warning went to stdout; stderr holds the error alone.
    out.code(1)
        .one_error_line(&["could not resolve the host 'octopus.invalid'"]);
}

#[test]
fn verbose_output_shows_requests_but_never_credentials() {
    let f = Fixture::new();
    let out = runkey(&["exec", "-v", "--", "true"])
        .envs(create_env(&f, "ServerTasks-1"))
        .run();
    out.code(0).never_shows(&f.broker_key);
    assert!(
        out.stderr().contains("> GET http://127.0.0.1"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("(X-Octopus-ApiKey: (redacted))"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr()
            .contains("< 200 POST /api/users/Users-2/apikeys"),
        "{}",
        out.stderr()
    );
    let created = out
        .messages()
        .into_iter()
        .find(|m| m.name == "mask")
        .unwrap();
    out.never_shows(created.get("value").unwrap());
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
