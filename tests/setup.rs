//! `setup`: from an empty space to a working, audited runbook in one command. Plan, then
//! apply: every step created, updated, unchanged or skipped; a second run and a dry run
//! write nothing; a refused step stops with one line and a rerun finishes the job.

use std::path::PathBuf;

use jiff::SignedDuration;
use octopus_sim::RequestRecord;
use serde_json::{Value, json};

use crate::support::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BROKER: &str = "svc-runkey";
const TEAM: &str = "Octopus Run Key brokers";
const ACCOUNT: &str = "Octopus Run Key broker";

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

#[test]
fn from_zero_it_creates_everything_and_the_oidc_broker_then_mints_run_keys() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let out = full_setup(&f, &key, &dir);
    for line in ["created", "package", TEAM, ACCOUNT, "Runbook consumer"] {
        assert!(out.stdout.contains(line), "{line}:\n{}", out.stdout);
    }
    out.stdout_contains("To use it in a runbook");

    let packages = f.sim.packages();
    assert_eq!(packages.len(), 1);
    assert_eq!(
        (
            packages[0].package_id.as_str(),
            packages[0].version.as_str()
        ),
        ("octopus-runkey", VERSION)
    );
    let installed: Vec<Value> = f.sim.action_templates("Spaces-1");
    let mut names: Vec<String> = installed
        .iter()
        .map(|t| t["Name"].as_str().unwrap().to_string())
        .collect();
    let mut shipped = shipped_templates();
    names.sort();
    shipped.sort();
    assert_eq!(names, shipped);
    for t in &installed {
        assert_eq!(t["Version"], 0, "a new template starts at version 0");
        assert!(t.get("$Meta").is_none() && t.get("Category").is_none());
    }

    let broker = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == BROKER)
        .unwrap();
    assert!(broker.is_service && broker.is_active);
    let team = f.sim.teams().into_iter().find(|t| t.name == TEAM).unwrap();
    assert_eq!(team.space_id.as_deref(), Some("Spaces-1"));
    assert_eq!(team.member_user_ids, vec![broker.id.clone()]);
    let grants: Vec<_> = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .filter(|g| g.team_id == team.id)
        .collect();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].user_role_id, "userroles-runbookconsumer");
    assert_eq!(grants[0].space_id.as_deref(), Some("Spaces-1"));
    assert!(grants[0].is_whole_space());

    let identities: Vec<_> = f
        .sim
        .oidc_identities()
        .into_iter()
        .filter(|i| i.service_account_id == broker.id)
        .collect();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].issuer, f.sim.oidc_issuer());
    assert_eq!(identities[0].subject, "space:default:*");
    let audience = f.sim.external_id(&broker.id);
    let accounts = f.sim.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["Name"], ACCOUNT);
    assert_eq!(accounts[0]["AccountType"], "GenericOidcAccount");
    assert_eq!(accounts[0]["Audience"], audience.as_str());
    assert_eq!(
        accounts[0]["DeploymentSubjectKeys"],
        json!(["space", "project", "runbook"])
    );

    // Every change is in the audit log as the administrator's.
    let events = f.sim.audit();
    assert!(events.len() >= 10, "{events:?}");
    assert!(events.iter().all(|e| e.user_id == f.admin_id), "{events:?}");

    // A runbook step with the new account's JWT: the key belongs to the new broker.
    let jwt = f.sim.oidc_jwt(
        "space:default:project:ops:runbook:restart-web",
        &audience,
        SignedDuration::from_mins(10),
    );
    let mut env: Vec<(&'static str, String)> = create_env(&f, "ServerTasks-77")
        .into_iter()
        .filter(|(name, _)| *name != "OCTOPUS_API_KEY")
        .collect();
    env.push(("RUNKEY_OIDC_JWT", jwt));
    env.push(("RUNKEY_OIDC_AUDIENCE", audience));
    let created = runkey(&["create"]).envs(env).run();
    created.code(0);
    let keys = f.sim.keys(&broker.id);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        marker(&keys[0].purpose).map(|(task, _)| task).as_deref(),
        Some("ServerTasks-77")
    );
    assert_eq!(created.var("ApiKeyOwnerId"), broker.id);
}

#[test]
fn a_second_setup_sends_no_write() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    f.sim.reset_counters();
    let again = full_setup(&f, &key, &dir);
    assert_eq!(writes(&f), Vec::<String>::new());
    assert!(!again.stdout.contains("created"), "{}", again.stdout);
    assert!(!again.stdout.contains("updated"), "{}", again.stdout);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
}

