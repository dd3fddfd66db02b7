//! Read-only run keys (issue 23, item 4): `--access read-only` asks for one, and a key is
//! kept only when the server, read back, says it is read-only; a server that ignores or
//! refuses the field leaves no key and a step that fails with the fix. A read-only key is
//! deleted with the broker's credential and gets no guard.

use octopus_sim::{AccessLevel, AccessLevelField};

use crate::support::*;

fn server(field: AccessLevelField, shows_the_level: bool) -> Fixture {
    Fixture::with_options(Options {
        access_level_field: field,
        access_level_in_reads: shows_the_level,
        ..Options::default()
    })
}

fn create_read_only(f: &Fixture) -> Out {
    runkey(&["create", "--access", "read-only"])
        .envs(create_env(f, "ServerTasks-1"))
        .run()
}

/// The POST that made (or tried to make) a key.
fn asked_for(f: &Fixture) -> serde_json::Value {
    let post = f
        .sim
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.target.ends_with("/apikeys"))
        .expect("a POST of a key");
    serde_json::from_str(&post.body).unwrap()
}

#[test]
fn a_server_that_honours_the_field_gives_a_read_only_key_that_can_change_nothing() {
    let f = server(AccessLevelField::Honoured, true);
    let out = create_read_only(&f);
    out.code(0);
    assert_eq!(asked_for(&f)["AccessLevel"], "ReadOnly");
    let keys = runkey_keys(&f);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].access_level, AccessLevel::ReadOnly);
    assert_eq!(keys[0].id, out.var("ApiKeyId"));
    // It reads, and cannot delete itself; no guard holds it.
    assert_eq!(call_me(&f, &out.var("ApiKey")).0, 200);
    out.stdout_contains("No guard watches this read-only key: it cannot delete itself");
    let revoke_env = |with_broker: bool| {
        let mut env = vec![
            ("OCTOPUS_URL", f.sim.url()),
            ("RUNKEY_API_KEY", out.var("ApiKey")),
            ("RUNKEY_API_KEY_ID", out.var("ApiKeyId")),
            ("OCTOPUS_TASK_ID", "ServerTasks-1".to_string()),
        ];
        if with_broker {
            env.push(("OCTOPUS_API_KEY", f.broker_key.clone()));
        }
        env
    };
    let alone = runkey(&["revoke"]).envs(revoke_env(false)).run();
    alone.code(1).one_error_line(&[
        "does not let the run key delete itself",
        "as a read-only key never can",
        "give the Revoke step the broker's OIDC account",
    ]);
    assert_eq!(runkey_keys(&f).len(), 1);
    runkey(&["revoke"]).envs(revoke_env(true)).run().code(0);
    assert!(runkey_keys(&f).is_empty());
    assert_eq!(call_me(&f, &out.var("ApiKey")).0, 401);
}

#[test]
fn a_server_that_ignores_the_field_made_a_full_key_which_is_deleted() {
    // Whether or not its reads show the level: a key it cannot prove read-only goes.
    for (shows, said) in [
        (true, "with the access level FullAccess"),
        (false, "without saying its access level"),
    ] {
        let f = server(AccessLevelField::Ignored, shows);
        let out = create_read_only(&f);
        out.code(1).one_error_line(&[
            "a read-only run key was asked for (--access read-only)",
            said,
            "it was deleted",
            "give the broker only read-only roles",
        ]);
        assert_eq!(asked_for(&f)["AccessLevel"], "ReadOnly");
        assert!(runkey_keys(&f).is_empty(), "{:?}", runkey_keys(&f));
        assert!(
            out.output_variables().is_empty(),
            "no output variable: {}",
            out.stdout
        );
        seeded_keys_survive(&f);
    }
}

#[test]
fn a_server_that_refuses_the_field_makes_no_key_and_says_the_fix() {
    let f = server(AccessLevelField::Refused, true);
    let out = create_read_only(&f);
    out.code(1).one_error_line(&[
        "'AccessLevel'",
        "does not take a read-only access level",
        "no key was made",
        "give the broker only read-only roles",
    ]);
    assert!(runkey_keys(&f).is_empty());
    // Without --access the field is never sent, and that server makes keys as ever.
    create(&f, "ServerTasks-2");
    assert!(asked_for(&f).get("AccessLevel").is_none());
}

#[test]
fn exec_runs_with_a_read_only_key_and_deletes_it_with_the_broker() {
    let f = server(AccessLevelField::Honoured, true);
    let seen = tempfile::tempdir().unwrap();
    let file = seen.path().join("status");
    let script = format!(
        "curl -s -o /dev/null -w '%{{http_code}}' -X DELETE -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" \"$OCTOPUS_URL/api/users/{}/apikeys/{}\" > {}",
        f.broker_id,
        f.unmarked_key_id,
        file.display()
    );
    let out = runkey(&["exec", "--access", "read-only", "--", "sh", "-c", &script])
        .envs(create_env(&f, "ServerTasks-1"))
        .run();
    out.code(0);
    // The command's key could not delete another key; exec deleted the run key.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "403");
    assert!(runkey_keys(&f).is_empty());
    seeded_keys_survive(&f);
    out.stdout_contains("No guard watches this read-only key");
}

#[test]
fn access_takes_full_or_read_only() {
    let f = Fixture::new();
    f.sim.expect_no_requests();
    let out = runkey(&["create", "--access", "admin"])
        .envs(create_env(&f, "ServerTasks-1"))
        .run();
    out.code(2)
        .stderr_contains("[possible values: full, read-only]");
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-1"))
        .env("RUNKEY_ACCESS", "everything")
        .run();
    out.code(2)
        .one_error_line(&["RUNKEY_ACCESS is 'everything': set it to full or read-only"]);
}
