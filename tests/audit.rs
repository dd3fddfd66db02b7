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
    // Each run: the broker's create of its run key and the run key's delete, both the
    // run's bookkeeping, so both the operator's (issue 24, item 5).
    assert!(table.contains("      4  Jane Doe (jane.doe)"), "{table}");
    assert!(table.contains("      2  Bob Stone (bob)"), "{table}");
    assert!(!table.contains("(broker)"), "{table}");
    assert!(table.contains("[a run key created]") && table.contains("[a run key deleted]"));
    // Without the bookkeeping there is nothing else.
    let out = as_broker(&f, &["audit", "--changes-only"]).run();
    out.code(0)
        .stdout_contains("No audited changes by the broker Runbook Broker");
}

#[test]
fn json_and_csv_carry_the_same_rows_and_filters_apply() {
    let f = Fixture::new();
    run_with_a_change(&f, "jane.doe", "Jane Doe", "ServerTasks-84");
    run_with_a_change(&f, "bob", "Bob Stone", "ServerTasks-85");
    let out = as_broker(&f, &["audit", "--json", "--operator", "JANE"]).run();
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    // The run key's creation and its deletion, both Jane's run's.
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    let categories: Vec<&str> = rows
        .iter()
        .map(|r| r["Category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["Deleted", "Created"], "newest first");
    for row in &rows {
        assert_eq!(row["Operator"], "Jane Doe (jane.doe)");
        assert_eq!(row["OperatorDisplayName"], "Jane Doe");
        assert_eq!(row["OperatorUsername"], "jane.doe");
        assert_eq!(row["Runbook"], "Restart web");
        assert_eq!(row["Environment"], "Production");
        assert_eq!(row["Task"], "ServerTasks-84");
        assert_eq!(row["Bookkeeping"], true);
        for field in ["Occurred", "Purpose", "Message", "EventId", "Note"] {
            assert!(row[field].is_string(), "{field}: {}", out.stdout);
        }
    }
    let out = as_broker(&f, &["audit", "--csv", "--task", "ServerTasks-85"]).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Occurred,Operator,OperatorDisplayName,OperatorUsername,Runbook,Project,Environment,Tenant,Space,Task,KeyId,Purpose,Note,Bookkeeping,Category,Message,EventId"
    );
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[1].contains("Bob Stone (bob),Bob Stone,bob,Restart web"),
        "{}",
        lines[1]
    );
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
    assert_eq!(
        rows.len(),
        2,
        "its creation and its deletion: {}",
        out.stdout
    );
    for row in &rows {
        assert_eq!(row["Operator"], "Jane Doe (jane.doe)");
    }
    assert_eq!(
        rows[0]["KeyId"],
        key_id.as_str(),
        "the deletion names the key"
    );
}

#[test]
fn audit_without_event_view_names_the_permission() {
    let f = Fixture::new();
    f.sim.revoke_permission(&f.broker_id, "EventView");
    let out = as_broker(&f, &["audit"]).run();
    out.code(1).one_error_line(&["EventView"]);
}

/// An exec run by `username` whose child sets the fixture's deployment target's
/// `IsDisabled` with the run key, as a runbook script would.
fn exec_setting_disabled(f: &Fixture, username: &str, display: &str, task: &str, disabled: bool) {
    let script = format!(
        "curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -H 'Content-Type: application/json' \
         -d '{{\"Id\":\"{id}\",\"IsDisabled\":{disabled}}}' \"$OCTOPUS_URL/api/Spaces-1/machines/{id}\" > /dev/null",
        id = f.machine_id
    );
    runkey(&["exec", "--", "sh", "-c", &script])
        .envs(create_env(f, task))
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", username)
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME", display)
        .run()
        .code(0);
    assert_eq!(
        f.sim.machine(&f.machine_id).unwrap().is_disabled,
        disabled,
        "{task}'s child changed the target"
    );
}

