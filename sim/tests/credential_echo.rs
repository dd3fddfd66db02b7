//! A buggy server or proxy that quotes the credential in its errors (`echo_credentials`):
//! the 401 naming the key or token, other errors with it appended, a refused token exchange
//! quoting the JWT; and the real server's behaviour by default, which quotes none of them.

use jiff::SignedDuration;
use octopus_sim::{Fault, FaultKind, Fixture, Options};
use serde_json::{Value, json};

use crate::support::{exchange, request, request_bearer};

/// A refused token exchange: a JWT of the server's issuer for an audience nobody has.
fn refused_exchange(f: &Fixture) -> (String, Value) {
    let jwt = f.sim.oidc_jwt(
        "space:default",
        "no-such-audience",
        SignedDuration::from_mins(5),
    );
    let (status, body) = exchange(f, &jwt, "no-such-audience");
    assert_eq!(status, 400, "{body}");
    (jwt, body)
}

/// A 400: a key asked for with an `Expires` in the past.
fn refused_create(f: &Fixture, key: &str) -> Value {
    let (status, body) = request(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        key,
        Some(json!({"Purpose": "p", "Expires": "2020-01-01T00:00:00.000+00:00"})),
    );
    assert_eq!(status, 400, "{body}");
    body
}

#[test]
fn by_default_no_error_quotes_the_credential() {
    let f = Fixture::new();
    let (status, body) = request(&f, "GET", "/api/users/me", "API-WRONGKEY1234", None);
    assert_eq!(status, 401);
    assert_eq!(
        body["ErrorMessage"],
        "You must be logged in to perform this action. Please provide a valid API key or log in again."
    );
    let body = refused_create(&f, &f.broker_key);
    assert!(!body.to_string().contains(&f.broker_key), "{body}");
    let (jwt, body) = refused_exchange(&f);
    assert!(!body.to_string().contains(&jwt), "{body}");
}

#[test]
fn a_401_names_the_key_or_token_it_refused() {
    let f = Fixture::with_options(Options {
        echo_credentials: true,
        ..Options::default()
    });
    let (status, body) = request(&f, "GET", "/api/users/me", "API-WRONGKEY1234", None);
    assert_eq!(status, 401);
    assert_eq!(
        body["ErrorMessage"],
        "The API key API-WRONGKEY1234 is not valid, or it has expired."
    );
    assert_eq!(body["Errors"], json!([body["ErrorMessage"]]));
    // An expired key, and an expired token.
    let (_, key) = f.sim.add_api_key(
        &f.broker_id,
        "short",
        Some(f.sim.now() + SignedDuration::from_mins(1)),
    );
    let token = f.sim.add_access_token(&f.broker_id);
    f.sim.advance_clock(SignedDuration::from_hours(2));
    let (status, body) = request(&f, "GET", "/api/users/me", &key, None);
    assert_eq!(status, 401);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains(&key),
        "{body}"
    );
    let (status, body) = request_bearer(&f, "GET", "/api/users/me", &token, None);
    assert_eq!(status, 401);
    assert_eq!(
        body["ErrorMessage"],
        format!("The access token {token} is not valid, or it has expired.")
    );
}

#[test]
fn other_errors_have_the_key_appended() {
    let f = Fixture::with_options(Options {
        echo_credentials: true,
        ..Options::default()
    });
    let key = f.broker_key.clone();
    let body = refused_create(&f, &key);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains(&key),
        "{body}"
    );
    assert!(body["Errors"][0].as_str().unwrap().contains(&key), "{body}");
    // 403, 404, and an injected 500.
    let (_, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let (status, body) = request(&f, "GET", "/api/events", &jane_key, None);
    assert_eq!(status, 403);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains(&jane_key),
        "{body}"
    );
    let (status, body) = request(&f, "GET", "/api/nothing", &key, None);
    assert_eq!(status, 404);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains(&key),
        "{body}"
    );
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::status(500)));
    let (status, body) = request(&f, "GET", "/api/users/me", &key, None);
    assert_eq!(status, 500);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains(&key),
        "{body}"
    );
    // Answers that succeed quote nothing.
    let (status, body) = request(&f, "GET", "/api/users/me", &key, None);
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(&key));
}

#[test]
fn a_refused_token_exchange_quotes_the_whole_jwt() {
    let f = Fixture::with_options(Options {
        echo_credentials: true,
        ..Options::default()
    });
    let (jwt, body) = refused_exchange(&f);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"].as_str().unwrap().contains(&jwt),
        "{body}"
    );
}
