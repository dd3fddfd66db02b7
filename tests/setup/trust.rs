//! The broker's OIDC trust: an identity for this server's issuer, and a Generic OIDC account
//! of the broker's own that is never re-pointed at another broker (issue 23, item 1).

use super::*;

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
fn a_second_brokers_oidc_gets_its_own_account_and_the_first_keeps_its_audience() {
    // Issue 23, item 1: never re-point one broker's account at another.
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    let first = broker_id(&f);
    f.sim.reset_counters();
    let out = setup(&f, &key, &["--broker", "svc-runkey-eu", "--oidc"]).run();
    out.code(0);
    let second = user_named(&f, "svc-runkey-eu");
    let accounts = f.sim.accounts();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    let audience_of = |name: &str| {
        accounts
            .iter()
            .find(|a| a["Name"] == name)
            .unwrap_or_else(|| panic!("no account {name}"))["Audience"]
            .clone()
    };
    assert_eq!(audience_of(ACCOUNT), f.sim.external_id(&first).as_str());
    assert_eq!(
        audience_of("Octopus Run Key broker svc-runkey-eu"),
        f.sim.external_id(&second).as_str()
    );
    assert!(
        !writes(&f)
            .iter()
            .any(|w| w.starts_with("PUT /api/Spaces-1/accounts/")),
        "{:?}",
        writes(&f)
    );
}

#[test]
fn an_account_of_the_brokers_name_that_trusts_another_broker_is_refused_not_repointed() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    full_setup(&f, &key, &dir);
    let first = broker_id(&f);
    // Someone named an account for the second broker but pointed it at the first.
    let mut account = f.sim.accounts()[0].clone();
    account["Id"] = json!("Accounts-77");
    account["Name"] = json!("Octopus Run Key broker svc-runkey-eu");
    answer_listing(&f, "/api/Spaces-1/accounts", json!([account]));
    f.sim.reset_counters();
    let out = setup(
        &f,
        &key,
        &["--broker", "svc-runkey-eu", "--oidc", "--dry-run"],
    )
    .run();
    out.code(2).one_error_line(&[
        "trusts another service account",
        &f.sim.external_id(&first),
        "setup does not re-point it",
    ]);
    assert_eq!(writes(&f), Vec::<String>::new());
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
