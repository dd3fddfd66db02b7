//! `revoke`: by id, by task, idempotently, with the run key itself, and `--sweep`; never a
//! key of another run or a key without the marker.

use jiff::{SignedDuration, Timestamp};

use crate::support::*;

fn revoke_env(f: &Fixture, created: &Out) -> Vec<(&'static str, String)> {
    vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("OCTOPUS_API_KEY", f.broker_key.clone()),
        ("RUNKEY_API_KEY_ID", created.var("ApiKeyId")),
    ]
}

#[test]
fn by_id_with_the_broker_key() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    let other = create(&f, "ServerTasks-2");
    let out = runkey(&["revoke"])
        .envs(revoke_env(&f, &created))
        .env("OCTOPUS_TASK_ID", "ServerTasks-1")
        .run();
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("Revoked run key {}", created.var("ApiKeyId"))),
        "{}",
        out.stdout
    );
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    assert_eq!(left, [other.var("ApiKeyId")], "only this run's key is gone");
    assert_eq!(call_me(&f, &created.var("ApiKey")).0, 401);
    seeded_keys_survive(&f);
}

#[test]
fn by_id_takes_two_requests_when_the_owner_is_known() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    f.sim.reset_counters();
    runkey(&["revoke"])
        .envs(revoke_env(&f, &created))
        .env("RUNKEY_API_KEY_OWNER_ID", created.var("ApiKeyOwnerId"))
        .run()
        .code(0);
    let methods: Vec<String> = f.sim.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "DELETE"]);
}

#[test]
fn twice_is_fine_the_second_says_already_revoked() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    runkey(&["revoke"])
        .envs(revoke_env(&f, &created))
        .run()
        .code(0);
    let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
    out.code(0);
    assert!(out.stdout.contains("already revoked"), "{}", out.stdout);
}

#[test]
fn the_run_key_can_revoke_itself_without_the_broker_key() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    let key = created.var("ApiKey");
    let env = vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("RUNKEY_API_KEY", key.clone()),
        ("RUNKEY_API_KEY_ID", created.var("ApiKeyId")),
    ];
    let out = runkey(&["revoke"]).envs(env.clone()).run();
    out.code(0).never_shows(&key);
    assert!(runkey_keys(&f).is_empty());
    let delete = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.action.starts_with("DELETE"))
        .unwrap();
    assert!(
        delete
            .identity_established_with
            .contains("[runkey ServerTasks-1/"),
        "the key deleted itself"
    );

    // Again: the dead key gets 401, which means it can no longer act.
    let out = runkey(&["revoke"]).envs(env).run();
    out.code(0);
    assert!(out.stdout.contains("can no longer act"), "{}", out.stdout);
}

#[test]
fn a_server_that_forbids_self_deletion_is_reported_and_the_key_kept() {
    let f = Fixture::with_options(Options {
        allow_self_delete: false,
        ..Options::default()
    });
    let created = create(&f, "ServerTasks-1");
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", created.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        .run();
    out.code(1);
    assert!(
        out.stderr
            .contains("does not let the run key delete itself"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("give the revoke step the broker key in OCTOPUS_API_KEY"),
        "{}",
        out.stderr
    );
    assert_eq!(runkey_keys(&f).len(), 1);
}

#[test]
fn by_task_deletes_only_that_tasks_keys_across_pages() {
    let f = Fixture::with_options(Options {
        max_take: Some(3),
        partial_purpose_filter: PartialPurpose::Substring,
        ..Options::default()
    });
    let mine_a = create(&f, "ServerTasks-42");
    for i in 0..5 {
        create(&f, &format!("ServerTasks-4{i}0"));
    }
    for i in 0..5 {
        f.sim.add_api_key(
            &f.broker_id,
            &format!("hand-made key {i} ServerTasks-42"),
            None,
        );
    }
    let mine_b = create(&f, "ServerTasks-42");
    f.sim.reset_counters();
    let out = as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", "ServerTasks-42")
        .run();
    out.code(0);
    let ids: Vec<String> = f.sim.keys(&f.broker_id).into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&mine_a.var("ApiKeyId")) && !ids.contains(&mine_b.var("ApiKeyId")));
    assert_eq!(
        ids.len(),
        3 + 5 + 5,
        "the fixture's three keys, five other runs, five hand-made keys remain"
    );
    seeded_keys_survive(&f);
    assert!(f.sim.requests().iter().any(|r| {
        r.target
            .contains("partialPurpose=%5Brunkey%20ServerTasks-42%2F")
    }));
}

