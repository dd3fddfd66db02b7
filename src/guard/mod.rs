//! The guard: a process that revokes the run key when the run is over, however it ended,
//! including when Octopus kills the step's whole process tree (a cancel or a step timeout:
//! SIGKILL to every descendant, no grace period).
//!
//! `create` and `exec` start it through a launcher, `octopus-runkey __guard launch`, which
//! starts `octopus-runkey __guard watch` in a session of its own and exits at once: the
//! watcher is then no descendant of the step (it was reparented), so a walk of the step's
//! process tree does not find it. Both start with a cleared environment (only the trust-store
//! variables `SSL_CERT_FILE`/`SSL_CERT_DIR`), their command line holds no secret, and their
//! stdout and stderr are the null device: the step's pipes close when the step ends. What
//! the watcher needs (server, run key, key id, what to watch) comes as one JSON line on a
//! pipe that is its stdin. It holds the run key only, never the broker credential, and
//! revokes with it (a key deleting itself).
//!
//! What it watches:
//! - for `exec`, the pipe itself: `exec` keeps its write end (close-on-exec, so the step's
//!   command never inherits it) and writes `done` after revoking; end of file without
//!   `done` means `exec` is gone without revoking, and the watcher revokes at once;
//! - for `create`, the task: `GET /api/tasks/{id}` every interval (with jitter) until the
//!   task is over, then it revokes; a 401 means the key is already gone (the Revoke step
//!   won).
//!
//! It stops at the key's expiry at the latest, and revokes on SIGTERM (a Tentacle service
//! restart). Platform details live in one file each (`unix.rs`, `windows.rs`).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::console::Console;
use crate::credential::{Credential, Origin, Role, Scheme};
use crate::exit::ExitStatus;
use crate::octopus::{Client, Connection, HttpError, status_of};
use crate::secret::Secret;

/// The trust-store variables the watcher keeps: the platform verifier reads them.
const KEPT_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];
const DONE: &str = "done";

/// What the guard watches for the end of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Watch {
    /// The `exec` process, through the pipe only it holds.
    Exec,
    /// The task, polled every `interval_ms` (with jitter).
    Task { id: String, interval_ms: u64 },
}

/// Everything the watcher needs, sent over its stdin as one JSON line. Holds the run key:
/// it has no `Debug`, and the key is serialised only here.
#[derive(Serialize, Deserialize)]
pub struct Spec {
    pub connection: Connection,
    #[serde(serialize_with = "crate::secret::hand_over")]
    pub run_key: Secret,
    pub key_id: String,
    pub owner_id: String,
    /// When the key expires by the worker's clock (Unix seconds). The guard does not end
    /// there on its word: it asks the server whether the key still works.
    pub expires: i64,
    pub watch: Watch,
    /// The run key's marker (`[runkey <task>/<nonce>]`) and when it was made (Unix seconds):
    /// how the keys it minted are found in the audit log.
    pub marker: String,
    pub created: i64,
    /// Leave the keys the run key minted alone (`--keep-minted`).
    pub keep_minted: bool,
    /// What only `exec` can say to stand the guard down: random, new for every guard, and
    /// checked against the server before the guard believes it.
    pub stand_down: String,
}

impl Spec {
    /// A guard's spec, with a fresh stand-down word.
    pub fn new(
        connection: &Connection,
        run_key: &Secret,
        key: KeyFacts,
        watch: Watch,
        keep_minted: bool,
    ) -> Result<Spec> {
        Ok(Spec {
            connection: connection.clone(),
            run_key: run_key.clone(),
            key_id: key.id.to_string(),
            owner_id: key.owner_id.to_string(),
            expires: key.expires.as_second(),
            watch,
            marker: key.marker.to_string(),
            created: key.created.as_second(),
            keep_minted,
            stand_down: crate::purpose::new_nonce()? + &crate::purpose::new_nonce()?,
        })
    }
}

/// What the guard knows of the key it guards.
pub struct KeyFacts<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub marker: &'a str,
    pub created: Timestamp,
    pub expires: Timestamp,
}

/// The parent's end of a started guard.
pub struct Guard {
    pipe: Option<ChildStdin>,
    stand_down: String,
}

