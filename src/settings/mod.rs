//! The command line plus the step's environment, resolved once, in one fallible step, into
//! a plain struct per command (one small function each; no clap type goes past here).
//! Commands take their struct and never see the environment, so every usage error (exit 2)
//! comes before the first request. `env` names every variable the tool reads; `connection`
//! resolves the server, CA and proxy; `credentials` the broker's credential and the run key.

mod connection;
mod credentials;
pub mod env;

use std::ffi::OsString;
use std::time::Duration;

use anyhow::Result;

use crate::cli::{AuditArgs, Cli, Command, CreateArgs, GuardStage, RevokeArgs, SetupArgs, Shell};
use crate::credential::{Broker, Credential};
use crate::duration;
use crate::exit::usage;
use crate::octopus::Connection;
use crate::purpose::{self, Operator, RunContext};
use credentials::{broker_credential, require_broker_credential, run_key};
use env::*;

pub use env::Env;

pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// What one command needs, resolved.
#[derive(Debug)]
pub enum Settings {
    Create(Mint),
    Use(Use),
    Revoke(Revoke),
    Exec(Exec),
    List(List),
    Audit(Audit),
    Setup(Setup),
    /// `completions <shell>`: nothing to resolve.
    Completions(Shell),
    /// `__guard launch`: start the watcher and exit.
    GuardLaunch,
    /// `__guard watch`: the guard itself.
    GuardWatch,
}

/// What `setup` needs. The credential is the administrator's own, never the broker's.
#[derive(Debug)]
pub struct Setup {
    pub connection: Connection,
    pub admin: Credential,
    /// A space name or id; `None`: the server's default space.
    pub space: Option<String>,
    pub package: Option<std::path::PathBuf>,
    pub broker: Option<String>,
    /// Roles for the broker's team (default: `Runbook consumer`).
    pub roles: Vec<String>,
    /// Where the roles apply, by name (nothing given: all of the space).
    pub scope: ScopeNames,
    pub oidc: bool,
    /// The OIDC identity's subject; `None`: `space:<space slug>:*`.
    pub oidc_subject: Option<String>,
    /// A scheduled runbook that sweeps the broker's stale run keys.
    pub sweep: Option<Sweep>,
    /// Remove what setup made for the broker instead.
    pub remove: bool,
    pub dry_run: bool,
    pub json: bool,
}

/// The projects, project groups, environments and tenants a grant is kept to, by name.
#[derive(Debug, Default, Clone)]
pub struct ScopeNames {
    pub projects: Vec<String>,
    pub project_groups: Vec<String>,
    pub environments: Vec<String>,
    pub tenants: Vec<String>,
}

/// Where and how often the sweep runbook runs.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub project: String,
    pub environment: String,
    /// Whole minutes below an hour, or whole hours.
    pub every: Duration,
}

/// The role `setup` grants the brokers' team when no `--role` is given: TaskView,
/// EventView and RunbookRunView, which the guard, `audit` and the operator lookup need.
pub const DEFAULT_BROKER_ROLE: &str = "Runbook consumer";

#[derive(Debug)]
pub struct Audit {
    pub connection: Connection,
    /// Any credential that may read events: the broker's, an auditor's, an administrator's.
    pub credential: Broker,
    /// The brokers to report on, by username; empty: the caller when it is a service
    /// account, else every account whose run keys made changes in the window.
    pub brokers: Vec<String>,
    pub from: jiff::Timestamp,
    pub to: jiff::Timestamp,
    pub filter: AuditFilter,
    /// Leave out the run keys' own creation and deletion.
    pub changes_only: bool,
    pub format: Format,
}

/// What the auditor narrows the changes to (each part of a name, any case).
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub operator: Option<String>,
    pub runbook: Option<String>,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub tenant: Option<String>,
    pub task: Option<String>,
}

/// How a listing prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// What minting a run key needs (`create`, and the first half of `exec`).
#[derive(Debug)]
pub struct Mint {
    pub connection: Connection,
    pub broker: Broker,
    pub ttl: Duration,
    /// `OCTOPUS_TASK_ID`, checked so that it can stand in a marker.
    pub task: Option<String>,
    pub operator: OperatorSource,
    pub allow_unattributed: bool,
    pub run: RunContext,
    /// `OCTOPUS_DEPLOYMENT_TRIGGER_NAME`: names the trigger of a run Octopus started.
    pub trigger: Option<String>,
    /// How often a create step's guard polls the task; `None`: no guard (`--no-guard`).
    pub guard: Option<Duration>,
    /// `--access read-only`: a key that can read and change nothing, where the server makes
    /// such keys.
    pub read_only: bool,
}