/// Sets the deployment target's `IsDisabled` with `key`, outside any run.
fn put_disabled(f: &Fixture, key: &str, disabled: bool) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status = agent
        .put(&format!(
            "{}/api/Spaces-1/machines/{}",
            f.sim.url(),
            f.machine_id
        ))
        .header("X-Octopus-ApiKey", key)
        .content_type("application/json")
        .send(format!(
            r#"{{"Id":"{}","IsDisabled":{disabled}}}"#,
            f.machine_id
        ))
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 200);
}

/// A broker history of several operators' runs whose children disable and enable a target,
/// recorded as three server generations would (purpose and `ApiKeyId`; `ApiKeyId` only;
/// purpose only), plus changes nobody can attribute: the broker's hand-made key, and a run
/// key whose events carry neither its purpose nor its id.
fn history(f: &Fixture) {
    exec_setting_disabled(f, "jane.doe", "Jane Doe", "ServerTasks-401", true);
    f.sim.set_options(|o| o.identity_without_purpose = true);
    exec_setting_disabled(f, "bob", "Bob Stone", "ServerTasks-402", false);
    f.sim.set_options(|o| {
        o.identity_without_purpose = false;
        o.events_without_api_key_id = true;
    });
    exec_setting_disabled(f, "jane.doe", "Jane Doe", "ServerTasks-403", true);
    let (_, bot) = f.sim.add_api_key(&f.broker_id, "deploy bot 2", None);
    put_disabled(f, &bot, false);
    f.sim.set_options(|o| o.identity_without_purpose = true);
    exec_setting_disabled(f, "carol", "Carol King", "ServerTasks-404", true);
    f.sim.set_options(|o| {
        o.identity_without_purpose = false;
        o.events_without_api_key_id = false;
    });
}

