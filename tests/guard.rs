//! The guard: the run key dies with the run even when Octopus kills the step's whole
//! process tree, and the guard holds nothing it should not (no broker credential, no key on
//! its command line, none of the step's pipes). Also what signals do to the step's own
//! processes: a grandchild gets SIGTERM, and a cancel while the key is made leaves no key.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use octopus_sim::TaskState;

use crate::support::process_tree::{descendants, guards, kill_tree_like_tentacle};
use crate::support::*;

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    started.elapsed()
}

#[test]
fn a_tree_kill_of_exec_like_tentacles_cancel_still_revokes_the_key_within_seconds() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = start_until_ready(
        runkey(&[
            "exec",
            "--",
            "sh",
            "-c",
            "touch \"$READY\"; while :; do sleep 0.05; done",
        ])
        .with_guard()
        .envs(create_env(&f, "ServerTasks-71"))
        .env("READY", &ready),
        &ready,
    );
    let mut child = child;
    assert_eq!(runkey_keys(&f).len(), 1, "exec made its key");
    kill_tree_like_tentacle(child.id());
    let _ = child.wait();
    let took = wait_until("the guard's revoke", Duration::from_secs(5), || {
        runkey_keys(&f).is_empty()
    });
    assert!(took < Duration::from_secs(3), "{took:?}");
    let deletes: Vec<_> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].status, Some(200));
}

#[test]
fn an_exec_that_revoked_itself_leaves_a_guard_that_does_nothing() {
    let f = Fixture::new();
    let out = runkey(&["exec", "--", "true"])
        .with_guard()
        .envs(create_env(&f, "ServerTasks-72"))
        .run();
    out.code(0);
    assert!(out.stderr().is_empty(), "{}", out.stderr());
    // The guard reads its stand-down word, finds the key refused, and ends without a
    // delete of its own.
    std::thread::sleep(Duration::from_millis(500));
    let deletes = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1);
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn the_guard_holds_no_broker_credential_no_key_on_its_command_line_and_no_step_pipe() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    // The guards of other tests come and go: this one's is told by its tag.
    let tag = tempfile::tempdir().unwrap();
    let mut child = start_until_ready(
        runkey(&[
            "exec",
            "--",
            "sh",
            "-c",
            "touch \"$READY\"; while :; do sleep 0.05; done",
        ])
        .with_guard()
        .envs(create_env(&f, "ServerTasks-73"))
        .env("SSL_CERT_DIR", tag.path())
        .env("READY", &ready),
        &ready,
    );
    let key = runkey_keys(&f)[0].secret.clone();
    let tagged = format!("SSL_CERT_DIR={}", tag.path().display());
    let ours: Vec<_> = guards()
        .into_iter()
        .filter(|(pid, cmdline, environ)| {
            cmdline.contains("__guard watch")
                && environ.contains(&tagged)
                && !descendants(child.id()).contains(pid)
        })
        .collect();
    assert!(!ours.is_empty(), "no guard runs");
    for (pid, cmdline, environ) in &ours {
        assert!(!cmdline.contains("API-"), "{pid}: {cmdline}");
        assert!(!environ.contains("API-"), "{pid}: {environ}");
        assert!(!environ.contains(&f.broker_key), "{pid}: {environ}");
        assert!(!environ.contains("OCTOPUS_"), "{pid}: {environ}");
        // Its stdout and stderr are the null device, its stdin a pipe of its own.
        for fd in [1, 2] {
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
            assert_eq!(target.to_str(), Some("/dev/null"), "{pid} fd {fd}");
        }
        let extra: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|fd| *fd > 2)
            .filter_map(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok())
            .filter(|target| target.to_string_lossy().starts_with("pipe:"))
            .collect();
        assert!(extra.is_empty(), "{pid} holds pipes {extra:?}");
    }
    assert!(!key.is_empty());
    kill_tree_like_tentacle(child.id());
    let _ = child.wait();
    wait_until("the guard's revoke", Duration::from_secs(5), || {
        runkey_keys(&f).is_empty()
    });
}

#[test]
fn a_grandchild_gets_the_sigterm_that_use_receives() {
    let f = Fixture::new();
    let key = create(&f, "ServerTasks-74").var("ApiKey");
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let got = dir.path().join("grandchild-got-term");
    let script = "sh -c 'trap \"touch \\\"$GOT\\\"; exit 0\" TERM; touch \"$READY\"; while :; do sleep 0.05; done' & wait";
    let child = start_until_ready(
        runkey(&["use", "--", "sh", "-c", script])
            .env("OCTOPUS_URL", f.sim.url())
            .env("RUNKEY_API_KEY", &key)
            .env("READY", &ready)
            .env("GOT", &got),
        &ready,
    );
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    wait_until("the grandchild's trap", Duration::from_secs(5), || {
        got.exists()
    });
    assert_ne!(output.status.code(), None);
}