/// The default interval of a create step's guard: a few requests a minute per run.
pub const DEFAULT_GUARD_INTERVAL: Duration = Duration::from_secs(10);

/// Where the operator's name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorSource {
    /// The `Octopus.Deployment.CreatedBy.*` variables.
    Variables(Operator),
    /// The variables name Octopus's system user: a trigger started the run.
    Trigger,
    /// The runbook run record, when those variables are empty.
    RunbookRun { space_id: String, run_id: String },
    /// Nothing names one (allowed only with `--allow-unattributed`).
    Unknown,
}

#[derive(Debug)]
pub struct Use {
    pub connection: Connection,
    pub run_key: Credential,
    pub check: bool,
    pub cmd: Vec<OsString>,
    /// For `OCTOPUS_SPACE` in the child: the space name, else its id.
    pub space: Option<String>,
}

#[derive(Debug)]
pub struct Exec {
    pub mint: Mint,
    pub cmd: Vec<OsString>,
    pub space: Option<String>,
    /// `--keep-minted`: the keys the command minted with the run key are kept.
    pub keep_minted: bool,
}

#[derive(Debug)]
pub struct Revoke {
    pub connection: Connection,
    /// The broker credential when the step has it, else the run key acting as itself.
    pub credential: RevokeWith,
    /// `RUNKEY_API_KEY` when the step maps it: after a revoke by id, "revoked" is said only
    /// once this key no longer works.
    pub run_key: Option<Credential>,
    pub target: RevokeTarget,
    /// `RUNKEY_API_KEY_OWNER_ID`: saves asking the server who owns the key.
    pub owner: Option<String>,
    /// With `--sweep`: the age past which a key counts as stale.
    pub sweep: Option<Duration>,
    /// `--sweep --dry-run`: nothing is deleted; the sweep lists what it would delete.
    pub dry_run: bool,
    /// `--keep-minted`: the keys the run key minted are kept.
    pub keep_minted: bool,
}

/// What revoke authenticates with.
#[derive(Debug, Clone)]
pub enum RevokeWith {
    Broker(Broker),
    /// The run key acting as itself: it may delete itself.
    RunKey(Credential),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// `RUNKEY_API_KEY_ID`, checked against this run's task when that is known.
    Id { id: String, task: Option<String> },
    /// Every key whose marker names this task.
    Task(String),
    /// Only the sweep.
    Nothing,
}

#[derive(Debug)]
pub struct List {
    pub connection: Connection,
    pub broker: Broker,
    pub json: bool,
}

pub fn resolve(cli: &Cli, env: &Env) -> Result<Settings> {
    if let Command::Guard(args) = &cli.command {
        // The guard reads nothing from its (cleared) environment: its spec comes on stdin.
        return Ok(match args.stage {
            GuardStage::Launch => Settings::GuardLaunch,
            GuardStage::Watch => Settings::GuardWatch,
        });
    }
    if let Command::Completions(args) = &cli.command {
        return Ok(Settings::Completions(args.shell));
    }
    env.check_utf8()?;
    let connection = || connection::resolve(&cli.global, env);
    Ok(match &cli.command {
        Command::Guard(_) | Command::Completions(_) => unreachable!("answered above"),
        Command::Create(args) => Settings::Create(mint(connection()?, env, args)?),
        Command::Exec(args) => Settings::Exec(Exec {
            mint: mint(connection()?, env, &args.key)?,
            cmd: args.command.cmd.clone(),
            space: space(env),
            keep_minted: args.keep_minted,
        }),
        Command::Use(args) => Settings::Use(Use {
            connection: connection()?,
            run_key: run_key(env)?.ok_or_else(|| env.missing(RUNKEY_API_KEY, ""))?,
            check: args.check,
            cmd: args.command.cmd.clone(),
            space: space(env),
        }),
        Command::Revoke(args) => Settings::Revoke(revoke(connection()?, env, args)?),
        Command::Audit(args) => Settings::Audit(audit(connection()?, env, args)?),
        Command::Setup(args) => Settings::Setup(setup(env, args, connection)?),
        Command::List(args) => Settings::List(List {
            connection: connection()?,
            broker: require_broker_credential(env)?,
            json: args.json,
        }),
    })
}

