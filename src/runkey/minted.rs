//! Keys a run key minted. A script holding the run key can create more keys for the broker
//! (Octopus allows every full-access key to); they carry no marker, so `list`, revoke and
//! the sweep would never see them, and they would outlive the run. The audit log names the
//! key that made each (`ApiKeyId`, or its purpose in `IdentityEstablishedWith`): at the end
//! of the run they are revoked too, each named in the task log, unless `--keep-minted`.

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};

use crate::console::Console;
use crate::octopus::{Client, Deleted, status_of};

/// The run key (or a task's run keys) whose minted keys are looked for.
pub struct MintedBy<'a> {
    pub owner: &'a str,
    pub key_ids: Vec<&'a str>,
    /// The run key's marker, `[runkey <task>/<nonce>]`, or the start every marker of the
    /// task shares (`[runkey <task>/`).
    pub marker: String,
    /// When the (first) run key was made: the audit log is read from then on.
    pub created: Timestamp,
}

impl MintedBy<'_> {
    fn named(&self) -> String {
        match self.key_ids.as_slice() {
            [one] => format!("run key {one}"),
            _ => format!(
                "the run keys of {}",
                self.marker
                    .trim_start_matches("[runkey ")
                    .trim_end_matches('/')
            ),
        }
    }
}

/// Revokes (or, with `keep`, names) the keys `run_key` minted. Not being allowed to read
/// the audit log is a warning, not a failure: the run key itself is still revoked.
pub fn revoke_minted(
    client: &Client,
    console: &Console,
    run_key: &MintedBy,
    keep: bool,
) -> Result<()> {
    let since = run_key.created - SignedDuration::from_mins(1);
    let minted = match client.keys_created_with(
        run_key.owner,
        &run_key.key_ids,
        &run_key.marker,
        since,
    ) {
        Ok(minted) => minted,
        Err(e) if status_of(&e) == Some(403) => {
            console.warn(&format!(
                    "cannot tell which keys {} made ({e:#}); keys a script minted with it are not revoked: give the broker's team EventView (the role Runbook consumer has it)",
                    run_key.named()
                ));
            return Ok(());
        }
        Err(e) => {
            return Err(e.context(format!(
                "looking for keys that {} made (GET /api/events)",
                run_key.named()
            )));
        }
    };
    if minted.is_empty() {
        return Ok(());
    }
    if keep {
        console.warn(&format!(
            "kept {} key(s) that {} made ({}), as --keep-minted asks: they live until their expiry",
            minted.len(),
            run_key.named(),
            minted.join(", ")
        ));
        return Ok(());
    }
    for id in &minted {
        match client.delete_api_key(run_key.owner, id)? {
            Deleted::Now => console.info(&format!(
                "Revoked key {id}, which {} made.",
                run_key.named()
            )),
            Deleted::AlreadyGone => console.info(&format!(
                "Key {id}, which {} made, is already revoked.",
                run_key.named()
            )),
        }
    }
    Ok(())
}