#[test]
fn a_sigterm_while_the_key_is_made_leaves_no_key() {
    let f = Fixture::new();
    f.sim.inject(Fault::new(
        "POST",
        "/apikeys",
        FaultKind::Delay(Duration::from_millis(1500)),
    ));
    let mut child = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-75"))
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The owner lookup is quick and the POST is answered after 1.5 s: a signal now comes
    // while the POST is in flight (should it come earlier, no key may be made either).
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGTERM);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by signal 15"), "{stderr}");
    assert!(
        runkey_keys(&f).is_empty(),
        "a key was left: {:?}",
        runkey_keys(&f)
    );
}

/// The run key stays while `task` runs; once the task is cancelled, the guard revokes it
/// and only it.
fn the_guard_revokes_once_the_task_is_cancelled(f: &Fixture, task: &str) {
    assert_eq!(
        runkey_keys(f).len(),
        1,
        "the guard waits while the task runs"
    );
    f.sim.set_task_state(task, TaskState::Canceled);
    wait_until("the guard's revoke", Duration::from_secs(10), || {
        runkey_keys(f).is_empty()
    });
    seeded_keys_survive(f);
}

/// A create step whose guard polls the task every second.
fn create_with_guard(f: &Fixture, task: &str) -> Run {
    runkey(&["create"])
        .with_guard()
        .envs(create_env(f, task))
        .env("RUNKEY_GUARD_INTERVAL", "1s")
}

#[test]
fn after_create_exits_its_guard_revokes_the_key_when_the_task_is_canceled() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    let mut child = create_with_guard(&f, &task)
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The step's stdout reaches its end as soon as create exits: the guard holds no pipe.
    let started = Instant::now();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(child.wait().unwrap().code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("Created run key"), "{stdout}");

    std::thread::sleep(Duration::from_millis(1500));
    the_guard_revokes_once_the_task_is_cancelled(&f, &task);
    let polls = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/api/tasks/"))
        .count();
    assert!((2..=8).contains(&polls), "{polls} polls of the task");
}

#[test]
fn a_guard_rides_out_server_errors_while_it_watches_the_task() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    create_with_guard(&f, &task).run().code(0);
    // The guard's first poll comes about a second after create: these errors meet it.
    f.sim
        .inject(Fault::new("GET", &format!("/api/tasks/{task}"), FaultKind::status(503)).times(4));
    let task_polls = || {
        f.sim
            .requests()
            .iter()
            .filter(|r| r.target.starts_with("/api/tasks/"))
            .count()
    };
    // The first polls meet the 503s (retried, then given up); a later one is answered.
    let before = task_polls();
    wait_until("a poll after the errors", Duration::from_secs(20), || {
        task_polls() > before + 4
    });
    the_guard_revokes_once_the_task_is_cancelled(&f, &task);
}

#[test]
fn when_the_revoke_step_won_the_guard_ends_on_the_401_without_deleting_anything() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    let out = create_with_guard(&f, &task).run();
    out.code(0);
    as_broker(&f, &["revoke"])
        .env("RUNKEY_API_KEY_ID", out.var("ApiKeyId"))
        .run()
        .code(0);
    f.sim.set_task_state(&task, TaskState::Success);
    std::thread::sleep(Duration::from_millis(2500));
    let deletes = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1, "only the revoke step's");
}

#[test]
fn without_task_view_create_warns_once_and_starts_no_guard() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    f.sim.revoke_permission(&f.broker_id, "TaskView");
    let out = create_with_guard(&f, &task).run();
    out.code(0);
    assert_eq!(
        out.stderr().matches("warning:").count(),
        1,
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("no guard watches this key")
            && out
                .stderr()
                .contains("give the broker's team the TaskView permission")
            && out.stderr().contains("--no-guard"),
        "{}",
        out.stderr()
    );
    f.sim.set_task_state(&task, TaskState::Canceled);
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(runkey_keys(&f).len(), 1, "no guard revoked it");
}

#[test]
fn a_task_the_server_fails_to_show_warns_without_blaming_a_permission() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    f.sim
        .inject(Fault::new("GET", &format!("/api/tasks/{task}"), FaultKind::status(503)).times(5));
    let out = create_with_guard(&f, &task).run();
    out.code(0)
        .warns(&["no guard watches this key: the broker cannot read task"]);
    let stderr = out.stderr();
    assert!(
        stderr.contains("(HTTP 503)") && stderr.contains("pass --no-guard to skip this check"),
        "{stderr}"
    );
    assert!(!stderr.contains("TaskView"), "{stderr}");
}