#[test]
fn by_task_pages_through_everything_on_servers_without_partial_purpose() {
    let f = Fixture::with_options(Options {
        max_take: Some(3),
        partial_purpose_filter: PartialPurpose::Ignored,
        ..Options::default()
    });
    let mine = create(&f, "ServerTasks-9");
    for i in 0..10 {
        f.sim
            .add_api_key(&f.broker_id, &format!("unrelated {i}"), None);
    }
    f.sim.reset_counters();
    as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", "ServerTasks-9")
        .run()
        .code(0);
    assert!(
        !f.sim
            .keys(&f.broker_id)
            .iter()
            .any(|k| k.id == mine.var("ApiKeyId"))
    );
    assert_eq!(f.sim.keys(&f.broker_id).len(), 13);
    seeded_keys_survive(&f);
    let pages = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.contains("/apikeys?"))
        .count();
    assert_eq!(pages, 5, "14 keys at 3 a page");
}

#[test]
fn by_task_with_nothing_left_says_already_revoked() {
    let f = Fixture::new();
    let out = as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", "ServerTasks-404")
        .run();
    out.code(0);
    assert!(
        out.stdout
            .contains("No run key of task ServerTasks-404 remains"),
        "{}",
        out.stdout
    );
}

#[test]
fn never_deletes_a_key_without_the_marker() {
    let f = Fixture::new();
    let (id, _) = f.sim.add_api_key(&f.broker_id, "Jane Doe", None);
    let out = as_broker(&f, &["revoke"])
        .env("RUNKEY_API_KEY_ID", &id)
        .run();
    out.code(1);
    assert!(
        out.stderr.contains("was not made by octopus-runkey"),
        "{}",
        out.stderr
    );
    assert!(f.sim.keys(&f.broker_id).iter().any(|k| k.id == id));
}

#[test]
fn never_deletes_another_runs_key() {
    let f = Fixture::new();
    let other = create(&f, "ServerTasks-1");
    let out = runkey(&["revoke"])
        .envs(revoke_env(&f, &other))
        .env("OCTOPUS_TASK_ID", "ServerTasks-2")
        .run();
    out.code(1);
    assert!(
        out.stderr
            .contains("belongs to another run (ServerTasks-1)"),
        "{}",
        out.stderr
    );
    assert_eq!(runkey_keys(&f).len(), 1);
    seeded_keys_survive(&f);
}

#[test]
fn sweep_deletes_expired_and_old_keys_of_this_tool_only() {
    let f = Fixture::new();
    let now = Timestamp::now();
    let hour = SignedDuration::from_hours(1);
    let (expired, _) = f.sim.add_api_key(
        &f.broker_id,
        "x [runkey ServerTasks-1/aaaaaa]",
        Some(now - hour),
    );
    let (old, _) = f.sim.add_old_api_key(
        &f.broker_id,
        "x [runkey ServerTasks-2/bbbbbb]",
        hour * 30,
        Some(now + hour),
    );
    let (fresh, _) = f.sim.add_api_key(
        &f.broker_id,
        "x [runkey ServerTasks-3/cccccc]",
        Some(now + hour),
    );
    let (foreign, _) = f
        .sim
        .add_api_key(&f.broker_id, "someone's expired key", Some(now - hour));
    let out = as_broker(&f, &["revoke", "--sweep"]).run();
    out.code(0);
    assert!(
        out.stdout.contains("Swept 2 stale run key(s)"),
        "{}",
        out.stdout
    );
    let ids: Vec<String> = f.sim.keys(&f.broker_id).into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&expired) && !ids.contains(&old));
    assert!(ids.contains(&fresh) && ids.contains(&foreign));
    seeded_keys_survive(&f);

    // A shorter --max-age makes a ten-minute-old key stale too.
    let (recent, _) = f.sim.add_old_api_key(
        &f.broker_id,
        "x [runkey ServerTasks-4/dddddd]",
        SignedDuration::from_mins(10),
        Some(now + hour),
    );
    let out = as_broker(&f, &["revoke", "--sweep", "--max-age", "5m"]).run();
    out.code(0);
    assert!(out.stdout.contains("Swept 1 stale"), "{}", out.stdout);
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    assert_eq!(left, [fresh], "{recent} was swept");
    seeded_keys_survive(&f);
}
