//! The whole pattern against the built-in Octopus simulator, no server needed:
//! Jane Doe clicks Run on a runbook with three steps (Create, Run Script, Revoke); then she
//! runs it again and clicks Cancel during the script, so no further step runs and the
//! Create step's guard revokes the key; then the one-step Exec form. Each step runs the real
//! `octopus-runkey` binary with the environment the step template would give it, and the
//! demo shows what Octopus would see: the task log (masked), the output variables, the audit
//! trail, and what is left on the server. It waits for every guard it started to end, so
//! none outlives the simulator. What Octopus reads from a step's output and how Tentacle
//! cancels a step come from the simulator's crate (`calamari`, `tentacle`), as in the tests.
//!
//! Run it with `cargo build --release && cargo run --release --example demo`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use octopus_sim::calamari::Recorded;
use octopus_sim::tentacle::{self, kill_tree_like_tentacle};
use octopus_sim::{Fixture, TaskState};

/// How often the demo's guards ask whether the task is over (the default is 10 s).
const GUARD_INTERVAL: &str = "1s";

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--as-runbook-script") => return runbook_script(),
        Some("--as-long-runbook-script") => return long_runbook_script(),
        _ => {}
    }
    let binary = binary();
    let guards_before = guards(&binary);
    let f = Fixture::new();
    // The simulator's cast includes another run's key; this demo is about Jane's runs only.
    f.sim.remove_api_key(&f.other_run_key_id);
    println!("Octopus simulator on {}", f.sim.url());

    step(
        "An administrator prepares the space once   (octopus-runkey setup --broker svc-runbooks --oidc ...)",
    );
    let admin_key = f.sim.add_api_key(&f.admin_id, "admin's own key", None).1;
    let packages = tempfile::tempdir().expect("a temporary folder");
    let package = packages.path().join(format!(
        "octopus-runkey.{}.tar.gz",
        env!("CARGO_PKG_VERSION")
    ));
    std::fs::write(&package, b"the all-platform package").expect("a package file");
    let setup = run_step(
        &binary,
        &[
            "setup",
            "--package",
            package.to_str().unwrap(),
            "--broker",
            "svc-runbooks",
            "--role",
            "Runbook consumer",
            "--role",
            "Environment manager",
            "--oidc",
        ],
        &[
            ("OCTOPUS_URL", f.sim.url()),
            ("OCTOPUS_API_KEY", admin_key.clone()),
        ],
    );
    show_task_log(&setup, std::slice::from_ref(&admin_key));
    let broker_id = f
        .sim
        .users()
        .into_iter()
        .find(|u| u.username == "svc-runbooks")
        .map(|u| u.id)
        .unwrap_or_default();
    let audience = f.sim.external_id(&broker_id);
    // What Octopus gives a step that references the Generic OIDC account: a fresh JWT.
    let jwt = || {
        f.sim.oidc_jwt(
            "space:default:project:web:runbook:restart-web",
            &audience,
            jiff::SignedDuration::from_mins(10),
        )
    };
    let broker = |env: &mut Vec<(&str, String)>| {
        env.push(("RUNKEY_OIDC_JWT", jwt()));
        env.push(("RUNKEY_OIDC_AUDIENCE", audience.clone()));
    };
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    println!(
        "\nBroker service account: svc-runbooks ({broker_id}), trusted through OIDC: no broker secret is stored anywhere."
    );
    println!(
        "Jane Doe (jane.doe) clicks Run on runbook 'Restart web' in Production: {} / {}.\n",
        run.id, run.task_id
    );

    let system_of = |run: &octopus_sim::RunbookRun| {
        vec![
            ("OCTOPUS_URL", f.sim.url()),
            ("OCTOPUS_DEPLOYMENT_CREATEDBY_ID", f.operator_id.clone()),
            (
                "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
                "jane.doe".to_string(),
            ),
            (
                "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
                "Jane Doe".to_string(),
            ),
            ("OCTOPUS_TASK_ID", run.task_id.clone()),
            ("OCTOPUS_RUNBOOKRUN_ID", run.id.clone()),
            ("OCTOPUS_RUNBOOK_NAME", "Restart web".to_string()),
            ("OCTOPUS_PROJECT_NAME", "Web".to_string()),
            ("OCTOPUS_ENVIRONMENT_NAME", "Production".to_string()),
            ("OCTOPUS_SPACE_ID", f.space_id.clone()),
            ("OCTOPUS_SPACE_NAME", "Default".to_string()),
            ("RUNKEY_GUARD_INTERVAL", GUARD_INTERVAL.to_string()),
            ("DEMO_MACHINE", f.machine_id.clone()),
        ]
    };
    let system = system_of(&run);

    step(
        "Step 1: Octopus Run Key - Create   (octopus-runkey create --ttl 1h, with the OIDC account)",
    );
    let mut env = system.clone();
    broker(&mut env);
    let create = run_step(&binary, &["create", "--ttl", "1h"], &env);
    let vars = Recorded::from_output(&create.stdout);
    let key = vars.variable("ApiKey").expect("ApiKey output").to_string();
    let mut masks = vec![key.clone()];
    show_task_log(&create, &masks);
    println!("  Output variables (later steps read Octopus.Action[Create run key].Output.<Name>):");
    for variable in &vars.variables {
        let shown = if variable.sensitive {
            "******** (sensitive)".to_string()
        } else {
            variable.value.clone()
        };
        println!("    {:<14} {shown}", variable.name);
    }
    masks.push(admin_key.clone());

    step("Step 2: Octopus Run Key - Run Script   (octopus-runkey use --check -- <script>)");
    let demo = std::env::current_exe().expect("the demo's own path");
    let mut env = system.clone();
    env.push(("RUNKEY_API_KEY", key.clone()));
    let script = [demo.to_str().unwrap(), "--as-runbook-script"];
    let args: Vec<&str> = ["use", "--check", "--"]
        .iter()
        .copied()
        .chain(script)
        .collect();
    let used = run_step(&binary, &args, &env);
    show_task_log(&used, &masks);

    step("Step 3: Octopus Run Key - Revoke (run condition: Always run)   (octopus-runkey revoke)");
    let mut env = system.clone();
    env.push(("RUNKEY_API_KEY", key.clone()));
    env.push(("RUNKEY_API_KEY_ID", var(&vars, "ApiKeyId")));
    env.push(("RUNKEY_API_KEY_OWNER_ID", var(&vars, "ApiKeyOwnerId")));
    let revoked = run_step(&binary, &["revoke"], &env);
    show_task_log(&revoked, &masks);

    step(&format!(
        "The run ends: Octopus marks {} Success",
        run.task_id
    ));
    f.sim.set_task_state(&run.task_id, TaskState::Success);
    let guard_done = wait_for(Duration::from_secs(10), || {
        f.sim
            .requests()
            .iter()
            .any(|r| r.target.ends_with(&run.task_id) && r.status == Some(401))
    });
    println!(
        "  The Create step's guard asked GET /api/tasks/{} once a second while the run went on.",
        run.task_id
    );
    println!(
        "  Now the key it holds is refused (401: the Revoke step deleted it), so it ends without a request of its own{}.",
        if guard_done { "" } else { " (NOT SEEN)" }
    );

    let cancelled_run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    step(&format!(
        "Jane runs it again ({} / {}) and clicks Cancel during the script",
        cancelled_run.id, cancelled_run.task_id
    ));
    println!("  Step 1: Octopus Run Key - Create");
    let mut env = system_of(&cancelled_run);
    broker(&mut env);
    let create2 = run_step(&binary, &["create", "--ttl", "1h"], &env);
    let vars2 = Recorded::from_output(&create2.stdout);
    let key2 = var(&vars2, "ApiKey");
    let key2_id = var(&vars2, "ApiKeyId");
    masks.push(key2.clone());
    show_task_log(&create2, &masks);
    println!("  Step 2: Octopus Run Key - Run Script (a long restart)");
    let mut env = system_of(&cancelled_run);
    env.push(("RUNKEY_API_KEY", key2.clone()));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ready = dir.path().join("started");
    env.push(("DEMO_READY", ready.display().to_string()));
    let long = [demo.to_str().unwrap(), "--as-long-runbook-script"];
    let args: Vec<&str> = ["use", "--"].iter().copied().chain(long).collect();
    let step2 = start_step(&binary, &args, &env);
    let started = wait_for(Duration::from_secs(10), || ready.exists());
    f.sim
        .set_task_state(&cancelled_run.task_id, TaskState::Cancelling);
    kill_tree_like_tentacle(step2.id());
    let killed = step2.wait_with_output().expect("the killed step");
    let killed = StepOutput {
        code: killed.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&killed.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&killed.stderr).into_owned(),
    };
    println!(
        "  Jane clicks Cancel{}: Tentacle SIGKILLs the step's whole process tree at once (no signal to catch).",
        if started {
            ""
        } else {
            " (the script never started)"
        }
    );
    show_task_log(&killed, &masks);
    f.sim
        .set_task_state(&cancelled_run.task_id, TaskState::Canceled);
    let canceled_at = Instant::now();
    println!(
        "  Octopus marks {} Canceled and runs no further step: the Revoke step (Always run) does not run.",
        cancelled_run.task_id
    );
    if f.sim.keys(&broker_id).iter().any(|k| k.id == key2_id) {
        println!("  Right after the cancel, run key {key2_id} is still live.");
    }
    let revoked_by_guard = wait_for(Duration::from_secs(10), || {
        !f.sim.keys(&broker_id).iter().any(|k| k.id == key2_id)
    });
    if revoked_by_guard {
        println!(
            "  The guard saw the task over and revoked {key2_id} {:.1} s later, with the run key itself.",
            canceled_at.elapsed().as_secs_f64()
        );
    } else {
        println!("  The guard did NOT revoke {key2_id}.");
    }

    step("The one-step form: Octopus Run Key - Exec   (octopus-runkey exec -- <script>)");
    let exec_run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    let mut env = system_of(&exec_run);
    broker(&mut env);
    let args: Vec<&str> = ["exec", "--"].iter().copied().chain(script).collect();
    let exec = run_step(&binary, &args, &env);
    masks.extend(Recorded::from_output(&exec.stdout).masks);
    show_task_log(&exec, &masks);

    step("What the audit log shows (newest last; the second DELETE is the guard's)");
    for event in f.sim.audit() {
        println!(
            "  {} {}  (as {})",
            event.occurred.strftime("%H:%M:%S"),
            event.action,
            event.username
        );
        println!(
            "      identity established with {}",
            event.identity_established_with
        );
        if !event.message.is_empty() {
            println!("      {}", event.message);
        }
    }

    step("The auditor asks: who did what through run keys?   (octopus-runkey audit)");
    let mut env = system.clone();
    broker(&mut env);
    let audit = run_step(&binary, &["audit"], &env);
    show_task_log(&audit, &masks);

    step("What is left on the server");
    let left: Vec<_> = f
        .sim
        .keys(&broker_id)
        .into_iter()
        .filter(|k| k.purpose.contains("[runkey "))
        .collect();
    let mut env = system.clone();
    broker(&mut env);
    let list = run_step(&binary, &["list"], &env);
    show_task_log(&list, &masks);
    println!(
        "  Run keys left on the broker account: {}; machine web-01 is disabled: {}.",
        left.len(),
        f.sim.machine(&f.machine_id).is_some_and(|m| m.is_disabled)
    );
    // Every guard this demo started ends before the simulator does.
    let no_guard_left = wait_for(Duration::from_secs(10), || {
        guards(&binary).is_subset(&guards_before)
    });
    println!(
        "  Guards still running: {}.",
        guards(&binary).difference(&guards_before).count()
    );
    if !left.is_empty()
        || setup.code != 0
        || audit.code != 0
        || !audit.stdout.contains("Jane Doe (jane.doe)")
        || create.code != 0
        || used.code != 0
        || revoked.code != 0
        || exec.code != 0
        || create2.code != 0
        || !guard_done
        || !revoked_by_guard
        || !no_guard_left
    {
        eprintln!("demo: something went wrong (see above)");
        std::process::exit(1);
    }
}

