//! Octopus's error bodies and the rules behind them: 401 for a wrong key, 400 for a key
//! that is not the user's, 403 naming the missing permission, 404 naming what is missing.

use octopus_sim::Fixture;
use serde_json::json;

use crate::support::request;

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
