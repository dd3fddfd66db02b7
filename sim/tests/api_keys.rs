//! API keys as the real server keeps them: expiry (401 once expired, and what a server does
//! with the `Expires` asked for), disabled users, paging, `partialPurpose`, ownership, and
//! the broker account the usual cast shares with other runs and people.

use jiff::{SignedDuration, Timestamp};
use octopus_sim::{ExpiryMode, Fixture, Options, PartialPurpose};
use serde_json::Value;

use crate::support::{call_me, create_expiring_in, request};

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
fn newer_servers_say_when_a_key_was_last_used() {
    let f = Fixture::new();
    let (id, key) = f.sim.add_api_key(&f.broker_id, "used later", None);
    let path = format!("/api/users/{}/apikeys/{id}", f.broker_id);
    // By default (older servers) the fields are absent.
    let (_, shown) = request(&f, "GET", &path, &f.broker_key, None);
    assert!(shown.get("LastUsedTimeStamp").is_none(), "{shown}");
    f.sim.set_options(|o| o.last_used_timestamps = true);
    let (_, shown) = request(&f, "GET", &path, &f.broker_key, None);
    assert_eq!(shown["LastUsedTimeStamp"], Value::Null, "never used yet");
    assert_eq!(shown["IsLastUsedTimestampKnown"], true);
    assert_eq!(call_me(&f, &key).0, 200);
    let (_, shown) = request(&f, "GET", &path, &f.broker_key, None);
    assert!(shown["LastUsedTimeStamp"].is_string(), "{shown}");
}
