//! `setup --remove` (issue 23, item 6): a plan first, then what setup made for one broker
//! goes, in an order Octopus accepts, and nothing of it is left; what is still in use stays
//! and is named; the service account and the package stay.

use super::*;

/// What setup makes, as the server holds it: what a removal must take back.
fn made_by_setup(f: &Fixture) -> Value {
    let mut teams: Vec<Value> = f
        .sim
        .teams()
        .into_iter()
        .map(|t| json!([t.id, t.name, t.member_user_ids]))
        .collect();
    teams.sort_by_key(|t| t.to_string());
    let mut grants: Vec<String> = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .map(|g| g.id)
        .collect();
    grants.sort();
    json!({
        "teams": teams,
        "grants": grants,
        "templates": f.sim.action_templates("Spaces-1").iter().map(|t| t["Id"].clone()).collect::<Vec<_>>(),
        "accounts": f.sim.accounts().iter().map(|a| a["Id"].clone()).collect::<Vec<_>>(),
        "identities": f.sim.oidc_identities().into_iter().map(|i| i.id).collect::<Vec<_>>(),
        "runbooks": f.sim.runbooks().iter().map(|r| r["Id"].clone()).collect::<Vec<_>>(),
        "triggers": f.sim.project_triggers().iter().map(|t| t["Id"].clone()).collect::<Vec<_>>(),
    })
}

fn everything(f: &Fixture, key: &str, dir: &tempfile::TempDir, broker: &str) {
    let pkg = package(dir, VERSION);
    setup(
        f,
        key,
        &[
            "--package",
            pkg.to_str().unwrap(),
            "--broker",
            broker,
            "--oidc",
            "--project",
            "Web",
            "--sweep-project",
            "Web",
            "--sweep-environment",
            "Production",
        ],
    )
    .run()
    .code(0);
}

fn remove(f: &Fixture, key: &str, broker: &str, extra: &[&str]) -> Out {
    let mut args = vec!["--broker", broker, "--remove"];
    args.extend_from_slice(extra);
    let out = setup(f, key, &args).run();
    out.code(0).never_shows(key);
    out
}

#[test]
fn a_removal_leaves_no_trace_of_setup_but_the_service_account_and_the_package() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let before = made_by_setup(&f);
    everything(&f, &key, &dir, BROKER);
    assert_ne!(made_by_setup(&f), before);

    // The plan first: it names every part in the future tense, and writes nothing.
    f.sim.reset_counters();
    let plan = remove(&f, &key, BROKER, &["--dry-run"]);
    assert_eq!(writes(&f), Vec::<String>::new());
    for (kind, name) in [
        ("trigger", "Sweep run keys (svc-runkey) on a schedule"),
        ("runbook", "Sweep run keys (svc-runkey)"),
        ("step template", "Octopus Run Key - Create"),
        ("role", "Runbook consumer"),
        ("team", TEAM),
        ("OIDC identity", "space:default:*"),
        ("OIDC account", ACCOUNT),
    ] {
        assert!(
            plan.plain_stdout()
                .iter()
                .any(|l| l.trim_start().starts_with("would remove")
                    && l.contains(kind)
                    && l.contains(name)),
            "{kind} {name}:\n{}",
            plan.stdout
        );
    }

    let out = remove(&f, &key, BROKER, &[]);
    assert!(out.stdout.contains("removed"), "{}", out.stdout);
    assert_eq!(made_by_setup(&f), before);
    // Kept: the broker (whose name the audit log shows for its run keys' changes) and the
    // package.
    let broker = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == BROKER)
        .unwrap();
    assert!(broker.is_active);
    assert!(
        out.stdout.contains("kept: the audit log names it"),
        "{}",
        out.stdout
    );
    assert_eq!(f.sim.packages().len(), 1);

    // Nothing is left to remove: a second removal writes nothing.
    f.sim.reset_counters();
    let again = remove(&f, &key, BROKER, &[]);
    assert_eq!(writes(&f), Vec::<String>::new());
    assert!(!again.stdout.contains("removed"), "{}", again.stdout);
}

