//! The simulator answers in the real server's shapes (checked against the reference JSON
//! schemas published with go-octopusdeploy) and keeps the real server's rules.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::support::*;

fn schemas() -> Value {
    serde_json::from_str(include_str!("data/octopus-api-schemas.json")).unwrap()
}

/// A small JSON-schema check: types, date-time formats, required fields, `$ref`, items,
/// additionalProperties; and no field the reference does not define.
fn check(value: &Value, schema: &Value, defs: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        return check(value, &defs[name], defs, at, errors);
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") | None => value.is_object() || schema.get("type").is_none(),
        Some(_) => true,
    };
    if !ok {
        errors.push(format!("{at}: {value} is not {}", schema["type"]));
        return;
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && value
            .as_str()
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_none()
    {
        errors.push(format!("{at}: {value} is not a date-time"));
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(item, items, defs, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            match (
                properties.and_then(|p| p.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(field_schema), _) => {
                    check(field, field_schema, defs, &format!("{at}.{name}"), errors)
                }
                (None, Some(extra)) => check(field, extra, defs, &format!("{at}.{name}"), errors),
                (None, None) if properties.is_some() => {
                    errors.push(format!("{at}.{name}: not in the reference schema"))
                }
                _ => {}
            }
        }
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !object.contains_key(required.as_str().unwrap()) {
                errors.push(format!("{at}: {required} is required"));
            }
        }
    }
}

fn assert_matches(value: &Value, definition: &str) {
    let schemas = schemas();
    let defs = &schemas["definitions"];
    let mut errors = Vec::new();
    check(value, &defs[definition], defs, definition, &mut errors);
    assert!(errors.is_empty(), "{definition}: {errors:#?}\n{value:#}");
}

fn request(f: &Fixture, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", f.sim.url());
    let result = match (method, body) {
        ("GET", _) => agent.get(&url).header("X-Octopus-ApiKey", key).call(),
        ("DELETE", _) => agent.delete(&url).header("X-Octopus-ApiKey", key).call(),
        (_, body) => agent
            .post(&url)
            .header("X-Octopus-ApiKey", key)
            .content_type("application/json")
            .send(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
    };
    let mut response = result.unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn answers_match_the_reference_schemas() {
    let f = Fixture::new();
    let key = &f.broker_key;
    let (_, me) = request(&f, "GET", "/api/users/me", key, None);
    assert_matches(&me, "UserResource");
    let expires = octopus_sim::octopus_date(Timestamp::now() + SignedDuration::from_hours(1));
    let (status, created) = request(
        &f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        key,
        Some(json!({"Purpose": "p", "Expires": expires})),
    );
    assert_eq!(status, 200);
    assert_matches(&created, "ApiKeyCreatedResource");
    assert!(created["ApiKey"].as_str().unwrap().starts_with("API-"));
    let (_, one) = request(
        &f,
        "GET",
        &format!(
            "/api/users/{}/apikeys/{}",
            f.broker_id,
            created["Id"].as_str().unwrap()
        ),
        key,
        None,
    );
    assert_matches(&one, "ApiKeyResource");
    assert_eq!(one["ApiKey"]["Hint"].as_str().unwrap().len(), 8);
    let (_, page) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys", f.broker_id),
        key,
        None,
    );
    assert_matches(&page, "ApiKeyResourceResourceCollection");
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let (_, run_json) = request(
        &f,
        "GET",
        &format!("/api/{}/runbookRuns/{}", f.space_id, run.id),
        key,
        None,
    );
    assert_matches(&run_json, "RunbookRunResource");
    assert_eq!(run_json["DeployedBy"], "jane.doe");
}

#[test]
fn errors_use_octopus_bodies_and_rules() {
    let f = Fixture::new();
    let (status, body) = request(&f, "GET", "/api/users/me", "API-WRONG", None);
    assert_eq!(status, 401);
    assert_eq!(
        body["ErrorMessage"],
        "You must be logged in to perform this action. Please provide a valid API key or log in again."
    );
    for field in ["Errors", "FullException", "HelpText", "HelpLink", "Details"] {
        assert!(body.get(field).is_some(), "{field}");
    }
    // A key of the operator, deleted through the broker's URL, is refused as not owned.
    let (operator_key_id, _) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let (admin_key_id, admin_key) = f.sim.add_api_key(&f.admin_id, "admin", None);
    let _ = admin_key_id;
    let (status, body) = request(
        &f,
        "DELETE",
        &format!("/api/users/{}/apikeys/{operator_key_id}", f.broker_id),
        &admin_key,
        None,
    );
    assert_eq!(
        (status, body["ErrorMessage"].as_str().unwrap()),
        (400, "This ApiKey does not belong to the specified user.")
    );
    let (status, _) = request(
        &f,
        "DELETE",
        &format!("/api/users/{}/apikeys/apikeys-nope", f.broker_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 404);
    // The broker may not touch the operator's keys.
    let (status, body) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys", f.operator_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 403);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Missing permission: UserEdit")
    );
    // Expiry in the past is refused.
    let (status, _) = request(
        &f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(json!({"Purpose": "p", "Expires": "2020-01-01T00:00:00.000+00:00"})),
    );
    assert_eq!(status, 400);
}