fn revoke(connection: Connection, env: &Env, args: &RevokeArgs) -> Result<Revoke> {
    let broker = broker_credential(env)?;
    let run_key = run_key(env)?;
    let task = task_id(env)?;
    let sweep = args
        .sweep
        .then(|| duration::parse(&args.max_age).map_err(|e| usage(format!("--max-age: {e}"))))
        .transpose()?;
    if args.sweep && broker.is_none() {
        return Err(env.missing(
            OCTOPUS_API_KEY,
            " (--sweep deletes other runs' keys, so it needs the broker credential)",
        ));
    }
    let target = match (env.get_string(RUNKEY_API_KEY_ID), task) {
        (Some(id), task) => RevokeTarget::Id { id, task },
        (None, Some(task)) => RevokeTarget::Task(task),
        (None, None) if args.sweep => RevokeTarget::Nothing,
        (None, None) => {
            return Err(usage(format!(
                "nothing to revoke: RUNKEY_API_KEY_ID is not set: map it from {} in the step (or set OCTOPUS_TASK_ID from Octopus.Task.Id to revoke every key of this run)",
                RUNKEY_API_KEY_ID.source
            )));
        }
    };
    let credential = match (broker, run_key.clone()) {
        (Some(broker), _) => RevokeWith::Broker(broker),
        (None, Some(run_key)) => RevokeWith::RunKey(run_key),
        (None, None) => {
            return Err(env.missing(
                RUNKEY_API_KEY,
                " (or give the step the broker key in OCTOPUS_API_KEY)",
            ));
        }
    };
    Ok(Revoke {
        connection,
        credential,
        run_key,
        target,
        owner: env.get_string(RUNKEY_API_KEY_OWNER_ID),
        sweep,
        dry_run: args.dry_run,
        keep_minted: args.keep_minted,
    })
}

fn audit(connection: Connection, env: &Env, args: &AuditArgs) -> Result<Audit> {
    let now = jiff::Timestamp::now();
    let to = match &args.until {
        Some(text) => when(text, now).map_err(|e| usage(format!("--until: {e}")))?,
        None => now,
    };
    let from = when(&args.since, now).map_err(|e| usage(format!("--since: {e}")))?;
    if from >= to {
        return Err(usage(format!(
            "--since ({}) is not before --until ({}): give a window that starts before it ends",
            crate::octopus::utc(from),
            crate::octopus::utc(to)
        )));
    }
    Ok(Audit {
        connection,
        credential: require_broker_credential(env)?,
        brokers: args.brokers.clone(),
        from,
        to,
        filter: AuditFilter {
            operator: args.operator.clone(),
            runbook: args.runbook.clone(),
            project: args.project.clone(),
            environment: args.environment.clone(),
            tenant: args.tenant.clone(),
            task: args.task.clone(),
        },
        changes_only: args.changes_only,
        format: if args.json {
            Format::Json
        } else if args.csv {
            Format::Csv
        } else {
            Format::Table
        },
    })
}

/// A moment as the auditor types it: how long ago (`7d`, `1h30m`), a date (`2026-07-01`,
/// midnight UTC) or a time (RFC 3339, `2026-07-01T09:00:00Z`).
fn when(text: &str, now: jiff::Timestamp) -> std::result::Result<jiff::Timestamp, String> {
    let text = text.trim();
    if let Ok(ago) = duration::parse(text) {
        return Ok(jiff::SignedDuration::try_from(ago)
            .ok()
            .and_then(|d| now.checked_sub(d).ok())
            .unwrap_or(jiff::Timestamp::MIN));
    }
    if let Some(at) = crate::octopus::parse_timestamp(text) {
        return Ok(at);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "'{text}' is neither a duration (7d, 2w, 1h30m) nor a date (2026-07-01) or time (2026-07-01T09:00:00Z)"
    ))
}