/// The full setup, then the first shipped template edited on the server as an older
/// version would be; its name and id.
fn set_up_with_an_older_template(
    f: &Fixture,
    key: &str,
    dir: &tempfile::TempDir,
) -> (String, String) {
    full_setup(f, key, dir);
    let name = shipped_templates()[0].clone();
    let id = template_named(f, &name)["Id"].as_str().unwrap().to_string();
    f.sim.edit_action_template(&id, |t| {
        t["Properties"]["Octopus.Action.Script.ScriptBody"] = json!("echo an older script");
    });
    (name, id)
}

#[test]
fn a_changed_template_gets_exactly_one_put_and_no_post() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let (name, id) = set_up_with_an_older_template(&f, &key, &dir);
    f.sim.reset_counters();
    let out = full_setup(&f, &key, &dir);
    assert_eq!(
        writes(&f),
        [format!("PUT /api/Spaces-1/actiontemplates/{id}")]
    );
    let updated = template_named(&f, &name);
    assert_eq!(updated["Version"], 1, "the server bumped the version once");
    assert_ne!(
        updated["Properties"]["Octopus.Action.Script.ScriptBody"],
        "echo an older script"
    );
    assert!(out.stdout.contains("updated"), "{}", out.stdout);
    out.stdout_contains("keep its old version");
}

#[test]
fn a_community_template_of_the_same_name_is_left_alone_with_a_warning() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let name = shipped_templates()[0].clone();
    let id = f.sim.add_action_template(
        "Spaces-1",
        json!({"Name": name, "ActionType": "Octopus.Script", "Version": 7,
               "CommunityActionTemplateId": "CommunityActionTemplates-42",
               "Properties": {}, "Parameters": [], "Packages": []}),
    );
    let out = setup(&f, &key, &[]).run();
    out.code(0)
        .warns(&["was installed from the community library, so setup leaves it alone"]);
    assert!(
        !writes(&f).iter().any(|w| w.contains(&id)),
        "{:?}",
        writes(&f)
    );
    let kept = template_named(&f, &name);
    assert_eq!(kept["Version"], 7);
    assert_eq!(
        f.sim
            .action_templates("Spaces-1")
            .iter()
            .filter(|t| t["Name"] == name.as_str())
            .count(),
        1
    );
    assert!(out.stdout.contains("skipped"), "{}", out.stdout);
}

#[test]
fn a_dry_run_prints_the_plan_and_sends_no_write() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(&dir, VERSION);
    let out = setup(
        &f,
        &key,
        &[
            "--package",
            pkg.to_str().unwrap(),
            "--broker",
            BROKER,
            "--oidc",
            "--dry-run",
        ],
    )
    .run();
    out.code(0).never_shows(&key);
    assert_eq!(writes(&f), Vec::<String>::new());
    assert!(out.stdout.contains("dry run"), "{}", out.stdout);
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    assert!(f.sim.packages().is_empty() && f.sim.accounts().is_empty());
}

#[test]
fn a_refused_step_stops_with_one_line_and_a_rerun_finishes_without_duplicates() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    f.sim.revoke_permission(&f.admin_id, "TeamCreate");
    let pkg = package(&dir, VERSION);
    let args = [
        "--package",
        pkg.to_str().unwrap(),
        "--broker",
        BROKER,
        "--oidc",
    ];
    let out = setup(&f, &key, &args).run();
    out.code(1)
        .one_error_line(&[
            "team 'Octopus Run Key brokers'",
            "TeamCreate",
            "run setup again",
        ])
        .never_shows(&key);
    // What was done before is said, and is there.
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    let lines: Vec<&str> = out.plain_stdout();
    let team = lines
        .iter()
        .position(|l| l.contains("team") && l.contains(TEAM))
        .unwrap();
    assert!(
        lines[team].trim_start().starts_with("not done"),
        "{lines:?}"
    );
    assert!(
        lines[..team].iter().all(|l| !l.contains("not done")),
        "{lines:?}"
    );
    assert_eq!(f.sim.packages().len(), 1);
    assert!(f.sim.teams().iter().all(|t| t.name != TEAM));

    f.sim.grant_permission(&f.admin_id, "TeamCreate");
    full_setup(&f, &key, &dir);
    assert_eq!(f.sim.packages().len(), 1);
    assert_eq!(
        f.sim.action_templates("Spaces-1").len(),
        shipped_templates().len()
    );
    assert_eq!(
        f.sim
            .users()
            .iter()
            .filter(|u| u.username == BROKER)
            .count(),
        1
    );
    assert_eq!(f.sim.teams().iter().filter(|t| t.name == TEAM).count(), 1);
    assert_eq!(f.sim.scoped_user_roles().len(), 1);
    assert_eq!(f.sim.accounts().len(), 1);
    let broker = broker_id(&f);
    assert_eq!(
        f.sim
            .oidc_identities()
            .iter()
            .filter(|i| i.service_account_id == broker)
            .count(),
        1
    );
}