impl Guard {
    /// Starts the guard and hands it `spec`. Returns once the watcher runs on its own.
    pub fn start(spec: &Spec) -> Result<Guard> {
        let exe = std::env::current_exe().context("finding this program's own path")?;
        let mut launcher = Command::new(exe);
        launcher
            .args(["__guard", "launch"])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for name in KEPT_VARIABLES {
            if let Some(value) = std::env::var_os(name) {
                launcher.env(name, value);
            }
        }
        let mut launcher = launcher.spawn().context("starting the guard")?;
        let mut pipe = launcher.stdin.take().context("the guard's pipe")?;
        let status = launcher
            .wait()
            .context("waiting for the guard's launcher")?;
        if !status.success() {
            bail!("the guard's launcher failed ({status})");
        }
        let mut line = serde_json::to_string(spec)?;
        line.push('\n');
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .context("handing the run key to the guard")?;
        Ok(Guard {
            pipe: Some(pipe),
            stand_down: spec.stand_down.clone(),
        })
    }

    /// The key was revoked: the guard may end once the server confirms it.
    pub fn stand_down(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(format!("{DONE} {}\n", self.stand_down).as_bytes());
        }
    }

    /// Closes this end without a word (the pipe closes as `self` is dropped): for `create`,
    /// whose guard watches the task.
    pub fn detach(self) {}
}

/// `__guard launch`: start the watcher in its own session, on our stdin, and exit.
pub fn launch() -> Result<ExitStatus> {
    let exe = std::env::current_exe().context("finding this program's own path")?;
    let mut watcher = Command::new(exe);
    watcher
        .args(["__guard", "watch"])
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    platform::detach(&mut watcher);
    watcher.spawn().context("starting the guard")?;
    Ok(ExitStatus::Success)
}

enum Event {
    /// `exec` is gone, saying (with the stand-down word) that it revoked the key.
    Done,
    /// `exec` is gone without revoking.
    ExecGone,
    /// SIGTERM (or SIGINT, SIGHUP).
    Terminate,
}

/// How long after the key's expiry by the worker's clock the guard goes on while the
/// server cannot say whether the key still works.
const MAX_OVERRUN: Duration = Duration::from_secs(24 * 3600);
/// How often the guard asks whether a key past its expiry still works.
const EXPIRY_CHECK: Duration = Duration::from_secs(60);

