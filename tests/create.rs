//! `create`: the key, its purpose, the output variables, and the ways it can fail.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use crate::support::*;

#[test]
fn emits_the_mask_first_then_the_output_variables() {
    let f = Fixture::new();
    let out = create(&f, "ServerTasks-1");
    let messages = out.messages();
    let names: Vec<String> = messages
        .iter()
        .map(|m| format!("{}:{}", m.name, m.get("name").unwrap_or("")))
        .collect();
    assert_eq!(
        names,
        [
            "mask:",
            "setVariable:ApiKey",
            "setVariable:ApiKeyId",
            "setVariable:ApiKeyOwnerId",
            "setVariable:ApiKeyExpires",
            "setVariable:ApiKeyPurpose"
        ]
    );
    // Every service message line is one Calamari accepts: none was dropped.
    let lines = out
        .stdout
        .lines()
        .filter(|l| l.contains("##octopus"))
        .count();
    assert_eq!(lines, messages.len());
    assert!(
        out.stdout
            .lines()
            .filter(|l| l.contains("##octopus"))
            .all(|l| l.starts_with("##octopus["))
    );

    let vars = out.output_variables();
    let (key, sensitive) = &vars["ApiKey"];
    assert!(sensitive, "ApiKey must be sensitive");
    assert_eq!(
        messages[0].get("value"),
        Some(key.as_str()),
        "mask carries the key"
    );
    assert!(!vars["ApiKeyId"].1 && !vars["ApiKeyPurpose"].1);
    out.never_shows(key);
    assert_eq!(out.stderr(), "");

    let keys = runkey_keys(&f);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, out.var("ApiKeyId"));
    assert_eq!(&keys[0].secret, key);
    assert_eq!(keys[0].purpose, out.var("ApiKeyPurpose"));
    assert_eq!(out.var("ApiKeyOwnerId"), f.broker_id);
    let summary = out.plain_stdout().join("\n");
    assert!(
        summary.contains(&format!("Created run key {}", keys[0].id)),
        "{summary}"
    );
    assert!(summary.contains("for Jane Doe (jane.doe)"), "{summary}");
}

#[test]
fn the_purpose_names_operator_run_and_marker() {
    let f = Fixture::new();
    let out = create(&f, "ServerTasks-77");
    let purpose = out.var("ApiKeyPurpose");
    assert!(
        purpose.starts_with("Jane Doe (jane.doe) ran 'Restart web' in Production (space Default) [runkey ServerTasks-77/"),
        "{purpose}"
    );
    let (task, nonce) = marker(&purpose).unwrap();
    assert_eq!(task, "ServerTasks-77");
    assert!(
        (6..=12).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{nonce}"
    );
    assert!(purpose.chars().count() <= 200);
    // A second create gets a fresh nonce.
    let again = create(&f, "ServerTasks-77");
    assert_ne!(marker(&again.var("ApiKeyPurpose")).unwrap().1, nonce);
}

#[test]
fn the_key_works_and_the_audit_log_names_the_operator() {
    let f = Fixture::new();
    let out = create(&f, "ServerTasks-2");
    let key = out.var("ApiKey");
    let (status, me) = call_me(&f, &key);
    assert_eq!(status, 200);
    assert_eq!(me["Id"], f.broker_id.as_str());
    // The create itself was made with the broker key, and said whose key and until when.
    let audit = f.sim.audit();
    let post = audit.iter().find(|e| e.action.starts_with("POST")).unwrap();
    assert!(
        post.identity_established_with
            .starts_with("API key 'broker key for runbooks'")
    );
    let sent = f
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["UserId"], f.broker_id.as_str());
    assert!(body["Expires"].is_string(), "{body}");
    // Octopus audits changes, not reads: a change made with the run key (here, deleting
    // itself) is recorded under the operator's purpose.
    runkey(&["revoke"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_API_KEY", &key)
        .env("RUNKEY_API_KEY_ID", out.var("ApiKeyId"))
        .run()
        .code(0);
    let audit = f.sim.audit();
    let last = audit.last().unwrap();
    assert_eq!(
        last.action,
        format!(
            "DELETE /api/users/{}/apikeys/{}",
            f.broker_id,
            out.var("ApiKeyId")
        )
    );
    assert!(
        last.identity_established_with
            .starts_with("API key 'Jane Doe (jane.doe) ran 'Restart web'"),
        "{}",
        last.identity_established_with
    );
    assert_eq!(
        last.api_key_id.as_deref(),
        Some(out.var("ApiKeyId").as_str())
    );
}

#[test]
fn expires_after_the_ttl() {
    let f = Fixture::new();
    for (args, env_ttl, expected) in [
        (vec!["create"], None, 3600),
        (vec!["create", "--ttl", "2h"], None, 7200),
        (vec!["create"], Some("45m"), 2700),
        (vec!["create", "--ttl", "90s"], Some("1d"), 90),
    ] {
        let mut run = runkey(&args).envs(create_env(&f, "ServerTasks-3"));
        if let Some(ttl) = env_ttl {
            run = run.env("RUNKEY_TTL", ttl);
        }
        let out = run.run();
        out.code(0);
        let expires: Timestamp = out.var("ApiKeyExpires").parse().unwrap();
        assert!(out.var("ApiKeyExpires").ends_with('Z'), "UTC");
        let left = expires.duration_since(Timestamp::now()).as_secs();
        assert!(
            (expected - 30..=expected).contains(&left),
            "{args:?} {env_ttl:?}: {left}s left"
        );
    }
}

#[test]
fn takes_two_requests_over_one_connection() {
    let f = Fixture::new();
    f.sim.reset_counters();
    create(&f, "ServerTasks-4");
    let requests: Vec<String> = f
        .sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        requests,
        [
            "GET /api/users/me".to_string(),
            format!("POST /api/users/{}/apikeys", f.broker_id)
        ]
    );
    assert_eq!(f.sim.connections(), 1);
}

