//! `setup`: from an empty space to a working, audited runbook in one command, and back.
//! The helpers every part shares; the tests by part: `plan` (plan, then apply), `brokers`
//! (teams, roles, scope), `trust` (OIDC), `spaces`, `sweep` (the scheduled runbook) and
//! `remove`.

mod brokers;
mod plan;
mod remove;
mod spaces;
mod sweep;
mod trust;

use std::path::PathBuf;

use jiff::SignedDuration;
use octopus_sim::RequestRecord;
use serde_json::{Value, json};

use crate::support::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BROKER: &str = "svc-runkey";
/// The broker's own team and OIDC account (issue 23: one of each per broker).
const TEAM: &str = "Octopus Run Key broker svc-runkey";
const ACCOUNT: &str = "Octopus Run Key broker svc-runkey";

/// A tiny gzip'd tar named as the release names it, at `version`.
fn package(dir: &tempfile::TempDir, version: &str) -> PathBuf {
    let path = dir.path().join(format!("octopus-runkey.{version}.tar.gz"));
    let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03];
    bytes.extend_from_slice(b"not really compressed, enough for a feed");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The administrator's own key (the fixture's admin holds what setup needs).
fn admin_key(f: &Fixture) -> String {
    f.sim.add_api_key(&f.admin_id, "admin's own key", None).1
}

fn setup(f: &Fixture, key: &str, args: &[&str]) -> Run {
    let mut all = vec!["setup"];
    all.extend_from_slice(args);
    runkey(&all)
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", key)
}

fn is_write(r: &RequestRecord) -> bool {
    matches!(r.method.as_str(), "POST" | "PUT" | "DELETE")
}

fn writes(f: &Fixture) -> Vec<String> {
    f.sim
        .requests()
        .iter()
        .filter(|r| is_write(r))
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

fn shipped_templates() -> Vec<String> {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/step-templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let t: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            t["Name"].as_str().unwrap().to_string()
        })
        .collect()
}

fn template_named(f: &Fixture, name: &str) -> Value {
    f.sim
        .action_templates("Spaces-1")
        .into_iter()
        .find(|t| t["Name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

fn broker_id(f: &Fixture) -> String {
    f.sim
        .users()
        .into_iter()
        .find(|u| u.username == BROKER)
        .expect("the broker service account")
        .id
}

/// The full setup's command line: package, broker, OIDC.
fn full_setup_command(f: &Fixture, key: &str, dir: &tempfile::TempDir) -> Run {
    let pkg = package(dir, VERSION);
    setup(
        f,
        key,
        &[
            "--package",
            pkg.to_str().unwrap(),
            "--broker",
            BROKER,
            "--oidc",
        ],
    )
}

/// The full setup, asserting success and no stderr.
fn full_setup(f: &Fixture, key: &str, dir: &tempfile::TempDir) -> Out {
    let out = full_setup_command(f, key, dir).run();
    out.code(0).never_shows(key);
    out
}

/// The user of that username.
fn user_named(f: &Fixture, username: &str) -> String {
    f.sim
        .users()
        .into_iter()
        .find(|u| u.username == username)
        .unwrap_or_else(|| panic!("no user {username}"))
        .id
}

/// The roles granted to the team of that name, by role id.
fn roles_of_team(f: &Fixture, team: &str) -> Vec<String> {
    let team = f
        .sim
        .teams()
        .into_iter()
        .find(|t| t.name == team)
        .unwrap_or_else(|| panic!("no team {team}"));
    let mut roles: Vec<String> = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .filter(|g| g.team_id == team.id)
        .map(|g| g.user_role_id)
        .collect();
    roles.sort();
    roles
}

/// One page of an Octopus listing holding `items`.
fn listing(items: Value) -> String {
    let count = items.as_array().map_or(0, Vec::len);
    json!({
        "ItemType": "Thing",
        "TotalResults": count,
        "ItemsPerPage": 30,
        "NumberOfPages": 1,
        "LastPageNumber": 0,
        "Items": items,
        "Links": {},
    })
    .to_string()
}

fn answer_listing(f: &Fixture, path: &str, items: Value) {
    f.sim.inject(Fault::new(
        "GET",
        path,
        FaultKind::Body {
            status: 200,
            body: listing(items),
        },
    ));
}
