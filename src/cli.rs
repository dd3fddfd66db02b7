//! The command line as typed. Nothing here reads the environment: `settings` turns this
//! plus the step's variables into what the commands need.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `--version`: the version, the commit it was built from and the target it was built for
/// (build.rs), so that a binary on a worker says which release and platform it is.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RUNKEY_COMMIT"),
    ", ",
    env!("RUNKEY_TARGET"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "octopus-runkey",
    version = VERSION,
    about = "Per-run, short-lived Octopus API keys labelled with the person who clicked Run.",
    long_about = "Per-run, short-lived Octopus API keys labelled with the person who clicked Run.\n\n\
        Secrets are read only from the environment (OCTOPUS_API_KEY, OCTOPUS_ACCESS_TOKEN, \
        RUNKEY_API_KEY), never from the command line."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Octopus Server URL (default: OCTOPUS_URL, else OCTOPUS_WEB_SERVERURI)
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Extra PEM root certificates to trust, beside the OS trust store
    #[arg(long = "ca-cert", global = true, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds one HTTP request may take
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Print each request and response status to stderr (credentials redacted)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this run's key and emit it as a sensitive output variable
    Create(CreateArgs),
    /// Run CMD with the run key (RUNKEY_API_KEY) in its environment
    Use(UseArgs),
    /// Delete this run's key (RUNKEY_API_KEY_ID, else every key of OCTOPUS_TASK_ID)
    Revoke(RevokeArgs),
    /// Create a key, run CMD with it, and revoke it whatever happens
    Exec(ExecArgs),
    /// List the keys this tool made for the broker account
    List(ListArgs),
    /// The broker's audited changes, attributed to the operators whose run keys made them
    Audit(AuditArgs),
    /// Prepare a space once (an administrator): package, step templates, broker, OIDC trust
    Setup(SetupArgs),
    /// Print a completion script for a shell (bash, zsh, fish or powershell)
    Completions(CompletionsArgs),
    /// The guard process that create and exec start (internal)
    #[command(name = "__guard", hide = true)]
    Guard(GuardArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell; e.g. `octopus-runkey completions bash > /etc/bash_completion.d/octopus-runkey`
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A broker service account to report on, by username (repeatable; default: the caller
    /// when it is a service account, else every account whose run keys made changes)
    #[arg(long = "broker", value_name = "USERNAME")]
    pub brokers: Vec<String>,
    /// The start of the window: how long ago (90s, 2h, 7d, 2w, 1h30m) or a date or time
    /// (2026-07-01, 2026-07-01T09:00:00Z)
    #[arg(long, value_name = "WHEN", default_value = "7d")]
    pub since: String,
    /// The end of the window, as --since takes it (default: now)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only changes of this operator (part of the name or username, any case; `trigger`
    /// for trigger runs)
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Only changes of runs of this runbook (part of its name, any case)
    #[arg(long, value_name = "NAME")]
    pub runbook: Option<String>,
    /// Only changes of runs in this project (part of its name, any case)
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Only changes of runs in this environment (part of its name, any case)
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
    /// Only changes of runs for this tenant (part of its name, any case)
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Only changes of this task (ServerTasks-N)
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// Leave out the run keys' own creation and deletion
    #[arg(long)]
    pub changes_only: bool,
    /// Print a JSON array of objects, one per change (see docs/audit.md for the fields)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV with the same fields
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The space, by name or id (default: OCTOPUS_SPACE, else the server's default space)
    #[arg(long, value_name = "NAME")]
    pub space: Option<String>,
    /// The all-platform package to upload to the space's built-in feed
    #[arg(long, value_name = "PATH")]
    pub package: Option<PathBuf>,
    /// The broker service account's username: found or created, on a team of its own
    #[arg(long, value_name = "USERNAME")]
    pub broker: Option<String>,
    /// A role for the broker's team in this space (repeatable; default: Runbook consumer)
    #[arg(long = "role", value_name = "NAME", requires = "broker")]
    pub roles: Vec<String>,
    /// Grant the roles only for this project (repeatable)
    #[arg(long = "project", value_name = "NAME", requires = "broker")]
    pub projects: Vec<String>,
    /// Grant the roles only for this project group (repeatable)
    #[arg(long = "project-group", value_name = "NAME", requires = "broker")]
    pub project_groups: Vec<String>,
    /// Grant the roles only in this environment (repeatable)
    #[arg(long = "environment", value_name = "NAME", requires = "broker")]
    pub environments: Vec<String>,
    /// Grant the roles only for this tenant (repeatable)
    #[arg(long = "tenant", value_name = "NAME", requires = "broker")]
    pub tenants: Vec<String>,
    /// Trust the server's own OIDC issuer for the broker and create a Generic OIDC account
    #[arg(long, requires = "broker")]
    pub oidc: bool,
    /// The subject the broker's OIDC identity accepts (default: space:<space slug>:*)
    #[arg(long, value_name = "PATTERN", requires = "oidc")]
    pub oidc_subject: Option<String>,
    /// The project of a scheduled runbook that sweeps the broker's stale run keys
    #[arg(long, value_name = "NAME", requires_all = ["broker", "oidc", "sweep_environment"])]
    pub sweep_project: Option<String>,
    /// The environment the sweep runbook runs in
    #[arg(long, value_name = "NAME", requires = "sweep_project")]
    pub sweep_environment: Option<String>,
    /// How often the sweep runs: whole minutes below an hour, or whole hours
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15m",
        requires = "sweep_project"
    )]
    pub sweep_every: String,
    /// Remove what setup made for the broker (--broker): its sweep, team, grants, OIDC
    /// identity and account, and the step templates no step uses
    #[arg(long, requires = "broker", conflicts_with_all = ["package", "roles", "oidc", "sweep_project", "projects", "project_groups", "environments", "tenants"])]
    pub remove: bool,
    /// Only read, and print the plan
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    #[arg(value_enum)]
    pub stage: GuardStage,
}

/// `launch` starts `watch` in a session of its own and exits; `watch` does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuardStage {
    Launch,
    Watch,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// How long the key lives: 90s, 45m, 2h, 1d (default: RUNKEY_TTL, else 1h)
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Create the key even when no operator can be found
    #[arg(long)]
    pub allow_unattributed: bool,
    /// Start no guard process to revoke the key when the run ends (also RUNKEY_NO_GUARD=true)
    #[arg(long)]
    pub no_guard: bool,
    /// The key's access: full (default), or read-only where the server makes such keys
    /// (also RUNKEY_ACCESS)
    #[arg(long, value_name = "LEVEL", value_parser = ["full", "read-only"])]
    pub access: Option<String>,
}

