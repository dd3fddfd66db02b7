//! Listings that never end or repeat (`Options::paging`): endless pages of fabricated
//! items, a server that ignores `skip`, a last page whose `Page.Next` points at itself; and
//! Octopus's honest paging by default. Every paged collection follows the switch.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use octopus_sim::{Fixture, Options, Paging};
use serde_json::Value;

use crate::support::request;

fn with_paging(paging: Paging) -> Fixture {
    Fixture::with_options(Options {
        paging,
        ..Options::default()
    })
}

/// `GET path` with `key`, expecting a page.
fn page(f: &Fixture, path: &str, key: &str) -> Value {
    let (status, page) = request(f, "GET", path, key, None);
    assert_eq!(status, 200, "{path}: {page}");
    page
}

fn items(page: &Value) -> &Vec<Value> {
    page["Items"].as_array().unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|i| i["Id"].as_str().unwrap().to_string())
        .collect()
}

fn next(page: &Value) -> Option<String> {
    page["Links"]
        .get("Page.Next")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[test]
fn by_default_paging_is_honest_and_the_last_page_has_no_next() {
    assert_eq!(Options::default().paging, Paging::Honest);
    let f = Fixture::new();
    let keys = format!("/api/users/{}/apikeys?take=2", f.broker_id);
    let first = page(&f, &keys, &f.broker_key);
    assert_eq!(first["TotalResults"], 3, "the fixture's three keys");
    let last = page(&f, &next(&first).unwrap(), &f.broker_key);
    assert_eq!(items(&last).len(), 1);
    assert_eq!(next(&last), None);
}

#[test]
fn an_endless_key_listing_stays_full_fresh_and_fast_for_a_thousand_pages() {
    let f = with_paging(Paging::Endless);
    let first = page(
        &f,
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
    );
    // The real keys come first.
    let first_ids = ids(&first);
    for id in f.seeded_key_ids() {
        assert!(first_ids.iter().any(|i| i == id), "{id} in {first_ids:?}");
    }
    let started = Instant::now();
    let mut seen: HashSet<String> = first_ids.into_iter().collect();
    let mut current = first;
    let mut total = current["TotalResults"].as_u64().unwrap();
    for n in 1..=1000 {
        let link = next(&current).unwrap_or_else(|| panic!("page {n} has no Page.Next"));
        current = page(&f, &link, &f.broker_key);
        assert_eq!(items(&current).len(), 30, "page {n} is full");
        for key in items(&current) {
            let id = key["Id"].as_str().unwrap();
            assert!(id.starts_with("apikeys-"), "{key}");
            assert!(seen.insert(id.to_string()), "{id} came twice");
            assert!(!key["Purpose"].as_str().unwrap().contains("[runkey"));
            assert_eq!(key["UserId"], f.broker_id.as_str());
            assert_eq!(key["ApiKey"]["HasValue"], true);
            let expires: Timestamp = key["Expires"].as_str().unwrap().parse().unwrap();
            assert!(expires > f.sim.now());
        }
        let now_total = current["TotalResults"].as_u64().unwrap();
        assert!(
            now_total > total,
            "TotalResults grows: {now_total} after {total}"
        );
        total = now_total;
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "1000 pages took {:?}",
        started.elapsed()
    );
    // A page holds at most ENDLESS_PAGE_MAX items, whatever take asks.
    let big = page(
        &f,
        &format!("/api/users/{}/apikeys?skip=0&take=2147483647", f.broker_id),
        &f.broker_key,
    );
    assert_eq!(items(&big).len(), octopus_sim::ENDLESS_PAGE_MAX);
    assert_eq!(big["ItemsPerPage"], octopus_sim::ENDLESS_PAGE_MAX);
}

#[test]
fn endless_events_have_unique_ids_inside_the_window_asked_for() {
    let f = with_paging(Paging::Endless);
    crate::support::create_expiring_in(&f, 1);
    let to = f.sim.now();
    let from = to - SignedDuration::from_hours(3);
    let query = |at: Timestamp| octopus_sim::octopus_date(at).replace('+', "%2B");
    let mut link = format!(
        "/api/events?users={}&from={}&to={}&take=50",
        f.broker_id,
        query(from),
        query(to)
    );
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let current = page(&f, &link, &f.broker_key);
        assert_eq!(items(&current).len(), 50);
        for event in items(&current) {
            let id = event["Id"].as_str().unwrap();
            assert!(id.starts_with("Events-"), "{event}");
            assert!(seen.insert(id.to_string()), "{id} came twice");
            let occurred: Timestamp = event["Occurred"].as_str().unwrap().parse().unwrap();
            assert!(
                from <= occurred && occurred <= to,
                "{occurred} outside {from}..{to}"
            );
            assert_eq!(event["UserId"], f.broker_id.as_str());
        }
        link = next(&current).unwrap();
    }
    // The real event is there, first.
    let first = page(&f, "/api/events?take=5", &f.broker_key);
    assert_eq!(items(&first)[0]["Id"], "Events-1");
    assert!(items(&first)[1]["Id"] != "Events-1");
}