#[test]
fn without_a_task_the_marker_says_no_task() {
    let f = Fixture::new();
    let env: Vec<_> = create_env(&f, "")
        .into_iter()
        .filter(|(k, _)| *k != "OCTOPUS_TASK_ID")
        .collect();
    let out = runkey(&["create"]).envs(env).run();
    out.code(0);
    assert_eq!(marker(&out.var("ApiKeyPurpose")).unwrap().0, "no-task");
}

#[test]
fn operator_is_found_through_the_runbook_run_when_createdby_is_empty() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let env: Vec<_> = create_env(&f, &run.task_id)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("OCTOPUS_DEPLOYMENT_CREATEDBY"))
        .chain([("OCTOPUS_RUNBOOKRUN_ID", run.id.clone())])
        .collect();
    let out = runkey(&["create"]).envs(env.clone()).run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("Jane Doe (jane.doe) ran"),
        "{}",
        out.var("ApiKeyPurpose")
    );
    let paths: Vec<String> = f.sim.requests().iter().map(|r| r.target.clone()).collect();
    assert!(paths.contains(&format!("/api/{}/runbookRuns/{}", f.space_id, run.id)));
    assert!(paths.contains(&format!("/api/users/{}", f.operator_id)));
}

/// A create step whose operator comes from a runbook run record answered with `record`.
fn create_from_run_record(f: &Fixture, record: serde_json::Value) -> Out {
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    f.sim.inject(Fault::new(
        "GET",
        &format!("/runbookRuns/{}", run.id),
        FaultKind::Body {
            status: 200,
            body: record.to_string(),
        },
    ));
    let env: Vec<_> = create_env(f, &run.task_id)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("OCTOPUS_DEPLOYMENT_CREATEDBY"))
        .chain([("OCTOPUS_RUNBOOKRUN_ID", run.id.clone())])
        .collect();
    runkey(&["create"]).envs(env).run()
}

#[test]
fn a_run_record_naming_only_one_of_username_and_id_names_that_person() {
    let f = Fixture::new();
    let out = create_from_run_record(
        &f,
        serde_json::json!({"DeployedBy": "jane.doe", "DeployedById": null}),
    );
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose").starts_with("jane.doe ran"),
        "{}",
        out.var("ApiKeyPurpose")
    );
    let out = create_from_run_record(
        &f,
        serde_json::json!({"DeployedBy": null, "DeployedById": f.operator_id}),
    );
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("Jane Doe (jane.doe) ran"),
        "{}",
        out.var("ApiKeyPurpose")
    );
}

