//! What the tool prints and where: warnings as a `stdout-warning` block under Octopus, and
//! verbose lines that show each request but never a credential.

use crate::support::*;

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