/// The target's changes in the JSON rows: (operator, task, message).
fn target_changes(rows: &[serde_json::Value]) -> Vec<(String, Option<String>, String)> {
    let mut changes: Vec<(String, Option<String>, String)> = rows
        .iter()
        .filter(|r| {
            r["Message"]
                .as_str()
                .unwrap()
                .starts_with("Deployment target ")
        })
        .map(|r| {
            (
                r["Operator"].as_str().unwrap().to_string(),
                r["Task"].as_str().map(str::to_string),
                r["Message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    changes.sort();
    changes
}

#[test]
fn the_operators_changes_through_run_keys_over_pages_in_every_format() {
    let f = Fixture::with_options(Options {
        max_take: Some(2),
        ..Options::default()
    });
    history(&f);
    let broker_events = f
        .sim
        .audit()
        .into_iter()
        .filter(|e| e.user_id == f.broker_id)
        .count();
    assert!(broker_events > 10, "a history of several pages");
    f.sim.reset_counters();

    let out = as_broker(&f, &["audit", "--json"]).run();
    out.code(0);
    let pages = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/api/events"))
        .count();
    assert!(pages >= broker_events / 2, "every page was read: {pages}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        rows.len(),
        broker_events,
        "every event once: {}",
        out.stdout
    );
    let broker = "svc-runbooks (broker)";
    let row = |operator: &str, task: Option<&str>, message: &str| {
        (
            operator.to_string(),
            task.map(str::to_string),
            message.to_string(),
        )
    };
    let mut expected = vec![
        // Purpose in IdentityEstablishedWith, and ApiKeyId.
        row(
            "Jane Doe (jane.doe)",
            Some("ServerTasks-401"),
            "Deployment target web-01 was disabled",
        ),
        // ApiKeyId only: the key's creation event names its purpose.
        row(
            "Bob Stone (bob)",
            Some("ServerTasks-402"),
            "Deployment target web-01 was enabled",
        ),
        // The purpose only.
        row(
            "Jane Doe (jane.doe)",
            Some("ServerTasks-403"),
            "Deployment target web-01 was disabled",
        ),
        // A key of the broker that is no run key: the broker's own.
        row(broker, None, "Deployment target web-01 was enabled"),
        // Neither purpose nor key id: not guessed, the broker's own.
        row(broker, None, "Deployment target web-01 was disabled"),
    ];
    expected.sort();
    assert_eq!(target_changes(&rows), expected, "{}", out.stdout);
    assert!(
        target_changes(&rows)
            .iter()
            .all(|(operator, _, _)| !operator.contains("Carol")),
        "Carol's change cannot be told from the broker's: {}",
        out.stdout
    );

    let out = as_broker(&f, &["audit", "--csv"]).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("Occurred,Operator,"), "{}", lines[0]);
    assert_eq!(lines.len(), broker_events + 1, "{}", out.stdout);
    let jane_disabled = lines
        .iter()
        .filter(|l| l.contains("Jane Doe (jane.doe)") && l.contains("web-01 was disabled"))
        .count();
    assert_eq!(jane_disabled, 2, "{}", out.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Bob Stone (bob)") && l.contains("ServerTasks-402")),
        "{}",
        out.stdout
    );

    let out = as_broker(&f, &["audit"]).run();
    out.code(0);
    let table = &out.stdout;
    assert!(
        table.contains("Deployment target web-01 was disabled"),
        "{table}"
    );
    let jane = rows
        .iter()
        .filter(|r| r["Operator"] == "Jane Doe (jane.doe)")
        .count();
    let bob = rows
        .iter()
        .filter(|r| r["Operator"] == "Bob Stone (bob)")
        .count();
    let carol = rows
        .iter()
        .filter(|r| r["Operator"] == "Carol King (carol)")
        .count();
    let own = rows.iter().filter(|r| r["Operator"] == broker).count();
    assert_eq!(jane + bob + carol + own, rows.len(), "{}", out.stdout);
    assert_eq!(carol, 2, "Carol's run key's creation and deletion only");
    assert!(
        table.contains(&format!("{jane:>7}  Jane Doe (jane.doe)")),
        "{table}"
    );
    assert!(
        table.contains(&format!("{bob:>7}  Bob Stone (bob)")),
        "{table}"
    );
    assert!(table.contains(&format!("{own:>7}  {broker}")), "{table}");

    // Jane's changes alone, by name.
    let out = as_broker(&f, &["audit", "--json", "--operator", "jane"]).run();
    out.code(0);
    let janes: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(janes.len(), jane);
    assert_eq!(
        target_changes(&janes).len(),
        2,
        "Jane disabled the target twice: {}",
        out.stdout
    );
}

#[test]
fn the_simulator_records_no_event_for_a_read() {
    let f = Fixture::new();
    let before = f.sim.audit().len();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for path in [
        "/api/users/me".to_string(),
        format!("/api/users/{}", f.operator_id),
        format!("/api/users/{}/apikeys", f.broker_id),
        format!("/api/users/{}/apikeys/{}", f.broker_id, f.broker_key_id),
        "/api/Spaces-1/machines".to_string(),
        format!("/api/Spaces-1/machines/{}", f.machine_id),
        "/api/events".to_string(),
        "/api/tasks/ServerTasks-999".to_string(),
    ] {
        let status = agent
            .get(&format!("{}{path}", f.sim.url()))
            .header("X-Octopus-ApiKey", &f.broker_key)
            .call()
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 200 || status == 404, "{path}: {status}");
    }
    as_broker(&f, &["list"]).run().code(0);
    as_broker(&f, &["audit"]).run().code(0);
    assert_eq!(f.sim.audit().len(), before, "reads leave no event");
    // A change does, and a refused one does not.
    put_disabled(&f, &f.broker_key, true);
    assert_eq!(f.sim.audit().len(), before + 1);
    f.sim.revoke_permission(&f.broker_id, "MachineEdit");
    let status = agent
        .put(&format!(
            "{}/api/Spaces-1/machines/{}",
            f.sim.url(),
            f.machine_id
        ))
        .header("X-Octopus-ApiKey", &f.broker_key)
        .content_type("application/json")
        .send(r#"{"IsDisabled":false}"#)
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 403);
    assert_eq!(f.sim.audit().len(), before + 1);
    let event = f.sim.audit().pop().unwrap();
    assert_eq!(event.category, "Modified");
    assert_eq!(event.message, "Deployment target web-01 was disabled");
}

#[test]
fn a_failed_csv_or_json_audit_outside_octopus_leaves_stdout_to_the_data() {
    let f = Fixture::new();
    for args in [
        &["audit", "--csv"][..],
        &["audit", "--json"][..],
        &["audit"][..],
    ] {
        let out = runkey(args)
            .env("OCTOPUS_URL", f.sim.url())
            .env("OCTOPUS_API_KEY", NOT_A_REAL_KEY)
            .run();
        out.code(1).one_error_line(&["401"]);
        // Issue 26, item 5: outside Octopus no task summary line at all.
        assert_eq!(out.stdout, "", "{args:?}");
        // Under Octopus the task summary always gets its reason.
        let out = runkey(args)
            .env("OCTOPUS_URL", f.sim.url())
            .env("OCTOPUS_API_KEY", NOT_A_REAL_KEY)
            .env("OctopusCalamariWorkingDirectory", "/tmp")
            .run();
        out.code(1).one_error_line(&["401"]);
        assert!(out.result_message().is_some(), "{args:?}");
    }
}

/// A script that changes the fixture's deployment target with the key in
/// `$OCTOPUS_API_KEY` (curl, as a runbook script would).
fn disable_target_script(f: &Fixture, disabled: bool) -> String {
    format!(
        "curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -H 'Content-Type: application/json' \
         -d '{{\"Id\":\"{id}\",\"IsDisabled\":{disabled}}}' \"$OCTOPUS_URL/api/Spaces-1/machines/{id}\" > /dev/null",
        id = f.machine_id
    )
}

// Issue 24, item 1: a later event can never rewrite who did an earlier one.
#[test]
fn a_key_minted_to_forge_an_earlier_runs_purpose_changes_nothing_and_is_flagged() {
    let f = Fixture::new();
    // Jane's run disables the target.
    exec_setting_disabled(&f, "jane.doe", "Jane Doe", "ServerTasks-501", true);
    let janes_purpose = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.message.contains("was disabled"))
        .unwrap()
        .identity_established_with;
    let marker = &janes_purpose
        [janes_purpose.find("[runkey ").unwrap()..janes_purpose.find(']').unwrap() + 1];
    // Bob's run mints a key whose purpose names Mallory with Jane's marker, and enables the
    // target with it.
    let forged = format!("Mallory (mallory) ran 'Restart web' {marker}");
    let dir = tempfile::tempdir().unwrap();
    let minted = dir.path().join("minted");
    let script = format!(
        "{MINT_WITH_THE_RUN_KEY}\nexport OCTOPUS_API_KEY; OCTOPUS_API_KEY=$(cat \"$MINTED.key\")\n{}",
        disable_target_script(&f, false)
    );
    runkey(&["exec", "--keep-minted", "--", "bash", "-c", &script])
        .envs(create_env(&f, "ServerTasks-502"))
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "bob")
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME", "Bob Stone")
        .envs(mint_env(&f, &minted))
        .env("PURPOSE", &forged)
        .run()
        .code(0)
        .warns(&["as --keep-minted asks"]);
    assert!(
        !f.sim.machine(&f.machine_id).unwrap().is_disabled,
        "the minted key acted"
    );
    let minted = std::fs::read_to_string(&minted).unwrap();

    let out = as_broker(&f, &["audit", "--json"]).run();
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let changes = target_changes(&rows);
    assert!(
        changes.contains(&(
            "Jane Doe (jane.doe)".to_string(),
            Some("ServerTasks-501".to_string()),
            "Deployment target web-01 was disabled".to_string()
        )),
        "Jane's change is still Jane's: {}",
        out.stdout
    );
    assert!(
        changes.contains(&(
            "Bob Stone (bob)".to_string(),
            Some("ServerTasks-502".to_string()),
            "Deployment target web-01 was enabled".to_string()
        )),
        "the minted key's change is Bob's run's, not Mallory's: {}",
        out.stdout
    );
    assert!(
        rows.iter()
            .all(|r| !r["Operator"].as_str().unwrap().contains("Mallory"))
    );
    let enabled = rows
        .iter()
        .find(|r| r["Message"].as_str().unwrap().contains("was enabled"))
        .unwrap();
    assert_eq!(
        enabled["Note"],
        "made with a key minted by the run key of ServerTasks-502, Bob Stone (bob)",
        "{}",
        out.stdout
    );
    let creation = rows
        .iter()
        .find(|r| r["Category"] == "Created" && r["Message"].as_str().unwrap().contains("Mallory"))
        .unwrap();
    assert_eq!(
        creation["Note"],
        format!("key {minted} minted by the run key of ServerTasks-502, Bob Stone (bob)").as_str()
    );
    assert_eq!(creation["Operator"], "Bob Stone (bob)");
}