#[test]
fn a_package_of_another_version_is_refused_before_any_request() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(&dir, "9.9.9");
    f.sim.expect_no_requests();
    let out = setup(&f, &key, &["--package", pkg.to_str().unwrap()]).run();
    out.code(2)
        .one_error_line(&["is version 9.9.9", VERSION])
        .never_shows(&key);
    let misnamed = dir.path().join(format!("octopus-runkey-{VERSION}.zip"));
    std::fs::write(&misnamed, b"PK").unwrap();
    let out = setup(&f, &key, &["--package", misnamed.to_str().unwrap()]).run();
    out.code(2)
        .one_error_line(&["the file name is not octopus-runkey.<version>.<ext>"]);
}

#[test]
fn without_broker_no_user_team_role_or_account_is_touched() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let users_before = f.sim.users().len();
    let out = setup(&f, &key, &[]).run();
    out.code(0);
    let touched: Vec<String> = f
        .sim
        .requests()
        .iter()
        .filter(|r| {
            [
                "/api/users",
                "teams",
                "userroles",
                "accounts",
                "serviceaccounts",
            ]
            .iter()
            .any(|p| r.target.contains(p))
        })
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(touched, Vec::<String>::new());
    assert_eq!(f.sim.users().len(), users_before);
    assert!(f.sim.teams().iter().all(|t| t.name != TEAM));
    assert!(f.sim.accounts().is_empty());
    // The templates went in; the broker step says why it did nothing.
    assert_eq!(
        f.sim.action_templates("Spaces-1").len(),
        shipped_templates().len()
    );
    assert!(out.stdout.contains("no --broker given"), "{}", out.stdout);
}

#[test]
fn json_is_one_object_with_every_step() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(&dir, VERSION);
    let out = setup(
        &f,
        &key,
        &[
            "--package",
            pkg.to_str().unwrap(),
            "--broker",
            BROKER,
            "--oidc",
            "--json",
        ],
    )
    .run();
    out.code(0).never_shows(&key);
    let object: Value = serde_json::from_str(&out.stdout).expect("stdout is one JSON value");
    assert!(object.is_object());
    assert_eq!(object["Space"]["Id"], "Spaces-1");
    assert_eq!(object["Completed"], true);
    let steps = object["Steps"].as_array().unwrap();
    // package, templates, service account, team, role, OIDC identity, OIDC account
    assert_eq!(steps.len(), 1 + shipped_templates().len() + 5);
    assert!(steps.iter().all(|s| s["Result"] == "created"), "{steps:?}");
    assert!(
        object["Runbook"]["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Parameter"] == "RunKey.Package")
    );
}

#[test]
fn an_unknown_role_or_space_is_a_usage_error_before_any_write() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let out = setup(&f, &key, &["--broker", BROKER, "--role", "Runbook wizard"]).run();
    out.code(2)
        .one_error_line(&["--role 'Runbook wizard'", "Runbook consumer"]);
    let out = setup(&f, &key, &["--space", "Nowhere"]).run();
    out.code(2)
        .one_error_line(&["no space 'Nowhere'", "'Default' (Spaces-1)"]);
    assert_eq!(writes(&f), Vec::<String>::new());
}

#[test]
fn the_space_is_found_by_name_and_a_person_is_never_made_the_broker() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let ops = f.sim.add_space("Ops Team", false);
    let out = setup(&f, &key, &["--space", "Ops Team"]).run();
    out.code(0);
    assert_eq!(
        f.sim.action_templates(&ops).len(),
        shipped_templates().len()
    );
    assert!(f.sim.action_templates("Spaces-1").is_empty());
    let out = setup(&f, &key, &["--broker", "jane.doe"]).run();
    out.code(2).one_error_line(&["a person's account"]);
}

