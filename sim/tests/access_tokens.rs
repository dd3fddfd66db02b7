//! OIDC access tokens: how long they live (in the exchange's answer and at use), and what
//! a key created with one may ask for its expiry, beside the rule for a key created with a
//! key (including a broker key given a short life).

use jiff::{SignedDuration, Timestamp};
use octopus_sim::{Fixture, Options, TokenExpiryRule};
use serde_json::{Value, json};

use crate::support::{exchange, request, request_bearer};

/// A JWT for the broker's OIDC identity, exchanged: the exchange's answer.
fn exchanged(f: &Fixture) -> Value {
    let audience = f.sim.add_oidc_identity(&f.broker_id, "space:default:*");
    let jwt = f.sim.oidc_jwt(
        "space:default:project:ops",
        &audience,
        SignedDuration::from_mins(5),
    );
    let (status, body) = exchange(f, &jwt, &audience);
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST /api/users/{broker}/apikeys` with `token`, asking for `Expires` in `minutes`.
fn create_with_token(f: &Fixture, token: &str, minutes: i64) -> (u16, Value) {
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_mins(minutes));
    request_bearer(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        token,
        Some(json!({"Purpose": "by token", "Expires": expires, "UserId": f.broker_id})),
    )
}

/// Minutes from the server's now to the answer's `Expires`.
fn minutes_left(f: &Fixture, created: &Value) -> i64 {
    let at: Timestamp = created["Expires"].as_str().unwrap().parse().unwrap();
    (at.duration_since(f.sim.now()).as_secs_f64() / 60.0).round() as i64
}

#[test]
fn access_tokens_live_an_hour_by_default_and_get_401_once_expired() {
    let f = Fixture::new();
    let answer = exchanged(&f);
    assert_eq!(answer["expires_in"], 3600);
    let token = answer["access_token"].as_str().unwrap();
    let added = f.sim.add_access_token(&f.broker_id);
    for token in [token, added.as_str()] {
        assert_eq!(
            request_bearer(&f, "GET", "/api/users/me", token, None).0,
            200
        );
    }
    f.sim.advance_clock(SignedDuration::from_mins(59));
    assert_eq!(
        request_bearer(&f, "GET", "/api/users/me", token, None).0,
        200
    );
    f.sim.advance_clock(SignedDuration::from_mins(2));
    for token in [token, added.as_str()] {
        assert_eq!(
            request_bearer(&f, "GET", "/api/users/me", token, None).0,
            401
        );
    }
}

#[test]
fn an_access_tokens_lifetime_can_be_set_and_the_exchange_says_so() {
    let f = Fixture::with_options(Options {
        access_token_lifetime: SignedDuration::from_mins(10),
        ..Options::default()
    });
    let answer = exchanged(&f);
    assert_eq!(answer["expires_in"], 600);
    let token = answer["access_token"].as_str().unwrap();
    let added = f.sim.add_access_token(&f.broker_id);
    f.sim.advance_clock(SignedDuration::from_mins(9));
    assert_eq!(
        request_bearer(&f, "GET", "/api/users/me", token, None).0,
        200
    );
    assert_eq!(
        request_bearer(&f, "GET", "/api/users/me", &added, None).0,
        200
    );
    f.sim.advance_clock(SignedDuration::from_mins(2));
    let (status, body) = request_bearer(&f, "GET", "/api/users/me", token, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        request_bearer(&f, "GET", "/api/users/me", &added, None).0,
        401
    );
}

#[test]
fn by_default_a_key_made_with_a_token_may_outlive_it_as_it_always_could() {
    let f = Fixture::with_options(Options {
        access_token_lifetime: SignedDuration::from_mins(30),
        ..Options::default()
    });
    let token = f.sim.add_access_token(&f.broker_id);
    let (status, created) = create_with_token(&f, &token, 60);
    assert_eq!((status, minutes_left(&f, &created)), (200, 60), "{created}");
}

#[test]
fn a_key_made_with_a_token_can_be_refused_for_outliving_it() {
    let f = Fixture::with_options(Options {
        access_token_lifetime: SignedDuration::from_mins(30),
        token_expiry_rule: TokenExpiryRule::Refuse,
        ..Options::default()
    });
    let token = f.sim.add_access_token(&f.broker_id);
    let (status, body) = create_with_token(&f, &token, 60);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["Errors"][0],
        "The expiry date cannot be after the expiry of the access token used to create it."
    );
    let (status, created) = create_with_token(&f, &token, 20);
    assert_eq!((status, minutes_left(&f, &created)), (200, 20), "{created}");
}

#[test]
fn a_key_made_with_a_token_can_be_capped_at_its_expiry_or_left_unchecked() {
    let f = Fixture::with_options(Options {
        access_token_lifetime: SignedDuration::from_mins(30),
        token_expiry_rule: TokenExpiryRule::Cap,
        ..Options::default()
    });
    let token = f.sim.add_access_token(&f.broker_id);
    let (status, created) = create_with_token(&f, &token, 60);
    assert_eq!(
        (status, minutes_left(&f, &created)),
        (200, 30),
        "capped: {created}"
    );
    let (status, created) = create_with_token(&f, &token, 20);
    assert_eq!(
        (status, minutes_left(&f, &created)),
        (200, 20),
        "within: {created}"
    );

    f.sim
        .set_options(|o| o.token_expiry_rule = TokenExpiryRule::Unchecked);
    let (status, created) = create_with_token(&f, &token, 60);
    assert_eq!(
        (status, minutes_left(&f, &created)),
        (200, 60),
        "unchecked: {created}"
    );
}

#[test]
fn a_key_made_with_a_key_cannot_outlive_it_even_a_broker_key_given_a_short_life() {
    let f = Fixture::new();
    // The broker's own key of the usual cast lives 90 days.
    let (status, body) = crate::support::create_expiring_in(&f, 24 * 100);
    assert_eq!(status, 400, "{body}");
    let sentence = "The expiry date cannot be after the expiry of the API key used to create it.";
    assert_eq!(body["Errors"][0], sentence);

    // Now it has half an hour left.
    f.sim.set_key_expiry(
        &f.broker_key_id,
        Some(f.sim.now() + SignedDuration::from_mins(30)),
    );
    let (status, body) = crate::support::create_expiring_in(&f, 1);
    assert_eq!(
        (status, &body["Errors"][0]),
        (400, &json!(sentence)),
        "{body}"
    );
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_mins(20));
    let (status, created) = request(
        &f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(json!({"Purpose": "p", "Expires": expires, "UserId": f.broker_id})),
    );
    assert_eq!(status, 200, "{created}");
    f.sim.advance_clock(SignedDuration::from_mins(31));
    assert_eq!(crate::support::call_me(&f, &f.broker_key).0, 401);
}
