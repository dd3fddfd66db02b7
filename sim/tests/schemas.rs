//! The simulator answers in the real server's shapes, checked against the reference JSON
//! schemas published with go-octopusdeploy (`data/octopus-api-schemas.json`).

use jiff::{SignedDuration, Timestamp};
use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::support::request;

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