#[test]
fn the_administrators_key_reaches_no_output_and_only_the_header() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    f.sim.revoke_permission(&f.admin_id, "AccountEdit");
    let out = setup(&f, &key, &["-v", "--broker", BROKER, "--oidc", "--json"]).run();
    out.code(0).never_shows(&key);
    assert!(out.stderr().contains("(redacted)"));
    for request in f.sim.requests() {
        assert!(!request.target.contains(&key) && !request.body.contains(&key));
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "setup writes no file"
    );
}

#[test]
fn a_second_broker_joins_the_team_and_the_first_stays() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    let first = broker_id(&f);
    let out = setup(&f, &key, &["--broker", "svc-runkey-eu"]).run();
    out.code(0);
    let second = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == "svc-runkey-eu")
        .expect("the second broker")
        .id;
    let teams: Vec<_> = f
        .sim
        .teams()
        .into_iter()
        .filter(|t| t.name == TEAM)
        .collect();
    assert_eq!(teams.len(), 1);
    let mut members = teams[0].member_user_ids.clone();
    members.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(members, expected);
    assert!(
        writes(&f).iter().any(|w| w.starts_with("PUT /api/teams/")),
        "{:?}",
        writes(&f)
    );
}

#[test]
fn a_package_lookup_that_fails_or_is_a_proxys_404_stops_setup_before_any_upload() {
    // Only Octopus's own 404 says the package is missing: a server error, or a proxy's page,
    // proves nothing.
    let proxy_page = FaultKind::Body {
        status: 404,
        body: "<html><body><h1>404 Not Found</h1>nginx</body></html>".to_string(),
    };
    for (fault, status) in [
        (
            Fault::new("GET", "/packages/", FaultKind::status(500)).times(5),
            "500",
        ),
        (Fault::new("GET", "/packages/", proxy_page), "404"),
    ] {
        let f = Fixture::new();
        let key = admin_key(&f);
        let dir = tempfile::tempdir().unwrap();
        let pkg = package(&dir, VERSION);
        f.sim.inject(fault);
        let out = setup(&f, &key, &["--package", pkg.to_str().unwrap()]).run();
        out.code(1).one_error_line(&["/packages/", status]);
        assert!(f.sim.packages().is_empty());
        assert!(writes(&f).is_empty(), "{:?}", writes(&f));
    }
}

#[test]
fn a_discovery_document_without_an_issuer_stops_the_oidc_step() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    f.sim.inject(Fault::new(
        "GET",
        "/.well-known/openid-configuration",
        FaultKind::Body {
            status: 200,
            body: r#"{"issuer":"","token_endpoint":"/token/v1"}"#.to_string(),
        },
    ));
    let out = full_setup_command(&f, &key, &dir).run();
    out.code(1).one_error_line(&["names no issuer", "2025.1"]);
    assert!(f.sim.oidc_identities().is_empty());
}

#[test]
fn a_refused_template_update_names_the_put() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let (_, id) = set_up_with_an_older_template(&f, &key, &dir);
    f.sim.inject(Fault::new(
        "PUT",
        "/actiontemplates/",
        FaultKind::status(403),
    ));
    let out = full_setup_command(&f, &key, &dir).run();
    out.code(1)
        .one_error_line(&[&format!("PUT /api/Spaces-1/actiontemplates/{id}")]);
}

#[test]
fn the_oidc_account_follows_the_broker_setup_last_named() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    let out = setup(&f, &key, &["--broker", "svc-runkey-eu", "--oidc"]).run();
    out.code(0);
    let second = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == "svc-runkey-eu")
        .expect("the second broker")
        .id;
    let accounts = f.sim.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0]["Audience"],
        f.sim.external_id(&second).as_str(),
        "{:?}",
        accounts[0]
    );
    assert!(
        writes(&f)
            .iter()
            .any(|w| w.starts_with("PUT /api/Spaces-1/accounts/")),
        "{:?}",
        writes(&f)
    );
}

#[test]
fn a_broker_username_has_1_to_64_characters_and_the_account_its_display_name() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let long = "b".repeat(65);
    for bad in ["  ", long.as_str()] {
        let out = setup(&f, &key, &["--broker", bad]).run();
        out.code(2)
            .one_error_line(&["a username has 1 to 64 characters"]);
    }
    assert_eq!(writes(&f), Vec::<String>::new());
    let longest = "b".repeat(64);
    setup(&f, &key, &["--broker", &longest]).run().code(0);
    let broker = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == longest)
        .expect("the broker");
    assert_eq!(broker.display_name, "Octopus Run Key broker");
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

