//! The step templates: the Library's own checks, shellcheck, and runbook runs emulated the
//! way Octopus runs them, against the simulator: the usual run, a failing script, a cancel
//! (no further step runs; the Create step's guard revokes the key), the No guard parameter,
//! and the clean-up runbook's Sweep step.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::octopus_step::{Runbook, script_body, template};
use crate::support::*;

/// The PowerShell templates, each with its Bash twin (` - Bash`, `-bash.json`).
const POWERSHELL: [&str; 5] = [
    "octopus-run-key-create.json",
    "octopus-run-key-run-script.json",
    "octopus-run-key-revoke.json",
    "octopus-run-key-exec.json",
    "octopus-run-key-sweep.json",
];

fn bash_twin(file: &str) -> String {
    file.replace(".json", "-bash.json")
}

/// Every template: the PowerShell ones and their Bash twins.
fn templates() -> Vec<String> {
    POWERSHELL
        .iter()
        .flat_map(|file| [file.to_string(), bash_twin(file)])
        .collect()
}

fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
        && text.chars().any(|c| c != '0' && c != '-')
}

#[test]
fn the_templates_pass_the_librarys_checks_and_conventions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("step-templates");
    let files: HashSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        templates().into_iter().collect(),
        "exactly the five templates and their Bash twins"
    );
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for file in &templates() {
        let file = file.as_str();
        let bash = file.ends_with("-bash.json");
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{file}: no BOM");
        assert!(std::str::from_utf8(&bytes).is_ok(), "{file}: UTF-8");
        let t = template(file);
        let id = t["Id"].as_str().unwrap();
        assert!(is_guid(id), "{file}: Id is a GUID, not all zeros");
        assert!(ids.insert(id.to_string()), "{file}: unique Id");
        let name = t["Name"].as_str().unwrap();
        assert!(
            !name.is_empty() && name.len() <= 200 && names.insert(name.to_string()),
            "{file}: name"
        );
        assert!(
            name.starts_with("Octopus Run Key - "),
            "{file}: 'Noun - Verb' name"
        );
        assert_eq!(
            name.ends_with(" - Bash"),
            bash,
            "{file}: the Bash twin is named ' - Bash', the PowerShell template is not"
        );
        assert!(
            t["LastModifiedBy"].is_string() && t["$Meta"]["ExportedAt"].is_string(),
            "{file}"
        );
        assert_eq!(t["$Meta"]["Type"], "ActionTemplate");
        assert_eq!(t["Category"], "octopus");
        assert_eq!(t["ActionType"], "Octopus.Script");
        assert!(t["Version"].as_u64().unwrap() >= 1);
        assert!(
            t["Description"].as_str().unwrap().len() > 80,
            "{file}: a real description"
        );
        let properties = &t["Properties"];
        assert_eq!(properties["Octopus.Action.Script.ScriptSource"], "Inline");
        assert_eq!(
            properties["Octopus.Action.Script.Syntax"],
            if bash { "Bash" } else { "PowerShell" }
        );

        let packages = t["Packages"].as_array().unwrap();
        assert_eq!(packages.len(), 1);
        let package = &packages[0];
        assert!(is_guid(package["Id"].as_str().unwrap()));
        assert_eq!(package["Name"], "RunKey");
        assert!(
            package["FeedId"].is_null() || package["FeedId"].as_str().unwrap().starts_with("#{")
        );
        assert_eq!(package["Properties"]["Extract"], "True");
        let package_parameter = package["Properties"]["PackageParameterName"]
            .as_str()
            .unwrap();

        let mut parameter_names = HashSet::new();
        for parameter in t["Parameters"].as_array().unwrap() {
            let pname = parameter["Name"].as_str().unwrap();
            assert!(
                pname.starts_with("RunKey.") && !pname.starts_with('$'),
                "{file}: {pname} is namespaced"
            );
            assert!(parameter_names.insert(pname), "{file}: {pname} once");
            assert!(
                is_guid(parameter["Id"].as_str().unwrap()),
                "{file}: {pname} Id"
            );
            assert!(
                !parameter["Label"].as_str().unwrap().is_empty()
                    && !parameter["HelpText"].as_str().unwrap().is_empty()
            );
            let control = parameter["DisplaySettings"]["Octopus.ControlType"]
                .as_str()
                .unwrap();
            let default = &parameter["DefaultValue"];
            match control {
                "Sensitive" => assert!(default.is_null() || default == ""),
                "Checkbox" => assert!(default == "True" || default == "False"),
                "Package" => assert_eq!(
                    pname, package_parameter,
                    "{file}: the package parameter matches the reference"
                ),
                "GenericOidcAccount" => assert_eq!(default, "", "{file}: {pname}"),
                "SingleLineText" | "MultiLineText" | "StepName" => {}
                other => panic!("{file}: unexpected control type {other}"),
            }
        }
        assert!(parameter_names.contains(package_parameter));
        assert!(parameter_names.contains("RunKey.ServerUri"));
        let body = script_body(&t);
        assert!(
            !body.contains("#{"),
            "{file}: the body reads variables with get_octopusvariable or $OctopusParameters, never #{{}}"
        );
        let (start, read) = if bash {
            ("set -euo pipefail\n", "get_octopusvariable \"RunKey.")
        } else {
            (
                "$ErrorActionPreference = 'Stop'\n",
                "$OctopusParameters['RunKey.",
            )
        };
        assert!(body.starts_with(start), "{file}");
        for used in body.split(read).skip(1) {
            let pname = format!("RunKey.{}", used.split(['"', '\'']).next().unwrap());
            // An account parameter's properties: RunKey.OidcAccount.OpenIdConnect.Jwt.
            let declared = parameter_names.iter().any(|p| {
                pname == *p || pname.starts_with(&format!("{p}.")) && p.ends_with("Account")
            });
            assert!(declared, "{file}: reads undeclared {pname}");
        }
    }
    let revoke = template("octopus-run-key-revoke-bash.json");
    let description = revoke["Description"].as_str().unwrap();
    assert!(description.contains("Always run"));
    assert!(
        !description.contains("or the run is cancelled"),
        "Always run does not run after a cancel: {description}"
    );
    // Create and Exec: a No guard checkbox, off by default, mapped to RUNKEY_NO_GUARD.
    for file in [
        "octopus-run-key-create-bash.json",
        "octopus-run-key-exec-bash.json",
        "octopus-run-key-create.json",
        "octopus-run-key-exec.json",
    ] {
        let t = template(file);
        let no_guard = parameter(&t, "RunKey.NoGuard").unwrap_or_else(|| panic!("{file}"));
        assert_eq!(
            no_guard["DisplaySettings"]["Octopus.ControlType"],
            "Checkbox"
        );
        assert_eq!(
            no_guard["DefaultValue"], "False",
            "{file}: the guard is on by default"
        );
        let body = script_body(&t);
        assert!(
            body.contains("export RUNKEY_NO_GUARD=true")
                || body.contains("$env:RUNKEY_NO_GUARD = 'true'"),
            "{file}"
        );
        // The trigger's name, and a Generic OIDC account as the alternative to the key.
        assert!(body.contains("OCTOPUS_DEPLOYMENT_TRIGGER_NAME"), "{file}");
        let account = parameter(&t, "RunKey.OidcAccount").unwrap_or_else(|| panic!("{file}"));
        assert_eq!(
            account["DisplaySettings"]["Octopus.ControlType"],
            "GenericOidcAccount"
        );
        for (variable, property) in [
            ("RUNKEY_OIDC_JWT", "RunKey.OidcAccount.OpenIdConnect.Jwt"),
            ("RUNKEY_OIDC_AUDIENCE", "RunKey.OidcAccount.Audience"),
        ] {
            assert!(
                body.contains(variable) && body.contains(property),
                "{file}: {variable} from {property}"
            );
        }
    }
    // Sweep: the broker's key (it lists other runs' keys), a maximum age of 24h.
    let sweep = template("octopus-run-key-sweep-bash.json");
    assert_eq!(sweep["Name"], "Octopus Run Key - Sweep - Bash");
    assert!(parameter(&sweep, "RunKey.BrokerApiKey").is_some());
    assert_eq!(
        parameter(&sweep, "RunKey.MaxAge").unwrap()["DefaultValue"],
        "24h"
    );
    assert!(
        script_body(&sweep).contains("revoke --sweep --max-age"),
        "{}",
        script_body(&sweep)
    );
    assert!(
        !revoke["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Name"] == "RunKey.BrokerApiKey"),
        "revoke needs no broker key"
    );
}

