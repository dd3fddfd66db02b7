//! What a run key costs, side by side with the REST recipe users run today.
//!
//! `cargo build --release && cargo bench --bench runkey` starts the Octopus simulator on
//! loopback and runs the real release binary (RUNKEY_BENCH_RUNS times, default 50) for each
//! operation: wall time (median, p95), HTTP requests and TCP connections (the simulator's
//! counters), peak RSS (`wait4` of each child), binary size and `--version` start-up; then
//! the Python `requests` recipe against the same simulator; then how revoke-by-task, list and
//! sweep grow with 10, 1,000 and 10,000 keys on the broker account, with and without
//! `partialPurpose`. Budgets are printed beside the figures, not asserted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use octopus_sim::calamari::Recorded;
use octopus_sim::{Fixture, Options, PartialPurpose, Simulator};

struct Sample {
    wall: Duration,
    max_rss_kib: i64,
    code: i32,
    stdout: String,
}

/// Runs `command` to completion and reads its own rusage with wait4 (which reaps it, so
/// std's `wait` is not called).
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command) -> Sample {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child we spawned; std's Child is not waited on afterwards.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Sample {
        wall,
        max_rss_kib: usage.ru_maxrss,
        code,
        stdout,
    }
}

struct Stats {
    median: Duration,
    p95: Duration,
}

