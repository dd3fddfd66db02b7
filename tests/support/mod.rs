//! Test helpers: the real binary run in a clean environment, its output decoded the way
//! Octopus would decode it, and the simulator with its usual cast. A run's stderr is
//! expected empty unless the test looks at it: an `Out` whose stderr holds text that no one
//! read fails the test when it is dropped.

#![allow(dead_code)]

pub mod octopus_step;
pub mod process_tree;
pub mod proxy;

use std::cell::Cell;
use std::collections::HashMap;
use std::process::{Command, Stdio};

// Calamari's reading of service messages lives in the simulator's crate, which the demo and
// the benchmarks share; the tests keep reaching it as `support::calamari`.
pub use octopus_sim::calamari;
pub use octopus_sim::{
    Fault, FaultKind, Fixture, Options, Outage, Paging, PartialPurpose, TaskState, TestCa,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_octopus-runkey");

/// Shaped like an API key, so that it passes the shape check, and plainly no real one.
pub const NOT_A_REAL_KEY: &str = "API-NOTAREALKEY0000000000000";

/// The binary with an empty environment but for PATH, so that nothing from the machine
/// running the tests (an OCTOPUS_* variable, a proxy) can change what it does.
pub struct Run {
    command: Command,
}

pub fn runkey(args: &[&str]) -> Run {
    let mut command = Command::new(BIN);
    command.env_clear();
    command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    // A guard outlives the test's simulator; the tests of the guard turn it back on.
    command.env("RUNKEY_NO_GUARD", "true");
    command.args(args);
    command.stdin(Stdio::null());
    Run { command }
}

/// `runkey` as a step under Octopus (see [`Run::under_octopus`]).
pub fn as_step(args: &[&str]) -> Run {
    runkey(args).under_octopus()
}

impl Run {
    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Run {
        self.command.env(name, value);
        self
    }

    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, String)>) -> Run {
        for (name, value) in vars {
            self.command.env(name, value);
        }
        self
    }

    /// As a step under Octopus: a variable of Tentacle's is set (the task summary line,
    /// warnings as Octopus shows them).
    pub fn under_octopus(self) -> Run {
        self.env("TentacleHome", "/etc/octopus/Tentacle")
    }

    /// The guard on, as in a real run: `create` and `exec` start one.
    pub fn with_guard(mut self) -> Run {
        self.command.env_remove("RUNKEY_NO_GUARD");
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    pub fn run(mut self) -> Out {
        let output = self.command.output().expect("run octopus-runkey");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stderr_read: Cell::new(false),
        }
    }
}

/// What a run printed and how it exited. Its stderr is private: a test reads it through
/// [`Out::stderr`] (or the assertions built on it), and a stderr that holds text nobody read
/// fails the test when the `Out` is dropped, as just's test builder expects an empty stderr
/// unless told otherwise.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    stderr: String,
    stderr_read: Cell<bool>,
}

impl Drop for Out {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.stderr_read.get() && !self.stderr.is_empty() {
            panic!(
                "unexpected stderr (exit {}); a test that expects it says so with \
                 out.stderr(), stderr_contains() or warns()\n--- stderr\n{}--- stdout\n{}",
                self.code, self.stderr, self.stdout
            );
        }
    }
}

impl Out {
    /// Stderr, which the test now takes responsibility for.
    pub fn stderr(&self) -> &str {
        self.stderr_read.set(true);
        &self.stderr
    }

    /// Asserts that stderr contains `text`.
    #[track_caller]
    pub fn stderr_contains(&self, text: &str) -> &Out {
        assert!(
            self.stderr().contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that stdout contains `text`.
    #[track_caller]
    pub fn stdout_contains(&self, text: &str) -> &Out {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}",
            self.stdout
        );
        self
    }

    /// Asserts that stderr is exactly one line, an error (`octopus-runkey: error: ...`),
    /// containing every one of `texts`.
    #[track_caller]
    pub fn one_error_line(&self, texts: &[&str]) -> &Out {
        let stderr = self.stderr();
        assert_eq!(stderr.lines().count(), 1, "one line on stderr:\n{stderr}");
        assert!(
            stderr.starts_with("octopus-runkey: error: "),
            "an error line:\n{stderr}"
        );
        for text in texts {
            assert!(stderr.contains(text), "stderr lacks {text:?}:\n{stderr}");
        }
        self
    }