// Issue 24, item 2: names cannot move the cut.
#[test]
fn a_runbook_named_like_octopuss_own_words_keeps_the_operator() {
    let f = Fixture::new();
    runkey(&["exec", "--", "sh", "-c", &disable_target_script(&f, true)])
        .envs(create_env(&f, "ServerTasks-503"))
        .env(
            "OCTOPUS_RUNBOOK_NAME",
            "Rotate API key for billing' created in prod",
        )
        .run()
        .code(0);
    let out = as_broker(
        &f,
        &["audit", "--json", "--operator", "jane", "--changes-only"],
    )
    .run();
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0]["Operator"], "Jane Doe (jane.doe)");
    assert_eq!(
        rows[0]["Runbook"],
        "Rotate API key for billing' created in prod"
    );
    assert_eq!(rows[0]["Environment"], "Production");
    let out = as_broker(&f, &["audit", "--csv", "--runbook", "api key FOR billing"]).run();
    out.code(0);
    assert_eq!(
        out.stdout.lines().count(),
        4,
        "the key's creation, the change, the deletion"
    );
}

// Issue 24, item 3: what people typed cannot draw on the auditor's terminal.
#[test]
fn escape_sequences_and_line_breaks_are_shown_escaped_in_every_output() {
    let f = Fixture::new();
    let hostile = "web\u{1b}[1A\r\nforged row\u{2028}";
    let machine = f.sim.add_machine("Spaces-1", hostile);
    let script = format!(
        "curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -H 'Content-Type: application/json' \
         -d '{{\"Id\":\"{machine}\",\"IsDisabled\":true}}' \"$OCTOPUS_URL/api/Spaces-1/machines/{machine}\" > /dev/null"
    );
    runkey(&["exec", "--", "sh", "-c", &script])
        .envs(create_env(&f, "ServerTasks-504"))
        .run()
        .code(0);
    // A key of this tool's shape whose purpose someone else wrote.
    f.sim.add_api_key(
        &f.broker_id,
        "x\u{1b}[2Kgone\n [runkey ServerTasks-9/abcdef]",
        None,
    );
    let escaped = "web\\u{1b}[1A\\r\\nforged row\\u{2028}";
    for format in ["--csv", "--json", "table"] {
        let args: Vec<&str> = if format == "table" {
            vec!["audit"]
        } else {
            vec!["audit", format]
        };
        let out = as_broker(&f, &args).run();
        out.code(0);
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{2028}'),
            "{format}: {:?}",
            out.stdout
        );
        if format == "--json" {
            let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
            assert!(
                rows.iter()
                    .any(|r| r["Message"].as_str().unwrap().contains(hostile)),
                "JSON keeps the text, encoded"
            );
        } else {
            assert!(out.stdout.contains(escaped), "{format}: {}", out.stdout);
            assert!(
                !out.stdout.lines().any(|l| l.starts_with("forged row")),
                "{format}: a forged line"
            );
        }
    }
    let out = as_broker(&f, &["list"]).run();
    out.code(0)
        .stdout_contains("x\\u{1b}[2Kgone\\n [runkey ServerTasks-9/abcdef]");
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
}

