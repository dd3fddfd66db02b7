//! The server's clock: every answer says what time the server thinks it is (`Date`), and a
//! test can put that clock behind or ahead of the worker's; key expiry and the checks on a
//! new key's `Expires` follow the server's clock, never the worker's.

use jiff::{SignedDuration, Timestamp};
use octopus_sim::{Fault, FaultKind, Fixture};
use serde_json::json;

use crate::support::{call_me, request};

/// `GET path` with `key`: the status and the `Date` header, read as a time.
fn date_of(f: &Fixture, path: &str, key: &str) -> (u16, Timestamp) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(&format!("{}{path}", f.sim.url()))
        .header("X-Octopus-ApiKey", key)
        .call()
        .unwrap();
    let header = response
        .headers()
        .get("date")
        .expect("every answer has a Date header")
        .to_str()
        .unwrap()
        .to_string();
    let civil = jiff::civil::DateTime::strptime("%a, %d %b %Y %H:%M:%S GMT", &header)
        .unwrap_or_else(|e| panic!("{header:?} is not RFC 1123: {e}"));
    let at = civil.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    (response.status().as_u16(), at)
}

/// Whether `a` and `b` are within five seconds of each other.
fn close(a: Timestamp, b: Timestamp) -> bool {
    a.duration_since(b).abs() <= SignedDuration::from_secs(5)
}

#[test]
fn every_answer_carries_the_servers_clock_in_a_date_header() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("GET", "/api/tasks", FaultKind::status(503)));
    for (path, key, status) in [
        ("/api/users/me", f.broker_key.as_str(), 200),
        ("/api/users/me", "API-WRONG", 401),
        ("/api/nothing", f.broker_key.as_str(), 404),
        ("/api/tasks/ServerTasks-1", f.broker_key.as_str(), 503),
        ("/.well-known/openid-configuration", "", 200),
    ] {
        let (got, at) = date_of(&f, path, key);
        assert_eq!(got, status, "{path}");
        assert!(
            close(at, Timestamp::now()),
            "{path}: {at}, by default the real clock"
        );
    }
}

#[test]
fn a_clock_offset_is_set_not_added_and_moves_the_date_header() {
    let f = Fixture::new();
    let two_hours = SignedDuration::from_hours(2);
    f.sim.set_clock_offset(-two_hours);
    f.sim.set_clock_offset(-two_hours);
    let (_, at) = date_of(&f, "/api/users/me", &f.broker_key);
    assert!(close(at, Timestamp::now() - two_hours), "{at}");
    assert!(close(f.sim.now(), Timestamp::now() - two_hours));
    f.sim.set_clock_offset(two_hours);
    let (_, at) = date_of(&f, "/api/users/me", &f.broker_key);
    assert!(close(at, Timestamp::now() + two_hours), "{at}");
    f.sim.set_clock_offset(SignedDuration::ZERO);
    let (_, at) = date_of(&f, "/api/users/me", &f.broker_key);
    assert!(close(at, Timestamp::now()), "{at}");
}

#[test]
fn with_the_server_two_hours_behind_a_key_expiring_in_a_minute_lives_two_hours() {
    let f = Fixture::new();
    f.sim.set_clock_offset(-SignedDuration::from_hours(2));
    // One minute from the worker's now, as a worker whose clock jumped forward computes it.
    let expires = Timestamp::now() + SignedDuration::from_mins(1);
    let (_, key) = f.sim.add_api_key(&f.broker_id, "short", Some(expires));
    assert_eq!(call_me(&f, &key).0, 200);
    f.sim.advance_clock(SignedDuration::from_mins(115));
    assert_eq!(
        call_me(&f, &key).0,
        200,
        "five minutes before the server's expiry"
    );
    f.sim.advance_clock(SignedDuration::from_mins(7));
    assert_eq!(call_me(&f, &key).0, 401, "past it by the server's clock");
}

#[test]
fn the_checks_on_a_new_keys_expires_use_the_servers_clock() {
    let f = Fixture::new();
    let create = |expires: Timestamp| {
        request(
            &f,
            "POST",
            &format!("/api/users/{}/apikeys", f.broker_id),
            &f.broker_key,
            Some(json!({"Purpose": "p", "Expires": octopus_sim::octopus_date(expires)})),
        )
    };
    let soon = || Timestamp::now() + SignedDuration::from_mins(1);
    // The server two hours ahead: a minute from the worker's now is in the server's past.
    f.sim.set_clock_offset(SignedDuration::from_hours(2));
    let (status, body) = create(soon());
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["Errors"][0], "The expiry date must be in the future.");
    // Two hours behind: accepted, and stamped with the server's time.
    f.sim.set_clock_offset(-SignedDuration::from_hours(2));
    let (status, created) = create(soon());
    assert_eq!(status, 200, "{created}");
    let at: Timestamp = created["Created"].as_str().unwrap().parse().unwrap();
    assert!(close(at, f.sim.now()), "{at}");
    // The maximum counts from the server's now too: with a one-day maximum, 23 hours from
    // the worker's now is 25 hours from a server two hours behind.
    f.sim.set_options(|o| o.max_expiry_days = 1);
    let (status, body) = create(Timestamp::now() + SignedDuration::from_hours(23));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["Errors"][0],
        "The expiry date cannot be more than 1 days in the future."
    );
    f.sim.set_clock_offset(SignedDuration::ZERO);
    let (status, body) = create(Timestamp::now() + SignedDuration::from_hours(23));
    assert_eq!(
        status, 200,
        "the same Expires with the clocks agreeing: {body}"
    );
}
