//! `revoke`: by id, by task, idempotently, with the run key itself, and `--sweep`; never a
//! key of another run or a key without the marker.

use jiff::{SignedDuration, Timestamp};
use octopus_sim::TaskState;

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
fn by_id_takes_three_requests_when_the_owner_is_known() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-1");
    f.sim.reset_counters();
    runkey(&["revoke"])
        .envs(revoke_env(&f, &created))
        .env("RUNKEY_API_KEY_OWNER_ID", created.var("ApiKeyOwnerId"))
        .run()
        .code(0);
    // The key, what it changed and minted (none), the delete.
    let requests: Vec<String> = f
        .sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target.split('?').next().unwrap()))
        .collect();
    let key = format!(
        "/api/users/{}/apikeys/{}",
        f.broker_id,
        created.var("ApiKeyId")
    );
    assert_eq!(
        requests,
        [
            format!("GET {key}"),
            "GET /api/events".to_string(),
            format!("DELETE {key}")
        ]
    );
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
        out.stderr()
            .contains("does not let the run key delete itself"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains(
            "give the Revoke step the broker's OIDC account (or the broker key in OCTOPUS_API_KEY)"
        ),
        "{}",
        out.stderr()
    );
    assert_eq!(runkey_keys(&f).len(), 1);
}

#[test]
fn only_a_403_to_the_run_key_itself_is_called_a_refused_self_deletion() {
    let f = Fixture::new();
    // The broker refused: that is the broker's permission, not self-deletion.
    let created = create(&f, "ServerTasks-2");
    f.sim.inject(Fault::new(
        "DELETE",
        &created.var("ApiKeyId"),
        FaultKind::status(403),
    ));
    let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
    out.code(1).one_error_line(&["DELETE /api/users/", "403"]);
    assert!(!out.stderr().contains("delete itself"), "{}", out.stderr());
    // The run key met a server error: that is the server failing.
    f.sim
        .inject(Fault::new("DELETE", &created.var("ApiKeyId"), FaultKind::status(500)).times(5));
    let out = runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", created.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        .run();
    out.code(1).one_error_line(&["DELETE /api/users/", "500"]);
    assert!(!out.stderr().contains("delete itself"), "{}", out.stderr());
    assert_eq!(runkey_keys(&f).len(), 1, "the key is still there");
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
    for mine in [&mine_a, &mine_b] {
        let line = format!("Revoked run key {} (", mine.var("ApiKeyId"));
        assert!(out.stdout.contains(&line), "{line}: {}", out.stdout);
    }
    let ids: Vec<String> = f.sim.keys(&f.broker_id).into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&mine_a.var("ApiKeyId")) && !ids.contains(&mine_b.var("ApiKeyId")));
    assert_eq!(
        ids.len(),
        3 + 5 + 5,
        "the fixture's three keys, five other runs, five hand-made keys remain"
    );
    seeded_keys_survive(&f);
    // A server that answered with this task's keys alone has shown that it filters: the
    // listing that confirms none is left is filtered too, so revoke by task does not grow
    // with the broker's other keys.
    let listings: Vec<String> = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.contains("/apikeys?"))
        .map(|r| r.target.clone())
        .collect();
    assert!(
        listings
            .iter()
            .all(|t| t.contains("partialPurpose=%5Brunkey%20ServerTasks-42%2F")),
        "{listings:#?}"
    );
    // One page with the task's two keys, then one confirming that none is left.
    assert_eq!(listings.len(), 2, "{listings:#?}");
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
    // One pass deletes (14 keys, 5 pages), one more confirms that none is left (13, 5).
    assert_eq!(pages, 10, "14 then 13 keys at 3 a page");
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
        out.stderr().contains("was not made by octopus-runkey"),
        "{}",
        out.stderr()
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
        out.stderr()
            .contains("belongs to another run (ServerTasks-1)"),
        "{}",
        out.stderr()
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
    out.stdout_contains("Swept 2 stale run key(s)");
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