fn parameter<'a>(t: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    t["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == name)
}

#[test]
fn shellcheck_passes_on_every_script_body() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "shellcheck must be installed in CI (.ci/run installs it)"
        );
        eprintln!("shellcheck is not installed: skipped (apt-get install shellcheck)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for file in POWERSHELL.map(bash_twin) {
        let file = file.as_str();
        let path = dir.path().join(file.replace(".json", ".sh"));
        std::fs::write(
            &path,
            format!("#!/usr/bin/env bash\n{}", script_body(&template(file))),
        )
        .unwrap();
        let output = Command::new("shellcheck")
            .args(["--shell=bash", "--severity=style"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file}:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// The system variables of Jane Doe's runbook run.
fn system(f: &Fixture, run: &octopus_sim::RunbookRun) -> Vec<(&'static str, String)> {
    vec![
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Deployment.CreatedBy.Id", f.operator_id.clone()),
        ("Octopus.Deployment.CreatedBy.Username", "jane.doe".into()),
        (
            "Octopus.Deployment.CreatedBy.DisplayName",
            "Jane Doe".into(),
        ),
        (
            "Octopus.Deployment.CreatedBy.EmailAddress",
            "jane.doe@example.com".into(),
        ),
        ("Octopus.Task.Id", run.task_id.clone()),
        ("Octopus.RunbookRun.Id", run.id.clone()),
        ("Octopus.Runbook.Name", "Restart web".into()),
        ("Octopus.Project.Name", "Web".into()),
        ("Octopus.Environment.Name", "Production".into()),
        ("Octopus.Space.Id", f.space_id.clone()),
        ("Octopus.Space.Name", "Default".into()),
        ("Broker.ApiKey", f.broker_key.clone()),
    ]
}

/// Jane Doe's run, on a worker whose guards poll the task every second (the default is 10 s).
fn runbook(f: &Fixture, run: &octopus_sim::RunbookRun) -> Runbook {
    Runbook::new(&system(f, run)).env("RUNKEY_GUARD_INTERVAL", "1s")
}

/// The run is over: Octopus marks its task done, and the Create step's guard, finding its
/// key already revoked (401) or revoking it, ends.
fn end_run(f: &Fixture, run: &octopus_sim::RunbookRun, runbook: &Runbook, state: TaskState) {
    f.sim.set_task_state(&run.task_id, state);
    runbook.wait_for_no_guard(Duration::from_secs(10));
}

/// A Run Script body that calls the API with bash alone and reports what it saw.
const CALL_API: &str = r#"hostport=${OCTOPUS_URL#http://}
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'GET /api/users/me HTTP/1.1\r\nHost: octopus\r\nX-Octopus-ApiKey: %s\r\nConnection: close\r\n\r\n' "$OCTOPUS_API_KEY" >&3
read -r status <&3
echo "API answered: ${status%$'\r'} in #{Octopus.Environment.Name}"
echo "script sees key $OCTOPUS_API_KEY"
test -z "${OCTOPUS_ACCESS_TOKEN:-}"
"#;

#[test]
fn create_run_script_revoke() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);

    let create = runbook.run_step(
        "Create run key",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    let key = runbook.output("Create run key", "ApiKey").unwrap().clone();
    let key_id = runbook
        .output("Create run key", "ApiKeyId")
        .unwrap()
        .clone();
    assert!(
        runbook
            .output("Create run key", "ApiKeyPurpose")
            .unwrap()
            .starts_with("Jane Doe (jane.doe) ran 'Restart web' in Production")
    );
    assert!(!create.log().contains(&key) && !create.log().contains(&f.broker_key));

    let script = runbook.run_step(
        "Restart web",
        "octopus-run-key-run-script-bash.json",
        &[
            ("RunKey.CreateStep", "Create run key"),
            ("RunKey.Script", CALL_API),
        ],
    );
    assert_eq!(script.code, 0, "{}{}", script.stdout, script.stderr);
    let log = script.log();
    assert!(
        log.contains("API answered: HTTP/1.1 200 OK in Production"),
        "{log}"
    );
    assert!(
        log.contains("script sees key ********"),
        "the key is masked in the task log: {log}"
    );
    assert!(
        log.contains("The run key is valid: it acts as Runbook Broker"),
        "{log}"
    );
    // A read leaves no audit event, so the request log shows which key the script used.
    assert_eq!(
        script_call_key(&f).as_deref(),
        Some(key.as_str()),
        "the script's call used the run key"
    );
    assert_eq!(
        runkey_keys(&f).len(),
        1,
        "the key is live during the script"
    );

    let revoke = runbook.run_step(
        "Revoke run key",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create run key")],
    );
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert!(
        revoke.log().contains(&format!("Revoked run key {key_id}")),
        "{}",
        revoke.log()
    );
    assert!(runkey_keys(&f).is_empty(), "gone after the revoke step");
    let deleted = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.action.starts_with("DELETE"))
        .unwrap();
    assert!(
        deleted.identity_established_with.contains("[runkey "),
        "revoked with the run key, not the broker's"
    );
    assert!(
        deleted
            .identity_established_with
            .contains("Jane Doe (jane.doe) ran 'Restart web'"),
        "the change is recorded under the operator's purpose"
    );
    // The task ends; the Create step's guard finds its key gone (401) and ends too,
    // without a delete of its own.
    end_run(&f, &run, &runbook, TaskState::Success);
    let deletes = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1, "only the Revoke step's");
}

