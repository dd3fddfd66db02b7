//! The scheduled sweep (issue 23, item 5): a runbook that runs the Sweep template with the
//! broker's OIDC account, published, and a scheduled trigger, each made once and changed
//! only when it differs.

use super::*;

const RUNBOOK: &str = "Sweep run keys (svc-runkey)";
const TRIGGER: &str = "Sweep run keys (svc-runkey) on a schedule";

fn with_sweep(f: &Fixture, key: &str, dir: &tempfile::TempDir, extra: &[&str]) -> Out {
    let pkg = package(dir, VERSION);
    let mut args = vec![
        "--package",
        pkg.to_str().unwrap(),
        "--broker",
        BROKER,
        "--oidc",
        "--sweep-project",
        "Web",
        "--sweep-environment",
        "Production",
    ];
    args.extend_from_slice(extra);
    let out = setup(f, key, &args).run();
    out.code(0).never_shows(key);
    out
}

fn id_of<T>(items: Vec<T>, name: &str, get: impl Fn(&T) -> (&str, &str)) -> String {
    items
        .iter()
        .map(&get)
        .find(|(_, n)| *n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .0
        .to_string()
}

fn the_runbook(f: &Fixture) -> Value {
    let found: Vec<Value> = f
        .sim
        .runbooks()
        .into_iter()
        .filter(|r| r["Name"] == RUNBOOK)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

fn the_trigger(f: &Fixture) -> Value {
    let found: Vec<Value> = f
        .sim
        .project_triggers()
        .into_iter()
        .filter(|t| t["Name"] == TRIGGER)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn the_sweep_runbook_is_made_published_and_scheduled_with_the_oidc_account_once() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    let out = with_sweep(&f, &key, &dir, &[]);
    for said in [RUNBOOK, TRIGGER, "every 15m in Production"] {
        assert!(out.stdout.contains(said), "{said}:\n{}", out.stdout);
    }
    let web = id_of(f.sim.projects(), "Web", |p| (&p.id, &p.name));
    let production = id_of(f.sim.environments(), "Production", |e| (&e.id, &e.name));
    let runbook = the_runbook(&f);
    assert_eq!(runbook["ProjectId"], web.as_str());
    assert_eq!(runbook["Environments"], json!([production]));
    // Published: scheduled triggers run only a published snapshot.
    let published = runbook["PublishedRunbookSnapshotId"]
        .as_str()
        .expect("published");
    assert!(
        f.sim
            .runbook_snapshots()
            .iter()
            .any(|s| s["Id"] == published && s["RunbookId"] == runbook["Id"])
    );

    // One step: the Sweep template, the package from the built-in feed, the broker's OIDC
    // account, run on a worker.
    let process = f
        .sim
        .runbook_process(runbook["RunbookProcessId"].as_str().unwrap())
        .unwrap();
    let steps = process["Steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let action = &steps[0]["Actions"][0];
    let template = template_named(&f, "Octopus Run Key - Sweep");
    let properties = &action["Properties"];
    assert_eq!(properties["Octopus.Action.Template.Id"], template["Id"]);
    assert_eq!(
        properties["Octopus.Action.Template.Version"],
        template["Version"].to_string()
    );
    let account = f
        .sim
        .accounts()
        .into_iter()
        .find(|a| a["Name"] == ACCOUNT)
        .unwrap();
    assert_eq!(properties["RunKey.OidcAccount"], account["Id"]);
    assert_eq!(properties["RunKey.BrokerApiKey"], "");
    let package: Value =
        serde_json::from_str(properties["RunKey.Package"].as_str().unwrap()).unwrap();
    assert_eq!(
        package,
        json!({"PackageId": "octopus-runkey", "FeedId": "feeds-builtin"})
    );
    assert_eq!(properties["Octopus.Action.RunOnServer"], "true");

    // Every 15 minutes, all day, every day, in Production.
    let trigger = the_trigger(&f);
    assert_eq!(trigger["Action"]["ActionType"], "RunRunbook");
    assert_eq!(trigger["Action"]["RunbookId"], runbook["Id"]);
    assert_eq!(trigger["Action"]["EnvironmentIds"], json!([production]));
    assert_eq!(trigger["Filter"]["Interval"], "OnceEveryMinute");
    assert_eq!(trigger["Filter"]["MinuteInterval"], 15);
    assert_eq!(trigger["Filter"]["Timezone"], "UTC");
    assert_eq!(trigger["Filter"]["DaysOfWeek"].as_array().unwrap().len(), 7);

    // A second run leaves it all alone.
    f.sim.reset_counters();
    let again = with_sweep(&f, &key, &dir, &[]);
    assert_eq!(writes(&f), Vec::<String>::new());
    assert!(!again.stdout.contains("created"), "{}", again.stdout);
    assert_eq!(f.sim.runbook_snapshots().len(), 1);
}

#[test]
fn another_interval_changes_the_trigger_in_place() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    with_sweep(&f, &key, &dir, &[]);
    let id = the_trigger(&f)["Id"].as_str().unwrap().to_string();
    f.sim.reset_counters();
    with_sweep(&f, &key, &dir, &["--sweep-every", "2h"]);
    assert_eq!(
        writes(&f),
        [format!("PUT /api/Spaces-1/projecttriggers/{id}")]
    );
    let trigger = the_trigger(&f);
    assert_eq!(trigger["Filter"]["Interval"], "OnceHourly");
    assert_eq!(trigger["Filter"]["HourInterval"], 2);
}

#[test]
fn a_process_changed_by_hand_is_put_back_and_published_again() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    with_sweep(&f, &key, &dir, &[]);
    let runbook = the_runbook(&f);
    let process = runbook["RunbookProcessId"].as_str().unwrap().to_string();
    f.sim.edit_runbook_process(&process, |p| {
        p["Steps"][0]["Actions"][0]["Properties"]["RunKey.OidcAccount"] = json!("");
    });
    f.sim.reset_counters();
    with_sweep(&f, &key, &dir, &[]);
    let written = writes(&f);
    assert!(
        written
            .iter()
            .any(|w| w.starts_with(&format!("PUT /api/Spaces-1/runbookProcesses/{process}"))),
        "{written:?}"
    );
    assert!(
        written
            .iter()
            .any(|w| w.starts_with("POST /api/Spaces-1/runbookSnapshots?publish=true")),
        "{written:?}"
    );
    assert_eq!(f.sim.runbook_snapshots().len(), 2);
    let account = f
        .sim
        .accounts()
        .into_iter()
        .find(|a| a["Name"] == ACCOUNT)
        .unwrap();
    let fixed = f.sim.runbook_process(&process).unwrap();
    assert_eq!(
        fixed["Steps"][0]["Actions"][0]["Properties"]["RunKey.OidcAccount"],
        account["Id"]
    );
}

#[test]
fn an_interval_no_trigger_can_keep_or_an_unknown_place_is_a_usage_error_before_any_write() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    for every in ["90s", "75m", "25h"] {
        let out = setup(
            &f,
            &key,
            &[
                "--broker",
                BROKER,
                "--oidc",
                "--sweep-project",
                "Web",
                "--sweep-environment",
                "Production",
                "--sweep-every",
                every,
            ],
        )
        .run();
        out.code(2)
            .one_error_line(&[&format!("--sweep-every '{every}'"), "1 to 59 minutes"]);
    }
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
            "--sweep-project",
            "Nope",
            "--sweep-environment",
            "Production",
        ],
    )
    .run();
    out.code(2)
        .one_error_line(&["--sweep-project 'Nope': no such name", "Web"]);
    assert_eq!(writes(&f), Vec::<String>::new());
}

