//! The step templates: the Library's own checks, shellcheck, the PowerShell checks, and
//! runbook runs emulated the way Octopus runs them, against the simulator: the usual run, a
//! failing script, a cancel (no further step runs; the Create step's guard revokes the key),
//! the No guard parameter, the clean-up runbook's Sweep step; a user's script that behaves
//! in Run Script and Exec as in a plain Bash step (Calamari's helpers, its exit status, the
//! key revoked or kept), the broker through its OIDC account alone, and a self-hosted server
//! (a private CA, a request timeout, verbose).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::octopus_step::{Runbook, script_body, template};
use crate::support::*;

/// The PowerShell templates, each with its Bash twin (` - Bash`, `-bash.json`): six pairs.
const POWERSHELL: [&str; 6] = [
    "octopus-run-key-create.json",
    "octopus-run-key-run-script.json",
    "octopus-run-key-revoke.json",
    "octopus-run-key-exec.json",
    "octopus-run-key-sweep.json",
    "octopus-run-key-audit.json",
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
        "exactly the six templates and their Bash twins"
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
                // Octopus's drop-down: `value|label` lines; the default is one of the values.
                "Select" => {
                    let options = parameter["DisplaySettings"]["Octopus.SelectOptions"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{file}: {pname} has no options"));
                    let values: Vec<&str> = options
                        .lines()
                        .map(|line| line.split('|').next().unwrap())
                        .collect();
                    assert!(
                        values.contains(&default.as_str().unwrap_or("")),
                        "{file}: {pname}'s default is one of {values:?}"
                    );
                }
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
    // Create and Exec: a No guard checkbox, off by default, mapped to RUNKEY_NO_GUARD, and
    // the trigger's name.
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
        assert!(body.contains("OCTOPUS_DEPLOYMENT_TRIGGER_NAME"), "{file}");
    }
    // No stored secret: every template that uses the broker takes its Generic OIDC account,
    // mapped to the pair the binary exchanges, beside an API key for where OIDC is not
    // available (issue 26).
    for file in BROKER_TEMPLATES
        .iter()
        .flat_map(|f| [f.to_string(), bash_twin(f)])
    {
        let file = file.as_str();
        let t = template(file);
        let body = script_body(&t);
        let account = parameter(&t, "RunKey.OidcAccount").unwrap_or_else(|| panic!("{file}"));
        assert_eq!(
            account["DisplaySettings"]["Octopus.ControlType"],
            "GenericOidcAccount"
        );
        let key = parameter(&t, "RunKey.BrokerApiKey").unwrap_or_else(|| panic!("{file}"));
        assert_eq!(key["DisplaySettings"]["Octopus.ControlType"], "Sensitive");
        for (variable, property) in [
            ("RUNKEY_OIDC_JWT", "RunKey.OidcAccount.OpenIdConnect.Jwt"),
            ("RUNKEY_OIDC_AUDIENCE", "RunKey.OidcAccount.Audience"),
            ("OCTOPUS_API_KEY", "RunKey.BrokerApiKey"),
        ] {
            assert!(
                body.contains(variable) && body.contains(property),
                "{file}: {variable} from {property}"
            );
        }
    }
    // Self-hosted servers: every template takes a CA certificate (PEM text, written to a
    // file for --ca-cert), a request timeout and a verbose checkbox, all off by default.
    for file in templates() {
        let file = file.as_str();
        let t = template(file);
        let body = script_body(&t);
        for (name, control, default, flag) in [
            ("RunKey.CaCertificate", "MultiLineText", "", "--ca-cert"),
            ("RunKey.Timeout", "SingleLineText", "", "--timeout"),
            ("RunKey.Verbose", "Checkbox", "False", "--verbose"),
        ] {
            let p = parameter(&t, name).unwrap_or_else(|| panic!("{file}: no {name}"));
            assert_eq!(
                p["DisplaySettings"]["Octopus.ControlType"], control,
                "{file}: {name}"
            );
            assert_eq!(p["DefaultValue"], default, "{file}: {name}");
            assert!(body.contains(flag), "{file}: {name} becomes {flag}");
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
    // The script parameter names the syntax it is run with.
    for (file, label) in [
        ("octopus-run-key-run-script.json", "PowerShell script"),
        ("octopus-run-key-exec.json", "PowerShell script"),
        ("octopus-run-key-run-script-bash.json", "Bash script"),
        ("octopus-run-key-exec-bash.json", "Bash script"),
    ] {
        let t = template(file);
        let script = parameter(&t, "RunKey.Script").unwrap_or_else(|| panic!("{file}"));
        assert_eq!(script["Label"], label, "{file}");
        assert_eq!(
            script["DisplaySettings"]["Octopus.ControlType"],
            "MultiLineText"
        );
    }
    // Revoke needs no broker credential: both are optional, and without them the run key
    // revokes itself (create_run_script_revoke runs it so).
    for file in [
        "octopus-run-key-revoke.json",
        "octopus-run-key-revoke-bash.json",
    ] {
        let body = script_body(&template(file));
        assert!(
            !body.contains("RunKey.BrokerApiKey is empty"),
            "{file}: revoke needs no broker credential"
        );
    }
}

/// The PowerShell templates that use the broker's credential (each with its Bash twin).
const BROKER_TEMPLATES: [&str; 5] = [
    "octopus-run-key-create.json",
    "octopus-run-key-exec.json",
    "octopus-run-key-sweep.json",
    "octopus-run-key-revoke.json",
    "octopus-run-key-audit.json",
];

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
    // The guard Exec's create left ends at its next look at the task: the key it watches
    // is gone (the task poll answers 401).
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
    assert_eq!(report.matches(": passes").count(), 6, "{report}");
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
        "& $runkey @common revoke --sweep --max-age $maxAge\n",
        "& $runkey @common revoke --sweep --max-age $maxAge && Write-Host done\n",
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
        "$env:OCTOPUS_URL = $server\nfunction Test-RunKeyServer([string] $Name) { $Name }\n",
        "helpers: the function Test-RunKeyServer is defined but never called",
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
        old: "map_variable OCTOPUS_TASK_ID \"Octopus.Task.Id\"\n",
        new: "",
        expect: "twins: it reads the Octopus variable Octopus.Task.Id, which its Bash twin does not",
    },
    // twins: the environment variables removed (the broker's credential kept from the
    // script), both ways.
    planted(
        "octopus-run-key-run-script.json",
        "Remove-Item -Path 'Env:OCTOPUS_ACCESS_TOKEN', ",
        "Remove-Item -Path ",
        "twins: its Bash twin removes the environment variable OCTOPUS_ACCESS_TOKEN, which it does not",
    ),
    Planted {
        file: "octopus-run-key-exec.json",
        in_twin: true,
        old: "unset OCTOPUS_API_KEY OCTOPUS_APIKEY OCTOPUS_CLI_API_KEY",
        new: "unset OCTOPUS_API_KEY OCTOPUS_CLI_API_KEY",
        expect: "twins: it removes the environment variable OCTOPUS_APIKEY, which its Bash twin does not",
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

/// What a body maps: (environment variable, where its value comes from), the environment
/// variables it removes, the subcommand and flags of each command line that runs the
/// binary, and every Octopus variable it reads. A dynamic step name
/// (`Octopus.Action[$create_step]`) reads as `Octopus.Action[*]`; a value that comes from no
/// Octopus variable (the run key read from create's output) as [`COMPUTED`].
#[derive(Debug, PartialEq)]
struct Mapping {
    variables: std::collections::BTreeSet<(String, String)>,
    removed: std::collections::BTreeSet<String>,
    reads: std::collections::BTreeSet<String>,
    commands: Vec<Vec<String>>,
    /// Every `--flag` the body's code names (comments aside): the ones it builds up in
    /// arrays (`common`, `flags`) as well as those on the command lines.
    flags: std::collections::BTreeSet<String>,
}

/// The `--flags` named in the code of a body (lines that are comments left out).
fn flags_named(body: &str) -> std::collections::BTreeSet<String> {
    let flag = regex::Regex::new(r"(?:^|[\s('])(--[a-z][a-z-]*)").unwrap();
    body.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| {
            flag.captures_iter(line)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

const COMPUTED: &str = "(no Octopus variable)";

fn dynamic(name: &str) -> String {
    let pattern = regex::Regex::new(r"\[\$[A-Za-z_]+\]").unwrap();
    pattern.replace_all(name, "[*]").into_owned()
}

fn source_of(sources: &std::collections::HashMap<String, String>, variable: &str) -> String {
    sources
        .get(variable)
        .cloned()
        .unwrap_or_else(|| COMPUTED.to_string())
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
        variables.insert((c[1].to_string(), source_of(&sources, &c[2])));
    }
    for c in regex::Regex::new(r#"export (\w+)=(true)\b"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), c[2].to_string()));
    }
    // `unset NAME...`: a name in lower case is a shell variable of the body's own.
    let removed = regex::Regex::new(r"(?m)^\s*unset ([\w ]+)$")
        .unwrap()
        .captures_iter(body)
        .flat_map(|c| {
            c[1].split_whitespace()
                .filter(|w| *w != w.to_lowercase())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let reads = regex::Regex::new(r#"(?:get_octopusvariable|map_variable \w+) "([^"]+)""#)
        .unwrap()
        .captures_iter(body)
        .map(|c| dynamic(&c[1]))
        .filter(|name: &String| !name.starts_with('$'))
        .collect();
    Mapping {
        variables,
        removed,
        reads,
        commands: command_lines(body, r#""\$runkey" (.*)$"#),
        flags: flags_named(body),
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
        variables.insert((c[1].to_string(), source_of(&sources, &c[2].to_lowercase())));
    }
    for c in regex::Regex::new(r#"\$env:(\w+) = '(true)'"#)
        .unwrap()
        .captures_iter(body)
    {
        variables.insert((c[1].to_string(), c[2].to_string()));
    }
    let removed = regex::Regex::new(r"(?m)^\s*Remove-Item -Path (.*) -ErrorAction")
        .unwrap()
        .captures_iter(body)
        .flat_map(|c| {
            regex::Regex::new(r"'Env:(\w+)'")
                .unwrap()
                .captures_iter(&c[1])
                .map(|n| n[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let reads =
        regex::Regex::new(r#"(?:\$OctopusParameters\[|Set-RunKeyVariable \w+ )['"]([^'"]+)['"]"#)
            .unwrap()
            .captures_iter(body)
            .map(|c| dynamic(&c[1]))
            .collect();
    Mapping {
        variables,
        removed,
        reads,
        commands: command_lines(body, r#"& \$runkey (.*)$"#),
        flags: flags_named(body),
    }
}

/// The subcommand and the flags of each line that runs the binary, in order.
fn command_lines(body: &str, pattern: &str) -> Vec<Vec<String>> {
    let pattern = regex::Regex::new(pattern).unwrap();
    body.lines()
        .filter_map(|line| pattern.captures(line))
        .map(|c| {
            let mut words: Vec<String> = c[1]
                .split_whitespace()
                .map(|w| w.trim_matches(['"', '\'', ')']).to_string())
                .filter(|w| {
                    w.starts_with("--")
                        || ["create", "use", "revoke", "exec", "audit"].contains(&w.as_str())
                })
                .collect();
            // Where a command follows, the twins run it each in its own way.
            if let Some(end) = words.iter().position(|w| w == "--") {
                words.truncate(end + 1);
            }
            words
        })
        // A line that only names the binary (`[ -f "$runkey" ]`, `chmod +x`) runs nothing.
        .filter(|words| !words.is_empty())
        .collect()
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
        assert!(
            !ps.commands.is_empty() && ps.flags.len() >= 3,
            "{file}: {ps:?}"
        );
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

/// Scripts that use Calamari's helpers and the shell as a plain Bash step would: a name and
/// the script. The lines they print that matter start with `script:`.
const PLAIN_STEP_SCRIPTS: &[(&str, &str)] = &[
    ("the helpers, then fail_step", HELPERS_SCRIPT),
    (
        "set -e stops at the first failure",
        "set -e\necho 'script: before'\nfalse\necho 'script: not reached'\n",
    ),
    (
        "none of the template's shell options",
        "echo \"script: ${NOT_SET_ANYWHERE}an unset variable is empty, args=$#\"\nfalse | true\necho 'script: a pipe that ends well is no failure'\n",
    ),
    ("exit", "set_octopusvariable Before exit\nexit 3\n"),
    (
        "return",
        "echo 'script: returning'\nreturn 4\necho 'script: not reached'\n",
    ),
    (
        "a trap of its own",
        "trap 'echo \"script: its trap ran\"' EXIT\nset_octopusvariable Trapped yes\nfalse\n",
    ),
    (
        "a failing last command",
        "echo 'script: last'\ngrep -q nothing /dev/null\n",
    ),
    (
        "success",
        "printf 'done\\n' > out.txt\nset_octopusvariable Done \"$(get_octopusvariable Greeting)\"\nnew_octopusartifact out.txt\n",
    ),
];

/// What a step leaves that Octopus keeps: (exit code, result message, output variables,
/// artifacts (file name, shown name, length), the script's own `script:` lines).
type Outcome = (
    i32,
    Option<String>,
    Vec<(String, String, bool)>,
    Vec<(String, String, u64)>,
    Vec<String>,
);

fn outcome(step: &crate::support::octopus_step::Step) -> Outcome {
    (
        step.code,
        step.result_message(),
        step.variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone(), v.sensitive))
            .collect(),
        step.artifacts
            .iter()
            .map(|a| {
                assert!(a.path.is_file(), "{:?} is collected after the step", a.path);
                (
                    a.path.file_name().unwrap().to_string_lossy().into_owned(),
                    a.name.clone(),
                    a.length,
                )
            })
            .collect(),
        step.log()
            .lines()
            .filter(|l| l.starts_with("script:"))
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn a_script_does_in_run_script_and_exec_what_it_does_in_a_plain_bash_step() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut variables = system(&f, &run);
    variables.push(("Greeting", "hello".to_string()));
    let mut plain = Runbook::new(&variables);
    let mut runbook = Runbook::new(&variables).env("RUNKEY_GUARD_INTERVAL", "1s");
    let create = runbook.run_step(
        "Create run key",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    let key = runbook.output("Create run key", "ApiKey").unwrap().clone();

    for (n, (what, script)) in PLAIN_STEP_SCRIPTS.iter().enumerate() {
        let step = format!("Step {n}");
        let expected = outcome(&plain.run_script(&step, script));
        let through_run_script = runbook.run_step(
            &step,
            "octopus-run-key-run-script-bash.json",
            &[
                ("RunKey.CreateStep", "Create run key"),
                ("RunKey.Script", script),
            ],
        );
        assert_eq!(
            outcome(&through_run_script),
            expected,
            "{what}, Run Script:\n{}{}",
            through_run_script.stdout,
            through_run_script.stderr
        );
        // Later steps read its output variables as those of any step.
        for (name, value, _) in &expected.2 {
            assert_eq!(runbook.output(&step, name), Some(value), "{what}");
        }
        let exec_step = format!("Exec {n}");
        let expected = outcome(&plain.run_script(&exec_step, script));
        let through_exec = runbook.run_step(
            &exec_step,
            "octopus-run-key-exec-bash.json",
            &[
                ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
                ("RunKey.Script", script),
            ],
        );
        assert_eq!(
            outcome(&through_exec),
            expected,
            "{what}, Exec:\n{}{}",
            through_exec.stdout,
            through_exec.stderr
        );
        assert!(
            through_exec.log().contains("Revoked run key"),
            "{what}: {}",
            through_exec.log()
        );
        // Exec's key is gone, whatever the script did; the Create step's is still there.
        let left: Vec<String> = runkey_keys(&f).into_iter().map(|k| k.id).collect();
        assert_eq!(
            left,
            [runbook
                .output("Create run key", "ApiKeyId")
                .unwrap()
                .clone()],
            "{what}"
        );
    }
    // The first script failed its step as a plain step does: exit 1, its own message.
    assert_eq!(outcome(&plain.run_script("again", HELPERS_SCRIPT)).0, 1);
    // Run Script leaves the run key to the Revoke step: it still works.
    assert_eq!(call_me(&f, &key).0, 200);
    end_run(&f, &run, &runbook, TaskState::Success);
}

/// A script that writes what it can see, its environment and its shell's variables, to
/// files in `#{Dump.Dir}`.
const DUMP_SCRIPT: &str =
    "env > '#{Dump.Dir}/#{Octopus.Step.Name}.env'\nset > '#{Dump.Dir}/#{Octopus.Step.Name}.set'\n";

/// The environment variables a script saw, from its dump.
fn dumped_env(dir: &Path, step: &str) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(dir.join(format!("{step}.env")))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_script_gets_what_use_gives_a_command_and_no_broker_credential() {
    let f = Fixture::new();
    let (audience, jwt) = trust_oidc(&f, OIDC_SUBJECT);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let dump = tempfile::tempdir().unwrap();
    let mut variables = system(&f, &run);
    variables.push(("Dump.Dir", dump.path().display().to_string()));
    let mut runbook = Runbook::new(&variables)
        .env("RUNKEY_GUARD_INTERVAL", "1s")
        .oidc_account("Accounts-1", &audience, &jwt);
    runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    let key = runbook.output("Create", "ApiKey").unwrap().clone();
    let steps = [
        runbook.run_step(
            "Run Script",
            "octopus-run-key-run-script-bash.json",
            &[
                ("RunKey.CreateStep", "Create"),
                ("RunKey.Script", DUMP_SCRIPT),
            ],
        ),
        runbook.run_step(
            "Exec with a key",
            "octopus-run-key-exec-bash.json",
            &[
                ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
                ("RunKey.Script", DUMP_SCRIPT),
            ],
        ),
        runbook.run_step(
            "Exec with OIDC",
            "octopus-run-key-exec-bash.json",
            &[
                ("RunKey.OidcAccount", "Accounts-1"),
                ("RunKey.Script", DUMP_SCRIPT),
            ],
        ),
    ];
    for step in &steps {
        assert_eq!(step.code, 0, "{}{}", step.stdout, step.stderr);
    }
    for name in ["Run Script", "Exec with a key", "Exec with OIDC"] {
        let env = dumped_env(dump.path(), name);
        let run_key = &env["OCTOPUS_API_KEY"];
        assert!(
            run_key.starts_with("API-") && *run_key != f.broker_key,
            "{name}"
        );
        if name == "Run Script" {
            // Run Script maps the key for `use`, whose command sees it there too.
            assert_eq!(*run_key, key);
            assert_eq!(env.get("RUNKEY_API_KEY"), Some(run_key));
        }
        // What `use` and `exec` give a command (ChildEnv::with_run_key).
        for variable in ["OCTOPUS_APIKEY", "OCTOPUS_CLI_API_KEY"] {
            assert_eq!(env.get(variable), Some(run_key), "{name}: {variable}");
        }
        assert_eq!(env["OCTOPUS_URL"], f.sim.url(), "{name}");
        assert_eq!(env["OCTOPUS_CLI_SERVER"], f.sim.url(), "{name}");
        assert_eq!(env["OCTOPUS_SPACE"], "Default", "{name}");
        for variable in [
            "OCTOPUS_ACCESS_TOKEN",
            "RUNKEY_OIDC_JWT",
            "RUNKEY_OIDC_AUDIENCE",
        ] {
            assert!(!env.contains_key(variable), "{name}: {variable}");
        }
        // Neither the broker's key nor the JWT is in its environment or in a variable of
        // the shell it runs in (Calamari's own get_octopusvariable holds them, as it holds
        // every variable of the step, encoded).
        let set = std::fs::read_to_string(dump.path().join(format!("{name}.set"))).unwrap();
        let all = std::fs::read_to_string(dump.path().join(format!("{name}.env"))).unwrap() + &set;
        assert!(!all.contains(&f.broker_key), "{name}: the broker's key");
        assert!(!all.contains(&jwt), "{name}: the JWT");
        assert!(
            set.contains("get_octopusvariable"),
            "{name}: Calamari's helpers"
        );
    }
    assert_eq!(runkey_keys(&f).len(), 1, "both Exec keys are revoked");
    end_run(&f, &run, &runbook, TaskState::Success);
}

#[test]
fn exec_revokes_the_key_whatever_the_script_does_to_its_shell() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    // A script that takes every name the template could use, unsets the key's variables
    // and sets a trap of its own.
    let clobber = "runkey=/bin/false; run_key=API-NOPE; key_id=apikeys-nope; owner_id=Users-0\n\
                   server=http://127.0.0.1:1; common=(--server http://127.0.0.1:1); script_file=/\n\
                   unset OCTOPUS_URL RUNKEY_API_KEY OCTOPUS_API_KEY; trap - EXIT INT TERM\n\
                   trap 'echo \"script: mine\"' EXIT\nfinish() { :; }\n";
    for (ending, code, message) in [
        ("exit 0", 0, None),
        ("exit 5", 5, None),
        ("fail_step 'given up'", 1, Some("given up")),
        ("kill -TERM $BASHPID", 143, None),
    ] {
        let step = runbook.run_step(
            "Exec",
            "octopus-run-key-exec-bash.json",
            &[
                ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
                ("RunKey.Script", &format!("{clobber}{ending}\n")),
            ],
        );
        assert_eq!(step.code, code, "{ending}: {}{}", step.stdout, step.stderr);
        assert_eq!(step.result_message().as_deref(), message, "{ending}");
        assert!(runkey_keys(&f).is_empty(), "{ending}: revoked");
        assert!(step.log().contains("Revoked run key"), "{ending}");
    }
    end_run(&f, &run, &runbook, TaskState::Success);
    seeded_keys_survive(&f);
}

#[test]
fn exec_fails_a_successful_script_whose_key_could_not_be_revoked() {
    // A server that does not let a key delete itself: Exec revokes with the run key, as
    // its guard does, so the revoke fails; the step says so and fails, unless the script
    // failed already, whose exit code stays the step's.
    let f = Fixture::with_options(Options {
        allow_self_delete: false,
        ..Options::default()
    });
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    for (script, code) in [("true", 1), ("exit 3", 3)] {
        let step = runbook.run_step(
            "Exec",
            "octopus-run-key-exec-bash.json",
            &[
                ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
                ("RunKey.NoGuard", "True"),
                ("RunKey.Script", script),
            ],
        );
        assert_eq!(step.code, code, "{script}: {}{}", step.stdout, step.stderr);
        assert!(
            step.stderr
                .contains("does not let the run key delete itself"),
            "{script}: {}",
            step.stderr
        );
    }
    assert_eq!(
        runkey_keys(&f).len(),
        2,
        "both keys stay, to the TTL and the sweep"
    );
}

#[test]
fn a_cancel_during_exec_leaves_the_key_to_the_guard_that_watches_the_task() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let exec = runbook.start_step(
        "Restart web",
        "octopus-run-key-exec-bash.json",
        &[
            ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
            ("RunKey.Script", LONG_SCRIPT),
        ],
    );
    exec.wait_for("started", Duration::from_secs(10));
    assert_eq!(runbook.guards().len(), 1, "create's guard");
    f.sim.set_task_state(&run.task_id, TaskState::Cancelling);
    let cancelled = runbook.cancel(exec);
    assert_ne!(cancelled.code, 0);
    assert_eq!(
        runkey_keys(&f).len(),
        1,
        "nothing revoked it in the killed step"
    );
    f.sim.set_task_state(&run.task_id, TaskState::Canceled);
    let started = std::time::Instant::now();
    while !runkey_keys(&f).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the guard did not revoke the key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    runbook.wait_for_no_guard(Duration::from_secs(5));
    seeded_keys_survive(&f);
}

/// What a Generic OIDC account's JWT holds as subject in a runbook run.
const OIDC_SUBJECT: &str = "space:default:project:web:runbook:restart-web:environment:production";

#[test]
fn sweep_and_revoke_run_with_only_an_oidc_account() {
    // A server that does not let a key delete itself, so that Revoke needs the broker: no
    // API key of the broker is stored anywhere, only its OIDC account.
    let f = Fixture::with_options(Options {
        allow_self_delete: false,
        ..Options::default()
    });
    let (audience, jwt) = trust_oidc(&f, OIDC_SUBJECT);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let variables: Vec<(&str, String)> = system(&f, &run)
        .into_iter()
        .filter(|(name, _)| *name != "Broker.ApiKey")
        .collect();
    let account = [("RunKey.OidcAccount", "Accounts-1")];
    let mut runbook = Runbook::new(&variables).oidc_account("Accounts-1", &audience, &jwt);
    let create = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[account[0], ("RunKey.NoGuard", "True")],
    );
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    let key_id = runbook.output("Create", "ApiKeyId").unwrap().clone();

    // Without a broker credential the run key cannot revoke itself here.
    let alone = runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create")],
    );
    assert_eq!(alone.code, 1, "{}{}", alone.stdout, alone.stderr);
    assert!(runkey_keys(&f).iter().any(|k| k.id == key_id));
    // With the OIDC account it revokes as the broker.
    let revoke = runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create"), account[0]],
    );
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert!(revoke.log().contains(&format!("Revoked run key {key_id}")));
    assert!(runkey_keys(&f).is_empty());
    let tokens = f.sim.access_tokens(&f.broker_id);
    let delete = f
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "DELETE" && r.status == Some(200))
        .unwrap();
    let bearer = delete
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim_start_matches("Bearer ").to_string());
    assert!(
        bearer.is_some_and(|t| tokens.contains(&t)),
        "the broker's access token deleted it"
    );

    // The clean-up runbook: a key of a run that is over, swept with the account alone.
    let over = f.sim.add_task(Some("ServerTasks-555"), TaskState::Failed);
    let (stale, _) = f.sim.add_api_key(
        &f.broker_id,
        &format!("Someone (x) ran 'Old' [runkey {over}/abcdef99]"),
        None,
    );
    let cleanup_task = f.sim.add_task(None, TaskState::Executing);
    let mut cleanup = Runbook::new(&[
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Task.Id", cleanup_task),
    ])
    .oidc_account("Accounts-1", &audience, &jwt);
    let sweep = cleanup.run_step("Sweep", "octopus-run-key-sweep-bash.json", &account);
    assert_eq!(sweep.code, 0, "{}{}", sweep.stdout, sweep.stderr);
    assert!(
        sweep
            .log()
            .contains("Swept 1 stale run key(s): 1 whose task is over"),
        "{}",
        sweep.log()
    );
    assert!(!f.sim.keys(&f.broker_id).iter().any(|k| k.id == stale));
    seeded_keys_survive(&f);
    // Not one request carried the broker's API key, and the JWT went to the token
    // endpoint alone.
    for request in f.sim.requests() {
        for (name, value) in &request.headers {
            assert!(
                !value.contains(&f.broker_key) && !value.contains(&jwt),
                "{} {}: {name}",
                request.method,
                request.target
            );
        }
        assert!(
            !request.body.contains(&jwt) || request.target.starts_with("/api/token/"),
            "{} {}",
            request.method,
            request.target
        );
    }
    for step in [&create, &alone, &revoke, &sweep] {
        assert!(!step.log().contains(&jwt));
    }
}

// Issue 23, item 4: the Create templates' Access parameter, and a Revoke step that deletes
// the read-only key with the broker's OIDC account.
#[test]
fn a_read_only_run_key_from_the_create_template_is_revoked_with_the_oidc_account() {
    for (field, made) in [
        (octopus_sim::AccessLevelField::Honoured, true),
        (octopus_sim::AccessLevelField::Ignored, false),
    ] {
        let f = Fixture::with_options(Options {
            access_level_field: field,
            access_level_in_reads: true,
            ..Options::default()
        });
        let (audience, jwt) = trust_oidc(&f, OIDC_SUBJECT);
        let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
        let variables: Vec<(&str, String)> = system(&f, &run)
            .into_iter()
            .filter(|(name, _)| *name != "Broker.ApiKey")
            .collect();
        let account = ("RunKey.OidcAccount", "Accounts-1");
        let mut runbook = Runbook::new(&variables).oidc_account("Accounts-1", &audience, &jwt);
        let create = runbook.run_step(
            "Create",
            "octopus-run-key-create-bash.json",
            &[
                account,
                ("RunKey.Access", "read-only"),
                ("RunKey.NoGuard", "True"),
            ],
        );
        if !made {
            // The server ignored the level: the full key it made is gone, the step failed.
            assert_eq!(create.code, 1, "{}{}", create.stdout, create.stderr);
            assert!(create.log().contains("a read-only run key was asked for"));
            assert!(runkey_keys(&f).is_empty());
            continue;
        }
        assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
        let keys = runkey_keys(&f);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].access_level, octopus_sim::AccessLevel::ReadOnly);
        let revoke = runbook.run_step(
            "Revoke",
            "octopus-run-key-revoke-bash.json",
            &[("RunKey.CreateStep", "Create"), account],
        );
        assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
        assert!(runkey_keys(&f).is_empty());
    }
}

/// Parameter values held as owned strings, as `run_step` takes them.
fn as_params<'a>(all: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    all.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_self_hosted_server_with_a_private_ca_a_request_timeout_and_verbose() {
    let ca = TestCa::new();
    let f = Fixture::with_tls(&ca);
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    let pem = ca.ca_pem.clone();
    let with_ca = |more: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
        let mut all: Vec<(&'static str, String)> = vec![("RunKey.CaCertificate", pem.clone())];
        all.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
        all
    };

    // Without the CA the worker does not trust the server: the binary says how to.
    let untrusted = runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    assert_eq!(untrusted.code, 1);
    assert!(
        untrusted.result_message().unwrap().contains("--ca-cert"),
        "{:?}",
        untrusted.result_message()
    );
    assert!(f.sim.requests().is_empty(), "the handshake failed");

    // With it, a verbose create: each request in the log, no credential.
    let params = with_ca(&[
        ("RunKey.BrokerApiKey", "#{Broker.ApiKey}"),
        ("RunKey.Verbose", "True"),
    ]);
    let running = runbook.start_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &as_params(&params),
    );
    let work = running.work.clone();
    let create = runbook.finish(running);
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    assert_eq!(
        std::fs::read_to_string(work.join("runkey-ca.pem")).unwrap(),
        format!("{}\n", pem.trim_end()),
        "the PEM, in a file of the working folder"
    );
    assert!(
        create.stderr.contains("octopus-runkey: < 200 "),
        "{}",
        create.stderr
    );
    assert!(!create.stderr.contains(&f.broker_key));
    let key = runbook.output("Create", "ApiKey").unwrap().clone();
    assert!(!create.stderr.contains(&key));

    let script = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &as_params(&with_ca(&[
            ("RunKey.CreateStep", "Create"),
            ("RunKey.Script", "echo 'script: ran'"),
        ])),
    );
    assert_eq!(script.code, 0, "{}{}", script.stdout, script.stderr);
    assert!(
        script.log().contains("The run key is valid"),
        "{}",
        script.log()
    );
    assert!(script.stderr.is_empty(), "not verbose: {}", script.stderr);

    // A server slower than the step's timeout: the check fails, naming the limit.
    f.sim.inject(
        Fault::new(
            "GET",
            "/api/users/me",
            FaultKind::Delay(Duration::from_secs(3)),
        )
        .times(3),
    );
    let slow = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &as_params(&with_ca(&[
            ("RunKey.CreateStep", "Create"),
            ("RunKey.Script", "echo 'script: ran'"),
            ("RunKey.Timeout", " 1 "),
        ])),
    );
    assert_eq!(slow.code, 1, "{}{}", slow.stdout, slow.stderr);
    assert!(
        slow.result_message()
            .unwrap()
            .contains("timed out after 1s"),
        "{:?}",
        slow.result_message()
    );
    assert!(!slow.log().contains("script: ran"));
    // A timeout that is no number is the binary's usage error.
    let bad = runbook.run_step(
        "Work",
        "octopus-run-key-run-script-bash.json",
        &as_params(&with_ca(&[
            ("RunKey.CreateStep", "Create"),
            ("RunKey.Script", "echo 'script: ran'"),
            ("RunKey.Timeout", "soon"),
        ])),
    );
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("--timeout"), "{}", bad.stderr);

    let revoke = runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &as_params(&with_ca(&[("RunKey.CreateStep", "Create")])),
    );
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert!(runkey_keys(&f).is_empty());
    // The Create step's guard got the CA too: it reads the task and ends.
    end_run(&f, &run, &runbook, TaskState::Success);
}