#[test]
fn removing_one_broker_leaves_the_others_team_account_identity_and_sweep() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    // The other broker first: its name begins with this one's, so a listing of this
    // broker's account by name answers with the other's first.
    everything(&f, &key, &dir, "svc-runkey-eu");
    everything(&f, &key, &dir, BROKER);
    let other = user_named(&f, "svc-runkey-eu");
    remove(&f, &key, BROKER, &[]);
    let team = "Octopus Run Key broker svc-runkey-eu";
    assert_eq!(roles_of_team(&f, team), ["userroles-runbookconsumer"]);
    assert!(f.sim.teams().iter().all(|t| t.name != TEAM));
    assert_eq!(
        f.sim
            .accounts()
            .iter()
            .map(|a| a["Name"].clone())
            .collect::<Vec<_>>(),
        [json!(team)]
    );
    assert!(
        f.sim
            .oidc_identities()
            .iter()
            .all(|i| i.service_account_id == other)
    );
    assert_eq!(f.sim.oidc_identities().len(), 1);
    // The other broker's sweep still uses the Sweep template: it stays; the rest go.
    let names: Vec<String> = f
        .sim
        .action_templates("Spaces-1")
        .iter()
        .map(|t| t["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Octopus Run Key - Sweep"]);
    assert_eq!(
        f.sim
            .runbooks()
            .iter()
            .map(|r| r["Name"].clone())
            .collect::<Vec<_>>(),
        [json!("Sweep run keys (svc-runkey-eu)")]
    );
}

#[test]
fn a_template_or_account_still_in_use_is_kept_and_the_checklist_names_where() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    everything(&f, &key, &dir, BROKER);
    // A runbook author's runbook whose step uses the Create template and the account.
    let web = f
        .sim
        .projects()
        .into_iter()
        .find(|p| p.name == "Web")
        .unwrap()
        .id;
    let restart = f.sim.add_runbook("Spaces-1", &web, "Restart web");
    let process = f
        .sim
        .runbooks()
        .into_iter()
        .find(|r| r["Id"] == restart.as_str())
        .unwrap()["RunbookProcessId"]
        .as_str()
        .unwrap()
        .to_string();
    let create = template_named(&f, "Octopus Run Key - Create");
    let account = f
        .sim
        .accounts()
        .into_iter()
        .find(|a| a["Name"] == ACCOUNT)
        .unwrap();
    f.sim.edit_runbook_process(&process, |p| {
        p["Steps"] = json!([{
            "Id": "7c1d1c9e-0000-4000-8000-000000000001",
            "Name": "Create run key", "Condition": "Success", "StartTrigger": "StartAfterPrevious",
            "PackageRequirement": "LetOctopusDecide", "Properties": {},
            "Actions": [{
                "Id": "7c1d1c9e-0000-4000-8000-000000000002",
                "Name": "Create run key", "ActionType": create["ActionType"],
                "IsDisabled": false, "IsRequired": false, "Environments": [],
                "ExcludedEnvironments": [], "Channels": [], "TenantTags": [], "Packages": [],
                "Properties": {
                    "Octopus.Action.Template.Id": create["Id"],
                    "Octopus.Action.Template.Version": create["Version"].to_string(),
                    "RunKey.OidcAccount": account["Id"],
                },
            }],
        }]);
    });
    let out = setup(&f, &key, &["--broker", BROKER, "--remove", "--json"]).run();
    out.code(0);
    let object: Value = serde_json::from_str(&out.stdout).unwrap();
    let result_of = |kind: &str, name: &str| {
        object["Steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Step"] == kind && s["Name"] == name)
            .unwrap_or_else(|| panic!("no step {kind} {name}: {object}"))["Result"]
            .clone()
    };
    assert_eq!(
        result_of("step template", "Octopus Run Key - Create"),
        "skipped"
    );
    assert_eq!(
        result_of("step template", "Octopus Run Key - Revoke"),
        "removed"
    );
    assert_eq!(result_of("OIDC account", ACCOUNT), "skipped");
    assert_eq!(result_of("team", TEAM), "removed");
    let checklist = object["Checklist"].to_string();
    for said in [
        "'Octopus Run Key - Create' is still used by",
        "Restart web",
        ACCOUNT,
    ] {
        assert!(checklist.contains(said), "{said}: {checklist}");
    }
    assert!(f.sim.accounts().iter().any(|a| a["Id"] == account["Id"]));
    assert_eq!(
        f.sim
            .action_templates("Spaces-1")
            .iter()
            .map(|t| t["Name"].clone())
            .collect::<Vec<_>>(),
        [json!("Octopus Run Key - Create")]
    );
}

