//! Every way a run starts: a person, a scheduled or webhook trigger (Octopus's system user,
//! or a run record that names nobody), a service account, the broker itself. The key's
//! purpose says which, and no run fails for having been started by Octopus.

use crate::support::*;

/// A runbook run's environment without the CreatedBy variables: create reads the record.
fn record_env(f: &Fixture, run_id: &str, task: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("OCTOPUS_API_KEY", f.broker_key.clone()),
        ("OCTOPUS_TASK_ID", task.into()),
        ("OCTOPUS_RUNBOOKRUN_ID", run_id.into()),
        ("OCTOPUS_SPACE_ID", f.space_id.clone()),
        ("OCTOPUS_RUNBOOK_NAME", "Clean up".into()),
        ("OCTOPUS_ENVIRONMENT_NAME", "Production".into()),
    ]
}

fn user_lookups(f: &Fixture) -> Vec<String> {
    f.sim
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/api/users/") && !r.target.contains("apikeys"))
        .filter(|r| r.target != "/api/users/me")
        .map(|r| r.target)
        .collect()
}

#[test]
fn a_scheduled_run_by_the_system_user_is_a_trigger_run_named_when_known() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some("users-system"));
    let out = runkey(&["create"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("trigger ran 'Clean up' in Production (space Spaces-1) [runkey "),
        "{}",
        out.var("ApiKeyPurpose")
    );
    assert!(user_lookups(&f).is_empty(), "{:?}", user_lookups(&f));

    let run = f.sim.add_runbook_run(&f.space_id, Some("users-system"));
    let out = runkey(&["create"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "Nightly clean-up")
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("trigger 'Nightly clean-up' ran 'Clean up' in Production"),
        "{}",
        out.var("ApiKeyPurpose")
    );
    assert!(!out.stdout.contains("System (system)"), "{}", out.stdout);
}

#[test]
fn created_by_variables_naming_the_system_user_make_a_trigger_run_without_any_lookup() {
    let f = Fixture::new();
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-61"))
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_ID", "Users-System")
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "system")
        .env("OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME", "System")
        .run();
    out.code(0);
    let purpose = out.var("ApiKeyPurpose");
    assert!(
        purpose.starts_with("trigger ran 'Restart web'"),
        "{purpose}"
    );
    assert!(!purpose.contains("System (system)"), "{purpose}");
    assert!(user_lookups(&f).is_empty());
}

#[test]
fn a_run_record_naming_nobody_is_a_webhook_trigger_run_not_an_error() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, None);
    let out = runkey(&["create"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("trigger ran 'Clean up'"),
        "{}",
        out.var("ApiKeyPurpose")
    );
    assert!(!out.var("ApiKeyPurpose").contains("unattributed"));
}

#[test]
fn a_run_started_by_a_service_account_says_so() {
    let f = Fixture::new();
    let ci = f.sim.add_user("svc-ci", "CI", true, &[]);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&ci));
    let out = runkey(&["create"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("service account CI (svc-ci) ran 'Clean up'"),
        "{}",
        out.var("ApiKeyPurpose")
    );
    out.stdout_contains("for service account CI (svc-ci)");
}

#[test]
fn a_run_started_with_another_runs_key_names_the_broker_as_a_service_account() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.broker_id));
    let out = runkey(&["create"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("service account Runbook Broker (svc-runbooks) ran 'Clean up'"),
        "{}",
        out.var("ApiKeyPurpose")
    );
}

#[test]
fn exec_in_a_trigger_run_works_like_any_run() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some("users-system"));
    let out = runkey(&["exec", "--", "true"])
        .envs(record_env(&f, &run.id, &run.task_id))
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "Nightly clean-up")
        .run();
    out.code(0);
    out.stdout_contains("for trigger 'Nightly clean-up'");
    assert!(runkey_keys(&f).is_empty());
    seeded_keys_survive(&f);
}