#[test]
fn every_paged_collection_can_be_endless() {
    let f = with_paging(Paging::Endless);
    let (_, admin_key) = f.sim.add_api_key(&f.admin_id, "admin", None);
    let teams = page(&f, "/api/Spaces-1/teams", &admin_key);
    let team_id = items(&teams)[0]["Id"].as_str().unwrap().to_string();
    for (path, key, prefix) in [
        ("/api/users".to_string(), &admin_key, "Users-"),
        (
            "/api/Spaces-1/machines".to_string(),
            &f.broker_key,
            "Machines-",
        ),
        ("/api/spaces".to_string(), &admin_key, "Spaces-"),
        ("/api/Spaces-1/teams".to_string(), &admin_key, "Teams-"),
        (
            format!("/api/teams/{team_id}/scopeduserroles"),
            &admin_key,
            "ScopedUserRoles-",
        ),
        (
            "/api/Spaces-1/accounts".to_string(),
            &admin_key,
            "Accounts-",
        ),
        (
            "/api/Spaces-1/actiontemplates?partialName=runkey".to_string(),
            &admin_key,
            "ActionTemplates-",
        ),
        (
            "/api/Spaces-1/projects".to_string(),
            &admin_key,
            "Projects-",
        ),
        (
            "/api/Spaces-1/environments?partialName=prod".to_string(),
            &admin_key,
            "Environments-",
        ),
        (
            "/api/Spaces-1/runbooks".to_string(),
            &admin_key,
            "Runbooks-",
        ),
        (
            "/api/Spaces-1/projecttriggers?runbooks=Runbooks-1".to_string(),
            &admin_key,
            "ProjectTriggers-",
        ),
    ] {
        let separator = if path.contains('?') { '&' } else { '?' };
        let far = page(&f, &format!("{path}{separator}skip=300&take=7"), key);
        assert_eq!(items(&far).len(), 7, "{path}: {far}");
        for item in items(&far) {
            assert!(
                item["Id"].as_str().unwrap().starts_with(prefix),
                "{path}: {item}"
            );
        }
        assert!(next(&far).unwrap().contains("skip=307"), "{path}");
    }
    // A fabricated step template matches the partialName asked for, without being it.
    let templates = page(
        &f,
        "/api/Spaces-1/actiontemplates?partialName=runkey",
        &admin_key,
    );
    let name = items(&templates)[0]["Name"].as_str().unwrap();
    assert!(name.contains("runkey") && name != "runkey", "{name}");
}

#[test]
fn a_server_that_ignores_skip_serves_the_first_page_again_and_again() {
    let f = with_paging(Paging::SkipIgnored);
    let base = format!("/api/users/{}/apikeys?take=2", f.broker_id);
    let first = page(&f, &base, &f.broker_key);
    assert_eq!(first["TotalResults"], octopus_sim::SKIP_IGNORED_TOTAL);
    let mut link = next(&first).unwrap();
    for n in 1..=100 {
        assert!(link.contains(&format!("skip={}", 2 * n)), "{link}");
        let again = page(&f, &link, &f.broker_key);
        assert_eq!(ids(&again), ids(&first), "page {n}");
        link = next(&again).unwrap();
    }
    let events = page(&f, "/api/events?skip=40", &f.broker_key);
    assert_eq!(events["TotalResults"], octopus_sim::SKIP_IGNORED_TOTAL);
}

#[test]
fn a_last_page_whose_next_points_back_at_itself() {
    let f = with_paging(Paging::NextRepeats);
    let first = page(
        &f,
        &format!("/api/users/{}/apikeys?take=2", f.broker_id),
        &f.broker_key,
    );
    assert_eq!(items(&first).len(), 2);
    let second_link = next(&first).unwrap();
    assert!(second_link.contains("skip=2"), "{second_link}");
    let last = page(&f, &second_link, &f.broker_key);
    assert_eq!(items(&last).len(), 1, "honest items");
    assert_eq!(next(&last).as_deref(), last["Links"]["Self"].as_str());
    assert_eq!(next(&last).unwrap(), second_link, "the same URL");
    let again = page(&f, &next(&last).unwrap(), &f.broker_key);
    assert_eq!(ids(&again), ids(&last));
}