#[test]
fn a_team_that_holds_anyone_else_is_not_deleted() {
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    let broker = broker_id(&f);
    // Someone added a person to the broker's team after setup.
    let team = f.sim.teams().into_iter().find(|t| t.name == TEAM).unwrap();
    let mut listed = json!({
        "Id": team.id, "Name": TEAM, "SpaceId": "Spaces-1",
        "MemberUserIds": [broker, "Users-1"], "ExternalSecurityGroups": [],
    });
    listed["CanBeDeleted"] = json!(true);
    answer_listing(&f, "/api/Spaces-1/teams", json!([listed]));
    f.sim.reset_counters();
    let out = remove(&f, &key, BROKER, &[]);
    assert!(f.sim.teams().iter().any(|t| t.id == team.id));
    out.stdout_contains("holds Users-1 besides the broker");
    assert!(
        !writes(&f)
            .iter()
            .any(|w| w.contains(&team.id) || w.contains("scopeduserroles")),
        "{:?}",
        writes(&f)
    );
}

// An earlier version of setup shared one team between brokers: a removal takes this broker
// off it and leaves the team and everyone else on it; a shared team without the broker is
// not written to.
#[test]
fn a_removal_takes_the_broker_off_an_earlier_shared_team_and_no_one_else() {
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    let broker = broker_id(&f);
    let shared = f.sim.add_team(
        Some("Spaces-1"),
        "Octopus Run Key brokers",
        &[&broker, "Users-1"],
        &[],
    );
    let out = remove(&f, &key, BROKER, &[]);
    out.stdout_contains("the team an earlier setup shared between brokers");
    let team = f.sim.teams().into_iter().find(|t| t.id == shared).unwrap();
    assert_eq!(team.member_user_ids, ["Users-1"]);

    // Set up again and removed again: the shared team no longer holds the broker, and is
    // left alone.
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    f.sim.reset_counters();
    let out = remove(&f, &key, BROKER, &[]);
    assert!(
        !out.stdout.contains("shared between brokers"),
        "{}",
        out.stdout
    );
    assert!(
        !writes(&f).iter().any(|w| w.contains(&shared)),
        "{:?}",
        writes(&f)
    );
}

// Only the broker's Generic OIDC account is setup's: an account of that name of another
// kind (a space's accounts have unique names, so setup never made it) stays.
#[test]
fn an_account_of_the_brokers_name_but_another_kind_is_not_removed() {
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    let theirs = json!({
        "Id": "Accounts-77", "Name": ACCOUNT, "SpaceId": "Spaces-1",
        "AccountType": "UsernamePassword", "Username": "deploy",
    });
    answer_listing(&f, "/api/Spaces-1/accounts", json!([theirs]));
    f.sim.reset_counters();
    let out = remove(&f, &key, BROKER, &[]);
    assert!(
        out.plain_stdout()
            .iter()
            .any(|l| l.contains("OIDC account") && l.contains("none in this space")),
        "{}",
        out.stdout
    );
    assert!(
        !writes(&f).iter().any(|w| w.contains("Accounts-77")),
        "{:?}",
        writes(&f)
    );
}