#[derive(Debug, Args)]
pub struct UseArgs {
    /// First check the key with GET /api/users/me and say whose key it is
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub command: CommandArgs,
}

/// The step's command, for `use` and `exec`.
#[derive(Debug, Args)]
pub struct CommandArgs {
    /// The command to run, after `--`
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub cmd: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Also delete this tool's keys that expired or are older than --max-age
    #[arg(long)]
    pub sweep: bool,
    /// With --sweep: the age past which a key counts as stale (90s, 45m, 2h, 1d)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "24h",
        requires = "sweep"
    )]
    pub max_age: String,
    /// With --sweep: delete nothing, and list what the sweep would delete (this run's own
    /// key is not revoked either)
    #[arg(long, requires = "sweep")]
    pub dry_run: bool,
    /// Keep the keys a script minted with the run key (they are revoked by default)
    #[arg(long)]
    pub keep_minted: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub key: CreateArgs,
    /// Keep the keys the command minted with the run key (they are revoked by default)
    #[arg(long)]
    pub keep_minted: bool,
    #[command(flatten)]
    pub command: CommandArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array of {Id, Purpose, Created, Expires, Expired}
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn use_takes_everything_after_the_double_dash() {
        let cli = Cli::try_parse_from([
            "octopus-runkey",
            "use",
            "--check",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        let Command::Use(args) = cli.command else {
            panic!("not use")
        };
        assert!(args.check);
        assert_eq!(args.command.cmd, ["sh", "-c", "exit 3"]);
    }
}