/// `connection` is resolved only after the package is checked: a missing file is named
/// before anything about the server.
fn setup(
    env: &Env,
    args: &SetupArgs,
    connection: impl FnOnce() -> Result<Connection>,
) -> Result<Setup> {
    if let Some(path) = &args.package
        && !path.is_file()
    {
        return Err(usage(format!(
            "--package {}: no such file; give the path of the octopus-runkey.<version>.<ext> package",
            path.display()
        )));
    }
    let admin = match broker_credential(env)? {
        Some(Broker::Ready(credential)) => credential,
        _ => {
            return Err(env.missing(
                OCTOPUS_API_KEY,
                " (setup runs with an administrator's own API key, or OCTOPUS_ACCESS_TOKEN; never the broker's)",
            ));
        }
    };
    Ok(Setup {
        connection: connection()?,
        admin,
        space: args.space.clone().or_else(|| env.get_string(OCTOPUS_SPACE)),
        package: args.package.clone(),
        broker: args.broker.clone(),
        roles: if args.roles.is_empty() {
            vec![DEFAULT_BROKER_ROLE.to_string()]
        } else {
            args.roles.clone()
        },
        scope: ScopeNames {
            projects: args.projects.clone(),
            project_groups: args.project_groups.clone(),
            environments: args.environments.clone(),
            tenants: args.tenants.clone(),
        },
        oidc: args.oidc,
        oidc_subject: args.oidc_subject.clone(),
        sweep: sweep(args)?,
        remove: args.remove,
        dry_run: args.dry_run,
        json: args.json,
    })
}

/// `--sweep-project`, `--sweep-environment` and `--sweep-every`, checked.
fn sweep(args: &SetupArgs) -> Result<Option<Sweep>> {
    let (Some(project), Some(environment)) = (&args.sweep_project, &args.sweep_environment) else {
        return Ok(None);
    };
    let every =
        duration::parse(&args.sweep_every).map_err(|e| usage(format!("--sweep-every: {e}")))?;
    let minutes = every.as_secs() / 60;
    let fits = every.as_secs() % 60 == 0 && (1..60).contains(&minutes)
        || every.as_secs() % 3600 == 0 && (1..=24).contains(&(minutes / 60));
    if !fits {
        return Err(usage(format!(
            "--sweep-every '{}': a scheduled trigger runs every 1 to 59 minutes, or every 1 to 24 hours: give one of those",
            args.sweep_every
        )));
    }
    Ok(Some(Sweep {
        project: project.clone(),
        environment: environment.clone(),
        every,
    }))
}

fn mint(connection: Connection, env: &Env, args: &CreateArgs) -> Result<Mint> {
    let broker = require_broker_credential(env)?;
    let ttl = ttl(args.ttl.as_deref(), env)?;
    let allow_unattributed = args.allow_unattributed;
    let guard = if args.no_guard || flag(env, RUNKEY_NO_GUARD)? {
        None
    } else {
        Some(match env.get(RUNKEY_GUARD_INTERVAL) {
            Some(text) => duration::parse(text)
                .map_err(|e| usage(format!("{}: {e}", RUNKEY_GUARD_INTERVAL.name)))?,
            None => DEFAULT_GUARD_INTERVAL,
        })
    };
    let task = task_id(env)?;
    let operator = operator_source(env);
    if operator == OperatorSource::Unknown && !allow_unattributed {
        return Err(usage(format!(
            "no operator for this run: OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME (from Octopus.Deployment.CreatedBy.Username) is empty and {NO_RUN_TO_LOOK_UP}; map them in the step, or pass --allow-unattributed"
        )));
    }
    Ok(Mint {
        connection,
        broker,
        ttl,
        task,
        operator,
        allow_unattributed,
        run: run_context(env),
        trigger: env
            .get(OCTOPUS_DEPLOYMENT_TRIGGER_NAME)
            .map(purpose::clean)
            .filter(|n| !n.is_empty()),
        guard,
        read_only: access(args.access.as_deref(), env)?,
    })
}