/// The key the Run Script body's own `GET /api/users/me` carried (the last such request
/// made without a User-Agent, as bash's /dev/tcp sends none).
fn script_call_key(f: &Fixture) -> Option<String> {
    let call = f.sim.requests().into_iter().rev().find(|r| {
        r.target == "/api/users/me"
            && !r
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    })?;
    call.headers
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-octopus-apikey"))
        .map(|(_, v)| v)
}

#[test]
fn a_failing_script_is_followed_by_a_revoke_that_still_revokes() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    let script = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &[
            ("RunKey.CreateStep", "Create"),
            ("RunKey.Script", "echo failing; exit 3"),
        ],
    );
    assert_eq!(script.code, 3);
    assert_eq!(runkey_keys(&f).len(), 1);
    let revoke = runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create")],
    );
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert!(runkey_keys(&f).is_empty());
    end_run(&f, &run, &runbook, TaskState::Failed);
}

#[test]
fn exec_alone() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let step = runbook.run_step(
        "Restart web",
        "octopus-run-key-exec-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.Script", CALL_API),
        ],
    );
    assert_eq!(step.code, 0, "{}{}", step.stdout, step.stderr);
    let log = step.log();
    assert!(
        log.contains("API answered: HTTP/1.1 200 OK") && log.contains("script sees key ********"),
        "{log}"
    );
    assert!(runkey_keys(&f).is_empty());
    // The script's read leaves no audit event; the request log has the key it used, and
    // the creation of that key (a change) names the operator.
    let used = script_call_key(&f).unwrap();
    assert_ne!(used, f.broker_key);
    let hint: String = used.chars().take(8).collect();
    let created = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.category == "Created" && e.message.contains(&format!("({hint}•••)")))
        .unwrap();
    assert!(
        created.message.contains("Jane Doe (jane.doe)"),
        "{}",
        created.message
    );

    let failing = runbook.run_step(
        "Fail",
        "octopus-run-key-exec-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.Script", "exit 4"),
        ],
    );
    assert_eq!(failing.code, 4);
    assert!(runkey_keys(&f).is_empty());
    // Exec's guard stands down once exec revoked the key itself.
    runbook.wait_for_no_guard(Duration::from_secs(5));
}

/// A Run Script body that runs until it is killed, after saying it started.
const LONG_SCRIPT: &str = "echo working; touch started; while :; do sleep 0.05; done";

