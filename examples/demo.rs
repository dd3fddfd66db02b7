//! The whole pattern against the built-in Octopus simulator, no server needed:
//! Jane Doe clicks Run on a runbook with three steps (Create, Run Script, Revoke), then the
//! one-step Exec form. Each step runs the real `octopus-runkey` binary with the environment
//! the step template would give it, and the demo shows what Octopus would see: the task log
//! (masked), the output variables, the audit trail, and what is left on the server.
//!
//! Run it with `cargo build --release && cargo run --release --example demo`.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use octopus_sim::Fixture;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--as-runbook-script") {
        return runbook_script();
    }
    let binary = binary();
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    println!("Octopus simulator on {}", f.sim.url());
    println!(
        "Broker service account: Runbook Broker (svc-runbooks), {}; its API key is the only long-lived secret.",
        f.broker_id
    );
    println!(
        "Jane Doe (jane.doe) clicks Run on runbook 'Restart web' in Production: {} / {}.\n",
        run.id, run.task_id
    );

    let system = vec![
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
    ];

    step("Step 1: Octopus Run Key - Create   (octopus-runkey create --ttl 1h)");
    let mut env = system.clone();
    env.push(("OCTOPUS_API_KEY", f.broker_key.clone()));
    let create = run_step(&binary, &["create", "--ttl", "1h"], &env);
    let vars = output_variables(&create.stdout);
    let key = vars
        .iter()
        .find(|(n, _, _)| n == "ApiKey")
        .map(|(_, v, _)| v.clone())
        .expect("ApiKey output");
    let mut masks = vec![key.clone()];
    show_task_log(&create, &masks);
    println!("  Output variables (later steps read Octopus.Action[Create run key].Output.<Name>):");
    for (name, value, sensitive) in &vars {
        let shown = if *sensitive {
            "******** (sensitive)".to_string()
        } else {
            value.clone()
        };
        println!("    {name:<14} {shown}");
    }
    masks.push(f.broker_key.clone());

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

    step("Step 3: Octopus Run Key - Revoke (run condition: Always)   (octopus-runkey revoke)");
    let mut env = system.clone();
    env.push(("RUNKEY_API_KEY", key.clone()));
    env.push(("RUNKEY_API_KEY_ID", var(&vars, "ApiKeyId")));
    env.push(("RUNKEY_API_KEY_OWNER_ID", var(&vars, "ApiKeyOwnerId")));
    let revoked = run_step(&binary, &["revoke"], &env);
    show_task_log(&revoked, &masks);

    step("The one-step form: Octopus Run Key - Exec   (octopus-runkey exec -- <script>)");
    let mut env = system.clone();
    env.push(("OCTOPUS_API_KEY", f.broker_key.clone()));
    env.push(("OCTOPUS_TASK_ID", "ServerTasks-2".to_string()));
    let args: Vec<&str> = ["exec", "--"].iter().copied().chain(script).collect();
    let exec = run_step(&binary, &args, &env);
    let exec_key = calamari_values(&exec.stdout, "mask");
    masks.extend(exec_key);
    show_task_log(&exec, &masks);

    step("What the audit log shows (newest last)");
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

    step("What is left on the server");
    let left: Vec<_> = f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .filter(|k| k.purpose.contains("[runkey "))
        .collect();
    let mut env = system.clone();
    env.push(("OCTOPUS_API_KEY", f.broker_key.clone()));
    let list = run_step(&binary, &["list"], &env);
    show_task_log(&list, &masks);
    println!(
        "  Run keys left on the broker account: {} (the broker's own key is untouched).",
        left.len()
    );
    if !left.is_empty() || create.code != 0 || used.code != 0 || revoked.code != 0 || exec.code != 0
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
    println!(
        "[script] OCTOPUS_ACCESS_TOKEN present: {}",
        std::env::var_os("OCTOPUS_ACCESS_TOKEN").is_some()
    );
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
    println!("  Task log (exit code {}):", output.code);
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

fn output_variables(stdout: &str) -> Vec<(String, String, bool)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("##octopus[setVariable "))
        .map(|line| {
            let attr = |name: &str| attribute(line, name).unwrap_or_default();
            (attr("name"), attr("value"), attr("sensitive") == "True")
        })
        .collect()
}

fn calamari_values(stdout: &str, message: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with(&format!("##octopus[{message} ")))
        .filter_map(|l| attribute(l, "value"))
        .collect()
}

fn attribute(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!(" {name}='"))? + name.len() + 3;
    let end = start + line[start..].find('\'')?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&line[start..end])
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn var(vars: &[(String, String, bool)], name: &str) -> String {
    vars.iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, v, _)| v.clone())
        .unwrap_or_default()
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
