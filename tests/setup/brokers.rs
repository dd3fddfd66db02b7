//! Brokers stay apart (issue 23, items 1 and 3): each on a team of its own holding it
//! alone, granted exactly the roles asked, in the scope asked; a team that holds anyone else
//! is never granted a role; a person is never made the broker.

use super::*;

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
fn two_brokers_with_different_roles_each_hold_only_their_own() {
    // Issue 23, item 1: a read-only broker set up before a deployer broker does not gain
    // the deployer's role; each has a team of its own, holding it alone.
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(
        &f,
        &key,
        &["--broker", "svc-reader", "--role", "Project viewer"],
    )
    .run()
    .code(0);
    setup(
        &f,
        &key,
        &["--broker", "svc-deployer", "--role", "Environment manager"],
    )
    .run()
    .code(0);
    let reader = user_named(&f, "svc-reader");
    let deployer = user_named(&f, "svc-deployer");
    for (username, id, role) in [
        ("svc-reader", &reader, "userroles-projectviewer"),
        ("svc-deployer", &deployer, "userroles-environmentmanager"),
    ] {
        let team = format!("Octopus Run Key broker {username}");
        let found = f.sim.teams().into_iter().find(|t| t.name == team).unwrap();
        assert_eq!(&found.member_user_ids, std::slice::from_ref(id), "{team}");
        assert_eq!(roles_of_team(&f, &team), [role], "{team}");
    }
    // No team holds both.
    assert!(
        f.sim.teams().iter().all(
            |t| !(t.member_user_ids.contains(&reader) && t.member_user_ids.contains(&deployer))
        )
    );
}

#[test]
fn a_second_setup_with_other_roles_leaves_the_team_only_those() {
    // Issue 23, item 3: setup never grants more than it says; a role no --role names goes.
    let f = Fixture::new();
    let key = admin_key(&f);
    setup(&f, &key, &["--broker", BROKER]).run().code(0);
    assert_eq!(roles_of_team(&f, TEAM), ["userroles-runbookconsumer"]);
    let plan = setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--role",
            "Environment manager",
            "--dry-run",
        ],
    )
    .run();
    plan.code(0);
    let removal = plan
        .plain_stdout()
        .into_iter()
        .find(|l| l.contains("Runbook consumer"))
        .unwrap()
        .to_string();
    assert!(
        removal.trim_start().starts_with("would remove"),
        "{removal}"
    );
    setup(
        &f,
        &key,
        &["--broker", BROKER, "--role", "Environment manager"],
    )
    .run()
    .code(0);
    assert_eq!(roles_of_team(&f, TEAM), ["userroles-environmentmanager"]);
}

#[test]
fn a_team_whose_name_only_contains_the_brokers_teams_is_not_taken_for_it() {
    let f = Fixture::new();
    let key = admin_key(&f);
    answer_listing(
        &f,
        "/api/Spaces-1/teams",
        json!([{"Id": "Teams-90", "Name": format!("{TEAM} (old)"), "SpaceId": "Spaces-1", "MemberUserIds": ["Users-1"]}]),
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
fn a_team_of_the_brokers_name_holding_others_or_an_external_group_is_refused_naming_them() {
    // Issue 23, item 1: a role granted to such a team would reach them all.
    let f = Fixture::new();
    let key = admin_key(&f);
    answer_listing(
        &f,
        "/api/Spaces-1/teams",
        json!([{
            "Id": "Teams-90", "Name": TEAM, "SpaceId": "Spaces-1",
            "MemberUserIds": ["Users-1"],
            "ExternalSecurityGroups": [{"Id": "S-1-5-21-513", "DisplayName": "Domain Users"}],
        }]),
    );
    let out = setup(&f, &key, &["--broker", BROKER]).run();
    out.code(2).one_error_line(&[
        &format!("the team '{TEAM}'"),
        "Users-1",
        "the external group Domain Users",
        "besides the broker",
        "remove them from the team, or delete it",
    ]);
    assert_eq!(writes(&f), Vec::<String>::new());
    assert!(
        f.sim
            .scoped_user_roles()
            .iter()
            .all(|g| g.team_id != "Teams-90")
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

#[test]
fn scoped_grants_are_changed_in_place_not_widened() {
    // Issue 23, item 3: the scope is the grant's; another scope changes that grant.
    let f = Fixture::new();
    let key = admin_key(&f);
    let group = f.sim.add_project_group("Spaces-1", "Shop");
    let tenant = f.sim.add_tenant("Spaces-1", "Globex");
    let plan = setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--project",
            "Web",
            "--environment",
            "Production",
            "--project-group",
            "Shop",
            "--tenant",
            "Globex",
            "--dry-run",
        ],
    )
    .run();
    plan.code(0);
    plan.stdout_contains(
        "grant it to the team in the project Web and the project group Shop and the environment Production and the tenant Globex",
    );
    setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--project",
            "Web",
            "--environment",
            "production",
            "--project-group",
            "Shop",
            "--tenant",
            "Globex",
        ],
    )
    .run()
    .code(0);
    let grants = f.sim.scoped_user_roles();
    let team = f
        .sim
        .teams()
        .into_iter()
        .find(|t| t.name == TEAM)
        .unwrap()
        .id;
    let ours: Vec<_> = grants.iter().filter(|g| g.team_id == team).collect();
    assert_eq!(ours.len(), 1);
    let grant = ours[0].clone();
    assert_eq!(grant.project_ids, std::slice::from_ref(&f.project_id));
    assert_eq!(
        grant.environment_ids,
        std::slice::from_ref(&f.production_id)
    );
    assert_eq!(grant.project_group_ids, [group]);
    assert_eq!(grant.tenant_ids, [tenant]);

    // Another environment: the same grant, changed with one PUT.
    f.sim.reset_counters();
    setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--project",
            "Web",
            "--environment",
            "Staging",
        ],
    )
    .run()
    .code(0);
    assert_eq!(
        writes(&f),
        [format!("PUT /api/Spaces-1/scopeduserroles/{}", grant.id)]
    );
    let now = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .find(|g| g.team_id == team)
        .unwrap();
    assert_eq!(now.id, grant.id);
    assert_eq!(now.environment_ids, std::slice::from_ref(&f.staging_id));
    assert!(now.project_group_ids.is_empty() && now.tenant_ids.is_empty());
    // No scope at all: the whole space, said as such, still one grant.
    let out = setup(&f, &key, &["--broker", BROKER]).run();
    out.code(0).stdout_contains("all of the space");
    let all: Vec<_> = f
        .sim
        .scoped_user_roles()
        .into_iter()
        .filter(|g| g.team_id == team)
        .collect();
    assert_eq!(all.len(), 1);
    assert!(all[0].is_whole_space());
    // A name the space lacks: exit 2, nothing written, the names there are listed.
    f.sim.reset_counters();
    let out = setup(&f, &key, &["--broker", BROKER, "--environment", "Prod"]).run();
    out.code(2).one_error_line(&[
        "--environment 'Prod': no such name in Default",
        "Production",
        "Staging",
    ]);
    assert_eq!(writes(&f), Vec::<String>::new());
}