#[test]
fn a_cancel_during_run_script_runs_no_revoke_step_and_the_guard_revokes_the_key() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let create = runbook.run_step(
        "Create run key",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    assert!(
        !create.log().contains("no guard watches this key"),
        "{}",
        create.log()
    );
    assert_eq!(runbook.guards().len(), 1, "the Create step left its guard");
    let key_id = runbook
        .output("Create run key", "ApiKeyId")
        .unwrap()
        .clone();

    let script = runbook.start_step(
        "Restart web",
        "octopus-run-key-run-script-bash.json",
        &[
            ("RunKey.CreateStep", "Create run key"),
            ("RunKey.Script", LONG_SCRIPT),
        ],
    );
    script.wait_for("started", Duration::from_secs(10));
    // The operator clicks Cancel: Octopus marks the task Cancelling, Tentacle kills the
    // step's tree, the task ends Canceled, and no further step runs (the Revoke step with
    // its Always run condition included).
    f.sim.set_task_state(&run.task_id, TaskState::Cancelling);
    let cancelled = runbook.cancel(script);
    assert_ne!(cancelled.code, 0);
    assert_eq!(runkey_keys(&f).len(), 1, "the key is live after the kill");
    f.sim.set_task_state(&run.task_id, TaskState::Canceled);

    let started = std::time::Instant::now();
    while !runkey_keys(&f).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the guard did not revoke {key_id}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deleted = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.action.starts_with("DELETE"))
        .unwrap();
    assert!(deleted.action.ends_with(&key_id), "{}", deleted.action);
    assert!(
        deleted.identity_established_with.contains("[runkey "),
        "the guard deletes the key with the key itself, never the broker's: {}",
        deleted.identity_established_with
    );
    runbook.wait_for_no_guard(Duration::from_secs(5));
    seeded_keys_survive(&f);
}

#[test]
fn with_no_guard_a_cancelled_runs_key_stays_until_the_sweep_template_removes_it() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let create = runbook.run_step(
        "Create run key",
        "octopus-run-key-create-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.NoGuard", "True"),
        ],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    assert!(create.stderr.is_empty(), "{}", create.stderr);
    assert!(runbook.guards().is_empty(), "No guard: none started");
    let key_id = runbook
        .output("Create run key", "ApiKeyId")
        .unwrap()
        .clone();
    // A run of another runbook that is still going: the sweep must leave its key.
    let live_task = f.sim.add_task(None, TaskState::Executing);
    let live_key = create_key(&f, &live_task);

    // Cancelled: no further step, and no guard to notice.
    f.sim.set_task_state(&run.task_id, TaskState::Canceled);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        runkey_keys(&f).iter().any(|k| k.id == key_id),
        "nothing revoked the key"
    );
    assert!(
        !f.sim
            .requests()
            .iter()
            .any(|r| r.target.starts_with("/api/tasks/")),
        "no guard polled the task"
    );

    // The clean-up runbook, on its schedule.
    let cleanup_task = f.sim.add_task(None, TaskState::Executing);
    let mut cleanup = Runbook::new(&[
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Task.Id", cleanup_task),
        ("Octopus.Runbook.Name", "Clean up run keys".into()),
        ("Broker.ApiKey", f.broker_key.clone()),
    ]);
    let sweep = cleanup.run_step(
        "Sweep run keys",
        "octopus-run-key-sweep-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(sweep.code, 0, "{}{}", sweep.stdout, sweep.stderr);
    let log = sweep.log();
    // Left: the live run's key and the fixture's other run's key.
    assert!(
        log.contains(
            "Swept 1 stale run key(s): 1 whose task is over, 0 expired, 0 older than 1d; 2 live run key(s) left."
        ),
        "{log}"
    );
    assert!(!log.contains(&f.broker_key), "{log}");
    let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
    assert_eq!(
        left,
        [live_key],
        "the cancelled run's key is gone, the live one kept"
    );
    seeded_keys_survive(&f);

    // A maximum age that is not a duration fails the step with the binary's usage error.
    let bad = cleanup.run_step(
        "Sweep run keys",
        "octopus-run-key-sweep-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.MaxAge", "soon"),
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.result_message()
            .unwrap()
            .contains("--max-age: 'soon' is not a duration"),
        "{:?}",
        bad.result_message()
    );
    // And without the broker key it says what is missing.
    let missing = cleanup.run_step("Sweep run keys", "octopus-run-key-sweep-bash.json", &[]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .result_message()
            .unwrap()
            .starts_with("RunKey.BrokerApiKey is empty")
    );
}

/// A key for `task` made by the binary alone (no guard): another run's.
fn create_key(f: &Fixture, task: &str) -> String {
    create(f, task).var("ApiKeyId")
}

#[test]
fn required_parameters_fail_the_step_with_a_clear_message() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let step = runbook.run_step("Create", "octopus-run-key-create-bash.json", &[]);
    assert_eq!(step.code, 1);
    assert!(
        step.result_message()
            .unwrap()
            .starts_with("RunKey.BrokerApiKey is empty")
    );
    let step = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &[("RunKey.Script", "true")],
    );
    assert_eq!(step.code, 1);
    assert!(
        step.result_message()
            .unwrap()
            .starts_with("RunKey.CreateStep is empty")
    );
    let step = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &[("RunKey.CreateStep", "Create")],
    );
    assert_eq!(step.code, 1);
    assert!(
        step.result_message()
            .unwrap()
            .contains("left no ApiKey output variable")
    );
    // Revoke after a create that made nothing: a warning, not a failure.
    let step = runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create")],
    );
    assert_eq!(step.code, 0);
    assert!(
        step.log().contains("left no ApiKeyId output variable"),
        "{}",
        step.log()
    );
    assert!(runkey_keys(&f).is_empty());
    // Every failure above is the template's own: the binary never reached the server.
    f.sim.expect_no_requests();
}

