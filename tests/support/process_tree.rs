//! The step's process tree as Tentacle sees it: descendants found by parent PID, a cancel
//! that SIGSTOPs the root and SIGKILLs every descendant, and the guards running on the
//! machine.

use super::BIN;

/// Every process whose parent chain leads to `root`, found by parent PID as .NET's
/// `Process.Kill(entireProcessTree: true)` finds them on Linux.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces: the fields after its closing ')' are fixed.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
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
    unsafe { libc::kill(root as i32, libc::SIGSTOP) };
    let tree = descendants(root);
    unsafe { libc::kill(root as i32, libc::SIGKILL) };
    for pid in tree {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// Every running guard's (pid, command line, environment).
pub fn guards() -> Vec<(u32, String, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if !cmdline.contains("__guard") || !cmdline.contains(BIN) {
                return None;
            }
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            Some((
                pid,
                cmdline,
                String::from_utf8_lossy(&environ).replace('\0', "\n"),
            ))
        })
        .collect()
}