#[test]
fn expired_keys_and_disabled_users_get_401() {
    let f = Fixture::new();
    let (_, key) = f.sim.add_api_key(
        &f.broker_id,
        "short",
        Some(Timestamp::now() + SignedDuration::from_mins(5)),
    );
    assert_eq!(call_me(&f, &key).0, 200);
    f.sim.advance_clock(SignedDuration::from_mins(6));
    assert_eq!(call_me(&f, &key).0, 401);
    f.sim.disable_user(&f.broker_id);
    assert_eq!(call_me(&f, &f.broker_key).0, 401);
}

#[test]
fn pages_link_to_the_next_page_until_the_last() {
    let f = Fixture::with_options(Options {
        max_take: Some(3),
        ..Options::default()
    });
    for i in 0..6 {
        f.sim.add_api_key(&f.broker_id, &format!("k{i}"), None);
    }
    let path = format!("/api/users/{}/apikeys?take=100", f.broker_id);
    let (_, first) = request(&f, "GET", &path, &f.broker_key, None);
    assert_eq!(
        (
            first["ItemsPerPage"].as_u64(),
            first["TotalResults"].as_u64(),
            first["NumberOfPages"].as_u64()
        ),
        (Some(3), Some(9), Some(3)),
        "six keys and the fixture's three"
    );
    let next = first["Links"]["Page.Next"].as_str().unwrap().to_string();
    let (_, second) = request(&f, "GET", &next, &f.broker_key, None);
    let (_, third) = request(
        &f,
        "GET",
        second["Links"]["Page.Next"].as_str().unwrap(),
        &f.broker_key,
        None,
    );
    assert_eq!(third["Items"].as_array().unwrap().len(), 3);
    assert!(third["Links"].get("Page.Next").is_none());
}

/// The purposes a listing of the broker's keys with `partialPurpose=partial` returns.
fn listed_purposes(f: &Fixture, partial: &str) -> Vec<String> {
    let path = format!(
        "/api/users/{}/apikeys?take=100&partialPurpose={partial}",
        f.broker_id
    );
    let (status, page) = request(f, "GET", &path, &f.broker_key, None);
    assert_eq!(status, 200);
    let mut purposes: Vec<String> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Purpose"].as_str().unwrap().to_string())
        .collect();
    purposes.sort();
    purposes
}

#[test]
fn partial_purpose_is_ignored_by_default() {
    let f = Fixture::new();
    assert_eq!(
        listed_purposes(&f, "DEPLOY").len(),
        3,
        "every key of the broker"
    );
}

#[test]
fn partial_purpose_can_filter_by_substring_or_prefix_ignoring_case() {
    let f = Fixture::with_options(Options {
        partial_purpose_filter: PartialPurpose::Substring,
        ..Options::default()
    });
    f.sim.add_api_key(&f.broker_id, "Robot deploys", None);
    assert_eq!(
        listed_purposes(&f, "DEPLOY"),
        ["Robot deploys", "deploy bot"]
    );
    assert_eq!(
        listed_purposes(&f, "%5BRUNKEY%20ServerTasks-999%2F"),
        [octopus_sim::OTHER_RUN_PURPOSE]
    );
    f.sim
        .set_options(|o| o.partial_purpose_filter = PartialPurpose::Prefix);
    assert_eq!(listed_purposes(&f, "DEPLOY"), ["deploy bot"]);
    assert!(listed_purposes(&f, "%5Brunkey").is_empty());
}