#[test]
fn a_missing_package_or_server_fails_the_step_with_a_clear_message() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let step = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.ServerUri", ""),
        ],
    );
    assert_eq!(step.code, 1);
    assert!(
        step.result_message()
            .unwrap()
            .starts_with("RunKey.ServerUri is empty")
    );
    runbook.without_package = true;
    let step = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(step.code, 1);
    assert!(
        step.result_message()
            .unwrap()
            .starts_with("octopus-runkey was not found in the extracted package")
    );
    assert!(runkey_keys(&f).is_empty());
    f.sim.expect_no_requests();
}

/// Whether the PowerShell checks can run: python3 with tree-sitter's PowerShell and Bash
/// grammars. CI installs them (.ci/run); elsewhere the checks are skipped with a note.
fn powershell_checks_ready() -> bool {
    let ready = Command::new("python3")
        .args([
            "-c",
            "import tree_sitter, tree_sitter_powershell, tree_sitter_bash",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "tree-sitter's PowerShell and Bash grammars must be installed in CI (.ci/run installs them)"
        );
        eprintln!(
            "tree-sitter is not installed: skipped (pip install tree-sitter tree-sitter-powershell tree-sitter-bash)"
        );
    }
    ready
}

/// Runs tests/templates/check_powershell.py on these templates: (success, its report).
fn check_powershell(files: &[std::path::PathBuf]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("tests/templates/check_powershell.py"))
        .args(files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

#[test]
fn every_powershell_body_passes_the_checks_a_parse_cannot_make() {
    // No PowerShell can be installed here: the bodies are parsed (tree-sitter-powershell)
    // and checked, not run.
    if !powershell_checks_ready() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("step-templates");
    let (passed, report) = check_powershell(&POWERSHELL.map(|file| dir.join(file)));
    assert!(passed, "{report}");
    assert_eq!(report.matches(": passes").count(), 5, "{report}");
}

/// A shipped PowerShell template (and its Bash twin) with one fault planted: `old` replaced
/// by `new` in the PowerShell body, or in the Bash twin's when `in_twin`.
struct Planted {
    file: &'static str,
    in_twin: bool,
    old: &'static str,
    new: &'static str,
    /// What the check must report: `<check>: ` and a piece of its line.
    expect: &'static str,
}

const fn planted(
    file: &'static str,
    old: &'static str,
    new: &'static str,
    expect: &'static str,
) -> Planted {
    Planted {
        file,
        in_twin: false,
        old,
        new,
        expect,
    }
}

/// Each check of check_powershell.py, fed a body with its fault.
const PLANTED: &[Planted] = &[
    // parse
    planted(
        "octopus-run-key-revoke.json",
        "if (-not $createStep) {",
        "if (-not $createStep {",
        "parse: ",
    ),
    // spelling: the Run Script defect of issue 25 ($runkey the binary, $runKey the key).
    planted(
        "octopus-run-key-run-script.json",
        "$apiKey = $OctopusParameters",
        "$runKey = $OctopusParameters",
        "spelling: $runKey and $runkey",
    ),
    planted(
        "octopus-run-key-create.json",
        "$env:OCTOPUS_URL = $server",
        "$env:Octopus_Url = $server\n$env:OCTOPUS_URL = $server",
        "spelling: $env:OCTOPUS_URL and $env:Octopus_Url",
    ),
    // ps51: syntax
    planted(
        "octopus-run-key-create.json",
        "if (-not $ttl) { $ttl = '1h' }",
        "$ttl = $ttl ?? '1h'",
        "ps51: the null-coalescing operator",
    ),
    planted(
        "octopus-run-key-create.json",
        "if (-not $ttl) { $ttl = '1h' }",
        "$ttl = $ttl ? $ttl : '1h'",
        "ps51: the ternary operator",
    ),
    planted(
        "octopus-run-key-sweep.json",
        "if (-not $maxAge) {",
        "if (-not $maxAge?.Length) {",
        "ps51: null-conditional access",
    ),
    planted(
        "octopus-run-key-sweep.json",
        "& $runkey revoke --sweep --max-age $maxAge\n",
        "& $runkey revoke --sweep --max-age $maxAge && Write-Host done\n",
        "ps51: the pipeline chain operator &&",
    ),
    // ps51: cmdlets, parameters, variables
    planted(
        "octopus-run-key-create.json",
        "$runkey = Join-Path $packageDir $binary",
        "$runkey = Join-Path $packageDir 'linux-x64' 'octopus-runkey'",
        "ps51: Join-Path with more than one child path",
    ),
    planted(
        "octopus-run-key-create.json",
        "$onWindows = [System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT",
        "$onWindows = $IsWindows",
        "ps51: $IsWindows exists only in PowerShell 7",
    ),
    planted(
        "octopus-run-key-create.json",
        "$ttl = $OctopusParameters['RunKey.Ttl']",
        "$ttl = $OctopusParameters['RunKey.Ttl'] | ConvertFrom-Json -AsHashtable",
        "ps51: ConvertFrom-Json -ashashtable is PowerShell 7 only",
    ),
    planted(
        "octopus-run-key-create.json",
        "Set-RunKeyVariable OCTOPUS_TASK_ID 'Octopus.Task.Id'",
        "@(1) | ForEach-Object -Parallel { $_ }\nSet-RunKeyVariable OCTOPUS_TASK_ID 'Octopus.Task.Id'",
        "ps51: ForEach-Object -parallel is PowerShell 7 only",
    ),
    planted(
        "octopus-run-key-sweep.json",
        "$maxAge = $OctopusParameters['RunKey.MaxAge']",
        "$maxAge = $OctopusParameters['RunKey.MaxAge'] | Join-String",
        "ps51: Join-String is a PowerShell 7 cmdlet",
    ),
    // helpers: a Calamari helper misspelt, a cmdlet nobody checked, a function left unused.
    planted(
        "octopus-run-key-revoke.json",
        "Write-Warning \"The step",
        "Write-OctopusWarning \"The step",
        "helpers: Write-OctopusWarning is neither defined",
    ),
    planted(
        "octopus-run-key-revoke.json",
        "Stop-RunKeyStep \"RunKey.CreateStep is empty",
        "Fail-Stepp \"RunKey.CreateStep is empty",
        "helpers: Fail-Stepp is neither defined",
    ),
    planted(
        "octopus-run-key-sweep.json",
        "$env:OCTOPUS_URL = $server\n",
        "$env:OCTOPUS_URL = $server\nfunction Set-RunKeyVariable([string] $Name) { $Name }\n",
        "helpers: the function Set-RunKeyVariable is defined but never called",
    ),
    // twins: both ways, for Octopus variables read and environment variables set.
    planted(
        "octopus-run-key-create.json",
        "Set-RunKeyVariable OCTOPUS_TENANT_NAME 'Octopus.Deployment.Tenant.Name'\n",
        "",
        "twins: its Bash twin reads the Octopus variable Octopus.Deployment.Tenant.Name, which it does not",
    ),
    planted(
        "octopus-run-key-revoke.json",
        "$env:RUNKEY_API_KEY_ID = $keyId",
        "$env:RUNKEY_API_KEY_ID = $keyId\n$env:RUNKEY_TTL = '1h'",
        "twins: it sets the environment variable RUNKEY_TTL, which its Bash twin does not",
    ),
    Planted {
        file: "octopus-run-key-run-script.json",
        in_twin: true,
        old: "map_variable OCTOPUS_SPACE_NAME \"Octopus.Space.Name\"\n",
        new: "",
        expect: "twins: it reads the Octopus variable Octopus.Space.Name, which its Bash twin does not",
    },
    Planted {
        file: "octopus-run-key-exec.json",
        in_twin: true,
        old: "export RUNKEY_NO_GUARD=true",
        new: "export RUNKEY_NO_GUARD=true\n  export RUNKEY_GUARD_INTERVAL=1s",
        expect: "twins: its Bash twin sets the environment variable RUNKEY_GUARD_INTERVAL, which it does not",
    },
];

#[test]
fn each_powershell_check_fails_on_its_planted_fault() {
    if !powershell_checks_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (n, fault) in PLANTED.iter().enumerate() {
        let twin = bash_twin(fault.file);
        let mut powershell = template(fault.file);
        let mut bash = template(&twin);
        let target = if fault.in_twin {
            &mut bash
        } else {
            &mut powershell
        };
        let body = script_body(target);
        assert!(
            body.contains(fault.old),
            "{}: {:?} is not in the body",
            fault.file,
            fault.old
        );
        target["Properties"]["Octopus.Action.Script.ScriptBody"] =
            body.replacen(fault.old, fault.new, 1).into();
        let path = dir.path().join(format!("planted-{n}.json"));
        std::fs::write(&path, powershell.to_string()).unwrap();
        std::fs::write(
            dir.path().join(format!("planted-{n}-bash.json")),
            bash.to_string(),
        )
        .unwrap();
        let (passed, report) = check_powershell(std::slice::from_ref(&path));
        assert!(
            !passed,
            "{}: the fault {:?} passed:\n{report}",
            fault.file, fault.new
        );
        assert!(
            report
                .lines()
                .any(|line| line.contains(&format!(": {}", fault.expect))),
            "{}: no '{}' for {:?}:\n{report}",
            fault.file,
            fault.expect,
            fault.new
        );
    }
}

/// What a body maps: (environment variable, where its value comes from), the command
/// line's subcommand and flags, and every Octopus variable it reads. A dynamic step name
/// (`Octopus.Action[$create_step]`) reads as `Octopus.Action[*]`.
#[derive(Debug, PartialEq)]
struct Mapping {
    variables: std::collections::BTreeSet<(String, String)>,
    reads: std::collections::BTreeSet<String>,
    command: Vec<String>,
}

fn dynamic(name: &str) -> String {
    let pattern = regex::Regex::new(r"\[\$[A-Za-z_]+\]").unwrap();
    pattern.replace_all(name, "[*]").into_owned()
}

fn bash_mapping(body: &str) -> Mapping {
    let read = regex::Regex::new(r#"(\w+)=\$\(get_octopusvariable "([^"]+)"\)"#).unwrap();
    let sources: std::collections::HashMap<String, String> = read
        .captures_iter(body)
        .map(|c| (c[1].to_string(), dynamic(&c[2])))
        .collect();
    let mut variables = std::collections::BTreeSet::new();
    for c in regex::Regex::new(r#"map_variable (\w+) "([^"]+)""#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), dynamic(&c[2])));
    }
    for c in regex::Regex::new(r#"export (\w+)="?\$(\w+)"?"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), sources[&c[2]].clone()));
    }
    for c in regex::Regex::new(r#"export (\w+)=(true)\b"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), c[2].to_string()));
    }
    let reads = regex::Regex::new(r#"(?:get_octopusvariable|map_variable \w+) "([^"]+)""#)
        .unwrap()
        .captures_iter(body)
        .map(|c| dynamic(&c[1]))
        .filter(|name: &String| !name.starts_with('$'))
        .collect();
    Mapping {
        variables,
        reads,
        command: command_line(body, r#"(?m)^\s*"\$runkey" (.*)$"#),
    }
}

fn powershell_mapping(body: &str) -> Mapping {
    let read = regex::Regex::new(r#"\$(\w+) = \$OctopusParameters\[['"]([^'"]+)['"]\]"#).unwrap();
    let sources: std::collections::HashMap<String, String> = read
        .captures_iter(body)
        .map(|c| (c[1].to_lowercase(), dynamic(&c[2])))
        .collect();
    let mut variables = std::collections::BTreeSet::new();
    for c in regex::Regex::new(r#"Set-RunKeyVariable (\w+) ['"]([^'"]+)['"]"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), dynamic(&c[2])));
    }
    for c in regex::Regex::new(r#"\$env:(\w+) = \$(\w+)"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), sources[&c[2].to_lowercase()].clone()));
    }
    for c in regex::Regex::new(r#"\$env:(\w+) = '(true)'"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), c[2].to_string()));
    }
    let reads =
        regex::Regex::new(r#"(?:\$OctopusParameters\[|Set-RunKeyVariable \w+ )['"]([^'"]+)['"]"#)
            .unwrap()
            .captures_iter(body)
            .map(|c| dynamic(&c[1]))
            .collect();
    Mapping {
        variables,
        reads,
        command: command_line(body, r#"(?m)^\s*& \$runkey (.*)$"#),
    }
}

/// The subcommand and the flags of the line that runs the binary.
fn command_line(body: &str, pattern: &str) -> Vec<String> {
    let line = regex::Regex::new(pattern).unwrap().captures(body).unwrap()[1].to_string();
    let mut words: Vec<String> = line
        .split_whitespace()
        .map(|w| w.trim_matches(['"', '\'']).to_string())
        .filter(|w| {
            w.starts_with("--") || ["create", "use", "revoke", "exec"].contains(&w.as_str())
        })
        .collect();
    // Where the script follows, the twins run it with their own shell.
    if let Some(end) = words.iter().position(|w| w == "--") {
        words.truncate(end + 1);
    }
    words
}

#[test]
fn each_powershell_template_maps_what_its_bash_twin_maps() {
    for file in POWERSHELL {
        let twin = bash_twin(file);
        let powershell = template(file);
        let bash = template(&twin);
        let ps = powershell_mapping(&script_body(&powershell));
        let sh = bash_mapping(&script_body(&bash));
        assert!(ps.variables.len() >= 2, "{file}: {ps:?}");
        assert_eq!(ps, sh, "{file} and {twin} map the same");
        // The same parameters, with the same names, types and defaults.
        let shape = |t: &serde_json::Value| -> Vec<(String, String, String)> {
            t["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["Name"].as_str().unwrap().to_string(),
                        p["DisplaySettings"]["Octopus.ControlType"].to_string(),
                        p["DefaultValue"].to_string(),
                    )
                })
                .collect()
        };
        assert_eq!(shape(&powershell), shape(&bash), "{file}: parameters");
        assert_eq!(
            powershell["Packages"][0]["Properties"],
            bash["Packages"][0]["Properties"]
        );
        // Both pick the binary for the CPU, and the Linux one is made executable.
        for text in [
            "linux-x64/octopus-runkey",
            "linux-arm64/octopus-runkey",
            "chmod +x",
        ] {
            assert!(script_body(&powershell).contains(text), "{file}: {text}");
            assert!(script_body(&bash).contains(text), "{twin}: {text}");
        }
        assert!(script_body(&powershell).contains("win-x64\\octopus-runkey.exe"));
    }
}

#[test]
fn the_powershell_messages_are_in_troubleshooting() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"),
    )
    .unwrap()
    .replace('`', "");
    let expansion = regex::Regex::new(r"'?\$\w+'?").unwrap();
    let mut count = 0;
    for file in POWERSHELL {
        let body = script_body(&template(file));
        for call in ["Stop-RunKeyStep \"", "Write-Warning \""] {
            for rest in body.split(call).skip(1) {
                count += 1;
                let message = rest.split('"').next().unwrap();
                for piece in expansion.split(message) {
                    let piece = piece.trim();
                    assert!(
                        piece.len() < 12 || page.contains(piece),
                        "{file}: docs/troubleshooting.md lacks {piece:?}"
                    );
                }
            }
        }
    }
    assert!(count >= 15, "{count}");
}

/// A `uname` that reports another system, first on the PATH of the step.
fn uname_shim(dir: &Path, system: &str, machine: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("uname");
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncase \"$1\" in -m) echo '{machine}' ;; *) echo '{system}' ;; esac\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_system_with_no_binary_fails_the_step_with_the_promised_message() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let shims = tempfile::tempdir().unwrap();
    // macOS, 32-bit Linux, and Git Bash on Windows: the Bash twins run on Linux only.
    for (system, machine) in [
        ("Darwin", "arm64"),
        ("Linux", "i686"),
        ("MINGW64_NT-10.0-19045", "x86_64"),
    ] {
        let dir = shims.path().join(system);
        std::fs::create_dir_all(&dir).unwrap();
        let mut runbook = runbook(&f, &run).env("PATH", &uname_shim(&dir, system, machine));
        let step = runbook.run_step(
            "Create",
            "octopus-run-key-create-bash.json",
            &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
        );
        assert_eq!(step.code, 1, "{system}: {}{}", step.stdout, step.stderr);
        assert_eq!(
            step.result_message().unwrap(),
            format!(
                "octopus-runkey has no binary for this system ('{system} {machine}'): it runs on Linux x86-64 and ARM64, and on Windows x64 and ARM64 (there with the PowerShell templates)"
            )
        );
    }
    f.sim.expect_no_requests();

    // Linux on ARM64 runs the package's linux-arm64 binary (a stand-in here, which the shell
    // cannot execute: the error names the file it tried).
    let dir = shims.path().join("arm64");
    std::fs::create_dir_all(&dir).unwrap();
    let mut runbook = runbook(&f, &run).env("PATH", &uname_shim(&dir, "Linux", "aarch64"));
    let step = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_ne!(step.code, 0);
    assert!(
        step.stderr.contains("/RunKey/linux-arm64/octopus-runkey"),
        "{}",
        step.stderr
    );
    f.sim.expect_no_requests();
}

#[test]
fn checkboxes_are_read_without_regard_to_case_as_in_powershell() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let create = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.NoGuard", "true"),
        ],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    assert!(runbook.guards().is_empty(), "'true' turns the guard off");

    // A run with no operator anywhere: only Allow runs without an operator lets it through.
    let task = f.sim.add_task(None, TaskState::Executing);
    let mut unattended = Runbook::new(&[
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Task.Id", task),
        ("Broker.ApiKey", f.broker_key.clone()),
    ]);
    let refused = unattended.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.NoGuard", "True"),
        ],
    );
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    let allowed = unattended.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.NoGuard", "TRUE"),
            ("RunKey.AllowUnattributed", "TRUE"),
        ],
    );
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(
        unattended
            .output("Create", "ApiKeyPurpose")
            .unwrap()
            .contains("unattributed run"),
        "{:?}",
        unattended.output("Create", "ApiKeyPurpose")
    );
    assert!(unattended.guards().is_empty());
}

