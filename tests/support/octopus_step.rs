//! Runs a step template the way Octopus and Calamari would: template parameters resolved
//! (defaults, `#{...}` substitution), the script body substituted, the package extracted into
//! the working folder under the reference name (one folder per platform, the run bits lost),
//! and the body of a Bash template run by `bash` after Calamari's
//! helper functions (`get_octopusvariable`, `set_octopusvariable`, `fail_step`, `write_*`),
//! written here with the behaviour of Calamari's Bootstrap.sh. Output variables of a step
//! become `Octopus.Action[<step>].Output.<Name>` for the steps after it.
//!
//! A step can also be started and then cancelled the way Tentacle cancels it: the step's
//! whole process tree stopped and SIGKILLed, no grace period, no further step. What Octopus
//! reads from a step's output and how Tentacle kills and finds processes come from the
//! simulator's crate (`calamari`, `tentacle`), shared with the demo. Guards the
//! steps leave behind (`octopus-runkey __guard watch`, started from the package copied into
//! this run's folder) are found by that folder; any still running when the run is dropped
//! get SIGTERM (which makes a guard revoke and end), so none outlives the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use octopus_sim::calamari::Recorded;
use octopus_sim::tentacle;

pub fn template(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("step-templates")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn script_body(template: &Value) -> String {
    template["Properties"]["Octopus.Action.Script.ScriptBody"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One runbook run: its variables grow with each step's output variables.
pub struct Runbook {
    pub variables: BTreeMap<String, String>,
    masks: Vec<String>,
    dir: tempfile::TempDir,
    steps: usize,
    /// The masks of the step being run, until it ends.
    pending_masks: Vec<String>,
    /// Run steps as if no package had been chosen (nothing extracted).
    pub without_package: bool,
    /// Environment variables of every step's process beyond Tentacle's own (a worker's
    /// settings, such as `RUNKEY_GUARD_INTERVAL`).
    pub environment: Vec<(String, String)>,
}

/// A step that was started and has not ended yet.
pub struct RunningStep {
    child: Child,
    step_name: String,
    /// The step's working folder.
    pub work: PathBuf,
}

pub struct Step {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    masks: Vec<String>,
}

impl Step {
    /// The task log as Octopus shows it: service messages consumed, sensitive values masked.
    pub fn log(&self) -> String {
        let mut log = String::new();
        for line in self.stdout.lines().chain(self.stderr.lines()) {
            if line.starts_with("##octopus[") {
                continue;
            }
            let masked = self
                .masks
                .iter()
                .filter(|m| m.len() > 3)
                .fold(line.to_string(), |l, m| l.replace(m.as_str(), "********"));
            log.push_str(&masked);
            log.push('\n');
        }
        log
    }

    pub fn result_message(&self) -> Option<String> {
        Recorded::from_output(&self.stdout).result_message
    }
}

impl Runbook {
    pub fn new(system: &[(&str, String)]) -> Runbook {
        Runbook {
            variables: system
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            masks: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            steps: 0,
            pending_masks: Vec::new(),
            without_package: false,
            environment: Vec::new(),
        }
    }

    /// Every step's process gets `name=value` in its environment.
    pub fn env(mut self, name: &str, value: &str) -> Runbook {
        self.environment.push((name.into(), value.into()));
        self
    }

    /// The guards this run's steps started that are still running.
    pub fn guards(&self) -> Vec<u32> {
        let dir = self.dir.path().display().to_string();
        tentacle::guards(&dir).into_iter().map(|g| g.pid).collect()
    }

    /// Waits until no guard of this run is left; panics after `limit`.
    pub fn wait_for_no_guard(&self, limit: Duration) {
        let started = Instant::now();
        while !self.guards().is_empty() {
            assert!(
                started.elapsed() < limit,
                "a guard of this run still runs after {limit:?}: {:?}",
                self.guards()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self, step: &str, name: &str) -> Option<&String> {
        self.variables
            .get(&format!("Octopus.Action[{step}].Output.{name}"))
    }

    /// Runs `template_file` as the step `step_name` with these parameter values (the rest
    /// take their defaults).
    pub fn run_step(
        &mut self,
        step_name: &str,
        template_file: &str,
        parameters: &[(&str, &str)],
    ) -> Step {
        let running = self.start_step(step_name, template_file, parameters);
        self.finish(running)
    }

    /// Starts `template_file` as the step `step_name` and returns while it runs.
    pub fn start_step(
        &mut self,
        step_name: &str,
        template_file: &str,
        parameters: &[(&str, &str)],
    ) -> RunningStep {
        self.steps += 1;
        let template = template(template_file);
        let work = self.dir.path().join(format!("step-{}", self.steps));
        std::fs::create_dir_all(&work).unwrap();

        let mut variables = self.variables.clone();
        let mut masks = self.masks.clone();
        for parameter in template["Parameters"].as_array().unwrap() {
            let name = parameter["Name"].as_str().unwrap();
            let given = parameters
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string());
            let raw = given
                .unwrap_or_else(|| parameter["DefaultValue"].as_str().unwrap_or("").to_string());
            let value = substitute(&raw, &self.variables);
            if parameter["DisplaySettings"]["Octopus.ControlType"] == "Sensitive"
                && !value.is_empty()
            {
                masks.push(value.clone());
            }
            variables.insert(name.to_string(), value);
        }
        let packages = if self.without_package {
            &[][..]
        } else {
            template["Packages"].as_array().unwrap().as_slice()
        };
        for package in packages {
            let reference = package["Name"].as_str().unwrap();
            let extracted = work.join(reference);
            extract_package(&extracted);
            variables.insert(
                format!("Octopus.Action.Package[{reference}].ExtractedPath"),
                extracted.display().to_string(),
            );
        }
        variables.insert("Octopus.Action.Name".into(), step_name.into());
        variables.insert("Octopus.Step.Name".into(), step_name.into());

        let body = substitute(&script_body(&template), &variables);
        std::fs::write(work.join("Script.sh"), &body).unwrap();
        std::fs::write(work.join("Bootstrap.Script.sh"), bootstrap(&variables)).unwrap();
        let child = Command::new("bash")
            .arg("Bootstrap.Script.sh")
            .current_dir(&work)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TentacleHome", self.dir.path())
            .env("OctopusCalamariWorkingDirectory", &work)
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.pending_masks = masks;
        RunningStep {
            child,
            step_name: step_name.to_string(),
            work,
        }
    }

    /// Cancels a running step as Tentacle does (`Process.Kill(entireProcessTree: true)`):
    /// the step's root stopped, every descendant found by parent PID, all SIGKILLed.
    pub fn cancel(&mut self, running: RunningStep) -> Step {
        tentacle::kill_tree_like_tentacle(running.child.id());
        self.finish(running)
    }

    /// Waits for the step to end and records its output variables.
    pub fn finish(&mut self, running: RunningStep) -> Step {
        let RunningStep {
            child, step_name, ..
        } = running;
        let step_name = step_name.as_str();
        let mut masks = std::mem::take(&mut self.pending_masks);
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let recorded = Recorded::from_output(&stdout);
        for variable in recorded.variables {
            self.variables.insert(
                format!("Octopus.Action[{step_name}].Output.{}", variable.name),
                variable.value,
            );
        }
        masks.extend(recorded.masks);
        self.masks = masks.clone();
        Step {
            code: output.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            masks,
        }
    }
}

impl RunningStep {
    /// Waits until the step's working folder holds `file` (the script touched it).
    pub fn wait_for(&self, file: &str, limit: Duration) {
        let started = Instant::now();
        while !self.work.join(file).exists() {
            assert!(
                started.elapsed() < limit,
                "{file} did not appear within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runbook {
    /// A guard still running would outlive the test's simulator: SIGTERM makes it revoke
    /// (the simulator still runs while the run is dropped first) and end.
    fn drop(&mut self) {
        let guards = self.guards();
        for pid in &guards {
            // SAFETY: kill(2) on a guard this run's steps started.
            unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
        }
        let started = Instant::now();
        while !self.guards().is_empty() && started.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The package as Calamari extracts it: one folder per platform, this machine's binary in
/// `linux-x64/` (the others stand-ins), and no run bit, as an extraction that drops archive
/// modes leaves them: the templates must make the binary executable themselves.
fn extract_package(extracted: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (folder, file) in [
        ("linux-x64", "octopus-runkey"),
        ("linux-arm64", "octopus-runkey"),
        ("win-x64", "octopus-runkey.exe"),
    ] {
        let dir = extracted.join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        if folder == "linux-x64" {
            std::fs::copy(super::BIN, &path).unwrap();
        } else {
            std::fs::write(&path, "not for this machine").unwrap();
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// Octostache's simplest form: `#{Name}` becomes the value when the variable exists and is
/// left alone otherwise; `##{` stands for a literal `#{`.
pub fn substitute(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        if start > 0 && rest[..start].ends_with('#') {
            out.push_str(&rest[..start - 1]);
            out.push_str("#{");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = after[..end].trim();
                match variables.get(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Calamari's helper functions, then the script sourced.
fn bootstrap(variables: &BTreeMap<String, String>) -> String {
    let mut cases = String::new();
    for (name, value) in variables {
        cases.push_str(&format!(
            "    '{}') __decode '{}' ;;\n",
            b64(name),
            b64(value)
        ));
    }
    format!(
        r###"#!/bin/bash
__encode() {{ printf '%s' "$1" | base64 -w0; }}
__decode() {{ printf '%s' "$1" | base64 -d; echo; }}
get_octopusvariable() {{
  case "$(__encode "$1")" in
{cases}    *) echo "" ;;
  esac
}}
fail_step() {{
  if [ -n "${{1:-}}" ]; then
    echo "##octopus[resultMessage message='$(__encode "$1")']"
  fi
  exit 1
}}
set_octopusvariable() {{
  local message="##octopus[setVariable"
  if [ -n "$1" ]; then message="$message name='$(__encode "$1")'"; fi
  if [ -n "$2" ]; then message="$message value='$(__encode "$2")'"; fi
  if [ "${{3:-}}" = "-sensitive" ]; then message="$message sensitive='$(__encode True)'"; fi
  echo "$message]"
}}
__write_level() {{ echo "##octopus[$1]"; echo "$2"; echo "##octopus[stdout-default]"; }}
write_verbose() {{ __write_level stdout-verbose "$1"; }}
write_highlight() {{ __write_level stdout-highlight "$1"; }}
write_wait() {{ __write_level stdout-wait "$1"; }}
write_warning() {{ __write_level stdout-warning "$1"; }}
source ./Script.sh
"###
    )
}
