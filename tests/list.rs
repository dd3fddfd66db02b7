//! `list`: this tool's keys of the broker account, as a table or JSON.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::support::*;

#[test]
fn json_lists_only_marked_keys_with_their_state() {
    let f = Fixture::new();
    let live = create(&f, "ServerTasks-1");
    let hour = SignedDuration::from_hours(1);
    let (expired, _) = f.sim.add_api_key(
        &f.broker_id,
        "y [runkey ServerTasks-0/zzzzzz]",
        Some(Timestamp::now() - hour),
    );
    f.sim.add_api_key(&f.broker_id, "not ours", None);
    let out = as_broker(&f, &["list", "--json"]).run();
    out.code(0);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    // This test's two keys and the fixture's other run's key; the unmarked ones are left out.
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().any(|r| r["Id"] == f.other_run_key_id.as_str()));
    assert!(!rows.iter().any(|r| r["Id"] == f.unmarked_key_id.as_str()));
    for row in &rows {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5);
        for field in ["Id", "Purpose", "Created", "Expires", "Expired"] {
            assert!(row.get(field).is_some(), "{field}");
        }
    }
    let by_id = |id: &str| rows.iter().find(|r| r["Id"] == id).unwrap().clone();
    assert_eq!(by_id(&live.var("ApiKeyId"))["Expired"], false);
    assert_eq!(
        by_id(&live.var("ApiKeyId"))["Purpose"],
        live.var("ApiKeyPurpose").as_str()
    );
    assert_eq!(by_id(&expired)["Expired"], true);
    assert!(by_id(&expired)["Expires"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn the_table_has_a_header_and_a_row_per_key() {
    let f = Fixture::new();
    let a = create(&f, "ServerTasks-1");
    let out = as_broker(&f, &["list"]).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("EXPIRES") && lines[0].contains("PURPOSE")
    );
    assert_eq!(
        lines.len(),
        3,
        "this run's key and the fixture's other run's key"
    );
    assert!(lines[1].starts_with(&a.var("ApiKeyId")) && lines[1].contains("live"));
    assert!(lines[2].starts_with(&f.other_run_key_id));

    let empty = Fixture::new();
    empty.sim.remove_api_key(&empty.other_run_key_id);
    let out = runkey(&["list"])
        .env("OCTOPUS_URL", empty.sim.url())
        .env("OCTOPUS_API_KEY", &empty.broker_key)
        .run();
    out.code(0);
    assert!(
        out.stdout.starts_with(
            "No keys made by octopus-runkey for Runbook Broker (svc-runbooks, Users-2)."
        )
    );
}

#[test]
fn a_filtered_listing_that_finds_keys_is_not_made_again() {
    let f = Fixture::with_options(Options {
        partial_purpose_filter: PartialPurpose::Substring,
        ..Options::default()
    });
    create(&f, "ServerTasks-1");
    f.sim.reset_counters();
    as_broker(&f, &["list", "--json"]).run().code(0);
    let listings: Vec<String> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/apikeys"))
        .map(|r| r.target)
        .collect();
    assert_eq!(listings.len(), 1, "{listings:?}");
    assert!(
        listings[0].contains("partialPurpose=%5Brunkey%20"),
        "{listings:?}"
    );
}
