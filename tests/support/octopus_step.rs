//! Runs a step template the way Octopus and Calamari would: template parameters resolved
//! (defaults, `#{...}` substitution), the script body substituted, the package extracted into
//! the working folder under the reference name (one folder per platform, the run bits lost),
//! and the body of a Bash template run as Calamari runs a Bash script: `bash
//! Bootstrap.Script.sh <key>`, which sources `Configure.sh` (Calamari's helper functions:
//! `get_octopusvariable`, `set_octopusvariable`, `fail_step`, `new_octopusartifact`,
//! `update_progress`, `write_*`, `encode_servicemessagevalue`, `decode_servicemessagevalue`,
//! written here with the behaviour of Calamari's Bootstrap.sh), shifts the key away and
//! sources `Script.sh`, in a plain `bash` with no shell option set. A plain Bash script step
//! (no template) runs the same way ([`Runbook::run_script`]). Output variables of a step
//! become `Octopus.Action[<step>].Output.<Name>` for the steps after it, and its
//! `createArtifact` messages are its artifacts. Left out: the mask Calamari writes for its
//! own decryption key and its "Bash Environment Information" verbose block (neither says
//! anything about the step), and the `octopus_parameters` array of a feature toggle.
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

use octopus_sim::calamari::{OutputVariable, Recorded, parse_output};
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
    /// The Generic OIDC accounts of the space, by id: (audience, the JWT Octopus issues to a
    /// step that references the account).
    accounts: BTreeMap<String, (String, String)>,
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
    /// The output variables the step set, in order, as the server records them.
    pub variables: Vec<OutputVariable>,
    /// The files the step asked Octopus to collect (`createArtifact`).
    pub artifacts: Vec<Artifact>,
}