// Issue 24, item 4: any auditor's credential.
#[test]
fn an_administrator_or_auditor_sees_the_brokers_changes_by_operator() {
    let f = Fixture::new();
    exec_setting_disabled(&f, "jane.doe", "Jane Doe", "ServerTasks-505", true);
    let auditor = f
        .sim
        .add_user("auditor", "Ann Auditor", false, &["EventView"]);
    let (_, key) = f.sim.add_api_key(&auditor, "auditing", None);
    let audit = |args: &[&str]| {
        let mut all = vec!["audit", "--json", "--changes-only"];
        all.extend_from_slice(args);
        runkey(&all)
            .env("OCTOPUS_URL", f.sim.url())
            .env("OCTOPUS_API_KEY", &key)
            .run()
    };
    for args in [&[][..], &["--broker", "svc-runbooks"][..]] {
        let out = audit(args);
        out.code(0);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(rows.len(), 1, "{args:?}: {}", out.stdout);
        assert_eq!(rows[0]["Operator"], "Jane Doe (jane.doe)");
        assert_eq!(rows[0]["OperatorUsername"], "jane.doe");
    }
    // An auditor that may read users too is told when a broker's name is wrong.
    f.sim.grant_permission(&auditor, "UserView");
    let out = audit(&["--broker", "nobody"]);
    out.code(2)
        .one_error_line(&["--broker 'nobody': no user of that username"]);
}