/// A plain Bash script step that uses Calamari's helpers: a variable read, output variables
/// set (one sensitive), an artifact, then `fail_step`.
const HELPERS_SCRIPT: &str = r#"greeting=$(get_octopusvariable "Greeting")
set_octopusvariable "Said" "$greeting from $(get_octopusvariable "Octopus.Environment.Name")"
set_octopusvariable "Secret" "s3cr3t-value" -sensitive
printf 'a,b\n1,2\n' > report.csv
new_octopusartifact "$PWD/report.csv" "weekly.csv"
update_progress 50 "half way"
fail_step "stopped on purpose: $greeting"
echo "not reached"
"#;

#[test]
fn the_emulation_runs_a_plain_bash_step_as_calamaris_bootstrap_does() {
    let mut runbook = Runbook::new(&[
        ("Greeting", "hello".to_string()),
        ("Octopus.Environment.Name", "Production".to_string()),
    ]);
    let step = runbook.run_script("Plain", HELPERS_SCRIPT);
    assert_eq!(step.code, 1, "{}{}", step.stdout, step.stderr);
    assert_eq!(
        step.result_message().as_deref(),
        Some("stopped on purpose: hello")
    );
    let variables: Vec<(&str, &str, bool)> = step
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str(), v.sensitive))
        .collect();
    assert_eq!(
        variables,
        [
            ("Said", "hello from Production", false),
            ("Secret", "s3cr3t-value", true)
        ]
    );
    assert_eq!(
        runbook.output("Plain", "Said").map(String::as_str),
        Some("hello from Production")
    );
    assert_eq!(step.artifacts.len(), 1, "{}", step.stdout);
    let artifact = &step.artifacts[0];
    assert_eq!(artifact.name, "weekly.csv");
    assert_eq!(artifact.length, 8);
    assert!(
        artifact.path.is_absolute() && artifact.path.ends_with("report.csv"),
        "{:?}",
        artifact.path
    );
    assert_eq!(
        std::fs::read_to_string(&artifact.path).unwrap(),
        "a,b\n1,2\n"
    );
    let log = step.log();
    assert!(
        log.contains("Collecting ") && !log.contains("not reached"),
        "{log}"
    );
    assert!(
        !log.contains("s3cr3t-value"),
        "a sensitive output is masked: {log}"
    );

    // The script starts as Calamari starts it: no argument (the bootstrap shifted its key
    // away), no shell option set, and its last command's status is the step's.
    let step = runbook.run_script(
        "Options",
        r#"echo "args=$# options=$-"; set -o | grep pipefail; echo "${UNSET_ANYWHERE}unset is empty"; false | true; false"#,
    );
    assert_eq!(step.code, 1);
    let log = step.log();
    assert!(log.contains("args=0 options=hB\n"), "{log}");
    assert!(log.contains("pipefail       \toff"), "{log}");
    assert!(log.contains("unset is empty"), "{log}");
    // An artifact that is not there ends the step as Calamari's does: it calls an
    // error_exit it never defined.
    let step = runbook.run_script(
        "Missing",
        "new_octopusartifact nothing-here.csv; echo carried-on",
    );
    assert_eq!(step.code, 127);
    assert!(
        step.stderr.contains("error_exit: command not found"),
        "{}",
        step.stderr
    );
    assert!(step.artifacts.is_empty() && !step.log().contains("carried-on"));
}