/// `__guard watch`: wait for the end of the run, then revoke.
pub fn watch() -> Result<ExitStatus> {
    platform::close_inherited_descriptors();
    // First, so that a signal that comes while the spec is read is not lost.
    let (events, received) = mpsc::channel();
    platform::on_termination({
        let events = events.clone();
        move || {
            let _ = events.send(Event::Terminate);
        }
    })?;
    let mut stdin = BufReader::new(std::io::stdin());
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .context("reading the guard's spec")?;
    let spec: Spec =
        serde_json::from_str(&line).map_err(|_| anyhow!("the guard's spec is unreadable"))?;
    line.clear();
    if spec.watch == Watch::Exec {
        let word = format!("{DONE} {}", spec.stand_down);
        std::thread::spawn(move || {
            // Anyone of the same user can write to this pipe: only the word `exec` was given
            // counts, and it is checked against the server.
            let mut rest = String::new();
            let _ = stdin.read_to_string(&mut rest);
            let event = if rest.lines().any(|l| l.trim() == word) {
                Event::Done
            } else {
                Event::ExecGone
            };
            let _ = events.send(event);
        });
    }
    let client = client(&spec)?;
    let expires = Timestamp::from_second(spec.expires).unwrap_or(Timestamp::MAX);
    let mut past_expiry = false;
    loop {
        let left = Duration::try_from(expires.duration_since(Timestamp::now())).ok();
        if left.is_none() && !past_expiry {
            // Expired by this worker's clock, which may have jumped (NTP, a resumed VM):
            // the server's word decides.
            past_expiry = true;
        }
        if past_expiry {
            let overrun = Timestamp::now().duration_since(expires);
            if overrun > jiff::SignedDuration::try_from(MAX_OVERRUN).unwrap_or_default() {
                return Ok(ExitStatus::Success);
            }
            if key_state(&client) == KeyState::Dead {
                return Ok(ExitStatus::Success);
            }
        }
        let wait = match (&spec.watch, left) {
            (Watch::Task { interval_ms, .. }, Some(left)) => jittered(*interval_ms).min(left),
            (Watch::Task { interval_ms, .. }, None) => jittered(*interval_ms),
            (Watch::Exec, Some(left)) => left,
            (Watch::Exec, None) => EXPIRY_CHECK,
        };
        match received.recv_timeout(wait) {
            Ok(Event::Done) => {
                // Believed only when the server refuses the key now.
                if key_state(&client) != KeyState::Dead {
                    revoke(&client, &spec, expires);
                }
                return Ok(ExitStatus::Success);
            }
            Ok(Event::ExecGone | Event::Terminate) => {
                revoke(&client, &spec, expires);
                return Ok(ExitStatus::Success);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Watch::Task { id, .. } = &spec.watch {
                    match client.task(id) {
                        Ok(task) if task.is_over() => {
                            revoke(&client, &spec, expires);
                            return Ok(ExitStatus::Success);
                        }
                        // A 401 may be a proxy's or a passing hiccup: the guard stands down
                        // only when the key itself is refused.
                        Err(e)
                            if status_of(&e) == Some(401)
                                && key_state(&client) == KeyState::Dead =>
                        {
                            return Ok(ExitStatus::Success);
                        }
                        // Running, or the server is unreachable for now: look again.
                        _ => {}
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(wait);
            }
        }
    }
}

fn client(spec: &Spec) -> Result<Client> {
    let credential = Credential::new(
        spec.run_key.clone(),
        Scheme::ApiKey,
        Role::RunKey,
        Origin::Guard,
    );
    Client::new(&spec.connection, credential, Console::new(false))
}

/// What the server says of the run key.
#[derive(Debug, PartialEq, Eq)]
enum KeyState {
    /// It still works.
    Alive,
    /// Octopus itself refuses it (its JSON 401): revoked or expired.
    Dead,
    /// No answer that says either.
    Unknown,
}

fn key_state(client: &Client) -> KeyState {
    match client.me() {
        Ok(_) => KeyState::Alive,
        Err(e) => match e.downcast_ref::<HttpError>() {
            Some(http) if http.status == 401 && http.server_message.is_some() => KeyState::Dead,
            _ => KeyState::Unknown,
        },
    }
}

/// The first wait between revoke attempts, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Revokes the keys the run key minted (unless kept), then the run key itself, with itself.
/// A server that is restarting or unreachable is asked again, with growing jittered waits
/// (up to a minute), until Octopus proves the key gone or refuses it, or the key expires: a
/// guard has nothing else to do. A refusal (403) ends it: the TTL and the sweep cover that.
fn revoke(client: &Client, spec: &Spec, expires: Timestamp) {
    if !spec.keep_minted {
        revoke_minted(client, spec);
    }
    let mut wait = RETRY_FIRST;
    loop {
        let error = match client.delete_api_key(&spec.owner_id, &spec.key_id) {
            Ok(_) => return,
            Err(e) => e,
        };
        let passing = match status_of(&error) {
            // Refused (401: it no longer works) or not allowed (403): nothing more to do.
            Some(401 | 403) => false,
            Some(status) => status >= 500 || status == 429 || status == 404,
            None => true,
        };
        if !passing || Timestamp::now() > expires {
            return;
        }
        std::thread::sleep(jittered(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        ));
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// The keys made with the run key (a script holding it can mint keys for the broker), from
/// the audit log; each is deleted with the run key. Without EventView nothing is found.
fn revoke_minted(client: &Client, spec: &Spec) {
    let since = Timestamp::from_second(spec.created - 60).unwrap_or(Timestamp::MIN);
    if let Ok(minted) =
        client.keys_created_with(&spec.owner_id, &[&spec.key_id], &spec.marker, since)
    {
        for id in minted {
            let _ = client.delete_api_key(&spec.owner_id, &id);
        }
    }
}

/// The interval ± 20%, so that many guards do not poll in step.
fn jittered(interval_ms: u64) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let spread = interval_ms / 5;
    let offset = spread * 2 * u64::from(byte[0]) / 255;
    Duration::from_millis(interval_ms - spread + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_spread_around_the_interval() {
        for _ in 0..100 {
            let wait = jittered(10_000).as_millis();
            assert!((8_000..=12_000).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn polls_use_the_whole_spread_not_one_fixed_wait() {
        // A quarter of the draws fall in each outer quarter of the range: 200 draws all
        // missing one is a chance of 10^-25.
        let waits: Vec<u128> = (0..200).map(|_| jittered(10_000).as_millis()).collect();
        assert!(waits.iter().any(|&w| w < 9_000), "{waits:?}");
        assert!(waits.iter().any(|&w| w > 11_000), "{waits:?}");
    }

    #[test]
    fn a_spec_never_prints_the_run_key() {
        // Spec has no Debug: the only way out of it is the JSON line on the guard's pipe.
        let line = serde_json::to_string(&Watch::Task {
            id: "ServerTasks-1".into(),
            interval_ms: 1000,
        })
        .unwrap();
        assert!(line.contains("ServerTasks-1"));
    }
}
