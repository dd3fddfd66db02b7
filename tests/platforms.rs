//! The release binaries for the platforms this machine can only emulate, against the
//! simulator: the Windows `.exe` under wine, the ARM64 Linux binary under qemu-user.
//!
//! They test what the cross builds ship (`target/<triple>/release/`, built by `.ci/run` and
//! `cargo xtask dist`), or the files named by `RUNKEY_TEST_WINDOWS_EXE` and
//! `RUNKEY_TEST_ARM64_BIN`. A test whose binary or emulator is missing prints one line and
//! passes, unless `RUNKEY_TEST_REQUIRE` names its platform (`windows`, `arm64`): `.ci/run`
//! sets it for every target it could build, so that there a missing piece fails.
//!
//! Wine 8 lacks `bcryptprimitives.dll!ProcessPrng`, which Rust's standard library imports
//! on Windows: `tests/platforms/processprng.c`, compiled with MinGW into
//! `target/platforms/wine/` beside a copy of the `.exe`, supplies it. It is a test fixture
//! and never part of the package.

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::calamari::{self, Message};
use support::{Fixture, TaskState, create_env, runkey_keys};

/// The `target/` folder this test binary was built in.
fn target_dir() -> PathBuf {
    Path::new(support::BIN)
        .ancestors()
        .nth(3)
        .expect("target/<triple>/<profile>/octopus-runkey")
        .to_path_buf()
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Skips (one line) or, when CI requires this platform, fails.
fn unavailable(platform: &str, why: &str) -> Option<Emulated> {
    let required = std::env::var("RUNKEY_TEST_REQUIRE").unwrap_or_default();
    if required.split(',').any(|p| p.trim() == platform) {
        panic!("{platform}: {why}, and RUNKEY_TEST_REQUIRE requires it");
    }
    eprintln!("skipped on {platform}: {why}");
    None
}

/// How to run one foreign binary: the emulator, its arguments, its environment.
#[derive(Clone)]
struct Emulated {
    program: OsString,
    before: Vec<OsString>,
    env: Vec<(String, OsString)>,
    /// A folder for the test's files, as the binary sees it (wine maps `/` to `Z:`).
    native_path: fn(&Path) -> String,
}

fn wine() -> Option<Emulated> {
    static WINE: OnceLock<Result<Emulated, String>> = OnceLock::new();
    match WINE.get_or_init(set_up_wine) {
        Ok(wine) => Some(wine.clone()),
        Err(why) => unavailable("windows", why),
    }
}

fn set_up_wine() -> Result<Emulated, String> {
    let exe = std::env::var_os("RUNKEY_TEST_WINDOWS_EXE").map_or_else(
        || target_dir().join("x86_64-pc-windows-gnu/release/octopus-runkey.exe"),
        PathBuf::from,
    );
    if !exe.is_file() {
        return Err(format!(
            "{} is not built (cargo build --release --target x86_64-pc-windows-gnu)",
            exe.display()
        ));
    }
    if !on_path("wine") {
        return Err("wine is not installed (apt-get install wine)".into());
    }
    if !on_path("x86_64-w64-mingw32-gcc") {
        return Err(
            "x86_64-w64-mingw32-gcc is not installed (apt-get install gcc-mingw-w64-x86-64), so the ProcessPrng shim cannot be built".into(),
        );
    }
    let dir = target_dir().join("platforms/wine");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let copy = dir.join("octopus-runkey.exe");
    std::fs::copy(&exe, &copy).map_err(|e| format!("copying {}: {e}", exe.display()))?;
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/platforms/processprng.c");
    let built = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(&shim)
        .arg("-ladvapi32")
        .status()
        .map_err(|e| e.to_string())?;
    if !built.success() {
        return Err("building the ProcessPrng shim failed".into());
    }
    let prefix = dir.join("prefix");
    let wine = Emulated {
        program: "wine".into(),
        before: vec![copy.into()],
        env: vec![
            ("WINEPREFIX".into(), prefix.clone().into()),
            ("WINEDEBUG".into(), "-all".into()),
            ("WINEDLLOVERRIDES".into(), "bcryptprimitives=n,b".into()),
            ("HOME".into(), dir.clone().into()),
        ],
        native_path: |path| format!("Z:{}", path.display().to_string().replace('/', "\\")),
    };
    // The wine server, started here with no output of the tests' to hold open, for as long
    // as the tests need it (it ends 30 seconds after its last process).
    let _ = Command::new("wineserver")
        .arg("-p30")
        .env("WINEPREFIX", &prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // The first run creates the wine prefix (some seconds): once, before any test's run.
    let version = wine.run(&["--version"], &[], Duration::from_secs(180));
    if version.code != 0 || !version.stdout.starts_with("octopus-runkey ") {
        return Err(format!(
            "the .exe does not start under wine (exit {}): {}{}",
            version.code, version.stdout, version.stderr
        ));
    }
    Ok(wine)
}

fn qemu() -> Option<Emulated> {
    static QEMU: OnceLock<Result<Emulated, String>> = OnceLock::new();
    match QEMU.get_or_init(set_up_qemu) {
        Ok(qemu) => Some(qemu.clone()),
        Err(why) => unavailable("arm64", why),
    }
}

fn set_up_qemu() -> Result<Emulated, String> {
    let bin = std::env::var_os("RUNKEY_TEST_ARM64_BIN").map_or_else(
        || target_dir().join("aarch64-unknown-linux-musl/release/octopus-runkey"),
        PathBuf::from,
    );
    let Ok(head) = std::fs::read(&bin).map(|b| b[..20.min(b.len())].to_vec()) else {
        return Err(format!(
            "{} is not built (cargo build --release --target aarch64-unknown-linux-musl)",
            bin.display()
        ));
    };
    // ELF, e_machine 183 (EM_AARCH64): the test must not pass on a host binary.
    if !head.starts_with(b"\x7fELF") || head.get(18) != Some(&183) {
        return Err(format!("{} is not an ARM64 ELF binary", bin.display()));
    }
    let emulator = ["qemu-aarch64-static", "qemu-aarch64"]
        .into_iter()
        .find(|p| on_path(p))
        .ok_or("qemu-user is not installed (apt-get install qemu-user-static)")?;
    Ok(Emulated {
        program: emulator.into(),
        before: vec![bin.into()],
        env: Vec::new(),
        native_path: |path| path.display().to_string(),
    })
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn messages(&self) -> Vec<Message> {
        calamari::parse_output(&self.stdout)
    }

    fn var(&self, name: &str) -> String {
        self.messages()
            .into_iter()
            .find(|m| m.name == "setVariable" && m.get("name") == Some(name))
            .and_then(|m| m.get("value").map(str::to_string))
            .unwrap_or_else(|| panic!("no output variable {name}:\n{}", self.stdout))
    }

    fn is_sensitive(&self, name: &str) -> bool {
        self.messages().into_iter().any(|m| {
            m.name == "setVariable"
                && m.get("name") == Some(name)
                && m.get("sensitive")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
    }

    #[track_caller]
    fn code(&self, expected: i32) -> &Out {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Emulated {
    /// Runs the binary with `args` in an environment holding only PATH, the emulator's own
    /// variables and `env`; fails the test when it has not ended (its output closed
    /// included) within `limit`.
    fn run(&self, args: &[&str], env: &[(&str, String)], limit: Duration) -> Out {
        let mut command = Command::new(&self.program);
        command
            .args(&self.before)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        // Stderr goes to a file: wine hands its own Unix stderr (its debug channel) to every
        // process it starts, a detached guard included, so a pipe there would never close.
        // Stdout is a pipe, and its end of file is part of the test: a guard that kept the
        // step's output open would keep the step from ending.
        let stderr = tempfile::NamedTempFile::new().unwrap();
        command.stderr(stderr.reopen().unwrap());
        let child = command.spawn().expect("start the emulator");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait_with_output());
        });
        let output = receiver
            .recv_timeout(limit)
            .unwrap_or_else(|_| {
                panic!("{args:?} did not end (and close its output) within {limit:?}")
            })
            .expect("wait for the emulator");
        let stderr = std::fs::read_to_string(stderr.path()).unwrap();
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
            stderr: stderr.replace("\r\n", "\n"),
        }
    }
}

const LIMIT: Duration = Duration::from_secs(60);

fn no_guard(env: &mut Vec<(&'static str, String)>) {
    env.push(("RUNKEY_NO_GUARD", "true".into()));
}

/// `create` as the Create step runs it: the output variables decoded by Calamari's parser,
/// the service messages ASCII (Calamari reads Windows output in the OEM code page).
fn create_on(platform: &Emulated, f: &Fixture, task: &str, guard: bool) -> Out {
    let mut env = create_env(f, task);
    if !guard {
        no_guard(&mut env);
    }
    let out = platform.run(&["create", "--ttl", "1h"], &env, LIMIT);
    out.code(0);
    for line in out.stdout.lines().filter(|l| l.starts_with("##octopus")) {
        assert!(
            line.is_ascii(),
            "a service message that is not ASCII: {line}"
        );
    }
    assert!(out.is_sensitive("ApiKey"), "{}", out.stdout);
    assert!(out.var("ApiKey").starts_with("API-"), "{}", out.stdout);
    assert!(
        out.var("ApiKeyPurpose")
            .starts_with("Jane Doe (jane.doe) ran 'Restart web' in Production"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&f.broker_key) && !out.stderr.contains(&f.broker_key));
    let id = out.var("ApiKeyId");
    assert!(runkey_keys(f).iter().any(|k| k.id == id), "the key exists");
    out
}

/// `use`: the child reads the run key and the server from its environment, never the
/// broker's key; then `revoke` with the run key deletes it.
fn use_then_revoke(platform: &Emulated, f: &Fixture, created: &Out, print_env: &[&str]) {
    let key = created.var("ApiKey");
    let env = vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("RUNKEY_API_KEY", key.clone()),
        ("OCTOPUS_API_KEY", f.broker_key.clone()),
        ("OCTOPUS_SPACE_NAME", "Default".to_string()),
    ];
    let mut args = vec!["use", "--check", "--"];
    args.extend_from_slice(print_env);
    let out = platform.run(&args, &env, LIMIT);
    out.code(0);
    let seen: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim_end().split_once('='))
        .collect();
    let get = |name: &str| seen.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    assert_eq!(get("OCTOPUS_API_KEY"), Some(key.as_str()), "{}", out.stdout);
    assert_eq!(get("OCTOPUS_CLI_API_KEY"), Some(key.as_str()));
    assert_eq!(get("OCTOPUS_URL"), Some(f.sim.url().as_str()));
    assert_eq!(get("OCTOPUS_SPACE"), Some("Default"));
    assert!(
        !out.stdout.contains(&f.broker_key),
        "the broker key reached the child"
    );
    assert!(
        out.stderr.contains("The run key is valid") || out.stdout.contains("The run key is valid"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    let id = created.var("ApiKeyId");
    let env = vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("RUNKEY_API_KEY", key),
        ("RUNKEY_API_KEY_ID", id.clone()),
    ];
    let out = platform.run(&["revoke"], &env, LIMIT);
    out.code(0);
    assert!(
        out.stdout.contains(&format!("Revoked run key {id}")),
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert!(runkey_keys(f).is_empty(), "the key is gone");
}

/// The error of a missing variable: one line on stderr naming it, the reason as the
/// task's result message, exit code 2 or 1 as on Linux.
fn missing_variable(platform: &Emulated, f: &Fixture) {
    // As a step under Octopus, so that the task summary line is there to compare.
    let env = vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("TentacleHome", "C:\\Octopus\\Tentacle".to_string()),
    ];
    let out = platform.run(&["create"], &env, LIMIT);
    assert_ne!(out.code, 0);
    let host = support::runkey(&["create"])
        .env("OCTOPUS_URL", f.sim.url())
        .env("TentacleHome", "C:\\Octopus\\Tentacle")
        .run();
    assert_eq!(out.code, host.code, "the same exit code as on Linux");
    assert_eq!(out.stderr, host.stderr(), "the same message as on Linux");
    assert!(
        out.stderr.contains("OCTOPUS_API_KEY is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("##octopus[resultMessage"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout, host.stdout,
        "the same result message as on Linux"
    );
    f.sim.expect_no_requests();
}

fn wait_until(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- Windows, under wine ----

#[test]
fn windows_create_use_revoke() {
    let Some(wine) = wine() else { return };
    let f = Fixture::new();
    let created = create_on(&wine, &f, "ServerTasks-1", false);
    use_then_revoke(&wine, &f, &created, &["cmd", "/c", "set OCTOPUS_"]);
}

#[test]
fn windows_exec_passes_a_failing_childs_exit_code_through_and_revokes() {
    let Some(wine) = wine() else { return };
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    // With its guard, as in a run: the exec's guard stands down once exec revoked, and
    // holds none of the step's output open (the run would not end otherwise).
    let env = create_env(&f, &task);
    let out = wine.run(
        &["exec", "--", "cmd", "/c", "echo working & exit 3"],
        &env,
        LIMIT,
    );
    out.code(3);
    assert!(out.stdout.contains("working"), "{}", out.stdout);
    assert!(runkey_keys(&f).is_empty(), "exec revoked the key");
    // A command that is no program: "cannot run" as on Linux (126), with a Windows hint.
    let script = tempfile::tempdir().unwrap();
    std::fs::write(script.path().join("deploy.ps1"), "Write-Host hi\r\n").unwrap();
    let path = (wine.native_path)(&script.path().join("deploy.ps1"));
    let mut env = create_env(&f, &task);
    no_guard(&mut env);
    let out = wine.run(&["exec", "--", &path], &env, LIMIT);
    assert!(
        out.code == 126 || out.code == 127,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    assert!(
        out.stderr.starts_with("octopus-runkey: error: the command"),
        "{}",
        out.stderr
    );
    assert!(runkey_keys(&f).is_empty());
}

// Issue 22, item 8: a command that crashed (an NTSTATUS exit) never passes the step.
#[test]
fn windows_a_crashed_command_fails_the_step_and_is_named() {
    let Some(wine) = wine() else { return };
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    let mut env = create_env(&f, &task);
    no_guard(&mut env);
    // 0xC0000005, an access violation, as a crashed program ends.
    let out = wine.run(
        &["exec", "--", "cmd", "/c", "exit -1073741819"],
        &env,
        LIMIT,
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "the command ended with exit status 0xC0000005 (-1073741819), an access violation: it crashed"
        ),
        "{}",
        out.stderr
    );
    assert!(runkey_keys(&f).is_empty(), "exec revoked the key");
}

#[test]
fn windows_create_leaves_a_guard_that_revokes_when_the_task_is_over() {
    let Some(wine) = wine() else { return };
    let f = Fixture::new();
    let task = f.sim.add_task(None, TaskState::Executing);
    let mut env = create_env(&f, &task);
    env.push(("RUNKEY_GUARD_INTERVAL", "1s".into()));
    // The create ends although its guard runs on: the guard holds none of its handles.
    let out = wine.run(&["create"], &env, LIMIT);
    out.code(0);
    assert!(!out.stderr.contains("no guard"), "{}", out.stderr);
    let id = out.var("ApiKeyId");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        runkey_keys(&f).iter().any(|k| k.id == id),
        "live while the task runs"
    );
    f.sim.set_task_state(&task, TaskState::Canceled);
    wait_until(Duration::from_secs(30), "the guard revokes the key", || {
        runkey_keys(&f).is_empty()
    });
}

#[test]
fn windows_a_missing_variable_is_the_same_error_as_on_linux() {
    let Some(wine) = wine() else { return };
    missing_variable(&wine, &Fixture::new());
}

// ---- ARM64 Linux, under qemu-user ----

#[test]
fn arm64_create_use_revoke() {
    let Some(qemu) = qemu() else { return };
    let f = Fixture::new();
    let created = create_on(&qemu, &f, "ServerTasks-1", false);
    // The child is the host's sh: qemu-user runs a foreign binary, the kernel the rest.
    use_then_revoke(&qemu, &f, &created, &["sh", "-c", "env | grep ^OCTOPUS_"]);
}

#[test]
fn arm64_exec_passes_a_failing_childs_exit_code_through_and_revokes() {
    let Some(qemu) = qemu() else { return };
    let f = Fixture::new();
    let mut env = create_env(&f, "ServerTasks-1");
    no_guard(&mut env);
    let out = qemu.run(
        &["exec", "--", "sh", "-c", "echo working; exit 3"],
        &env,
        LIMIT,
    );
    out.code(3);
    assert!(runkey_keys(&f).is_empty());
}

#[test]
fn arm64_a_missing_variable_is_the_same_error_as_on_linux() {
    let Some(qemu) = qemu() else { return };
    missing_variable(&qemu, &Fixture::new());
}