/// What the Run Script step's script does: call the API with the key it was given.
fn runbook_script() {
    let url = std::env::var("OCTOPUS_URL").expect("OCTOPUS_URL");
    let key = std::env::var("OCTOPUS_API_KEY").expect("OCTOPUS_API_KEY");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!("{url}/api/users/me"))
        .header("X-Octopus-ApiKey", &key)
        .call()
        .expect("the API answers");
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    println!(
        "[script] Restarting web... calling the Octopus API as {} with the run key {key}",
        body["Username"].as_str().unwrap_or("?")
    );
    // A change the audit log records: take web-01 out of rotation while it restarts.
    if let Ok(machine) = std::env::var("DEMO_MACHINE") {
        let space = std::env::var("OCTOPUS_SPACE_ID").unwrap_or_default();
        let response = agent
            .put(&format!("{url}/api/{space}/machines/{machine}"))
            .header("X-Octopus-ApiKey", &key)
            .content_type("application/json")
            .send(serde_json::json!({"Id": machine, "IsDisabled": true}).to_string())
            .expect("the API answers");
        println!(
            "[script] PUT /api/{space}/machines/{machine} (disable web-01): {}",
            response.status()
        );
    }
    println!(
        "[script] OCTOPUS_ACCESS_TOKEN present: {}",
        std::env::var_os("OCTOPUS_ACCESS_TOKEN").is_some()
    );
}

