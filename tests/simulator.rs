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
        (Some(3), Some(7), Some(3))
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
    assert_eq!(third["Items"].as_array().unwrap().len(), 1);
    assert!(third["Links"].get("Page.Next").is_none());
}

#[test]
fn every_authenticated_call_is_audited_with_its_identity() {
    let f = Fixture::new();
    call_me(&f, &f.broker_key);
    call_me(&f, "API-WRONG");
    let audit = f.sim.audit();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user_id, f.broker_id);
    assert!(
        audit[0]
            .identity_established_with
            .starts_with("API key 'broker key for runbooks' created ")
    );
    assert_eq!(audit[0].api_key_hint.as_deref().map(str::len), Some(8));
}