    /// Asserts that stderr is nothing but warnings (at least one), each containing one of
    /// `texts`, in order.
    #[track_caller]
    pub fn warns(&self, texts: &[&str]) -> &Out {
        let lines: Vec<&str> = self.stderr().lines().collect();
        assert_eq!(
            lines.len(),
            texts.len(),
            "{} warning(s) on stderr:\n{}",
            texts.len(),
            self.stderr
        );
        for (line, text) in lines.iter().zip(texts) {
            assert!(
                line.starts_with("octopus-runkey: warning: ") && line.contains(text),
                "a warning with {text:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    pub fn messages(&self) -> Vec<calamari::Message> {
        calamari::parse_output(&self.stdout)
    }

    /// What Octopus keeps from this run's output: output variables, masks, result message.
    pub fn recorded(&self) -> calamari::Recorded {
        calamari::Recorded::from_output(&self.stdout)
    }

    /// Output variables as Octopus would record them: name -> (value, sensitive). A
    /// `setVariable` without a name fails the test: the binary always names its variables.
    pub fn output_variables(&self) -> HashMap<String, (String, bool)> {
        let variables = self.recorded().variables;
        assert!(
            variables.iter().all(|v| !v.name.is_empty()),
            "a setVariable without a name:\n{}",
            self.stdout
        );
        variables
            .into_iter()
            .map(|v| (v.name, (v.value, v.sensitive)))
            .collect()
    }

    pub fn var(&self, name: &str) -> String {
        self.output_variables()
            .remove(name)
            .unwrap_or_else(|| panic!("no output variable {name} in {}", self.stdout))
            .0
    }

    pub fn result_message(&self) -> Option<String> {
        self.recorded().result_message
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn code(&self, expected: i32) -> &Out {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that `secret` appears nowhere in plain text.
    pub fn never_shows(&self, secret: &str) -> &Out {
        assert!(
            !self.stdout.contains(secret),
            "secret on stdout:\n{}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(secret),
            "secret on stderr:\n{}",
            self.stderr
        );
        // Nor inside a service message (base64 hides it from the checks above), but for
        // the two that exist to carry the run key: the mask and the sensitive variable.
        for message in self.messages() {
            let carries_the_key = message.name == "mask"
                || message.name == "setVariable" && message.get("sensitive").is_some();
            if carries_the_key {
                continue;
            }
            for value in message.attributes.values() {
                assert!(
                    !value.contains(secret),
                    "secret inside ##octopus[{}]: {value}",
                    message.name
                );
            }
        }
        self
    }

    /// Stdout lines that are not service messages.
    pub fn plain_stdout(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.starts_with("##octopus["))
            .collect()
    }
}

/// The binary with the server and the broker's key: how list, sweep and most revokes run.
pub fn as_broker(f: &Fixture, args: &[&str]) -> Run {
    runkey(args)
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", &f.broker_key)
}

/// Starts `run` in the background and waits until its command has touched `ready`.
pub fn start_until_ready(mut run: Run, ready: &std::path::Path) -> std::process::Child {
    let child = run
        .command()
        .stdout(Stdio::piped())
        .spawn()
        .expect("start octopus-runkey");
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{} never appeared",
            ready.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

pub fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    unsafe { libc::kill(child.id() as i32, signal) };
}

/// What a create step's environment holds in a runbook run by Jane Doe.
pub fn create_env(f: &Fixture, task: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("OCTOPUS_API_KEY", f.broker_key.clone()),
        ("OCTOPUS_DEPLOYMENT_CREATEDBY_ID", f.operator_id.clone()),
        ("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "jane.doe".into()),
        (
            "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
            "Jane Doe".into(),
        ),
        ("OCTOPUS_TASK_ID", task.into()),
        ("OCTOPUS_RUNBOOK_NAME", "Restart web".into()),
        ("OCTOPUS_ENVIRONMENT_NAME", "Production".into()),
        ("OCTOPUS_SPACE_ID", f.space_id.clone()),
        ("OCTOPUS_SPACE_NAME", "Default".into()),
    ]
}

/// Runs create for `task` and returns its output (asserting success).
pub fn create(f: &Fixture, task: &str) -> Out {
    let out = runkey(&["create"]).envs(create_env(f, task)).run();
    out.code(0);
    out
}

/// Keys of the broker that carry the runkey marker, but for the other run's key the
/// fixture starts with: the keys this test's runs made and left.
pub fn runkey_keys(f: &Fixture) -> Vec<octopus_sim::ApiKey> {
    f.sim
        .keys(&f.broker_id)
        .into_iter()
        .filter(|k| k.purpose.contains("[runkey ") && k.id != f.other_run_key_id)
        .collect()
}

/// Asserts that the broker's own key, the other run's key and the unmarked key the fixture
/// starts with are all still on the server.
pub fn seeded_keys_survive(f: &Fixture) {
    let ids: Vec<String> = f.sim.keys(&f.broker_id).into_iter().map(|k| k.id).collect();
    for id in f.seeded_key_ids() {
        assert!(ids.iter().any(|k| k == id), "{id} was deleted");
    }
}

/// `GET /api/users/me` with `key`, as a later step's script would: (status, body).
pub fn call_me(f: &Fixture, key: &str) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!("{}/api/users/me", f.sim.url()))
        .header("X-Octopus-ApiKey", key)
        .call()
        .expect("simulator answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// The contract's marker pattern, compiled once.
fn marker_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(r"\[runkey (?P<task>[^/\]]+)/(?P<nonce>[A-Za-z0-9]+)\]$").unwrap()
    })
}