#[test]
fn sweep_deletes_the_keys_of_runs_that_are_over_and_says_why() {
    let f = Fixture::new();
    let over = f.sim.add_task(None, TaskState::Canceled);
    let running = f.sim.add_task(None, TaskState::Executing);
    let done = create(&f, &over);
    let live = create(&f, &running);
    let out = as_broker(&f, &["revoke", "--sweep"]).run();
    out.code(0);
    assert!(
        out.stdout
            .contains("Swept 1 stale run key(s): 1 whose task is over, 0 expired, 0 older than 1d"),
        "{}",
        out.stdout
    );
    let ids: Vec<String> = f.sim.keys(&f.broker_id).into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&done.var("ApiKeyId")));
    assert!(ids.contains(&live.var("ApiKeyId")));
    seeded_keys_survive(&f);
}

#[test]
fn sweep_without_task_view_warns_and_keeps_to_the_age_rules() {
    let f = Fixture::new();
    let over = f.sim.add_task(None, TaskState::Success);
    let done = create(&f, &over);
    f.sim.revoke_permission(&f.broker_id, "TaskView");
    let out = as_broker(&f, &["revoke", "--sweep"]).run();
    out.code(0);
    assert!(
        out.stderr()
            .contains("the sweep cannot tell which runs are over")
            && out.stderr().contains("TaskView"),
        "{}",
        out.stderr()
    );
    assert!(out.stdout.contains("Swept 0 stale"), "{}", out.stdout);
    assert!(
        f.sim
            .keys(&f.broker_id)
            .iter()
            .any(|k| k.id == done.var("ApiKeyId"))
    );
}

#[test]
fn sweep_asks_about_each_task_once_and_never_about_no_task() {
    let f = Fixture::new();
    let running = f.sim.add_task(None, TaskState::Executing);
    create(&f, &running);
    create(&f, &running);
    let mut env = create_env(&f, "ignored");
    env.retain(|(k, _)| *k != "OCTOPUS_TASK_ID");
    runkey(&["create"]).envs(env).run().code(0);
    let other = f.sim.add_task(None, TaskState::Executing);
    create(&f, &other);
    f.sim.reset_counters();
    as_broker(&f, &["revoke", "--sweep"]).run().code(0);
    let mut asked: Vec<String> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/api/tasks/"))
        .map(|r| r.target)
        .collect();
    asked.sort();
    let mut expected = vec![
        format!("/api/tasks/{running}"),
        format!("/api/tasks/{other}"),
    ];
    // The fixture's other run's key names a task of its own.
    let all_keys = f.sim.keys(&f.broker_id);
    assert!(
        all_keys
            .iter()
            .any(|k| k.purpose.contains("[runkey no-task/"))
    );
    expected.extend(
        all_keys
            .iter()
            .filter_map(|k| marker(&k.purpose))
            .map(|(task, _)| format!("/api/tasks/{task}"))
            .filter(|t| !t.ends_with("/no-task")),
    );
    expected.sort();
    expected.dedup();
    assert_eq!(asked, expected);

    // Without TaskView, the first refusal ends the questions.
    f.sim.revoke_permission(&f.broker_id, "TaskView");
    f.sim.reset_counters();
    let out = as_broker(&f, &["revoke", "--sweep"]).run();
    out.code(0)
        .warns(&["the sweep cannot tell which runs are over"]);
    let asked = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/api/tasks/"))
        .count();
    assert_eq!(asked, 1);
}

/// A 404 that is not Octopus's word about this key: a proxy's page, or an answer about
/// the user.
fn foreign_404s(f: &Fixture) -> [String; 2] {
    [
        "<html><body><h1>404 Not Found</h1>nginx</body></html>".to_string(),
        format!(
            r#"{{"ErrorMessage":"The resource '{}' was not found.","Errors":[]}}"#,
            f.broker_id
        ),
    ]
}

#[test]
fn a_404_on_delete_that_does_not_name_the_key_is_not_taken_for_gone() {
    for i in 0..2 {
        let f = Fixture::new();
        let created = create(&f, "ServerTasks-31");
        let body = foreign_404s(&f)[i].clone();
        f.sim.inject(Fault::new(
            "DELETE",
            &created.var("ApiKeyId"),
            FaultKind::Body { status: 404, body },
        ));
        let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
        out.code(1);
        assert!(!out.stdout.contains("already revoked"), "{}", out.stdout);
        assert!(
            out.stderr().contains("404") || out.stderr().contains("HTML"),
            "{}",
            out.stderr()
        );
        assert_eq!(runkey_keys(&f).len(), 1, "the key is still listed");
    }
}