/// Whether the key is to be read-only: `--access`, else `RUNKEY_ACCESS` (`full` or
/// `read-only`, as the templates' parameter sends it).
fn access(arg: Option<&str>, env: &Env) -> Result<bool> {
    match arg.or_else(|| env.get(RUNKEY_ACCESS)) {
        None | Some("full" | "Full" | "FullAccess") => Ok(false),
        Some("read-only" | "ReadOnly" | "readonly") => Ok(true),
        Some(other) => Err(usage(format!(
            "RUNKEY_ACCESS is '{other}': set it to full or read-only"
        ))),
    }
}

/// A yes/no variable: `true`/`false` as Octopus checkboxes send them (`True`, `False`),
/// also `1`/`0` and `yes`/`no`; unset is no.
fn flag(env: &Env, var: Var) -> Result<bool> {
    match env.get(var).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(usage(format!(
            "{} is '{other}': set it to true or false",
            var.name
        ))),
    }
}

/// Why the run record cannot be read when the `CreatedBy` variables are empty.
pub const NO_RUN_TO_LOOK_UP: &str = "OCTOPUS_RUNBOOKRUN_ID and OCTOPUS_SPACE_ID (from Octopus.RunbookRun.Id and Octopus.Space.Id) are not set to look the run up";

fn ttl(arg: Option<&str>, env: &Env) -> Result<Duration> {
    match (arg, env.get(RUNKEY_TTL)) {
        (Some(text), _) => duration::parse(text).map_err(|e| usage(format!("--ttl: {e}"))),
        (None, Some(text)) => duration::parse(text).map_err(|e| usage(format!("RUNKEY_TTL: {e}"))),
        (None, None) => Ok(DEFAULT_TTL),
    }
}

fn task_id(env: &Env) -> Result<Option<String>> {
    env.get(OCTOPUS_TASK_ID)
        .map(|task| {
            purpose::validate_task_id(task).map_err(|why| {
                usage(format!(
                    "OCTOPUS_TASK_ID '{task}' {why}: map it from Octopus.Task.Id in the step"
                ))
            })?;
            Ok(task.to_string())
        })
        .transpose()
}

fn run_context(env: &Env) -> RunContext {
    // A name that is nothing but invisible or control characters counts as missing.
    let name = |var| env.get(var).map(purpose::clean).filter(|n| !n.is_empty());
    RunContext {
        runbook: name(OCTOPUS_RUNBOOK_NAME),
        project: name(OCTOPUS_PROJECT_NAME),
        environment: name(OCTOPUS_ENVIRONMENT_NAME),
        tenant: name(OCTOPUS_TENANT_NAME),
        space: name(OCTOPUS_SPACE_NAME).or_else(|| name(OCTOPUS_SPACE_ID)),
    }
}

fn operator_source(env: &Env) -> OperatorSource {
    // A name that is nothing but invisible or control characters counts as missing.
    let name = |var| env.get(var).map(purpose::clean).filter(|n| !n.is_empty());
    if env
        .get(OCTOPUS_DEPLOYMENT_CREATEDBY_ID)
        .is_some_and(purpose::is_system_user)
    {
        return OperatorSource::Trigger;
    }
    if let Some(username) = name(OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME) {
        return OperatorSource::Variables(Operator {
            display_name: name(OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME)
                .unwrap_or_else(|| username.clone()),
            id: env.get_string(OCTOPUS_DEPLOYMENT_CREATEDBY_ID),
            username,
        });
    }
    match (
        env.get_string(OCTOPUS_SPACE_ID),
        env.get_string(OCTOPUS_RUNBOOKRUN_ID),
    ) {
        (Some(space_id), Some(run_id)) => OperatorSource::RunbookRun { space_id, run_id },
        _ => OperatorSource::Unknown,
    }
}