#[test]
fn a_server_error_looking_up_the_operator_makes_no_key() {
    let f = Fixture::new();
    f.sim.inject(
        Fault::new(
            "GET",
            &format!("/api/users/{}", f.operator_id),
            FaultKind::status(500),
        )
        .times(5),
    );
    let out = create_from_run_record(
        &f,
        serde_json::json!({"DeployedBy": "jane.doe", "DeployedById": f.operator_id}),
    );
    out.code(1)
        .one_error_line(&[&format!("looking up the operator {}", f.operator_id), "500"]);
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn operator_username_serves_as_display_name_when_users_cannot_be_read() {
    let f = Fixture::new();
    let broker = f
        .sim
        .add_user("svc-narrow", "Narrow Broker", true, &["RunbookRunView"]);
    let (_, key) = f.sim.add_api_key(&broker, "narrow", None);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let out = runkey(&["create"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", &key)
        .env("OCTOPUS_SPACE_ID", &f.space_id)
        .env("OCTOPUS_RUNBOOKRUN_ID", &run.id)
        .env("OCTOPUS_TASK_ID", &run.task_id)
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("jane.doe (space Spaces-1) [runkey"),
        "{}",
        out.var("ApiKeyPurpose")
    );
}

#[test]
fn no_operator_is_a_usage_error_unless_unattributed_is_allowed() {
    let f = Fixture::new();
    let env = || {
        vec![
            ("OCTOPUS_URL", f.sim.url()),
            ("OCTOPUS_API_KEY", f.broker_key.clone()),
            ("OCTOPUS_TASK_ID", "ServerTasks-5".to_string()),
            ("OCTOPUS_RUNBOOK_NAME", "Nightly".to_string()),
        ]
    };
    let out = runkey(&["create"]).envs(env()).run();
    out.code(2).one_error_line(&[
        "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
        "Octopus.Deployment.CreatedBy.Username",
        "--allow-unattributed",
    ]);
    assert!(
        f.sim.requests().is_empty(),
        "a usage error comes before any request"
    );

    let out = runkey(&["create", "--allow-unattributed"])
        .envs(env())
        .run();
    out.code(0);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("unattributed run of 'Nightly' [runkey ServerTasks-5/")
    );
}

#[test]
fn works_with_a_bearer_access_token() {
    let f = Fixture::new();
    let token = f.sim.add_access_token(&f.broker_id);
    let env: Vec<_> = create_env(&f, "ServerTasks-6")
        .into_iter()
        .filter(|(k, _)| *k != "OCTOPUS_API_KEY")
        .chain([("OCTOPUS_ACCESS_TOKEN", token.clone())])
        .collect();
    let out = runkey(&["create"]).envs(env).run();
    out.code(0).never_shows(&token);
    assert_eq!(runkey_keys(&f).len(), 1);
    let auth = &f.sim.requests()[0].headers;
    assert!(
        auth.iter().any(
            |(k, v)| k.eq_ignore_ascii_case("authorization") && v == &format!("Bearer {token}")
        )
    );
}

#[test]
fn a_ttl_beyond_what_the_server_allows_is_an_error_that_says_so() {
    let f = Fixture::new();
    // The server caps keys at 366 days.
    let out = as_step(&["create", "--ttl", "400d"])
        .envs(create_env(&f, "ServerTasks-7"))
        .run();
    out.code(1).one_error_line(&[
        "more than 366 days",
        "the server lets a key live at most 366 days (its ApiKeyMaxExpiryDays): choose a shorter --ttl or RUNKEY_TTL (now 400d)",
    ]);
    assert!(out.result_message().unwrap().contains("more than 366 days"));
    assert!(runkey_keys(&f).is_empty());
}

// Issue 22, item 9: a key may not outlive the key that creates it.
#[test]
fn a_ttl_beyond_the_broker_keys_own_expiry_makes_a_key_that_ends_with_it() {
    let f = Fixture::new();
    // The broker key itself expires in 90 days.
    let broker_expires = f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .find(|k| k.secret == f.broker_key)
        .and_then(|k| k.expires)
        .unwrap();
    let out = runkey(&["create", "--ttl", "100d"])
        .envs(create_env(&f, "ServerTasks-7"))
        .run();
    let expected = broker_expires - SignedDuration::from_mins(1);
    out.code(0).warns(&[&format!(
        "the broker's API key (OCTOPUS_API_KEY) expires at {}, before the run key's TTL ends, and a key may not outlive the key that creates it: the run key expires at {} instead",
        broker_expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        expected.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )]);
    assert_eq!(
        out.var("ApiKeyExpires"),
        expected.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "the real expiry is reported"
    );
    assert_eq!(runkey_keys(&f).len(), 1);
    assert_eq!(call_me(&f, &out.var("ApiKey")).0, 200);
    let posts = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "the refused POST, and one more");
}

#[test]
fn a_lost_answer_to_the_post_leaves_exactly_one_working_key() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("POST", "/apikeys", FaultKind::CommitThenReset));
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-8"))
        .run();
    out.code(0)
        .warns(&["deleted 1 key(s) that attempt made and creating it once more"]);
    let keys = runkey_keys(&f);
    assert_eq!(keys.len(), 1, "exactly one live key");
    assert_eq!(keys[0].id, out.var("ApiKeyId"));
    assert_eq!(call_me(&f, &out.var("ApiKey")).0, 200);
    let posts = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        posts, 2,
        "the POST is tried once more after the lost one is settled"
    );
    seeded_keys_survive(&f);
}

#[test]
fn a_server_error_on_the_post_is_settled_and_retried_once() {
    let f = Fixture::new();
    f.sim.inject(Fault::new(
        "POST",
        "/apikeys",
        FaultKind::Status {
            status: 503,
            retry_after: Some(1),
        },
    ));
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-9"))
        .run();
    out.code(0)
        .warns(&["the server failed creating the run key (POST /api/users/Users-2/apikeys failed on the server (HTTP 503)"]);
    assert_eq!(runkey_keys(&f).len(), 1);
    assert_eq!(call_me(&f, &out.var("ApiKey")).0, 200);
}