#[test]
fn a_team_whose_name_only_contains_the_brokers_teams_is_not_taken_for_it() {
    let f = Fixture::new();
    let key = admin_key(&f);
    answer_listing(
        &f,
        "/api/Spaces-1/teams",
        json!([{"Id": "Teams-90", "Name": "Octopus Run Key brokers (old)", "SpaceId": "Spaces-1", "MemberUserIds": []}]),
    );
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    let teams: Vec<_> = f
        .sim
        .teams()
        .into_iter()
        .filter(|t| t.name == TEAM)
        .collect();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].member_user_ids, [broker_id(&f)]);
}

#[test]
fn a_role_is_granted_even_when_the_team_holds_another() {
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    assert_eq!(f.sim.scoped_user_roles().len(), 1);
    setup(
        &f,
        &key,
        &["--broker", BROKER, "--role", "Environment manager"],
    )
    .run()
    .code(0);
    let granted: Vec<String> = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .map(|g| g.user_role_id)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
}

#[test]
fn without_oidc_no_identity_or_account_is_made() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let out = setup(&f, &key, &["--broker", BROKER]).run();
    out.code(0);
    assert!(out.stdout.contains("no --oidc given"), "{}", out.stdout);
    assert!(f.sim.oidc_identities().is_empty());
    assert!(f.sim.accounts().is_empty());
}

#[test]
fn a_space_without_a_slug_needs_an_oidc_subject() {
    let f = Fixture::new();
    let key = admin_key(&f);
    answer_listing(
        &f,
        "/api/spaces",
        json!([{"Id": "Spaces-1", "Name": "Default", "Slug": "", "IsDefault": true}]),
    );
    let out = setup(&f, &key, &["--broker", BROKER, "--oidc"]).run();
    out.code(2)
        .one_error_line(&["has no slug", "--oidc-subject"]);
    assert!(f.sim.oidc_identities().is_empty());
}

#[test]
fn another_subject_is_trusted_beside_the_first() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--oidc",
            "--oidc-subject",
            "space:default:project:web:*",
        ],
    )
    .run()
    .code(0);
    let mut subjects: Vec<String> = f
        .sim
        .oidc_identities()
        .into_iter()
        .map(|i| i.subject)
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["space:default:*", "space:default:project:web:*"]);
}

#[test]
fn an_account_of_the_name_but_another_kind_is_a_usage_error() {
    let f = Fixture::new();
    let key = admin_key(&f);
    answer_listing(
        &f,
        "/api/Spaces-1/accounts",
        json!([{"Id": "Accounts-9", "Name": ACCOUNT, "AccountType": "UsernamePassword"}]),
    );
    let out = setup(&f, &key, &["--broker", BROKER, "--oidc"]).run();
    out.code(2)
        .one_error_line(&["is a UsernamePassword, not a Generic OIDC account"]);
    assert!(f.sim.accounts().is_empty());
}

#[test]
fn an_account_with_the_right_audience_but_other_subject_keys_is_updated() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    let mut account = f.sim.accounts()[0].clone();
    account["DeploymentSubjectKeys"] = json!(["space"]);
    answer_listing(&f, "/api/Spaces-1/accounts", json!([account]));
    f.sim.reset_counters();
    full_setup(&f, &key, &dir);
    let id = f.sim.accounts()[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(writes(&f), [format!("PUT /api/Spaces-1/accounts/{id}")]);
    let mut keys: Vec<String> =
        serde_json::from_value(f.sim.accounts()[0]["DeploymentSubjectKeys"].clone()).unwrap();
    keys.sort();
    assert!(keys.len() > 1, "{keys:?}");
}

