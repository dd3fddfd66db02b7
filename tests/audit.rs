//! `audit`: the broker's audited changes with the operators put back, from the marker in
//! `IdentityEstablishedWith` or, where events carry it, the key `ApiKeyId` names.

use crate::support::*;

/// A run by `username` whose run key makes one change (it deletes itself) and returns the
/// key's id.
fn run_with_a_change(f: &Fixture, username: &str, display: &str, task: &str) -> String {
    let out = runkey(&["create"])
        .envs(create_env(f, task))
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", username)
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME", display)
        .run();
    out.code(0);
    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", out.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", out.var("ApiKeyId"))
        .run()
        .code(0);
    out.var("ApiKeyId")
}

#[test]
fn the_table_names_each_operator_and_counts_their_changes() {
    let f = Fixture::new();
    run_with_a_change(&f, "jane.doe", "Jane Doe", "ServerTasks-81");
    run_with_a_change(&f, "bob", "Bob Stone", "ServerTasks-82");
    run_with_a_change(&f, "jane.doe", "Jane Doe", "ServerTasks-83");
    let out = as_broker(&f, &["audit"]).run();
    out.code(0);
    let table = &out.stdout;
    assert!(table.contains("Jane Doe (jane.doe)"), "{table}");
    assert!(table.contains("Bob Stone (bob)"), "{table}");
    assert!(table.contains("ServerTasks-82"), "{table}");
    // Each run: the broker's create (its own), the run key's delete (the operator's).
    assert!(table.contains("      2  Jane Doe (jane.doe)"), "{table}");
    assert!(table.contains("      1  Bob Stone (bob)"), "{table}");
    assert!(table.contains("      3  svc-runbooks (broker)"), "{table}");
}

#[test]
fn json_and_csv_carry_the_same_rows_and_filters_apply() {
    let f = Fixture::new();
    run_with_a_change(&f, "jane.doe", "Jane Doe", "ServerTasks-84");
    run_with_a_change(&f, "bob", "Bob Stone", "ServerTasks-85");
    let out = as_broker(&f, &["audit", "--json", "--operator", "JANE"]).run();
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0]["Operator"], "Jane Doe (jane.doe)");
    assert_eq!(rows[0]["Task"], "ServerTasks-84");
    assert_eq!(rows[0]["Category"], "Deleted");
    for field in ["Occurred", "Purpose", "Message", "EventId"] {
        assert!(rows[0][field].is_string(), "{field}: {}", out.stdout);
    }
    let out = as_broker(&f, &["audit", "--csv", "--task", "ServerTasks-85"]).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Occurred,Operator,Task,Purpose,Category,Message,EventId"
    );
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[1].contains("Bob Stone (bob)"), "{}", lines[1]);
}

#[test]
fn events_carrying_only_an_api_key_id_are_attributed_through_that_key() {
    let f = Fixture::new();
    // The identity text says nothing about the purpose; the event names the key.
    let task = "ServerTasks-86";
    let out = runkey(&["create"]).envs(create_env(&f, task)).run();
    out.code(0);
    let key_id = out.var("ApiKeyId");
    f.sim.set_options(|o| o.identity_without_purpose = true);
    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", out.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", &key_id)
        .run()
        .code(0);
    let out = as_broker(&f, &["audit", "--json", "--task", task]).run();
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0]["Operator"], "Jane Doe (jane.doe)");
}

#[test]
fn audit_without_event_view_names_the_permission() {
    let f = Fixture::new();
    f.sim.revoke_permission(&f.broker_id, "EventView");
    let out = as_broker(&f, &["audit"]).run();
    out.code(1).one_error_line(&["EventView"]);
}