/// A purpose's marker, if it has one: (task, nonce). This is the contract's regular
/// expression itself, leftmost match first, so that the tests judge the product's own parser
/// (`Marker::parse`) by the contract rather than by a copy of it.
pub fn marker(purpose: &str) -> Option<(String, String)> {
    let found = marker_pattern().captures(purpose)?;
    Some((found["task"].to_string(), found["nonce"].to_string()))
}

/// A script (bash) that mints a key for the broker with the run key in `OCTOPUS_API_KEY`,
/// as any script holding a run key could: a POST to `/api/users/$OWNER/apikeys` made with
/// bash alone, with the purpose `$PURPOSE` (default "made by the script"). The key's id goes
/// to `$MINTED`, the key itself to `$MINTED.key`.
pub const MINT_WITH_THE_RUN_KEY: &str = r#"
hostport=${OCTOPUS_URL#http://}
body="{\"Purpose\":\"${PURPOSE:-made by the script}\",\"Expires\":\"$EXPIRES\",\"UserId\":\"$OWNER\"}"
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'POST /api/users/%s/apikeys HTTP/1.1\r\nHost: octopus\r\nX-Octopus-ApiKey: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$OWNER" "$OCTOPUS_API_KEY" "${#body}" "$body" >&3
answer=$(cat <&3)
printf '%s\n' "$answer" | sed -n 's/^ *"Id": *"\([^"]*\)".*/\1/p' | head -n 1 | tr -d '\n' > "$MINTED"
printf '%s\n' "$answer" | sed -n 's/^ *"ApiKey": *"\([^"]*\)".*/\1/p' | head -n 1 | tr -d '\n' > "$MINTED.key"
"#;

/// The environment [`MINT_WITH_THE_RUN_KEY`] needs, its id written to `minted`.
pub fn mint_env(f: &Fixture, minted: &std::path::Path) -> Vec<(&'static str, String)> {
    // Within the run key's own hour: a key may not outlive the key that makes it.
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30))
        .strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
        .to_string();
    vec![
        ("OWNER", f.broker_id.clone()),
        ("EXPIRES", expires),
        ("MINTED", minted.display().to_string()),
    ]
}

/// The broker trusts the simulator's OIDC issuer for every subject of the space Default;
/// a ten-minute JWT for `subject`. Returns (audience, JWT).
pub fn trust_oidc(f: &Fixture, subject: &str) -> (String, String) {
    let audience = f.sim.add_oidc_identity(&f.broker_id, "space:default:*");
    let jwt = f
        .sim
        .oidc_jwt(subject, &audience, jiff::SignedDuration::from_mins(10));
    (audience, jwt)
}