/// The space name, else its id.
fn space(env: &Env) -> Option<String> {
    env.get_string(OCTOPUS_SPACE_NAME)
        .or_else(|| env.get_string(OCTOPUS_SPACE_ID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitStatus;
    use clap::Parser;

    fn resolve_with(args: &[&str], pairs: &[(&str, &str)]) -> Result<Settings> {
        let mut argv = vec!["octopus-runkey"];
        argv.extend_from_slice(args);
        resolve(&Cli::try_parse_from(argv).unwrap(), &Env::from_pairs(pairs))
    }

    const SERVER: (&str, &str) = ("OCTOPUS_URL", "https://o.example");
    const BROKER: (&str, &str) = ("OCTOPUS_API_KEY", "API-BROKER1");
    const JANE: (&str, &str) = ("OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME", "jane.doe");

    fn usage_text(result: Result<Settings>) -> String {
        let err = result.unwrap_err();
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Usage, "{err}");
        err.to_string()
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused_without_showing_them() {
        let text = usage_text(resolve_with(
            &["list"],
            &[SERVER, ("OCTOPUS_API_KEY", "api-lowercase-secret")],
        ));
        assert!(text.contains("OCTOPUS_API_KEY does not hold"), "{text}");
        assert!(!text.contains("lowercase-secret"), "{text}");
    }

    #[test]
    fn ttl_comes_from_the_flag_then_runkey_ttl_then_one_hour() {
        let env = Env::from_pairs(&[("RUNKEY_TTL", "2h")]);
        assert_eq!(ttl(Some("90s"), &env).unwrap(), Duration::from_secs(90));
        assert_eq!(ttl(None, &env).unwrap(), Duration::from_secs(7200));
        assert_eq!(ttl(None, &Env::default()).unwrap(), DEFAULT_TTL);
        let err = ttl(Some("soon"), &env).unwrap_err();
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Usage);
    }

    #[test]
    fn the_operator_comes_from_the_variables_then_the_run_record() {
        let Settings::Create(mint) = resolve_with(&["create"], &[SERVER, BROKER, JANE]).unwrap()
        else {
            panic!("not create")
        };
        let OperatorSource::Variables(op) = mint.operator else {
            panic!("{:?}", mint.operator)
        };
        assert_eq!(
            (op.username.as_str(), op.display_name.as_str()),
            ("jane.doe", "jane.doe")
        );
        let Settings::Create(mint) = resolve_with(
            &["create"],
            &[
                SERVER,
                BROKER,
                ("OCTOPUS_SPACE_ID", "Spaces-1"),
                ("OCTOPUS_RUNBOOKRUN_ID", "RunbookRuns-7"),
            ],
        )
        .unwrap() else {
            panic!("not create")
        };
        assert_eq!(
            mint.operator,
            OperatorSource::RunbookRun {
                space_id: "Spaces-1".into(),
                run_id: "RunbookRuns-7".into()
            }
        );
    }

    #[test]
    fn no_operator_is_a_usage_error_unless_unattributed_runs_are_allowed() {
        let text = usage_text(resolve_with(&["create"], &[SERVER, BROKER]));
        assert!(text.contains("no operator for this run"), "{text}");
        assert!(resolve_with(&["create", "--allow-unattributed"], &[SERVER, BROKER]).is_ok());
    }

    #[test]
    fn revoke_prefers_the_broker_and_falls_back_to_the_run_key() {
        let run_key = ("RUNKEY_API_KEY", "API-RUNKEY1");
        let id = ("RUNKEY_API_KEY_ID", "apikeys-1");
        let Settings::Revoke(revoke) =
            resolve_with(&["revoke"], &[SERVER, BROKER, run_key, id]).unwrap()
        else {
            panic!("not revoke")
        };
        assert!(matches!(revoke.credential, RevokeWith::Broker(_)));
        let Settings::Revoke(revoke) = resolve_with(
            &["revoke"],
            &[SERVER, run_key, ("OCTOPUS_TASK_ID", "ServerTasks-1")],
        )
        .unwrap() else {
            panic!("not revoke")
        };
        assert!(matches!(revoke.credential, RevokeWith::RunKey(_)));
        assert_eq!(revoke.target, RevokeTarget::Task("ServerTasks-1".into()));
        let text = usage_text(resolve_with(&["revoke"], &[SERVER, run_key]));
        assert!(text.contains("nothing to revoke"), "{text}");
        let text = usage_text(resolve_with(&["revoke", "--sweep"], &[SERVER, run_key, id]));
        assert!(text.contains("needs the broker credential"), "{text}");
    }

    #[test]
    fn a_usage_error_needs_no_server_at_all() {
        // Resolution alone decides it: nothing here could have sent a request.
        let text = usage_text(resolve_with(
            &["create", "--ttl", "soon"],
            &[SERVER, BROKER, JANE],
        ));
        assert!(text.starts_with("--ttl:"), "{text}");
    }
}
