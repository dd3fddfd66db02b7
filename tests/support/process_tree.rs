//! The step's process tree as Tentacle sees it, from the simulator's crate (which the demo
//! shares): descendants found by parent PID, a cancel that SIGSTOPs the root and SIGKILLs
//! every descendant, and the guards this test binary's `octopus-runkey` left running.

pub use octopus_sim::tentacle::{descendants, kill_tree_like_tentacle};

use super::BIN;

/// Every running guard of the binary under test: (pid, command line, environment).
pub fn guards() -> Vec<(u32, String, String)> {
    octopus_sim::tentacle::guards(BIN)
        .into_iter()
        .map(|g| (g.pid, g.command_line, g.environment))
        .collect()
}