#[test]
fn not_found_bodies_name_the_missing_user_key_or_route() {
    let f = Fixture::new();
    let key = &f.broker_key;
    for (path, missing) in [
        ("/api/users/Users-99".to_string(), "Users-99"),
        ("/api/users/Users-99/apikeys".to_string(), "Users-99"),
        (
            format!("/api/users/{}/apikeys/apikeys-nope", f.broker_id),
            "apikeys-nope",
        ),
        ("/api/nothing/here".to_string(), "/api/nothing/here"),
        ("/api/tasks/ServerTasks-404".to_string(), "ServerTasks-404"),
    ] {
        let (status, body) = request(&f, "GET", &path, key, None);
        let message = format!("The resource '{missing}' was not found.");
        assert_eq!(
            (status, body["ErrorMessage"].as_str()),
            (404, Some(message.as_str())),
            "{path}"
        );
        assert_eq!(body["Errors"], json!([message]), "{path}");
    }
}

#[test]
fn another_users_key_is_refused_as_not_theirs_before_any_permission_check() {
    let f = Fixture::new();
    let (operator_key_id, operator_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let not_owned = (
        400,
        Some("This ApiKey does not belong to the specified user."),
    );
    // Jane, on her own user's path, with the id of a key of the broker.
    for method in ["GET", "DELETE"] {
        let path = format!("/api/users/{}/apikeys/{}", f.operator_id, f.unmarked_key_id);
        let (status, body) = request(&f, method, &path, &operator_key, None);
        assert_eq!(
            (status, body["ErrorMessage"].as_str()),
            not_owned,
            "{method}"
        );
    }
    // The broker, without UserEdit, on the admin's path with Jane's key id: still 400.
    let path = format!("/api/users/{}/apikeys/{operator_key_id}", f.admin_id);
    let (status, body) = request(&f, "DELETE", &path, &f.broker_key, None);
    assert_eq!((status, body["ErrorMessage"].as_str()), not_owned);
    assert!(
        f.sim
            .keys(&f.broker_id)
            .iter()
            .any(|k| k.id == f.unmarked_key_id)
    );
    assert_eq!(f.sim.keys(&f.operator_id).len(), 1);
}

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

/// Creates a key for the broker asking for `Expires` in `hours`: (status, answer).
fn create_expiring_in(f: &Fixture, hours: i64) -> (u16, Value) {
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(hours));
    request(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(json!({"Purpose": "p", "Expires": expires, "UserId": f.broker_id})),
    )
}

/// Hours from the server's now to the answer's `Expires`, if it has one.
fn hours_left(f: &Fixture, created: &Value) -> Option<i64> {
    let at: Timestamp = created.get("Expires")?.as_str()?.parse().ok()?;
    Some((at.duration_since(f.sim.now()).as_secs_f64() / 3600.0).round() as i64)
}

#[test]
fn expiry_is_honoured_capped_ignored_or_omitted_as_configured() {
    let f = Fixture::new();
    let (status, created) = create_expiring_in(&f, 2);
    assert_eq!(
        (status, hours_left(&f, &created)),
        (200, Some(2)),
        "honoured"
    );
    let (status, _) = create_expiring_in(&f, 24 * 400);
    assert_eq!(status, 400, "honoured: beyond the maximum is refused");

    f.sim
        .set_options(|o| o.expiry = ExpiryMode::CappedAt(SignedDuration::from_hours(1)));
    let (status, created) = create_expiring_in(&f, 2);
    assert_eq!((status, hours_left(&f, &created)), (200, Some(1)), "capped");
    let (status, _) = create_expiring_in(&f, -1);
    assert_eq!(status, 400, "capped: the past is still refused");

    f.sim.set_options(|o| o.expiry = ExpiryMode::Ignored);
    let (status, created) = create_expiring_in(&f, 2);
    assert_eq!(
        (status, hours_left(&f, &created)),
        (200, Some(180 * 24)),
        "ignored"
    );

    f.sim.set_options(|o| o.expiry = ExpiryMode::Omitted);
    let (status, created) = create_expiring_in(&f, 2);
    assert_eq!(status, 200);
    assert!(created.get("Expires").is_none(), "omitted: {created}");
    let key = f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .find(|k| k.id == created["Id"]);
    assert_eq!(key.unwrap().expires, None);
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

#[test]
fn the_broker_shares_its_account_with_other_runs_and_people() {
    let f = Fixture::new();
    let keys = f.sim.keys(&f.broker_id);
    let purpose = |id: &str| keys.iter().find(|k| k.id == id).unwrap().purpose.clone();
    assert_eq!(purpose(&f.other_run_key_id), octopus_sim::OTHER_RUN_PURPOSE);
    assert_eq!(purpose(&f.unmarked_key_id), "deploy bot");
    let own = keys.iter().find(|k| k.id == f.broker_key_id).unwrap();
    assert_eq!(own.secret, f.broker_key);
    let age = f.sim.now().duration_since(own.created).as_hours();
    assert!((400 * 24 - 1..=400 * 24).contains(&age), "{age}");
    // And a client listing the broker's keys over the API meets all three.
    let (status, page) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys?skip=0&take=30", f.broker_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let listed: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Id"].as_str().unwrap())
        .collect();
    for id in f.seeded_key_ids() {
        assert!(listed.contains(&id), "{id} not listed: {listed:?}");
    }
}

