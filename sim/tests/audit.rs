//! What the server records of what it was asked: the request log with bodies (for tests),
//! and the audit log of changes only, each naming the key that made it, with the events API
//! that serves it (newest first, filtered, paged, behind `EventView`).

use jiff::{SignedDuration, Timestamp};
use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::support::{call_me, create_expiring_in, request};

#[test]
fn request_bodies_are_recorded() {
    let f = Fixture::new();
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(1));
    let sent = json!({"Purpose": "p", "Expires": expires, "UserId": f.broker_id});
    request(
        &f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(sent.clone()),
    );
    let post = f.sim.requests().pop().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&post.body).unwrap(), sent);
    call_me(&f, &f.broker_key);
    assert_eq!(f.sim.requests().pop().unwrap().body, "");
}

#[test]
fn only_changes_are_audited_with_the_key_that_made_them() {
    let f = Fixture::new();
    call_me(&f, &f.broker_key);
    call_me(&f, "API-WRONG");
    request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        None,
    );
    assert!(f.sim.audit().is_empty(), "reads are not audited");

    let (_, created) = create_expiring_in(&f, 1);
    create_expiring_in(&f, -1); // refused: no event
    let id = created["Id"].as_str().unwrap();
    let path = format!("/api/users/{}/apikeys/{id}", f.broker_id);
    request(
        &f,
        "DELETE",
        &path,
        created["ApiKey"].as_str().unwrap(),
        None,
    );
    let audit = f.sim.audit();
    let categories: Vec<&str> = audit.iter().map(|e| e.category.as_str()).collect();
    assert_eq!(categories, ["Created", "Deleted"]);

    let generated = &audit[0];
    assert_eq!(generated.user_id, f.broker_id);
    assert!(generated.is_service);
    assert_eq!(
        generated.api_key_id.as_deref(),
        Some(f.broker_key_id.as_str())
    );
    assert_eq!(generated.api_key_hint.as_deref(), Some(&f.broker_key[..8]));
    let hint = &created["ApiKey"].as_str().unwrap()[..8];
    assert_eq!(
        generated.message,
        format!("User API key p ({hint}•••) for svc-runbooks was generated")
    );
    assert_eq!(generated.related_document_ids, [id, f.broker_id.as_str()]);
    // `API key '<Purpose>' created <RFC 1123 date>`, the broker key being 400 days old.
    let date = generated
        .identity_established_with
        .strip_prefix("API key 'broker key for runbooks' created ")
        .unwrap();
    let created_at = jiff::civil::DateTime::strptime("%a, %d %b %Y %H:%M:%S GMT", date).unwrap();
    let age = f.sim.now().to_zoned(jiff::tz::TimeZone::UTC).datetime() - created_at;
    assert_eq!(age.get_days(), 400, "{date}");

    let deleted = &audit[1];
    assert!(
        deleted
            .identity_established_with
            .starts_with("API key 'p' created "),
        "the key deleted itself"
    );
    assert_eq!(deleted.api_key_id.as_deref(), Some(id));
}