#[test]
fn no_guard_turns_the_guard_off() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    for run in [
        create_with_guard(&f, &task).env("RUNKEY_NO_GUARD", "True"),
        runkey(&["create", "--no-guard"])
            .with_guard()
            .envs(create_env(&f, &task)),
    ] {
        let out = run.run();
        out.code(0);
        assert!(out.stderr().is_empty(), "{}", out.stderr());
    }
    assert!(
        !f.sim
            .requests()
            .iter()
            .any(|r| r.target.starts_with("/api/tasks/")),
        "create looked at the task although no guard was wanted"
    );
}

/// The guard a create step started with `tag` as its `SSL_CERT_DIR` (the one variable of the
/// step a guard keeps, and harmless against the simulator's plain HTTP).
fn guard_tagged(tag: &std::path::Path) -> Option<u32> {
    let tag = format!("SSL_CERT_DIR={}", tag.display());
    guards()
        .into_iter()
        .find(|(_, _, environ)| environ.contains(&tag))
        .map(|(pid, _, _)| pid)
}

#[test]
fn a_guard_told_to_stop_revokes_first() {
    // A Tentacle service stop or restart sends SIGTERM to every process of its unit; a
    // terminal closing sends SIGHUP.
    for signal_number in [libc::SIGTERM, libc::SIGHUP] {
        let f = Fixture::new();
        let task = f.sim.add_task(None, TaskState::Executing);
        let tag = tempfile::tempdir().unwrap();
        create_with_guard(&f, &task)
            .env("SSL_CERT_DIR", tag.path())
            .run()
            .code(0);
        wait_until("the guard", Duration::from_secs(5), || {
            guard_tagged(tag.path()).is_some()
        });
        let pid = guard_tagged(tag.path()).unwrap();
        unsafe { libc::kill(pid as i32, signal_number) };
        wait_until("the guard's revoke", Duration::from_secs(5), || {
            runkey_keys(&f).is_empty()
        });
        wait_until("the guard's end", Duration::from_secs(5), || {
            guard_tagged(tag.path()).is_none()
        });
        seeded_keys_survive(&f);
    }
}

#[test]
fn a_kill_of_the_steps_process_group_does_not_reach_the_guard() {
    // A step runner other than Tentacle (a shell's job control, `timeout`, an SSH session)
    // may kill the step's process group or session: the guard has left both.
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    let tag = tempfile::tempdir().unwrap();
    let mut run = create_with_guard(&f, &task).env("SSL_CERT_DIR", tag.path());
    std::os::unix::process::CommandExt::process_group(run.command(), 0);
    let child = run
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = child.id() as i32;
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    wait_until("the guard", Duration::from_secs(5), || {
        guard_tagged(tag.path()).is_some()
    });
    let pid = guard_tagged(tag.path());
    unsafe { libc::killpg(group, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        guard_tagged(tag.path()),
        pid,
        "the group kill reached the guard"
    );
    the_guard_revokes_once_the_task_is_cancelled(&f, &task);
}

// Issue 22, item 3: the stand-down cannot be forged.
#[test]
fn a_stand_down_written_by_the_steps_own_script_is_not_believed() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let tag = tempfile::tempdir().unwrap();
    // The script finds its guard (same user) and writes stand-down words into its stdin.
    let script = r#"
for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/cmdline" 2>/dev/null | grep -qx __guard \
     && tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx "SSL_CERT_DIR=$TAG"; then
    printf 'done\ndone guessed\n' > "$p/fd/0" && echo forged >> "$READY.log"
  fi
done
touch "$READY"
while :; do sleep 0.05; done
"#;
    let mut child = start_until_ready(
        runkey(&["exec", "--", "sh", "-c", script])
            .with_guard()
            .envs(create_env(&f, "ServerTasks-74"))
            .env("SSL_CERT_DIR", tag.path())
            .env("TAG", tag.path())
            .env("READY", &ready),
        &ready,
    );
    let log = std::fs::read_to_string(dir.path().join("ready.log")).unwrap_or_default();
    assert_eq!(log, "forged\n", "the script wrote into its guard's stdin");
    assert_eq!(runkey_keys(&f).len(), 1);
    // Octopus cancels: the step's tree is killed, and nothing revokes but the guard.
    kill_tree_like_tentacle(child.id());
    let _ = child.wait();
    wait_until("the guard's revoke", Duration::from_secs(8), || {
        runkey_keys(&f).is_empty()
    });
    seeded_keys_survive(&f);
}