/// The long script of the cancelled run: says it started, then works until it is killed.
fn long_runbook_script() {
    println!("[script] Restarting web, slowly...");
    if let Some(ready) = std::env::var_os("DEMO_READY") {
        let _ = std::fs::write(ready, "");
    }
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a step in the background, as Tentacle would.
fn start_step(binary: &Path, args: &[&str], env: &[(&str, String)]) -> Child {
    Command::new(binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TentacleHome", "/etc/octopus/Tentacle")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start octopus-runkey")
}

/// The running guards of this binary (`octopus-runkey __guard watch`), by pid.
fn guards(binary: &Path) -> HashSet<u32> {
    tentacle::guards(&binary.display().to_string())
        .into_iter()
        .map(|g| g.pid)
        .collect()
}

/// Waits until `done` holds; false after `limit`.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

struct StepOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_step(binary: &PathBuf, args: &[&str], env: &[(&str, String)]) -> StepOutput {
    let output = Command::new(binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TentacleHome", "/etc/octopus/Tentacle")
        .output()
        .expect("run octopus-runkey");
    StepOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The task log as Octopus renders it: service messages consumed, masked values hidden.
fn show_task_log(output: &StepOutput, masks: &[String]) {
    match output.code {
        -1 => println!("  Task log (killed):"),
        code => println!("  Task log (exit code {code}):"),
    }
    let mask = |line: &str| {
        masks
            .iter()
            .fold(line.to_string(), |l, m| l.replace(m.as_str(), "********"))
    };
    for line in output.stdout.lines() {
        if line.starts_with("##octopus[") {
            let name = line
                .trim_start_matches("##octopus[")
                .split([' ', ']'])
                .next()
                .unwrap_or("");
            if !name.starts_with("stdout-") {
                println!("    (service message: {name})");
            }
        } else {
            println!("    {}", mask(line));
        }
    }
    for line in output.stderr.lines() {
        println!("    [stderr] {}", mask(line));
    }
}

/// The value of output variable `name` of a step, empty when it set none.
fn var(vars: &Recorded, name: &str) -> String {
    vars.variable(name).unwrap_or_default().to_string()
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RUNKEY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the demo's own path");
    let path = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("octopus-runkey"));
    match path {
        Some(path) if path.exists() => path,
        _ => {
            eprintln!(
                "demo: build the binary first: cargo build --release && cargo run --release --example demo"
            );
            std::process::exit(2);
        }
    }
}