#[test]
fn a_404_on_reading_the_key_that_does_not_name_it_is_not_taken_for_gone() {
    for i in 0..2 {
        let f = Fixture::new();
        let created = create(&f, "ServerTasks-32");
        let body = foreign_404s(&f)[i].clone();
        f.sim.inject(Fault::new(
            "GET",
            &created.var("ApiKeyId"),
            FaultKind::Body { status: 404, body },
        ));
        let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
        out.code(1).one_error_line(&["GET /api/users/", "404"]);
        assert!(!out.stdout.contains("already revoked"), "{}", out.stdout);
        assert_eq!(runkey_keys(&f).len(), 1, "the key is still listed");
    }
}

#[test]
fn a_json_404_about_something_else_is_settled_by_the_owners_listing() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-34");
    let id = created.var("ApiKeyId");
    f.sim.remove_api_key(&id);
    let body = foreign_404s(&f)[1].clone();
    f.sim.inject(Fault::new(
        "GET",
        &id,
        FaultKind::Body { status: 404, body },
    ));
    let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("Run key {id} is already revoked.")),
        "{}",
        out.stdout
    );
    seeded_keys_survive(&f);
}

#[test]
fn a_proxys_404_or_a_server_error_proves_nothing_even_when_the_key_is_absent() {
    let f = Fixture::new();
    let html = foreign_404s(&f)[0].clone();
    for (kind, times, why) in [
        (
            FaultKind::Body {
                status: 404,
                body: html,
            },
            1,
            "HTML",
        ),
        (FaultKind::status(500), 5, "500"),
    ] {
        let created = create(&f, "ServerTasks-35");
        let id = created.var("ApiKeyId");
        f.sim.remove_api_key(&id);
        f.sim.inject(Fault::new("GET", &id, kind).times(times));
        let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
        out.code(1).one_error_line(&["GET /api/users/", why]);
        assert!(!out.stdout.contains("already revoked"), "{}", out.stdout);
    }
}

#[test]
fn octopus_saying_the_key_is_not_found_is_gone() {
    let f = Fixture::new();
    let created = create(&f, "ServerTasks-33");
    let id = created.var("ApiKeyId");
    f.sim.remove_api_key(&id);
    let out = runkey(&["revoke"]).envs(revoke_env(&f, &created)).run();
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("Run key {id} is already revoked.")),
        "{}",
        out.stdout
    );
}

#[test]
fn a_listing_whose_full_page_lacks_page_next_is_completed_from_total_results() {
    let f = Fixture::with_options(Options {
        max_take: Some(3),
        ..Options::default()
    });
    let oldest = create(&f, "ServerTasks-34").var("ApiKeyId");
    for task in ["ServerTasks-35", "ServerTasks-36", "ServerTasks-37"] {
        create(&f, task);
    }
    // The first page (the three newest keys, all marked) comes without its Page.Next link.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!(
            "{}/api/users/{}/apikeys?skip=0&take=3",
            f.sim.url(),
            f.broker_id
        ))
        .header("X-Octopus-ApiKey", &f.broker_key)
        .call()
        .unwrap();
    let mut first: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    first["Links"].as_object_mut().unwrap().remove("Page.Next");
    assert!(first["TotalResults"].as_u64().unwrap() > 3);
    f.sim.inject(Fault::new(
        "GET",
        "/apikeys",
        FaultKind::Body {
            status: 200,
            body: first.to_string(),
        },
    ));
    let out = as_broker(&f, &["list", "--json"]).run();
    out.code(0);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        listed.len(),
        5,
        "4 of this test and the fixture's other run: {}",
        out.stdout
    );
    assert!(listed.iter().any(|k| k["Id"] == oldest.as_str()));
}