// Issue 22, item 2: one 401 on a task poll is not the key's end.
#[test]
fn a_401_on_one_task_poll_does_not_end_a_guard_whose_key_still_works() {
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    create_with_guard(&f, &task).run().code(0);
    f.sim.inject(Fault::new(
        "GET",
        &format!("/api/tasks/{task}"),
        FaultKind::status(401),
    ));
    let me_calls = || {
        f.sim
            .requests()
            .iter()
            .filter(|r| r.target == "/api/users/me" && r.status == Some(200))
            .count()
    };
    let before = me_calls();
    // The guard meets the 401, asks whether its key still works, and keeps watching.
    wait_until(
        "the guard's check of its key",
        Duration::from_secs(10),
        || me_calls() > before,
    );
    the_guard_revokes_once_the_task_is_cancelled(&f, &task);
}

// Issue 22, item 2: the worker's clock says the key expired; the server's does not.
#[test]
fn a_guard_whose_clock_passed_the_expiry_asks_the_server_before_it_ends() {
    let f = Fixture::new();
    // The server's clock is two hours behind the worker's (as after the worker's clock
    // jumped forward): a key the worker thinks expired in 3 s still works there.
    f.sim.advance_clock(jiff::SignedDuration::from_hours(-2));
    let task = f.sim.add_task(None, TaskState::Executing);
    let out = create_with_guard(&f, &task).env("RUNKEY_TTL", "3s").run();
    out.code(0);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        call_me(&f, &out.var("ApiKey")).0,
        200,
        "the server still takes it"
    );
    the_guard_revokes_once_the_task_is_cancelled(&f, &task);
}

// Issue 22, item 7: after a cancel, the guard revokes what the run key minted too.
#[test]
fn after_a_cancel_the_guard_revokes_the_keys_the_run_key_minted() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let minted = dir.path().join("minted");
    let script = format!("{MINT_WITH_THE_RUN_KEY}\ntouch \"$READY\"\nwhile :; do sleep 0.05; done");
    let mut child = start_until_ready(
        runkey(&["exec", "--", "bash", "-c", &script])
            .with_guard()
            .envs(create_env(&f, "ServerTasks-75"))
            .envs(mint_env(&f, &minted))
            .env("READY", &ready),
        &ready,
    );
    let minted = std::fs::read_to_string(&minted).unwrap();
    assert!(f.sim.keys(&f.broker_id).iter().any(|k| k.id == minted));
    kill_tree_like_tentacle(child.id());
    let _ = child.wait();
    wait_until("the guard's revokes", Duration::from_secs(8), || {
        runkey_keys(&f).is_empty() && !f.sim.keys(&f.broker_id).iter().any(|k| k.id == minted)
    });
    seeded_keys_survive(&f);
}

// Issue 22, item 1: a server blip at the end of a run does not leave the key live.
#[test]
fn a_guard_keeps_revoking_through_a_restart_until_the_key_is_gone() {
    for fault in [FaultKind::status(503), FaultKind::ResetBeforeResponse] {
        let f = Fixture::new();
        let task = f.sim.add_task(None, TaskState::Executing);
        create_with_guard(&f, &task).run().code(0);
        // Three rounds of the transport's three attempts fail: a restart of a few seconds.
        f.sim
            .inject(Fault::new("DELETE", "/apikeys/", fault.clone()).times(9));
        f.sim.set_task_state(&task, TaskState::Success);
        wait_until("the guard's revoke", Duration::from_secs(20), || {
            runkey_keys(&f).is_empty()
        });
        let deletes = f
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .count();
        assert_eq!(deletes, 10, "{fault:?}: nine failed, the tenth did it");
        seeded_keys_survive(&f);
    }
}

#[test]
fn an_exec_that_meets_an_outage_leaves_the_key_to_its_guard_and_says_so() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let ready = dir.path().join("ready");
    let mut child = runkey(&[
        "exec",
        "--",
        "sh",
        "-c",
        "touch \"$READY\"; while [ ! -e \"$GO\" ]; do sleep 0.05; done",
    ])
    .with_guard()
    .envs(create_env(&f, "ServerTasks-76"))
    .env("READY", &ready)
    .env("GO", &go);
    let child_process = child
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the command", Duration::from_secs(10), || ready.exists());
    // The server stops listening as the command ends.
    f.sim.set_outage(Outage::Refused);
    std::fs::write(&go, "").unwrap();
    let output = child_process.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the command succeeded but revoking the run key failed: revoking run key")
            && stderr.contains(
                "its guard keeps trying, with growing waits, until Octopus confirms the key gone"
            ),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runkey_keys(&f).len(), 1, "still live during the outage");
    f.sim.end_outage();
    wait_until("the guard's revoke", Duration::from_secs(20), || {
        runkey_keys(&f).is_empty()
    });
    seeded_keys_survive(&f);
}