/// `setup --json` with `args`: the advice as (template, parameter) -> value.
fn advice(
    f: &Fixture,
    key: &str,
    args: &[&str],
) -> std::collections::BTreeMap<(String, String), String> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = setup(f, key, &all).run();
    out.code(0);
    let object: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut names: Vec<String> = object["Runbook"]["Templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut shipped = shipped_templates();
    shipped.sort();
    assert_eq!(names, shipped);
    object["Runbook"]["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (
                    p["Template"].as_str().unwrap().to_string(),
                    p["Parameter"].as_str().unwrap().to_string(),
                ),
                p["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_advice_names_each_templates_package_key_and_account_as_this_setup_left_them() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let with = |template: &str, parameter: &str| (template.to_string(), parameter.to_string());
    // The templates that use the broker's credential: each takes its OIDC account, or its
    // key where OIDC is not available (issue 26).
    let minters = [
        "Octopus Run Key - Create",
        "Octopus Run Key - Create - Bash",
        "Octopus Run Key - Exec",
        "Octopus Run Key - Exec - Bash",
        "Octopus Run Key - Sweep",
        "Octopus Run Key - Sweep - Bash",
        "Octopus Run Key - Revoke",
        "Octopus Run Key - Revoke - Bash",
        "Octopus Run Key - Audit",
        "Octopus Run Key - Audit - Bash",
    ];

    let oidc = advice(&f, &key, &["--broker", BROKER, "--oidc"]);
    // A package for every template, a key and an account for those that use the broker:
    // nothing else.
    assert_eq!(oidc.len(), shipped_templates().len() + 2 * minters.len());
    for template in shipped_templates() {
        assert!(
            oidc[&with(&template, "RunKey.Package")]
                .starts_with("octopus-runkey from the built-in feed"),
            "{template}"
        );
    }
    for template in minters {
        assert_eq!(
            oidc[&with(template, "RunKey.OidcAccount")],
            "the account 'Octopus Run Key broker'"
        );
        assert!(
            oidc[&with(template, "RunKey.BrokerApiKey")].starts_with("leave empty: the account")
        );
    }

    let keys = advice(&f, &key, &["--broker", BROKER]);
    for template in minters {
        assert!(
            keys[&with(template, "RunKey.OidcAccount")]
                .starts_with("leave empty (run setup with --oidc")
        );
        assert!(
            keys[&with(template, "RunKey.BrokerApiKey")]
                .starts_with("an API key of the service account svc-runkey")
        );
    }

    let nothing = advice(&f, &key, &[]);
    for template in minters {
        assert!(
            nothing[&with(template, "RunKey.BrokerApiKey")]
                .ends_with("(run setup with --broker to create it)")
        );
    }
}

#[test]
fn a_stopped_setup_marks_the_refused_step_and_what_follows_not_done() {
    let f = Fixture::new();
    let key = admin_key(&f);
    f.sim.revoke_permission(&f.admin_id, "TeamCreate");
    let out = setup(&f, &key, &["--broker", BROKER, "--json"]).run();
    out.code(1).one_error_line(&["TeamCreate"]);
    // Outside Octopus stdout is the object alone; under Octopus the task summary's line
    // follows it.
    let object: Value = serde_json::from_str(&out.stdout).expect("stdout is one JSON value");
    assert!(out.result_message().is_none());
    let under_octopus = setup(&f, &key, &["--broker", BROKER, "--json"])
        .env("TentacleHome", "/etc/octopus")
        .run();
    under_octopus.code(1).one_error_line(&["TeamCreate"]);
    assert!(
        under_octopus
            .result_message()
            .is_some_and(|m| m.contains("TeamCreate"))
    );
    let results: Vec<(String, String)> = object["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["Step"].as_str().unwrap().to_string(),
                s["Result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let team = results.iter().position(|(kind, _)| kind == "team").unwrap();
    assert!(team > 0);
    assert!(
        results[..team].iter().all(|(_, r)| r != "not done"),
        "{results:?}"
    );
    assert!(
        results[team..].iter().all(|(_, r)| r == "not done"),
        "{results:?}"
    );
    assert_eq!(object["Completed"], false);
}

#[test]
fn the_header_names_the_space_without_its_control_characters() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let out = setup(&f, &key, &["--dry-run"]).run();
    out.code(0);
    assert_eq!(
        out.plain_stdout()[0],
        "setup plan for the space 'Default' (Spaces-1), a dry run: nothing was changed"
    );
    answer_listing(
        &f,
        "/api/spaces",
        json!([{"Id": "Spaces-1", "Name": "Ops\u{1b}[2J\nfake line", "Slug": "ops", "IsDefault": true}]),
    );
    let out = setup(&f, &key, &["--dry-run"]).run();
    out.code(0);
    assert_eq!(
        out.plain_stdout()[0],
        "setup plan for the space 'Ops[2Jfake line' (Spaces-1), a dry run: nothing was changed"
    );
}
