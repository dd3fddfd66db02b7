//! Plan, then apply: from an empty space to a working runbook, a second run and a dry run
//! that write nothing, templates compared before a save, a refused step that stops with one
//! line and a rerun that finishes, JSON, the header and the checklist.

use super::*;

#[test]
fn from_zero_it_creates_everything_and_the_oidc_broker_then_mints_run_keys() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let out = full_setup(&f, &key, &dir);
    for line in ["created", "package", TEAM, ACCOUNT, "Runbook consumer"] {
        assert!(out.stdout.contains(line), "{line}:\n{}", out.stdout);
    }
    out.stdout_contains("Left to do by hand:");

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
    // Issue 23, item 6: a plan speaks of what it would do.
    assert!(out.stdout.contains("would create"), "{}", out.stdout);
    assert!(!out.stdout.contains(" created "), "{}", out.stdout);
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
            "team 'Octopus Run Key broker svc-runkey'",
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
    let checklist = object["Checklist"].as_array().unwrap();
    assert!(
        checklist.iter().any(|item| item
            .as_str()
            .unwrap()
            .contains(&format!("as OIDC account, '{ACCOUNT}'"))),
        "{checklist:?}"
    );
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

/// `setup --json` with `args`: the checklist of what is left to do by hand.
fn checklist(f: &Fixture, key: &str, args: &[&str]) -> Vec<String> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = setup(f, key, &all).run();
    out.code(0);
    let object: Value = serde_json::from_str(&out.stdout).unwrap();
    serde_json::from_value(object["Checklist"].clone()).unwrap()
}

#[test]
fn the_checklist_is_a_handful_of_lines_naming_this_setups_account_or_key() {
    // Issue 23, item 6: what is left to do by hand, not one line per template parameter.
    let f = Fixture::new();
    let key = admin_key(&f);
    let oidc = checklist(&f, &key, &["--broker", BROKER, "--oidc"]);
    assert!(oidc.len() <= 5, "{oidc:?}");
    let all = oidc.join("\n");
    for said in [
        "'Octopus Run Key - Create' step first",
        "'Octopus Run Key - Revoke' step last",
        "Always run",
        &format!("as OIDC account, '{ACCOUNT}'"),
        "no secret is stored",
        "--sweep-project",
    ] {
        assert!(all.contains(said), "{said}: {oidc:?}");
    }
    let keys = checklist(&f, &key, &["--broker", BROKER]).join("\n");
    assert!(
        keys.contains(&format!("an API key of {BROKER} as a sensitive variable")),
        "{keys}"
    );
    assert!(!keys.contains("as OIDC account"), "{keys}");
    let nothing = checklist(&f, &key, &[]).join("\n");
    assert!(
        nothing.contains("run setup with --broker and --oidc"),
        "{nothing}"
    );
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
fn the_header_names_the_space_with_its_control_characters_shown_escaped() {
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
    // Issue 24, item 3: shown, not obeyed (nor hidden).
    assert_eq!(
        out.plain_stdout()[0],
        "setup plan for the space 'Ops\\u{1b}[2J\\nfake line' (Spaces-1), a dry run: nothing was changed"
    );
}