// Issue 24, item 5: the questions auditors ask.
#[test]
fn windows_by_date_or_duration_and_filters_by_where_the_run_was() {
    let f = Fixture::new();
    for (task, environment, tenant) in [
        ("ServerTasks-511", "Production", "Acme"),
        ("ServerTasks-512", "Staging", "Globex"),
    ] {
        runkey(&[
            "exec",
            "--",
            "sh",
            "-c",
            &disable_target_script(&f, task.ends_with('1')),
        ])
        .envs(create_env(&f, task))
        .env("OCTOPUS_ENVIRONMENT_NAME", environment)
        .env("OCTOPUS_TENANT_NAME", tenant)
        .env("OCTOPUS_PROJECT_NAME", "Web")
        .run()
        .code(0);
    }
    let count = |args: &[&str]| {
        let mut all = vec!["audit", "--json", "--changes-only"];
        all.extend_from_slice(args);
        let out = as_broker(&f, &all).run();
        out.code(0);
        serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout)
            .unwrap()
            .len()
    };
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let yesterday = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24))
        .strftime("%Y-%m-%d")
        .to_string();
    let in_an_hour = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(count(&[]), 2);
    assert_eq!(count(&["--since", "1h30m"]), 2);
    assert_eq!(count(&["--since", "2w"]), 2);
    assert_eq!(count(&["--since", &yesterday, "--until", &in_an_hour]), 2);
    assert_eq!(
        count(&["--since", "30d", "--until", &today]),
        0,
        "before today"
    );
    assert_eq!(count(&["--environment", "prod"]), 1);
    assert_eq!(count(&["--tenant", "GLOBEX"]), 1);
    assert_eq!(count(&["--project", "web"]), 2);
    assert_eq!(count(&["--runbook", "restart"]), 2);
    assert_eq!(count(&["--runbook", "deploy"]), 0);
    let out = as_broker(&f, &["audit", "--since", "tomorrow"]).run();
    out.code(2)
        .one_error_line(&["--since: 'tomorrow' is neither a duration"]);
}