/// A `createArtifact` message: the file Octopus collects after the step, the name it shows
/// and the length the step announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub name: String,
    pub length: u64,
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
            accounts: BTreeMap::new(),
        }
    }

    /// Every step's process gets `name=value` in its environment.
    pub fn env(mut self, name: &str, value: &str) -> Runbook {
        self.environment.push((name.into(), value.into()));
        self
    }

    /// A Generic OIDC account `id` of the space. A step whose account parameter (say
    /// `RunKey.OidcAccount`) names it gets, as Octopus gives it, the variables
    /// `RunKey.OidcAccount.Audience` and `RunKey.OidcAccount.OpenIdConnect.Jwt` (the JWT
    /// Octopus issues for that step); a step that names no account gets neither.
    pub fn oidc_account(mut self, id: &str, audience: &str, jwt: &str) -> Runbook {
        self.accounts
            .insert(id.into(), (audience.into(), jwt.into()));
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
        // Octopus's own variables of the step are there for the parameters' values too.
        variables.insert("Octopus.Action.Name".into(), step_name.into());
        variables.insert("Octopus.Step.Name".into(), step_name.into());
        let known = variables.clone();
        let mut masks = self.masks.clone();
        for parameter in template["Parameters"].as_array().unwrap() {
            let name = parameter["Name"].as_str().unwrap();
            let given = parameters
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string());
            let raw = given
                .unwrap_or_else(|| parameter["DefaultValue"].as_str().unwrap_or("").to_string());
            let value = substitute(&raw, &known);
            let control = &parameter["DisplaySettings"]["Octopus.ControlType"];
            if control == "Sensitive" && !value.is_empty() {
                masks.push(value.clone());
            }
            if control == "GenericOidcAccount"
                && let Some((audience, jwt)) = self.accounts.get(&value)
            {
                variables.insert(format!("{name}.Audience"), audience.clone());
                variables.insert(format!("{name}.OpenIdConnect.Jwt"), jwt.clone());
                masks.push(jwt.clone());
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
        let body = script_body(&template);
        self.start(step_name, &body, variables, masks, work)
    }

    /// Runs `body` as a plain Bash script step named `step_name`: no template, no package,
    /// the body substituted with the run's variables, as Octopus runs an inline script.
    pub fn run_script(&mut self, step_name: &str, body: &str) -> Step {
        self.steps += 1;
        let work = self.dir.path().join(format!("step-{}", self.steps));
        std::fs::create_dir_all(&work).unwrap();
        let running = self.start(
            step_name,
            body,
            self.variables.clone(),
            self.masks.clone(),
            work,
        );
        self.finish(running)
    }

    /// Starts the script `body` of the step `step_name` with these variables, in `work`.
    fn start(
        &mut self,
        step_name: &str,
        body: &str,
        mut variables: BTreeMap<String, String>,
        masks: Vec<String>,
        work: PathBuf,
    ) -> RunningStep {
        variables.insert("Octopus.Action.Name".into(), step_name.into());
        variables.insert("Octopus.Step.Name".into(), step_name.into());

        let body = substitute(body, &variables);
        std::fs::write(work.join("Script.sh"), &body).unwrap();
        std::fs::write(work.join("Configure.sh"), configure(&variables)).unwrap();
        std::fs::write(work.join("Bootstrap.Script.sh"), BOOTSTRAP).unwrap();
        let child = Command::new("bash")
            .arg("Bootstrap.Script.sh")
            // Calamari's key for the script's encrypted variables, which the bootstrap
            // shifts away before the script runs.
            .arg("00112233445566778899AABBCCDDEEFF")
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
        for variable in &recorded.variables {
            self.variables.insert(
                format!("Octopus.Action[{step_name}].Output.{}", variable.name),
                variable.value.clone(),
            );
        }
        masks.extend(recorded.masks);
        self.masks = masks.clone();
        let artifacts = parse_output(&stdout)
            .into_iter()
            .filter(|m| m.name == "createArtifact")
            .map(|m| Artifact {
                path: PathBuf::from(m.get("path").unwrap_or_default()),
                name: m.get("name").unwrap_or_default().to_string(),
                length: m
                    .get("length")
                    .unwrap_or_default()
                    .trim()
                    .parse()
                    .unwrap_or(0),
            })
            .collect();
        Step {
            code: output.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            masks,
            variables: recorded.variables,
            artifacts,
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

/// What Calamari runs (`Bootstrap.<id>.Script.sh`, written by BashScriptBootstrapper): its
/// helpers sourced, the decryption key shifted out of the script's reach, then the script
/// sourced, so that the script's status is the step's.
const BOOTSTRAP: &str = r#"#!/bin/bash
source "$(pwd)/Configure.sh"
shift
source "$(pwd)/Script.sh"
"#;

/// Calamari's helper functions (its Bootstrap.sh, as `Configure.<id>.sh`), with the step's
/// variables: the same names, arguments, output and exit codes, and the same global
/// variables (`MESSAGE`, `pth`, `ofn`, `len`) the real ones leave behind. Variables are
/// kept base64-encoded where Calamari keeps them encrypted.
fn configure(variables: &BTreeMap<String, String>) -> String {
    let mut cases = String::new();
    for (name, value) in variables {
        cases.push_str(&format!(
            "    '{}') decode_servicemessagevalue '{}' ;;\n",
            b64(name),
            b64(value)
        ));
    }
    format!(
        r###"#!/bin/bash
function encode_servicemessagevalue {{
  printf '%s' "$1" | base64 -w0
}}
function decode_servicemessagevalue {{
  printf '%s' "$1" | base64 -d
}}
function get_octopusvariable {{
  INPUT=$(encode_servicemessagevalue "$1")
  case $INPUT in
{cases}    *) echo "" ;;
  esac
}}
function fail_step {{
  if [ -n "${{1:-}}" ]; then
    echo "##octopus[resultMessage message='$(encode_servicemessagevalue "$1")']"
  fi
  exit 1
}}
function set_octopusvariable {{
  MESSAGE="##octopus[setVariable"
  if [ -n "$1" ]; then MESSAGE="$MESSAGE name='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "$2" ]; then MESSAGE="$MESSAGE value='$(encode_servicemessagevalue "$2")'"; fi
  if [ -n "${{3:-}}" ] && [ "$3" = "-sensitive" ]; then
    MESSAGE="$MESSAGE sensitive='$(encode_servicemessagevalue True)'"
  fi
  echo "$MESSAGE]"
}}
function new_octopusartifact {{
  echo "Collecting $1 as an artifact..."
  if [ ! -e "$1" ]; then
    # Calamari calls an error_exit that its bootstrap does not define: bash says so, and
    # the step ends with 127.
    echo "${{BASH_SOURCE[0]}}: line $LINENO: error_exit: command not found" >&2
    exit 127
  fi
  pth="$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
  ofn=${{2:-$(basename "$pth")}}
  len=$(wc -c < "$1")
  echo "##octopus[stdout-verbose]"
  echo "Artifact $ofn will be collected from $pth after this step completes"
  echo "##octopus[stdout-default]"
  echo "##octopus[createArtifact path='$(encode_servicemessagevalue "$pth")' name='$(encode_servicemessagevalue "$ofn")' length='$(encode_servicemessagevalue "$len")']"
}}
function update_progress {{
  echo "##octopus[progress percentage='$(encode_servicemessagevalue "$1")' message='$(encode_servicemessagevalue "$2")']"
}}
# Calamari echoes these messages unquoted: the shell splits and globs them first.
function write_verbose {{
  echo "##octopus[stdout-verbose]"
  echo $1
  echo "##octopus[stdout-default]"
}}
function write_highlight {{
  echo "##octopus[stdout-highlight]"
  echo $1
  echo "##octopus[stdout-default]"
}}
function write_wait {{
  echo "##octopus[stdout-wait]"
  echo $1
  echo "##octopus[stdout-default]"
}}
function write_warning {{
  echo "##octopus[stdout-warning]"
  echo $1
  echo "##octopus[stdout-default]"
}}
"###
    )
}