#[test]
fn by_task_also_deletes_a_key_the_task_made_while_it_was_revoking() {
    let f = Fixture::new();
    create(&f, "ServerTasks-43");
    // The first DELETE is answered after 3 s; meanwhile a parallel step of the same task
    // makes another key, which the next listing shows.
    f.sim.inject(Fault::new(
        "DELETE",
        "/apikeys/",
        FaultKind::Delay(std::time::Duration::from_millis(3000)),
    ));
    let mut run = as_broker(&f, &["revoke"]).env("OCTOPUS_TASK_ID", "ServerTasks-43");
    let revoking = run
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let late = create(&f, "ServerTasks-43");
    let output = revoking.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.purpose).collect();
    assert!(
        !left.iter().any(|p| p.contains("ServerTasks-43/")),
        "the late key {} is left: {left:?}",
        late.var("ApiKeyId")
    );
    seeded_keys_survive(&f);
}

/// The Revoke step's variables when its id and its run key come from different create
/// steps: the id of `id_from`, the run key of `key_from`.
fn miswired(f: &Fixture, id_from: &str, key_from: &Out) -> Run {
    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", key_from.var("ApiKey"))
        .env("RUNKEY_API_KEY_ID", id_from)
}

// Issue 22, item 4: "revoked" means the run key no longer works.
#[test]
fn an_id_of_another_create_step_revokes_this_runs_own_key_and_names_the_wiring() {
    let f = Fixture::new();
    // The step's run key, and a Create step of the same run whose key was revoked already.
    let ours = create(&f, "ServerTasks-1");
    let earlier = create(&f, "ServerTasks-1");
    runkey(&["revoke"])
        .envs(revoke_env(&f, &earlier))
        .run()
        .code(0);
    let other_run = create(&f, "ServerTasks-2");
    let out = miswired(&f, &earlier.var("ApiKeyId"), &ours)
        .env("OCTOPUS_TASK_ID", "ServerTasks-1")
        .run();
    out.code(0)
        .warns(&[&format!(
            "RUNKEY_API_KEY_ID ({}) names no key, but the run key in RUNKEY_API_KEY still works: they come from different create steps (check the Revoke step's RunKey.CreateStep); revoking this run's own key, found by its marker, instead",
            earlier.var("ApiKeyId")
        )]);
    out.stdout_contains(&format!("Revoked run key {}", ours.var("ApiKeyId")));
    assert!(
        !out.stdout.contains("already revoked"),
        "nothing is called revoked while the run key works: {}",
        out.stdout
    );
    assert_eq!(
        call_me(&f, &ours.var("ApiKey")).0,
        401,
        "the run key is dead"
    );
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    assert_eq!(
        left,
        [other_run.var("ApiKeyId")],
        "another run's key is kept"
    );
    seeded_keys_survive(&f);
}

#[test]
fn without_a_task_this_runs_key_is_found_by_its_hint_and_the_broker_key_is_not_needed() {
    let f = Fixture::new();
    let ours = create(&f, "ServerTasks-1");
    let other_run = create(&f, "ServerTasks-2");
    let out = miswired(&f, "apikeys-NoSuchKey0000000000", &ours).run();
    out.code(0)
        .warns(&["names no key"])
        .stderr_contains("revoking this run's own key");
    assert_eq!(call_me(&f, &ours.var("ApiKey")).0, 401);
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    assert_eq!(left, [other_run.var("ApiKeyId")]);
}

#[test]
fn a_run_key_that_still_works_and_matches_no_key_of_this_run_fails_the_step() {
    let f = Fixture::new();
    let ours = create(&f, "ServerTasks-1");
    // The run key of another task's create step, with this run's id: revoking this run's
    // key leaves the mapped run key working, and no key of this task is it.
    let other_run = create(&f, "ServerTasks-2");
    let out = miswired(&f, &ours.var("ApiKeyId"), &other_run)
        .env("OCTOPUS_TASK_ID", "ServerTasks-1")
        .run();
    out.code(1).one_error_line(&[
        &format!("RUNKEY_API_KEY_ID ({}) was revoked", ours.var("ApiKeyId")),
        "but the run key in RUNKEY_API_KEY still works",
        "no single key of this run matches the run key (0 found)",
    ]);
    assert!(!out.stdout.contains("Revoked run key"), "{}", out.stdout);
    assert_eq!(
        call_me(&f, &other_run.var("ApiKey")).0,
        200,
        "not another run's key"
    );
}

