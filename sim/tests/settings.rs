//! What the server says of itself before a client asks anything: the authentication
//! settings (`GET /api/authentication`), served to anyone, with the expiry limits a key is
//! checked against and whether users may have keys; and the 404 of an older server.

use jiff::SignedDuration;
use octopus_sim::{Fixture, Options};
use serde_json::json;

use crate::support::{get_anonymous, request};

#[test]
fn the_authentication_settings_are_served_to_anyone_with_the_expiry_limits() {
    let f = Fixture::new();
    let (status, body) = get_anonymous(&f, "/api/authentication");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["ApiKeyDefaultExpiryDays"],
            &body["ApiKeyMaxExpiryDays"],
            &body["UserApiKeysEnabled"]
        ),
        (&json!(180), &json!(366), &json!(true)),
        "the defaults: {body}"
    );
    // A wrong key does not stand in the way of an anonymous document; a good one neither.
    assert_eq!(
        request(&f, "GET", "/api/authentication", "API-WRONG", None).0,
        200
    );
    let (_, with_key) = request(&f, "GET", "/api/authentication", &f.broker_key, None);
    assert_eq!(with_key, body);
    // It says what the server checks.
    f.sim.set_options(|o| {
        o.max_expiry_days = 1096;
        o.default_expiry_days = 30;
    });
    let (_, body) = get_anonymous(&f, "/api/authentication/");
    assert_eq!(
        (
            &body["ApiKeyDefaultExpiryDays"],
            &body["ApiKeyMaxExpiryDays"]
        ),
        (&json!(30), &json!(1096))
    );
    assert!(f.sim.audit().is_empty(), "a read is no event");
}

#[test]
fn an_older_server_has_no_authentication_settings() {
    let f = Fixture::with_options(Options {
        authentication_endpoint: false,
        ..Options::default()
    });
    for (status, body) in [
        get_anonymous(&f, "/api/authentication"),
        request(&f, "GET", "/api/authentication", &f.broker_key, None),
    ] {
        assert_eq!(status, 404, "{body}");
        assert_eq!(
            body["ErrorMessage"],
            "The resource '/api/authentication' was not found."
        );
    }
}

#[test]
fn with_user_keys_switched_off_only_service_accounts_get_keys() {
    let f = Fixture::new();
    let (_, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(1));
    let create = |user: &str, key: &str| {
        request(
            &f,
            "POST",
            &format!("/api/users/{user}/apikeys"),
            key,
            Some(json!({"Purpose": "p", "UserId": user, "Expires": expires})),
        )
    };
    assert_eq!(create(&f.operator_id, &jane_key).0, 200, "on by default");

    f.sim.set_options(|o| o.user_api_keys_enabled = false);
    let (_, settings) = get_anonymous(&f, "/api/authentication");
    assert_eq!(settings["UserApiKeysEnabled"], false);
    let (status, body) = create(&f.operator_id, &jane_key);
    assert_eq!(status, 400, "{body}");
    let (status, body) = create(&f.broker_id, &f.broker_key);
    assert_eq!(status, 200, "{body}");
    // Keys a user already has keep working.
    assert_eq!(request(&f, "GET", "/api/users/me", &jane_key, None).0, 200);
}
