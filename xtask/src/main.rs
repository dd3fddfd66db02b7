//! `cargo xtask`: the project's own build tasks, in Rust so that they run wherever cargo
//! does (the `xtask` alias is in `.cargo/config.toml`). One task so far: `dist`, the release
//! set (see `dist.rs`). `main` only parses, runs and reports.

mod archive;
mod checksums;
mod dist;
mod sbom;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "octopus-runkey's build tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write the release set to target/dist/: the Octopus package (.tar.gz and .zip), one
    /// archive per platform, a CycloneDX SBOM per binary and SHA256SUMS over them all
    Dist {
        /// Package this already-built binary instead of building it (all three or none):
        /// linux-x64=PATH, linux-arm64=PATH, win-x64=PATH
        #[arg(long = "binary", value_name = "PLATFORM=PATH")]
        binaries: Vec<String>,
        /// Write the set here instead of target/dist/ (absent or empty)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Dist { binaries, out } => dist::Request::parse(&binaries, out).and_then(dist::run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