#[test]
fn the_sweep_needs_this_versions_package_in_the_feed() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let out = setup(
        &f,
        &key,
        &[
            "--broker",
            BROKER,
            "--oidc",
            "--sweep-project",
            "Web",
            "--sweep-environment",
            "Production",
        ],
    )
    .run();
    out.code(2)
        .one_error_line(&["the sweep runs the package octopus-runkey", "add --package"]);
    assert_eq!(writes(&f), Vec::<String>::new());
}

#[test]
fn the_step_setup_wrote_sweeps_a_stale_key_with_the_oidc_account_alone() {
    // The scheduled runbook's step, as setup wrote it, run as Octopus would run it: its
    // property values for the Sweep template's parameters, the account's JWT. The step
    // uses the PowerShell template (pwsh is on Octopus's Windows and Linux workers); its
    // Bash twin, which reads the same parameters the same way (tests/templates.rs checks
    // the twins), runs it here.
    use crate::support::octopus_step::{Runbook, template};
    let f = Fixture::new();
    let key = admin_key(&f);
    let dir = tempfile::tempdir().unwrap();
    with_sweep(&f, &key, &dir, &[]);
    let broker = broker_id(&f);
    let audience = f.sim.external_id(&broker);
    let process = f
        .sim
        .runbook_process(the_runbook(&f)["RunbookProcessId"].as_str().unwrap())
        .unwrap();
    let properties = process["Steps"][0]["Actions"][0]["Properties"].clone();
    let account = properties["RunKey.OidcAccount"]
        .as_str()
        .unwrap()
        .to_string();
    let sweep = template("octopus-run-key-sweep.json");
    let values: Vec<(String, String)> = sweep["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["Name"].as_str().unwrap().to_string();
            let value = properties[&name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} is set"))
                .to_string();
            (name, value)
        })
        .collect();
    let parameters: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let over = f
        .sim
        .add_task(Some("ServerTasks-555"), octopus_sim::TaskState::Failed);
    let (stale, _) = f.sim.add_api_key(
        &broker,
        &format!("Someone (x) ran 'Old' [runkey {over}/abcdef99]"),
        None,
    );
    let jwt = f.sim.oidc_jwt(
        "space:default:project:web:runbook:sweep-run-keys-svc-runkey",
        &audience,
        SignedDuration::from_mins(10),
    );
    let task = f.sim.add_task(None, octopus_sim::TaskState::Executing);
    let mut runbook = Runbook::new(&[
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Task.Id", task),
    ])
    .oidc_account(&account, &audience, &jwt);
    let step = runbook.run_step(
        "Sweep run keys",
        "octopus-run-key-sweep-bash.json",
        &parameters,
    );
    assert_eq!(step.code, 0, "{}{}", step.stdout, step.stderr);
    assert!(
        step.log()
            .contains("Swept 1 stale run key(s): 1 whose task is over"),
        "{}",
        step.log()
    );
    assert!(f.sim.keys(&broker).iter().all(|k| k.id != stale));
}