fn stats(mut walls: Vec<Duration>) -> Stats {
    walls.sort();
    let at = |q: f64| walls[((walls.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p95: at(0.95),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One operation's figures over all its runs.
struct Operation {
    name: String,
    stats: Stats,
    requests: f64,
    connections: f64,
    max_rss_kib: i64,
}

struct Bench {
    binary: PathBuf,
    runs: usize,
}

impl Bench {
    fn runkey(&self, args: &[&str], env: &[(&str, String)]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // The figures are the tool's own requests; the guard adds one at create (the
            // TaskView check) and one per interval while the task runs (docs/performance.md).
            // A guard would also outlive this benchmark's simulator.
            .env("RUNKEY_NO_GUARD", "true");
        for (k, v) in env {
            command.env(k, v);
        }
        command
    }

    /// Runs `make(i)` `runs` times with `prepare(i)` untimed before each.
    fn operation(
        &self,
        name: &str,
        sim: &Simulator,
        mut prepare: impl FnMut(usize),
        mut make: impl FnMut(usize) -> Command,
    ) -> Operation {
        let mut walls = Vec::new();
        let (mut requests, mut connections, mut max_rss) = (0usize, 0usize, 0i64);
        for i in 0..self.runs {
            prepare(i);
            let mut command = make(i);
            sim.reset_counters();
            let sample = measure(&mut command);
            assert_eq!(sample.code, 0, "{name} failed: {}", sample.stdout);
            walls.push(sample.wall);
            requests += sim.requests().len();
            connections += sim.connections();
            max_rss = max_rss.max(sample.max_rss_kib);
        }
        Operation {
            name: name.to_string(),
            stats: stats(walls),
            requests: requests as f64 / self.runs as f64,
            connections: connections as f64 / self.runs as f64,
            max_rss_kib: max_rss,
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn env_of(f: &Fixture, broker_key: &str, task: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OCTOPUS_URL", f.sim.url()),
        ("OCTOPUS_API_KEY", broker_key.to_string()),
        ("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "jane.doe".into()),
        (
            "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
            "Jane Doe".into(),
        ),
        ("OCTOPUS_TASK_ID", task.to_string()),
        ("OCTOPUS_RUNBOOK_NAME", "Restart web".into()),
        ("OCTOPUS_ENVIRONMENT_NAME", "Production".into()),
    ]
}

/// An output variable of a run, as Octopus reads it from the service messages.
fn var(stdout: &str, name: &str) -> String {
    Recorded::from_output(stdout)
        .variable(name)
        .expect("output variable")
        .to_string()
}

fn main() {
    let runs: usize = std::env::var("RUNKEY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let release = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/x86_64-unknown-linux-gnu/release/octopus-runkey");
    let binary = if release.exists() {
        release
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_octopus-runkey"))
    };
    let bench = Bench {
        binary: binary.clone(),
        runs,
    };

    println!("octopus-runkey benchmark: {runs} runs per operation, simulator on loopback");
    println!("machine: {} x {}, {}", num_cpus(), cpu_model(), kernel());
    println!("binary:  {}", binary.display());
    println!();

    // Start-up.
    let mut walls = Vec::new();
    for _ in 0..runs {
        walls.push(measure(&mut bench.runkey(&["--version"], &[])).wall);
    }
    let startup = stats(walls);
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);

    // The operations.
    let f = Fixture::new();
    let (_, broker_key) = f
        .sim
        .add_api_key(&f.broker_id, "bench broker (no expiry)", None);
    let mut created_ids = Vec::new();
    let create = bench.operation(
        "create",
        &f.sim,
        |_| {},
        |i| {
            bench.runkey(
                &["create"],
                &env_of(&f, &broker_key, &format!("ServerTasks-{i}")),
            )
        },
    );
    for key in f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .filter(|k| k.purpose.contains("[runkey "))
    {
        created_ids.push(key.id);
    }
    let by_id = bench.operation(
        "revoke by id",
        &f.sim,
        |_| {},
        |i| {
            let mut env = env_of(&f, &broker_key, &format!("ServerTasks-{i}"));
            env.retain(|(k, _)| *k != "OCTOPUS_TASK_ID");
            env.push(("RUNKEY_API_KEY_ID", created_ids[i].clone()));
            env.push(("RUNKEY_API_KEY_OWNER_ID", f.broker_id.clone()));
            bench.runkey(&["revoke"], &env)
        },
    );
    // Each run revokes a fresh key with that key alone, as the Revoke template does.
    let fresh = std::cell::RefCell::new((String::new(), String::new()));
    let self_revoke = bench.operation(
        "revoke by id, run key only",
        &f.sim,
        |i| {
            let out = measure(
                &mut bench.runkey(&["create"], &env_of(&f, &broker_key, &format!("Self-{i}"))),
            );
            *fresh.borrow_mut() = (var(&out.stdout, "ApiKey"), var(&out.stdout, "ApiKeyId"));
        },
        |_| {
            let (key, id) = fresh.borrow().clone();
            bench.runkey(
                &["revoke"],
                &[
                    ("OCTOPUS_URL", f.sim.url()),
                    ("RUNKEY_API_KEY", key),
                    ("RUNKEY_API_KEY_ID", id),
                ],
            )
        },
    );
    let by_task = bench.operation(
        "revoke by task",
        &f.sim,
        |i| {
            measure(&mut bench.runkey(&["create"], &env_of(&f, &broker_key, &format!("Task-{i}"))));
        },
        |i| bench.runkey(&["revoke"], &env_of(&f, &broker_key, &format!("Task-{i}"))),
    );
    let exec = bench.operation(
        "exec -- true",
        &f.sim,
        |_| {},
        |i| {
            bench.runkey(
                &["exec", "--", "true"],
                &env_of(&f, &broker_key, &format!("Exec-{i}")),
            )
        },
    );
    let ours = [&create, &by_id, &self_revoke, &by_task, &exec];

    println!(
        "{:<28} {:>10} {:>10} {:>9} {:>12} {:>10}",
        "operation", "median", "p95", "requests", "connections", "peak RSS"
    );
    for op in ours {
        println!(
            "{:<28} {:>10} {:>10} {:>9.1} {:>12.1} {:>7} KiB",
            op.name,
            ms(op.stats.median),
            ms(op.stats.p95),
            op.requests,
            op.connections,
            op.max_rss_kib
        );
    }
    println!(
        "{:<28} {:>10} {:>10}",
        "--version (start-up)",
        ms(startup.median),
        ms(startup.p95)
    );
    println!(
        "{:<28} {:>10} bytes ({:.2} MiB)",
        "binary size",
        size,
        size as f64 / 1048576.0
    );
    println!();

    // The peer.
    let peer = peer(&bench, &f, &broker_key);
    let ours_pair = create.stats.median + by_id.stats.median;

    // Scaling.
    println!("Scaling with the number of keys on the broker account (median of 5 runs):");
    println!(
        "{:<16} {:>8} {:>15} {:>10} {:>9}",
        "operation", "keys", "partialPurpose", "time", "requests"
    );
    for count in [10usize, 1_000, 10_000] {
        for partial in [true, false] {
            scaling(&bench, count, partial);
        }
    }
    println!();

    // Audit.
    println!("Audit over a week (median of 10 runs), each run changing one deployment target:");
    println!(
        "{:<28} {:>8} {:>10} {:>9} {:>10}",
        "space", "events", "time", "requests", "peak RSS"
    );
    for runs_in_week in [10usize, 500] {
        audit_week(&bench, runs_in_week);
    }
    println!();

    // Budgets.
    let max_rss = ours.iter().map(|o| o.max_rss_kib).max().unwrap_or(0);
    println!("Budgets:");
    println!(
        "  create: {:.1} requests over {:.1} connection(s) (budget 2 over 1): {}",
        create.requests,
        create.connections,
        verdict(create.requests <= 2.0 && create.connections <= 1.0)
    );
    println!(
        // The key, what it changed and minted (GET /api/events, the end-of-run report), the
        // delete.
        "  revoke by id: {:.1} requests (budget 3): {}",
        by_id.requests,
        verdict(by_id.requests <= 3.0)
    );
    println!(
        // who the broker is, the POST, whether the key was used, what it changed and minted
        // (GET /api/events), the delete.
        "  exec: {:.1} requests over {:.1} connection(s) (budget 5 over 1): {}",
        exec.requests,
        exec.connections,
        verdict(exec.requests <= 5.0 && exec.connections <= 1.0)
    );
    match peer {
        Some(peer) => {
            let ratio = peer.median.as_secs_f64() / ours_pair.as_secs_f64();
            println!(
                "  create+revoke vs the Python recipe: {} vs {} = {ratio:.1}x faster (budget 20x): {}",
                ms(ours_pair),
                ms(peer.median),
                verdict(ratio >= 20.0)
            );
        }
        None => println!("  create+revoke vs the Python recipe: not measured (see above)"),
    }
    println!(
        "  binary: {:.2} MiB (budget 6 MiB): {}",
        size as f64 / 1048576.0,
        verdict(size <= 6 * 1024 * 1024)
    );
    println!(
        "  peak RSS: {:.1} MiB (budget 10 MiB): {}",
        max_rss as f64 / 1024.0,
        verdict(max_rss <= 10 * 1024)
    );
    println!(
        "  --version start-up: {} (budget 5 ms): {}",
        ms(startup.median),
        verdict(startup.median < Duration::from_millis(5))
    );
}

fn peer(bench: &Bench, f: &Fixture, broker_key: &str) -> Option<Stats> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer_rest_recipe.py");
    let has_requests = Command::new("python3")
        .args(["-c", "import requests"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_requests {
        println!(
            "Peer (Python requests recipe): skipped, python3 with the requests package is not installed (pip install requests).\n"
        );
        return None;
    }
    let mut walls = Vec::new();
    let (mut requests, mut connections, mut max_rss) = (0, 0, 0);
    for i in 0..bench.runs {
        f.sim.reset_counters();
        let sample = measure(
            Command::new("python3")
                .arg(&script)
                .env("OCTOPUS_URL", f.sim.url())
                .env("OCTOPUS_API_KEY", broker_key)
                .env("BROKER_USERNAME", "svc-runbooks")
                .env("PURPOSE", format!("Jane Doe (peer run {i})")),
        );
        assert_eq!(sample.code, 0, "the peer script failed");
        walls.push(sample.wall);
        requests += f.sim.requests().len();
        connections += f.sim.connections();
        max_rss = max_rss.max(sample.max_rss_kib);
    }
    let peer = stats(walls);
    println!(
        "Peer, the Python requests recipe (spaces, all users, POST, DELETE), {} runs:",
        bench.runs
    );
    println!(
        "  create+delete: median {}, p95 {}, {:.1} requests over {:.1} connections, peak RSS {} KiB\n",
        ms(peer.median),
        ms(peer.p95),
        requests as f64 / bench.runs as f64,
        connections as f64 / bench.runs as f64,
        max_rss
    );
    Some(peer)
}

fn scaling(bench: &Bench, count: usize, partial: bool) {
    let f = Fixture::with_options(Options {
        partial_purpose_filter: if partial {
            PartialPurpose::Substring
        } else {
            PartialPurpose::Ignored
        },
        ..Options::default()
    });
    let (_, broker_key) = f
        .sim
        .add_api_key(&f.broker_id, "bench broker (no expiry)", None);
    for i in 0..count {
        f.sim.add_api_key(
            &f.broker_id,
            &format!("Someone ran 'Nightly' [runkey ServerTasks-{i}/abcdef{i}]"),
            None,
        );
    }
    let env = |task: &str| {
        vec![
            ("OCTOPUS_URL", f.sim.url()),
            ("OCTOPUS_API_KEY", broker_key.clone()),
            ("OCTOPUS_TASK_ID", task.to_string()),
        ]
    };
    let small = Bench {
        binary: bench.binary.clone(),
        runs: 5,
    };
    let ops = [
        small.operation(
            "revoke by task",
            &f.sim,
            |i| {
                f.sim.add_api_key(
                    &f.broker_id,
                    &format!("Jane [runkey Target-{i}/xyz{i}]"),
                    None,
                );
            },
            |i| small.runkey(&["revoke"], &env(&format!("Target-{i}"))),
        ),
        small.operation(
            "list --json",
            &f.sim,
            |_| {},
            |_| small.runkey(&["list", "--json"], &env("unused")),
        ),
        small.operation(
            "revoke --sweep",
            &f.sim,
            |_| {},
            |_| {
                small.runkey(
                    &["revoke", "--sweep", "--max-age", "100d"],
                    &env("Sweep")[..2],
                )
            },
        ),
    ];
    for op in ops {
        println!(
            "{:<16} {:>8} {:>15} {:>10} {:>9.0}",
            op.name,
            count,
            if partial { "honoured" } else { "ignored" },
            ms(op.stats.median),
            op.requests
        );
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_default()
}

/// `audit --since 7d` in a space where `runs` runs each minted a key, disabled or enabled a
/// deployment target with it, and revoked it (three audited events per run): a quiet week
/// is one page of events, a busy one several.
fn audit_week(bench: &Bench, runs: usize) {
    let f = Fixture::new();
    let (_, broker_key) = f
        .sim
        .add_api_key(&f.broker_id, "bench broker (no expiry)", None);
    for i in 0..runs {
        let change = format!(
            "curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -d '{{\"Id\":\"{id}\",\"IsDisabled\":{disabled}}}' \"$OCTOPUS_URL/api/Spaces-1/machines/{id}\" >/dev/null",
            id = f.machine_id,
            disabled = i % 2 == 0
        );
        let sample = measure(&mut bench.runkey(
            &["exec", "--", "sh", "-c", &change],
            &env_of(&f, &broker_key, &format!("ServerTasks-{i}")),
        ));
        assert_eq!(sample.code, 0, "exec failed: {}", sample.stdout);
    }
    let events = f.sim.audit().len();
    let small = Bench {
        binary: bench.binary.clone(),
        runs: 10,
    };
    let audit = small.operation(
        "audit --since 7d",
        &f.sim,
        |_| {},
        |_| {
            bench.runkey(
                &["audit", "--since", "7d"],
                &[
                    ("OCTOPUS_URL", f.sim.url()),
                    ("OCTOPUS_API_KEY", broker_key.clone()),
                ],
            )
        },
    );
    // Peak RSS from GNU time, which forks the binary from its own small process: a child
    // spawned from this benchmark, which by now holds large simulators, inherits the
    // benchmark's high-water mark in its rusage (exec records the old address space's).
    let rss = Command::new("/usr/bin/time")
        .args(["-f", "%M", "--"])
        .arg(&bench.binary)
        .args(["audit", "--since", "7d"])
        .env_clear()
        .env("OCTOPUS_URL", f.sim.url())
        .env("OCTOPUS_API_KEY", &broker_key)
        .stdout(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            stderr.lines().last()?.parse::<i64>().ok()
        })
        .map_or("n/a (no /usr/bin/time)".to_string(), |kib| {
            format!("{kib} KiB")
        });
    println!(
        "{:<28} {:>8} {:>10} {:>9.1} {:>10}",
        format!("{runs} runs"),
        events,
        ms(audit.stats.median),
        audit.requests,
        rss
    );
}