#[test]
fn a_created_answer_without_a_real_key_is_settled_and_never_handed_on() {
    let f = Fixture::new();
    let body = r#"{"Id":"ApiKeys-999","Purpose":"x","UserId":"Users-2","ApiKey":"not-a-key","Created":"2026-01-01T00:00:00Z","Expires":null}"#;
    f.sim.inject(Fault::new(
        "POST",
        "/apikeys",
        FaultKind::Body {
            status: 201,
            body: body.to_string(),
        },
    ));
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-11"))
        .run();
    out.code(0)
        .warns(&["the server answered 201 but the body is not a created API key"]);
    let key = out.var("ApiKey");
    assert_ne!(key, "not-a-key");
    assert_eq!(
        call_me(&f, &key).0,
        200,
        "the key handed on is the real one"
    );
    assert_eq!(runkey_keys(&f).len(), 1);
}

#[test]
fn a_post_lost_twice_fails_and_leaves_nothing() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("POST", "/apikeys", FaultKind::CommitThenReset).times(2));
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-10"))
        .run();
    out.code(1);
    let stderr = out.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "a warning, then the error:\n{stderr}");
    assert!(
        lines[0].starts_with("octopus-runkey: warning: ")
            && lines[0].contains("creating it once more"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("octopus-runkey: error: ")
            && lines[1].contains("the 2 key(s) those attempts")
            && lines[1].contains("were deleted"),
        "{stderr}"
    );
    assert!(runkey_keys(&f).is_empty());
    assert!(out.output_variables().is_empty());
    seeded_keys_survive(&f);
}

#[test]
fn an_expired_broker_key_is_refused_with_401() {
    let f = Fixture::new();
    let (_, old) = f.sim.add_api_key(
        &f.broker_id,
        "old",
        Some(Timestamp::now() - SignedDuration::from_hours(1)),
    );
    let env: Vec<_> = create_env(&f, "ServerTasks-11")
        .into_iter()
        .map(|(k, v)| {
            if k == "OCTOPUS_API_KEY" {
                (k, old.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    let out = runkey(&["create"]).envs(env).run();
    out.code(1)
        .never_shows(&old)
        .one_error_line(&["(401)", "OCTOPUS_API_KEY is invalid or expired"]);
}

#[test]
fn a_refused_post_with_the_brokers_api_key_gives_no_oidc_advice() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("POST", "/apikeys", FaultKind::status(403)));
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-12"))
        .run();
    out.code(1).one_error_line(&["POST /api/users/", "403"]);
    assert!(!out.stderr().contains("OIDC"), "{}", out.stderr());
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn twenty_parallel_runs_each_keep_their_own_key() {
    let f = Fixture::new();
    let check = r#"sleep 0.3
hostport=${OCTOPUS_URL#http://}
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'GET /api/users/me HTTP/1.1\r\nHost: o\r\nX-Octopus-ApiKey: %s\r\nConnection: close\r\n\r\n' "$OCTOPUS_API_KEY" >&3
read -r status <&3
case "$status" in *" 200 "*) exit 0 ;; *) echo "key failed: $status"; exit 1 ;; esac"#;
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let env = create_env(&f, &format!("ServerTasks-{}", 1000 + i));
            std::thread::spawn(move || runkey(&["exec", "--", "bash", "-c", check]).envs(env).run())
        })
        .collect();
    let outs: Vec<Out> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ids = BTreeSet::new();
    for out in &outs {
        out.code(0);
        let created = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Created run key "))
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let revoked = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Revoked run key "))
            .unwrap()
            .trim_end_matches('.')
            .to_string();
        assert_eq!(created, revoked, "each run revoked its own key");
        ids.insert(created);
    }
    assert_eq!(ids.len(), 20);
    assert!(runkey_keys(&f).is_empty(), "zero keys remain");
}

// Issue 22, item 9: a refusal that GET /api/authentication explains.
#[test]
fn a_person_as_broker_on_a_server_without_user_keys_is_told_to_use_a_service_account() {
    let f = Fixture::new();
    f.sim.set_options(|o| o.user_api_keys_enabled = false);
    let person = f
        .sim
        .add_user("ops.person", "Ops Person", false, &["TaskView"]);
    let (_, key) = f.sim.add_api_key(&person, "made by hand", None);
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-9"))
        .env("OCTOPUS_API_KEY", &key)
        .run();
    out.code(1).one_error_line(&[
        "the server lets only service accounts have API keys (UserApiKeysEnabled is off), and the broker Ops Person (ops.person",
        "make the broker a service account",
    ]);
    assert!(runkey_keys(&f).is_empty());
}
