//! The machine a step runs on, as Tentacle sees it: the processes and their parents, read
//! from `/proc`; the cancel that kills a step's whole process tree at once; and the guards
//! octopus-runkey leaves running there. Linux only, as `/proc` is.

/// The process ids `/proc` lists.
fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc lists the processes")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// (pid, parent pid) of every process still there when it is read.
fn parents() -> Vec<(u32, u32)> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces: the fields after its closing ')' are fixed.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// Every process whose parent chain leads to `root`, found by parent PID as .NET's
/// `Process.Kill(entireProcessTree: true)` finds them on Linux. A process whose parent
/// exited was reparented, and so escapes, as it does from Tentacle.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// What Tentacle does on a cancel: stop the root, find every descendant by parent PID,
/// SIGKILL them all. No grace period, no signal anyone could catch.
pub fn kill_tree_like_tentacle(root: u32) {
    // SAFETY: kill(2) takes any pid; the caller names a step it started.
    unsafe { libc::kill(root as i32, libc::SIGSTOP) };
    let tree = descendants(root);
    unsafe { libc::kill(root as i32, libc::SIGKILL) };
    for pid in tree {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// A running octopus-runkey guard (`__guard launch` or `__guard watch`).
#[derive(Debug, Clone)]
pub struct Guard {
    pub pid: u32,
    /// Its arguments, joined by spaces.
    pub command_line: String,
    /// Its environment, one `NAME=value` a line: what a secret must never be found in.
    pub environment: String,
}

/// Every running guard whose command line names `started_from`: the binary it was started
/// from, or a folder that binary was copied into. A process that has exited has an empty
/// command line, so an unreaped guard is not listed.
pub fn guards(started_from: &str) -> Vec<Guard> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let command_line = String::from_utf8_lossy(&command_line).replace('\0', " ");
            if !command_line.contains("__guard") || !command_line.contains(started_from) {
                return None;
            }
            let environment = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            Some(Guard {
                pid,
                command_line,
                environment: String::from_utf8_lossy(&environment).replace('\0', "\n"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_cancel_kills_the_whole_tree_found_by_parent_pid() {
        // A shell whose child is a sleep: two levels of the tree.
        let mut root = Command::new("sh")
            .args(["-c", "sleep 30 & echo started; wait"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(root.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let tree = descendants(root.id());
        assert_eq!(tree.len(), 1, "the sleep: {tree:?}");
        let sleep = tree[0];
        assert!(descendants(sleep).is_empty());
        kill_tree_like_tentacle(root.id());
        let status = root.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        // The sleep, reparented once killed, is reaped by whoever adopted it.
        let started = Instant::now();
        while std::fs::read(format!("/proc/{sleep}/cmdline")).is_ok_and(|c| !c.is_empty()) {
            assert!(started.elapsed() < Duration::from_secs(5), "{sleep} lives");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn no_guard_is_found_for_a_binary_that_never_ran() {
        assert!(guards("/nonexistent/octopus-runkey").is_empty());
    }
}