// Issue 22, item 7: the Revoke step finds what the run key minted, by id and by task.
#[test]
fn revoke_also_revokes_the_keys_the_run_key_minted() {
    for by_task in [false, true] {
        let f = Fixture::new();
        let dir = tempfile::tempdir().unwrap();
        let minted = dir.path().join("minted");
        let created = create(&f, "ServerTasks-1");
        runkey(&["use", "--", "bash", "-c", MINT_WITH_THE_RUN_KEY])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", created.var("ApiKey"))
            .envs(mint_env(&f, &minted))
            .run()
            .code(0);
        let minted = std::fs::read_to_string(&minted).unwrap();
        let mut revoke = runkey(&["revoke"])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", created.var("ApiKey"));
        revoke = if by_task {
            revoke.env("OCTOPUS_TASK_ID", "ServerTasks-1")
        } else {
            revoke.env("RUNKEY_API_KEY_ID", created.var("ApiKeyId"))
        };
        let out = revoke.run();
        out.code(0);
        out.stdout_contains(&format!("Revoked key {minted}, which run key"));
        assert!(!f.sim.keys(&f.broker_id).iter().any(|k| k.id == minted));
        assert!(runkey_keys(&f).is_empty());
        seeded_keys_survive(&f);
    }
}

// Issue 26, item 5: a dry run deletes nothing and lists what it would; a sweep names each
// key it deletes, and why.
#[test]
fn a_sweep_dry_run_deletes_nothing_and_each_key_swept_is_named_with_its_reason() {
    let f = Fixture::new();
    let now = Timestamp::now();
    let hour = SignedDuration::from_hours(1);
    let over = f.sim.add_task(None, TaskState::Success);
    let (expired, _) = f.sim.add_api_key(
        &f.broker_id,
        "Ann (ann) ran 'Old' [runkey ServerTasks-1/aaaaaa]",
        Some(now - hour),
    );
    let (old, _) = f.sim.add_old_api_key(
        &f.broker_id,
        "Bob (bob) ran 'Older' [runkey ServerTasks-2/bbbbbb]",
        hour * 30,
        Some(now + hour),
    );
    let finished = create(&f, &over).var("ApiKeyId");
    let before: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    f.sim.reset_counters();
    let out = as_broker(&f, &["revoke", "--sweep", "--dry-run"])
        .env("OCTOPUS_TASK_ID", &over)
        .run();
    out.code(0);
    assert!(
        f.sim.requests().iter().all(|r| r.method != "DELETE"),
        "a dry run sends no DELETE"
    );
    assert_eq!(
        runkey_keys(&f)
            .into_iter()
            .map(|k| k.id)
            .collect::<Vec<_>>(),
        before
    );
    out.stdout_contains(&format!(
        "Would delete run key {expired} (Ann (ann) ran 'Old' [runkey ServerTasks-1/aaaaaa]): it expired."
    ))
    .stdout_contains(&format!("Would delete run key {old} (Bob (bob) ran 'Older' [runkey ServerTasks-2/bbbbbb]): it is older than 1d."))
    .stdout_contains(&format!("Would delete run key {finished} ("))
    .stdout_contains(&format!("): its task {over} is over."))
    .stdout_contains("A dry run deleted nothing: the sweep would delete 3 stale run key(s): 1 whose task is over, 1 expired, 1 older than 1d; 1 live run key(s) would be left.");

    let out = as_broker(&f, &["revoke", "--sweep"]).run();
    out.code(0);
    out.stdout_contains(&format!(
        "Deleted run key {expired} (Ann (ann) ran 'Old' [runkey ServerTasks-1/aaaaaa]): it expired."
    ))
    .stdout_contains(&format!("Deleted run key {finished} ("))
    .stdout_contains("Swept 3 stale run key(s)");
    assert!(runkey_keys(&f).is_empty());
    seeded_keys_survive(&f);
    // --dry-run is the sweep's.
    let out = as_broker(&f, &["revoke", "--dry-run"]).run();
    out.code(2).stderr_contains("--sweep");
}
