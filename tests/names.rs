//! Names people typed (display names, runbook, project, environment, tenant and space
//! names) that hold marker text or nothing but format characters: whatever they hold,
//! create and both kinds of revoke still find exactly this run's key.

use crate::support::*;

/// Text in a name that imitates the marker: a whole one, and an opening left unclosed.
const MARKER_LIKE: [&str; 2] = ["[runkey ServerTasks-9/abcdef]", "Evil [runkey X"];

/// Every variable whose text lands in the purpose, with the value the usual step has.
const NAME_VARIABLES: [&str; 7] = [
    "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
    "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
    "OCTOPUS_RUNBOOK_NAME",
    "OCTOPUS_PROJECT_NAME",
    "OCTOPUS_ENVIRONMENT_NAME",
    "OCTOPUS_TENANT_NAME",
    "OCTOPUS_SPACE_NAME",
];

/// The usual create step's environment with a project and tenant too, and `name` set to
/// `value`.
fn env_with(f: &Fixture, task: &str, name: &str, value: &str) -> Vec<(&'static str, String)> {
    let mut env = create_env(f, task);
    env.push(("OCTOPUS_PROJECT_NAME", "Web".into()));
    env.push(("OCTOPUS_TENANT_NAME", "Acme".into()));
    env.retain(|(k, _)| *k != name);
    let name = NAME_VARIABLES.into_iter().find(|n| *n == name).unwrap();
    env.push((name, value.to_string()));
    env
}

/// Creates a key for `task` with these variables and checks that its purpose carries the
/// marker once, naming `task`; returns the key's id.
fn create_with(_f: &Fixture, env: Vec<(&'static str, String)>, task: &str, what: &str) -> String {
    let out = runkey(&["create"]).envs(env).run();
    out.code(0);
    let purpose = out.var("ApiKeyPurpose");
    assert_eq!(purpose.matches("[runkey ").count(), 1, "{what}: {purpose}");
    assert_eq!(
        marker(&purpose).map(|(t, _)| t).as_deref(),
        Some(task),
        "{what}: {purpose}"
    );
    out.var("ApiKeyId")
}

/// Asserts that the broker account holds exactly the fixture's three keys.
fn only_the_seeded_keys_are_left(f: &Fixture, what: &str) {
    seeded_keys_survive(f);
    let purposes: Vec<String> = f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .map(|k| k.purpose)
        .collect();
    assert_eq!(purposes.len(), 3, "{what}: {purposes:?}");
}

#[test]
fn marker_text_in_any_name_leaves_create_and_both_revokes_finding_this_runs_key() {
    for text in MARKER_LIKE {
        for name in NAME_VARIABLES {
            let what = format!("{name}={text:?}");
            let f = Fixture::new();
            let task = "ServerTasks-50";

            let id = create_with(&f, env_with(&f, task, name, text), task, &what);
            let out = as_broker(&f, &["revoke"])
                .env("RUNKEY_API_KEY_ID", &id)
                .env("OCTOPUS_TASK_ID", task)
                .run();
            out.code(0);
            assert!(
                out.stdout.contains(&format!("Revoked run key {id}")),
                "{what}: {}",
                out.stdout
            );
            only_the_seeded_keys_are_left(&f, &what);

            let id = create_with(&f, env_with(&f, task, name, text), task, &what);
            let out = as_broker(&f, &["revoke"])
                .env("OCTOPUS_TASK_ID", task)
                .run();
            out.code(0);
            assert!(
                !f.sim.keys(&f.broker_id).iter().any(|k| k.id == id),
                "{what}: revoke by task left {id}: {}",
                out.stdout
            );
            only_the_seeded_keys_are_left(&f, &what);
        }
    }
}

#[test]
fn an_environment_name_ending_in_runkey_still_lets_revoke_by_task_find_the_key() {
    // With no tenant, project or space, the environment ends the human part: 'Evil [runkey'
    // then meets the marker through the separator space.
    let f = Fixture::new();
    let task = "ServerTasks-51";
    let env: Vec<_> = create_env(&f, task)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("OCTOPUS_SPACE_"))
        .map(|(k, v)| match k {
            "OCTOPUS_ENVIRONMENT_NAME" => (k, "Evil [runkey".to_string()),
            _ => (k, v),
        })
        .collect();
    let id = create_with(&f, env, task, "environment 'Evil [runkey'");
    as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", task)
        .run()
        .code(0);
    assert!(!f.sim.keys(&f.broker_id).iter().any(|k| k.id == id));
    only_the_seeded_keys_are_left(&f, "environment 'Evil [runkey'");
}

#[test]
fn a_name_made_only_of_format_characters_counts_as_missing() {
    // The contract: names lose their format characters, and a name left empty counts as
    // missing. The display name is (the purpose says 'jane.doe'), but the runbook is not:
    // today the purpose reads "jane.doe ran '' in Production".
    let f = Fixture::new();
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-80"))
        .env(
            "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
            "\u{200B}\u{202E}",
        )
        .env("OCTOPUS_RUNBOOK_NAME", "\u{FEFF}")
        .run();
    out.code(0);
    let purpose = out.var("ApiKeyPurpose");
    assert!(
        purpose.starts_with("jane.doe in Production (space Default) [runkey "),
        "{purpose:?}"
    );
}
