//! The binary's own output puts `##octopus` nowhere but at the start of a line, whatever the
//! names it prints hold. (That the test parser agrees with Calamari on every recorded
//! vector is checked with the parser, in `sim/tests/calamari.rs`.)

use crate::support::calamari::parse_output;
use crate::support::*;

/// Every `##octopus` in `stdout` is at the start of a line.
fn assert_messages_start_lines(what: &str, stdout: &str) {
    for (at, _) in stdout.match_indices("##octopus") {
        assert!(
            at == 0 || stdout.as_bytes()[at - 1] == b'\n',
            "{what}: ##octopus in the middle of a line at byte {at}:\n{stdout}"
        );
    }
}

#[test]
fn a_message_with_text_before_it_is_what_the_server_ignores_so_ours_start_at_column_0() {
    // Calamari accepts a message after other text on its line; the server does not. So the
    // binary prints ##octopus only at the start of a line, also when a name it prints (in
    // the summary, the purpose, the list) holds one.
    assert_eq!(parse_output("x ##octopus[mask value='QQ==']").len(), 1);
    let f = Fixture::new();
    let hostile = "Jane ##octopus[setVariable name='QQ==' value='QQ==']";
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME", hostile)
        .env("OCTOPUS_RUNBOOK_NAME", "##octopus[stdout-warning]")
        .env("OCTOPUS_ENVIRONMENT_NAME", "Prod ##octopus")
        .run();
    out.code(0);
    assert!(out.stdout.contains("Created run key"), "{}", out.stdout);
    assert_messages_start_lines("create", &out.stdout);
    let names: Vec<String> = out.messages().into_iter().map(|m| m.name).collect();
    assert_eq!(names.len(), 6, "only our own messages: {names:?}");
    assert!(
        out.var("ApiKeyPurpose").contains("##octopus"),
        "the purpose keeps the name as typed, inside a base64 value"
    );
    let out = as_broker(&f, &["list"]).run();
    out.code(0);
    assert!(out.stdout.contains("Jane"), "{}", out.stdout);
    assert_messages_start_lines("list", &out.stdout);
    assert!(out.messages().is_empty(), "{}", out.stdout);
}