/// The rows of a CSV without quoted line breaks (the binary escapes control characters in
/// every field): each line's fields, quotes taken off.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = vec![String::new()];
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if quoted && chars.peek() == Some(&'"') => {
                        chars.next();
                        fields.last_mut().unwrap().push('"');
                    }
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(String::new()),
                    c => fields.last_mut().unwrap().push(c),
                }
            }
            fields
        })
        .collect()
}

#[test]
fn the_audit_template_logs_who_did_what_and_attaches_the_same_rows_as_csv() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut runbook = runbook(&f, &run);
    // Jane Doe's run disables the target through its Run Script step.
    runbook.run_step(
        "Create",
        "octopus-run-key-create-bash.json",
        &[("RunKey.BrokerApiKey", "#{Broker.ApiKey}")],
    );
    let disable = format!(
        "curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -H 'Content-Type: application/json' \
         -d '{{\"Id\":\"{id}\",\"IsDisabled\":true}}' \"$OCTOPUS_URL/api/{space}/machines/{id}\" > /dev/null",
        id = f.machine_id,
        space = f.space_id
    );
    let work = runbook.run_step(
        "Disable web-01",
        "octopus-run-key-run-script-bash.json",
        &[("RunKey.CreateStep", "Create"), ("RunKey.Script", &disable)],
    );
    assert_eq!(work.code, 0, "{}{}", work.stdout, work.stderr);
    assert!(f.sim.machine(&f.machine_id).unwrap().is_disabled);
    runbook.run_step(
        "Revoke",
        "octopus-run-key-revoke-bash.json",
        &[("RunKey.CreateStep", "Create")],
    );
    end_run(&f, &run, &runbook, TaskState::Success);

    // The auditor's scheduled runbook, with the broker's OIDC account alone.
    let (audience, jwt) = trust_oidc(&f, OIDC_SUBJECT);
    let audit_task = f.sim.add_task(None, TaskState::Executing);
    let mut weekly = Runbook::new(&[
        ("Octopus.Web.ServerUri", f.sim.url()),
        ("Octopus.Task.Id", audit_task),
    ])
    .oidc_account("Accounts-1", &audience, &jwt);
    let account = ("RunKey.OidcAccount", "Accounts-1");
    f.sim.reset_counters();
    let audit = weekly.run_step(
        "Who did what",
        "octopus-run-key-audit-bash.json",
        &[account, ("RunKey.Brokers", "svc-runbooks\r\n\n  \n")],
    );
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    let log = audit.log();
    assert!(
        log.contains("Jane Doe (jane.doe)")
            && log.contains("Deployment target web-01 was disabled"),
        "the table, in the task log: {log}"
    );
    assert_eq!(audit.artifacts.len(), 1, "{}", audit.stdout);
    let artifact = &audit.artifacts[0];
    let stamp = regex::Regex::new(r"^run-key-audit-\d{8}T\d{6}Z\.csv$").unwrap();
    assert!(stamp.is_match(&artifact.name), "{}", artifact.name);
    let csv = std::fs::read_to_string(&artifact.path).unwrap();
    assert_eq!(artifact.length, csv.len() as u64);
    assert!(!csv.contains("##octopus"), "the CSV alone: {csv}");
    let rows = csv_rows(&csv);
    // The binary's own columns, whatever they are: the test reads them by their names.
    let header = &rows[0];
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} column: {csv}"))
    };
    let (operator, task, message) = (column("Operator"), column("Task"), column("Message"));
    assert_eq!(header[0], "Occurred", "{csv}");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{csv}");
    let change = rows
        .iter()
        .find(|r| r[message] == "Deployment target web-01 was disabled")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(change[operator], "Jane Doe (jane.doe)");
    assert_eq!(change[task], run.task_id);
    // The same rows as the table: its closing count says how many.
    let count = rows.len() - 1;
    assert!(
        log.contains(&format!("{count} change(s) from ")),
        "{count} rows: {log}"
    );
    // Both readings asked for the same window, for the broker named.
    let windows: std::collections::HashSet<String> = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/api/events?"))
        .map(|r| {
            let to = r.target.split("&to=").nth(1).unwrap();
            to.split('&').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert!(
        f.sim
            .requests()
            .iter()
            .filter(|r| r.target.starts_with("/api/events?"))
            .all(|r| r.target.contains(&format!("users={}", f.broker_id))),
    );

    // Changes only: the run key's own creation and deletion left out.
    let changes = weekly.run_step(
        "Who did what",
        "octopus-run-key-audit-bash.json",
        &[
            account,
            ("RunKey.ChangesOnly", "True"),
            ("RunKey.Since", "1h"),
        ],
    );
    assert_eq!(changes.code, 0, "{}{}", changes.stdout, changes.stderr);
    let rows = csv_rows(&std::fs::read_to_string(&changes.artifacts[0].path).unwrap());
    let messages: Vec<&str> = rows[1..].iter().map(|r| r[message].as_str()).collect();
    assert_eq!(messages, ["Deployment target web-01 was disabled"]);

    // Each line of the broker usernames is a --broker; a window that is no time, a usage
    // error; no credential, the template's own message.
    let nobody = weekly.run_step(
        "Who did what",
        "octopus-run-key-audit-bash.json",
        &[account, ("RunKey.Brokers", "svc-runbooks\nnobody-such")],
    );
    assert_eq!(nobody.code, 2, "{}{}", nobody.stdout, nobody.stderr);
    assert!(
        nobody
            .result_message()
            .unwrap()
            .contains("--broker 'nobody-such'"),
        "{:?}",
        nobody.result_message()
    );
    assert!(nobody.artifacts.is_empty());
    let soon = weekly.run_step(
        "Who did what",
        "octopus-run-key-audit-bash.json",
        &[account, ("RunKey.Since", "soon")],
    );
    assert_eq!(soon.code, 2);
    assert!(soon.result_message().unwrap().contains("--since"));
    let missing = weekly.run_step("Who did what", "octopus-run-key-audit-bash.json", &[]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .result_message()
            .unwrap()
            .starts_with("RunKey.BrokerApiKey is empty")
    );
    // The broker's API key, where OIDC is not available, works as well.
    let with_key = weekly.run_step(
        "Who did what",
        "octopus-run-key-audit-bash.json",
        &[("RunKey.BrokerApiKey", &f.broker_key)],
    );
    assert_eq!(with_key.code, 0, "{}{}", with_key.stdout, with_key.stderr);
    assert!(!with_key.log().contains(&f.broker_key));
}