// Issue 24, item 6: each run's answer on its task page.
#[test]
fn the_end_of_a_run_says_what_its_key_changed_and_attaches_it() {
    let f = Fixture::new();
    f.sim.set_options(|o| o.last_used_timestamps = true);
    let work = tempfile::tempdir().unwrap();
    let mut run = runkey(&["exec", "--", "sh", "-c", &disable_target_script(&f, true)])
        .envs(create_env(&f, "ServerTasks-521"))
        // As a step under Octopus: Tentacle's variables are set.
        .env("TentacleHome", work.path());
    run.command().current_dir(work.path());
    let out = run.run();
    out.code(0);
    let key_id = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.category == "Created")
        .unwrap()
        .related_document_ids[0]
        .clone();
    out.stdout_contains(&format!(
        "Run key {key_id} made 1 audited change(s) in this run: It was last used at"
    ))
    .stdout_contains("Modified  Deployment target web-01 was disabled");
    let artifact = out
        .messages()
        .into_iter()
        .find(|m| m.name == "createArtifact")
        .expect("an artifact");
    let name = format!("runkey-changes-{key_id}.csv");
    assert_eq!(artifact.get("name"), Some(name.as_str()));
    let path = artifact.get("path").unwrap();
    assert_eq!(std::path::Path::new(path), work.path().join(&name));
    let csv = std::fs::read_to_string(path).unwrap();
    assert_eq!(artifact.get("length"), Some(csv.len().to_string().as_str()));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "Occurred,Category,Message,EventId");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",Modified,Deployment target web-01 was disabled,Events-"),
        "{csv}"
    );

    // A run whose key changed nothing says so, and attaches no empty file; without
    // EventView one warning says why not.
    let mut run = runkey(&["exec", "--", "true"])
        .envs(create_env(&f, "ServerTasks-522"))
        .env("TentacleHome", work.path());
    run.command().current_dir(work.path());
    let out = run.run();
    out.code(0).stdout_contains("made no audited change in this run (Octopus audits changes, not reads). It was never used.");
    assert!(
        out.messages().iter().all(|m| m.name != "createArtifact"),
        "{}",
        out.stdout
    );
    f.sim.revoke_permission(&f.broker_id, "EventView");
    let out = runkey(&["exec", "--", "true"])
        .envs(create_env(&f, "ServerTasks-523"))
        .run();
    out.code(0)
        .warns(&["changed in this run, and any key a script minted with it, cannot be read"]);
    assert!(runkey_keys(&f).is_empty());
}

// The Revoke step of the three-step form gives the same answer as exec: what the run key
// changed, on the task page, and the CSV attached under Octopus.
#[test]
fn the_revoke_step_says_what_its_key_changed_and_attaches_it() {
    let f = Fixture::new();
    let work = tempfile::tempdir().unwrap();
    let created = create(&f, "ServerTasks-531");
    let key_id = created.var("ApiKeyId");
    runkey(&["use", "--", "sh", "-c", &disable_target_script(&f, true)])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", created.var("ApiKey"))
        .run()
        .code(0);
    let mut run = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_TASK_ID", "ServerTasks-531")
        .env("RUNKEY_API_KEY", created.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", &key_id)
        .env("TentacleHome", work.path());
    run.command().current_dir(work.path());
    let out = run.run();
    out.code(0)
        .stdout_contains(&format!("Revoked run key {key_id}"))
        .stdout_contains(&format!(
            "Run key {key_id} made 1 audited change(s) in this run:"
        ))
        .stdout_contains("Modified  Deployment target web-01 was disabled");
    let artifact = out
        .messages()
        .into_iter()
        .find(|m| m.name == "createArtifact")
        .expect("an artifact");
    let name = format!("runkey-changes-{key_id}.csv");
    assert_eq!(artifact.get("name"), Some(name.as_str()));
    let csv = std::fs::read_to_string(work.path().join(&name)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",Modified,Deployment target web-01 was disabled,Events-"),
        "{csv}"
    );
    assert!(runkey_keys(&f).is_empty());
}