#[test]
fn tasks_report_their_state_and_whether_they_completed() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    // A run key acts with the broker's permissions, TaskView among them.
    let (_, created) = create_expiring_in(&f, 1);
    let run_key = created["ApiKey"].as_str().unwrap().to_string();
    let path = format!("/api/tasks/{}", run.task_id);
    let (status, task) = request(&f, "GET", &path, &run_key, None);
    assert_eq!(status, 200);
    assert_eq!(
        (
            task["Id"].as_str(),
            task["State"].as_str(),
            task["SpaceId"].as_str()
        ),
        (
            Some(run.task_id.as_str()),
            Some("Executing"),
            Some("Spaces-1")
        )
    );
    assert_eq!(
        (
            task["IsCompleted"].as_bool(),
            task["CompletedTime"].is_null()
        ),
        (Some(false), true)
    );
    for field in [
        "FinishedSuccessfully",
        "ErrorMessage",
        "Name",
        "Description",
    ] {
        assert!(task.get(field).is_some(), "{field}");
    }
    for (state, completed, succeeded) in [
        (TaskState::Queued, false, false),
        (TaskState::Cancelling, false, false),
        (TaskState::Success, true, true),
        (TaskState::Failed, true, false),
        (TaskState::Canceled, true, false),
        (TaskState::TimedOut, true, false),
    ] {
        f.sim.set_task_state(&run.task_id, state);
        let (_, task) = request(&f, "GET", &path, &f.broker_key, None);
        assert_eq!(task["State"], state.as_str());
        assert_eq!(task["IsCompleted"], completed, "{state:?}");
        assert_eq!(task["FinishedSuccessfully"], succeeded, "{state:?}");
        assert_eq!(task["CompletedTime"].is_string(), completed, "{state:?}");
        assert_eq!(
            task["ErrorMessage"] != "",
            completed && !succeeded,
            "{state:?}"
        );
    }
    // Under its space too; another space does not have it.
    let (status, _) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/tasks/{}", run.task_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = request(
        &f,
        "GET",
        &format!("/api/Spaces-2/tasks/{}", run.task_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 404);
    let id = f.sim.add_task(None, TaskState::Queued);
    let (_, task) = request(&f, "GET", &format!("/api/tasks/{id}"), &f.broker_key, None);
    assert_eq!(task["State"], "Queued");
    f.sim.add_task(Some("ServerTasks-77"), TaskState::Success);
    assert_eq!(
        f.sim.task("ServerTasks-77").unwrap().state,
        TaskState::Success
    );
}

#[test]
fn reading_a_task_needs_task_view() {
    let f = Fixture::new();
    let task = f.sim.add_task(Some("ServerTasks-5"), TaskState::Executing);
    let path = format!("/api/tasks/{task}");
    let (_, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let missing = "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: TaskView";
    let (status, body) = request(&f, "GET", &path, &jane_key, None);
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (403, Some(missing))
    );
    f.sim.revoke_permission(&f.broker_id, "TaskView");
    let (status, body) = request(&f, "GET", &path, &f.broker_key, None);
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (403, Some(missing))
    );
    f.sim.grant_permission(&f.broker_id, "TaskView");
    assert_eq!(request(&f, "GET", &path, &f.broker_key, None).0, 200);
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