/// `GET path` with the broker key, expecting a page: its items.
fn events(f: &Fixture, query: &str) -> (Value, Vec<Value>) {
    let (status, page) = request(
        f,
        "GET",
        &format!("/api/events{query}"),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let items = page["Items"].as_array().unwrap().clone();
    (page, items)
}

#[test]
fn the_events_api_pages_changes_newest_first_filtered_by_user_and_time() {
    let f = Fixture::new();
    let (_, first) = create_expiring_in(&f, 1);
    let between = f.sim.now();
    f.sim.advance_clock(SignedDuration::from_mins(1));
    let (_, second) = create_expiring_in(&f, 1);
    // Jane changes something too: she deletes a key of her own.
    let (jane_key_id, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let path = format!("/api/users/{}/apikeys/{jane_key_id}", f.operator_id);
    assert_eq!(request(&f, "DELETE", &path, &jane_key, None).0, 200);

    let (page, items) = events(&f, "");
    assert_eq!(page["ItemType"], "Event");
    let ids: Vec<&str> = items.iter().map(|e| e["Id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["Events-3", "Events-2", "Events-1"], "newest first");
    let generated = &items[1];
    for field in [
        "Id",
        "Category",
        "UserId",
        "Username",
        "IsService",
        "IdentityEstablishedWith",
        "UserAgent",
        "Occurred",
        "Message",
        "MessageHtml",
        "MessageReferences",
        "RelatedDocumentIds",
        "SpaceId",
        "Links",
        "ApiKeyId",
        "ApiKeyHint",
    ] {
        assert!(generated.get(field).is_some(), "{field}: {generated}");
    }
    assert_eq!(
        (
            generated["Category"].as_str(),
            generated["UserId"].as_str(),
            generated["IsService"].as_bool()
        ),
        (Some("Created"), Some(f.broker_id.as_str()), Some(true))
    );
    assert_eq!(generated["ApiKeyId"], f.broker_key_id.as_str());
    assert_eq!(
        generated["RelatedDocumentIds"],
        json!([second["Id"], f.broker_id])
    );
    let hint = &second["ApiKey"].as_str().unwrap()[..8];
    let message = format!("User API key p ({hint}•••) for svc-runbooks was generated");
    assert_eq!(generated["Message"], message.as_str());
    let reference = &generated["MessageReferences"][0];
    // Character offsets: the hint's dots are one character each, three bytes each.
    let start = message[..message.find("svc-runbooks").unwrap()]
        .chars()
        .count();
    assert_eq!(
        (
            reference["ReferencedDocumentId"].as_str(),
            reference["StartIndex"].as_u64(),
            reference["Length"].as_u64()
        ),
        (Some(f.broker_id.as_str()), Some(start as u64), Some(12))
    );
    assert!(
        generated["MessageHtml"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "<a href='#/users/{}'>svc-runbooks</a>",
                f.broker_id
            ))
    );
    assert!(
        generated["Occurred"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .is_ok()
    );
    assert_eq!(items[0]["Category"], "Deleted");

    let (_, broker_only) = events(&f, &format!("?users={}", f.broker_id));
    assert_eq!(broker_only.len(), 2);
    let (_, both) = events(&f, &format!("?users={},{}", f.broker_id, f.operator_id));
    assert_eq!(both.len(), 3);
    let cut = octopus_sim::octopus_date(between).replace('+', "%2B");
    let (_, before) = events(&f, &format!("?users={}&to={cut}", f.broker_id));
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["RelatedDocumentIds"][0], first["Id"]);
    let (_, after) = events(&f, &format!("?users={}&from={cut}", f.broker_id));
    assert_eq!(after.len(), 1);
    let (_, regarding) = events(&f, &format!("?regarding={jane_key_id}"));
    assert_eq!(regarding.len(), 1);

    // Paging: one at a time, following Page.Next while it is there.
    let (mut page, _) = events(&f, &format!("?users={}&take=1", f.broker_id));
    let mut seen = page["Items"].as_array().unwrap().len();
    while let Some(next) = page["Links"].get("Page.Next").and_then(Value::as_str) {
        assert!(next.contains(&format!("users={}", f.broker_id)), "{next}");
        page = request(&f, "GET", next, &f.broker_key, None).1;
        seen += page["Items"].as_array().unwrap().len();
    }
    assert_eq!(seen, 2);
    assert_eq!(
        request(&f, "GET", "/api/events?from=yesterday", &f.broker_key, None).0,
        400
    );
}

#[test]
fn reading_events_needs_event_view_and_is_not_an_event() {
    let f = Fixture::new();
    let (_, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let (status, body) = request(&f, "GET", "/api/events", &jane_key, None);
    assert_eq!(status, 403);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Missing permission: EventView")
    );
    let token = f.sim.add_access_token(&f.broker_id);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(1));
    agent
        .post(&format!(
            "{}/api/users/{}/apikeys",
            f.sim.url(),
            f.broker_id
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .content_type("application/json")
        .send(json!({"Purpose": "by token", "Expires": expires}).to_string())
        .unwrap();
    let (_, items) = events(&f, "");
    assert_eq!(items.len(), 1, "the reads made no events");
    assert!(items[0].get("ApiKeyId").is_none() && items[0].get("ApiKeyHint").is_none());
    assert_eq!(
        items[0]["IdentityEstablishedWith"],
        "OpenID Connect access token"
    );
}

/// `POST /api/users/{broker}/apikeys` with `key` for `purpose`, expiring in `minutes`.
fn mint(f: &Fixture, key: &str, purpose: &str, minutes: i64) -> Value {
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_mins(minutes));
    let (status, created) = request(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        key,
        Some(json!({"Purpose": purpose, "Expires": expires, "UserId": f.broker_id})),
    );
    assert_eq!(status, 200, "{created}");
    created
}

#[test]
fn a_key_a_run_key_mints_and_deletes_names_the_run_key_in_both_events() {
    for without_purpose in [false, true] {
        let f = Fixture::new();
        f.sim
            .set_options(|o| o.identity_without_purpose = without_purpose);
        let purpose = "Jane Doe (jane.doe) ran 'Deploy' [runkey ServerTasks-1/abcdef12]";
        let run = mint(&f, &f.broker_key, purpose, 60);
        let run_key = run["ApiKey"].as_str().unwrap();
        let run_key_id = run["Id"].as_str().unwrap();
        // The run key mints a key for its own user, without the marker, then deletes it.
        let minted = mint(&f, run_key, "no marker here", 30);
        let minted_id = minted["Id"].as_str().unwrap();
        let path = format!("/api/users/{}/apikeys/{minted_id}", f.broker_id);
        assert_eq!(request(&f, "DELETE", &path, run_key, None).0, 200);

        let created_at: Timestamp = run["Created"].as_str().unwrap().parse().unwrap();
        let date = created_at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let identity = if without_purpose {
            format!("API key {} created {date}", &run_key[..8])
        } else {
            format!("API key '{purpose}' created {date}")
        };
        let audit = f.sim.audit();
        let categories: Vec<&str> = audit.iter().map(|e| e.category.as_str()).collect();
        assert_eq!(categories, ["Created", "Created", "Deleted"]);
        for event in &audit[1..] {
            assert_eq!(event.identity_established_with, identity, "{event:?}");
            assert_eq!(event.api_key_id.as_deref(), Some(run_key_id));
            assert_eq!(event.api_key_hint.as_deref(), Some(&run_key[..8]));
            assert_eq!(event.user_id, f.broker_id);
            assert_eq!(
                event.related_document_ids,
                [minted_id, f.broker_id.as_str()],
                "{event:?}"
            );
        }
        // And so the events API serves them, found by the minted key's id.
        let (_, items) = events(&f, &format!("?regarding={minted_id}"));
        assert_eq!(items.len(), 2);
        for item in &items {
            assert_eq!(item["IdentityEstablishedWith"], identity.as_str());
            assert_eq!(item["ApiKeyId"], run_key_id);
            assert_eq!(item["RelatedDocumentIds"][0], minted_id);
        }
        assert_eq!(
            (items[0]["Category"].as_str(), items[1]["Category"].as_str()),
            (Some("Deleted"), Some("Created"))
        );
    }
}

/// Every change `setup` makes and undoes beyond its first steps (runbooks, processes,
/// snapshots, triggers, grants, teams, OIDC identities, accounts, step templates) is one
/// event, with who made it and the key it used, in the space it was made in whichever path
/// form named the space; reads of them are none.
#[test]
fn setups_changes_and_removals_are_audited_with_the_key_that_made_them() {
    let f = Fixture::new();
    let (key_id, key) = f.sim.add_api_key(&f.admin_id, "admin's own key", None);
    let template = f.sim.add_action_template(
        "Spaces-1",
        json!({"Name": "Sweep", "ActionType": "Octopus.Script"}),
    );
    f.sim.add_oidc_identity(&f.broker_id, "space:default:*");
    let identity = f.sim.oidc_identities()[0].id.clone();
    let identity_name = f.sim.oidc_identities()[0].name.clone();
    let send = |method: &str, path: &str, body: Option<Value>| {
        let (status, answer) = request(&f, method, path, &key, body);
        assert!((200..300).contains(&status), "{method} {path}: {answer}");
        answer
    };
    let retention = json!({"Strategy": "Default", "QuantityToKeep": 100, "Unit": "Items"});
    let runbook = send(
        "POST",
        "/api/spaces/Spaces-1/runbooks",
        Some(json!({"Name": "Sweep", "ProjectId": f.project_id, "RunRetentionPolicy": retention})),
    );
    let runbook_id = runbook["Id"].as_str().unwrap();
    let process_path = format!(
        "/api/Spaces-1/runbookProcesses/{}",
        runbook["RunbookProcessId"].as_str().unwrap()
    );
    let process = send("GET", &process_path, None);
    send("PUT", &process_path, Some(process));
    send(
        "POST",
        "/api/Spaces-1/runbookSnapshots?publish=true",
        Some(json!({"ProjectId": f.project_id, "RunbookId": runbook_id, "Name": "Snapshot 1"})),
    );
    let trigger = send(
        "POST",
        "/api/Spaces-1/projecttriggers",
        Some(json!({"Name": "Every hour", "ProjectId": f.project_id,
                    "Action": {"ActionType": "RunRunbook", "RunbookId": runbook_id, "EnvironmentIds": [f.production_id]},
                    "Filter": {"FilterType": "ContinuousDailySchedule", "Timezone": "UTC", "Interval": "OnceHourly",
                               "HourInterval": 1, "DaysOfWeek": ["Monday"]}})),
    );
    let team = send(
        "POST",
        "/api/Spaces-1/teams",
        Some(
            json!({"Name": "svc-runbooks", "SpaceId": "Spaces-1", "MemberUserIds": [f.broker_id]}),
        ),
    );
    let grant = send(
        "POST",
        "/api/scopeduserroles",
        Some(
            json!({"TeamId": team["Id"], "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1"}),
        ),
    );
    let grant_path = format!("/api/scopeduserroles/{}", grant["Id"].as_str().unwrap());
    send(
        "PUT",
        &grant_path,
        Some(
            json!({"TeamId": team["Id"], "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1",
                    "EnvironmentIds": [f.production_id]}),
        ),
    );
    let before = f.sim.audit().len();
    send(
        "GET",
        &format!(
            "/api/teams/{}/scopeduserroles",
            team["Id"].as_str().unwrap()
        ),
        None,
    );
    send("GET", "/api/Spaces-1/projecttriggers", None);
    send(
        "GET",
        &format!("/api/Spaces-1/actiontemplates/{template}/usage"),
        None,
    );
    assert_eq!(f.sim.audit().len(), before, "reads are not audited");
    for path in [
        format!(
            "/api/Spaces-1/projecttriggers/{}",
            trigger["Id"].as_str().unwrap()
        ),
        format!("/api/Spaces-1/runbooks/{runbook_id}"),
        format!("/api/Spaces-1/actiontemplates/{template}"),
        grant_path.clone(),
        format!("/api/teams/{}", team["Id"].as_str().unwrap()),
        format!(
            "/api/serviceaccounts/{}/oidcidentities/{identity}/v1",
            f.broker_id
        ),
    ] {
        send("DELETE", &path, None);
    }
    let (_, page) = request(
        &f,
        "GET",
        &format!("/api/events?users={}&take=100", f.admin_id),
        &key,
        None,
    );
    let mut events: Vec<&Value> = page["Items"].as_array().unwrap().iter().collect();
    events.reverse();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["Category"].as_str().unwrap().to_string(),
                e["Message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("Created", "Runbook Sweep was created"),
        ("Modified", "Runbook process of Sweep was modified"),
        (
            "Created",
            "Runbook snapshot Snapshot 1 was created for runbook Sweep and published",
        ),
        ("Created", "Trigger Every hour was created"),
        ("Created", "Team svc-runbooks was created"),
        (
            "Created",
            "Role Runbook consumer was granted to team svc-runbooks",
        ),
        (
            "Modified",
            "Role Runbook consumer granted to team svc-runbooks was modified",
        ),
        ("Deleted", "Trigger Every hour was deleted"),
        ("Deleted", "Runbook Sweep was deleted"),
        ("Deleted", "Step template Sweep was deleted"),
        (
            "Deleted",
            "Role Runbook consumer was revoked from team svc-runbooks",
        ),
        ("Deleted", "Team svc-runbooks was deleted"),
    ];
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, m)| (c.to_string(), m.to_string()))
        .collect();
    expected.push((
        "Deleted".into(),
        format!("OIDC identity {identity_name} was removed from service account svc-runbooks"),
    ));
    assert_eq!(summary, expected);
    for event in &events {
        assert_eq!(event["Username"], "admin");
        assert_eq!(event["ApiKeyId"], key_id.as_str());
        assert!(
            event["IdentityEstablishedWith"]
                .as_str()
                .unwrap()
                .starts_with("API key 'admin's own key' created "),
            "{event}"
        );
    }
    assert_eq!(
        events[0]["SpaceId"], "Spaces-1",
        "named as /api/spaces/Spaces-1/..."
    );
    assert_eq!(events[3]["SpaceId"], "Spaces-1");
    assert_eq!(
        events[5]["SpaceId"],
        Value::Null,
        "a grant is made system-wide"
    );
}
