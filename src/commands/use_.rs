//! `use`: run the step's command with the run key in its environment.

use anyhow::{Context, Result};

use super::{Ctx, child_env};
use crate::child::{self, Signals};
use crate::cli::UseArgs;
use crate::error::Outcome;
use crate::octopus::Client;
use crate::settings::{self, RUNKEY_API_KEY};

pub fn run(ctx: &Ctx, args: &UseArgs) -> Result<Outcome> {
    let connection = ctx.connection()?;
    let run_key = settings::run_key(ctx.env)?
        .ok_or_else(|| settings::missing(ctx.env, RUNKEY_API_KEY, ""))?;
    if args.check {
        let client = Client::new(&connection, run_key.clone())?;
        let me = client.me().context("checking the run key")?;
        ctx.console.info(&format!(
            "The run key is valid: it acts as {}.",
            me.describe()
        ));
    }
    let signals = Signals::install()?;
    let env = child_env(&connection, run_key.secret(), settings::space(ctx.env));
    let code = child::run(&args.command.cmd, &env, &signals)?;
    Ok(Outcome::Child(code))
}
