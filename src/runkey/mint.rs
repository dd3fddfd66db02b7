//! Minting the run key: the operator, the owner, then one POST per attempt. A POST whose
//! answer was lost is settled through its attempt's nonce (any key it made is deleted) and
//! tried once more, so exactly one live key results. A cancel (SIGINT/SIGTERM) that comes
//! while a key is made undoes that attempt before the error is returned.

use anyhow::{Context, Result, anyhow};
use jiff::{SignedDuration, Timestamp};

use super::key::RunKey;
use super::settle::settle;
use super::starter::find_starter;
use crate::child::Signals;
use crate::console::Console;
use crate::credential::{Origin, Scheme};
use crate::duration;
use crate::exit::Interrupted;
use crate::octopus::{self, Client, Created, CreatedKey, HttpError, status_of};
use crate::purpose::{self, Marker, NO_TASK};
use crate::settings::Mint;

/// How many POSTs one mint makes at most: the first, and one more after a lost answer.
const ATTEMPTS: u32 = 2;

/// Creates the run key: operator, owner, then up to [`ATTEMPTS`] POSTs.
pub fn mint(
    settings: &Mint,
    client: &Client,
    console: &Console,
    signals: &Signals,
) -> Result<RunKey> {
    let starter = find_starter(settings, client, console)?;
    let human = purpose::human_part_of(starter.as_ref(), &settings.run);
    let operator = starter.map_or_else(
        || "nobody (unattributed run)".to_string(),
        |starter| starter.describe(),
    );
    let owner = client
        .me()
        .context("finding the broker account (GET /api/users/me)")?;
    if let Some(signal) = signals.cancelled() {
        return Err(interrupted(signal, "no key was made"));
    }
    let task = settings.task.as_deref().unwrap_or(NO_TASK);
    let ttl = SignedDuration::try_from(settings.ttl).context("the TTL is too long")?;
    let mut lost_attempts = Vec::new();
    let mut removed_total = 0;
    for attempt in 1..=ATTEMPTS {
        let marker = Marker::new(task)?;
        let purpose = purpose::compose(&human, &marker);
        let mut expires = within_credential(
            client,
            console,
            Timestamp::now()
                .checked_add(ttl)
                .context("the TTL is too long")?,
        );
        let created = match client.create_api_key(&owner.id, &purpose, expires, settings.read_only)
        {
            // A key may not outlive the key that creates it (a broker key that expires
            // sooner than the TTL): once, with an expiry the server will take.
            Err(e) if refuses_an_expiry_after_the_creators(&e) => {
                let Some(limit) = credential_key_expiry(client, &owner.id) else {
                    return Err(explain_refusal(e, settings, client, &owner));
                };
                expires = limit - SignedDuration::from_mins(1);
                console.warn(&format!(
                    "the broker's API key ({}) expires at {}, before the run key's TTL ends, and a key may not outlive the key that creates it: the run key expires at {} instead; give the broker a key that lives longer",
                    client.credential().source(),
                    octopus::utc(limit),
                    octopus::utc(expires)
                ));
                client
                    .create_api_key(&owner.id, &purpose, expires, settings.read_only)
                    .map_err(|e| explain_refusal(e, settings, client, &owner))?
            }
            other => other.map_err(|e| explain_refusal(e, settings, client, &owner))?,
        };
        if let Some(signal) = signals.cancelled() {
            return Err(undo(client, &owner.id, created, &marker, expires, signal));
        }
        let lost = match created {
            Created::Key(key) => {
                if settings.read_only {
                    confirm_read_only(client, &owner.id, &key, expires)?;
                }
                return Ok(accept(
                    key,
                    console,
                    expires,
                    RunKeyParts {
                        owner,
                        purpose,
                        operator,
                        lost_attempts,
                        read_only: settings.read_only,
                    },
                ));
            }
            Created::Unknown(lost) => lost,
        };
        let removed = settle(client, &owner.id, &marker).with_context(|| {
            format!(
                "{lost}; a key made by that attempt may remain (its purpose ends with {marker}) until {}: run 'octopus-runkey revoke --sweep' with the broker key",
                octopus::format_expires(expires)
            )
        })?;
        removed_total += removed;
        lost_attempts.push(marker);
        // A server that answered with an error is not a lost answer: say which.
        let answered = status_of(&lost).is_some();
        if attempt == ATTEMPTS {
            let what = if answered {
                format!("the server failed twice creating the run key ({lost})")
            } else {
                format!("creating the run key failed twice without a readable answer ({lost})")
            };
            return Err(anyhow!(
                "{what}; the {removed_total} key(s) those attempts made were deleted and none is left; should the server still finish one, that key expires at {} (or run 'octopus-runkey revoke --sweep')",
                octopus::format_expires(expires)
            ));
        }
        let what = if answered {
            format!("the server failed creating the run key ({lost})")
        } else {
            format!("the answer to creating the run key was lost ({lost})")
        };
        console.warn(&format!(
            "{what}; deleted {removed} key(s) that attempt made and creating it once more"
        ));
        if let Some(wait) = lost.downcast_ref::<HttpError>().and_then(|e| e.retry_after) {
            std::thread::sleep(wait);
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// How to get a run key that can change nothing where the server makes no read-only keys.
const READ_ONLY_FIX: &str = "A run key never has more access than was asked, so give the broker only read-only roles (octopus-runkey setup --broker <username> --role <a read-only role>) and create its keys with --access full, whose power is then the roles'";

/// A read-only key is kept only when the server, read back, says it is one: otherwise it
/// is deleted and the step fails (a server that ignores the field made a full-access key).
fn confirm_read_only(
    client: &Client,
    owner: &str,
    key: &CreatedKey,
    expires: Timestamp,
) -> Result<()> {
    let said = match client.api_key(owner, &key.id) {
        Ok(Some(read)) => match read.access_level.as_deref() {
            Some(octopus::READ_ONLY) => return Ok(()),
            Some(level) => format!(
                "the server made key {} with the access level {level}",
                key.id
            ),
            None => format!(
                "the server made key {} without saying its access level (servers before 2026.3 make only full-access keys)",
                key.id
            ),
        },
        Ok(None) => format!("key {} was gone when read back", key.id),
        Err(e) => format!("reading key {} back failed ({e:#})", key.id),
    };
    let deleted = match client.delete_api_key(owner, &key.id) {
        Ok(_) => "it was deleted".to_string(),
        Err(e) => format!(
            "deleting it failed ({e:#}), so it stays live until {}: delete it in the broker's API keys or run 'octopus-runkey revoke --sweep'",
            octopus::format_expires(expires)
        ),
    };
    Err(anyhow!(
        "a read-only run key was asked for (--access read-only), but {said}; {deleted}. {READ_ONLY_FIX}"
    ))
}

/// What a run key is made of besides the server's answer.
struct RunKeyParts {
    owner: octopus::User,
    purpose: String,
    operator: String,
    lost_attempts: Vec<Marker>,
    read_only: bool,
}

/// The key the server made, with a warning when it did not honour the expiry asked for.
fn accept(key: CreatedKey, console: &Console, requested: Timestamp, parts: RunKeyParts) -> RunKey {
    let answered = key.expires.as_deref().and_then(octopus::parse_timestamp);
    let honoured = answered.is_some_and(|at| at <= requested + SignedDuration::from_mins(1));
    if !honoured {
        console.warn(&format!(
            "the server did not honour the requested expiry {}: it answered {}; the key is still revoked at the end of the run",
            octopus::utc(requested),
            answered.map_or("no expiry".to_string(), |at| format!(
                "an expiry of {}",
                octopus::utc(at)
            ))
        ));
    }
    RunKey {
        id: key.id,
        owner: parts.owner,
        key: key.api_key,
        created: key
            .created
            .as_deref()
            .and_then(octopus::parse_timestamp)
            .unwrap_or_else(Timestamp::now),
        expires: answered,
        requested,
        purpose: key.purpose.unwrap_or(parts.purpose),
        operator: parts.operator,
        lost_attempts: parts.lost_attempts,
        read_only: parts.read_only,
    }
}

/// A cancel came while the key was made: whatever this attempt made is deleted, and the
/// error says so (or what is left, when the delete failed).
fn undo(
    client: &Client,
    owner: &str,
    created: Created,
    marker: &Marker,
    expires: Timestamp,
    signal: i32,
) -> anyhow::Error {
    match created {
        Created::Key(key) => match client.delete_api_key(owner, &key.id) {
            Ok(_) => interrupted(signal, &format!("the key it made ({}) was deleted", key.id)),
            Err(e) => e.context(format!(
                "interrupted by signal {signal} while the run key was made, and deleting key {} failed; it expires at {}",
                key.id,
                octopus::format_expires(expires)
            )),
        },
        Created::Unknown(_) => match settle(client, owner, marker) {
            Ok(removed) => interrupted(
                signal,
                &format!("{removed} key(s) that attempt made were deleted"),
            ),
            Err(e) => e.context(format!(
                "interrupted by signal {signal} while the key was made; a key whose purpose ends with {marker} may remain until {}: run 'octopus-runkey revoke --sweep'",
                octopus::format_expires(expires)
            )),
        },
    }
}

fn interrupted(signal: i32, what: &str) -> anyhow::Error {
    anyhow::Error::new(Interrupted {
        signal,
        message: format!("interrupted by signal {signal} while the run key was made; {what}"),
    })
}

/// How much earlier than asked a key may end, unsaid.
const NOT_WORTH_SAYING: SignedDuration = SignedDuration::from_mins(5);

/// The expiry to ask for: `wanted`, or a minute before the credential that creates the key
/// stops working (an access token lives an hour), which a key may not outlive; said in one
/// line when that cuts more than a few minutes off (not for the default `1h` TTL with an
/// hour's token, which every OIDC run would otherwise repeat).
fn within_credential(client: &Client, console: &Console, wanted: Timestamp) -> Timestamp {
    let Some(limit) = client.credential().expires() else {
        return wanted;
    };
    let latest = limit - SignedDuration::from_mins(1);
    if latest >= wanted {
        return wanted;
    }
    if wanted.duration_since(latest) <= NOT_WORTH_SAYING {
        return latest;
    }
    console.info(&format!(
        "The run key expires at {}, before its TTL ends ({}): {} ends at {}, and a key may not outlive the credential that creates it.",
        octopus::utc(latest),
        octopus::utc(wanted),
        client.credential().source(),
        octopus::utc(limit)
    ));
    latest
}

/// Octopus's refusal of an expiry after that of the key making the request.
fn refuses_an_expiry_after_the_creators(error: &anyhow::Error) -> bool {
    error.downcast_ref::<HttpError>().is_some_and(|http| {
        http.status == 400
            && http
                .server_message
                .as_deref()
                .is_some_and(|m| m.contains("cannot be after the expiry"))
    })
}

/// When the broker's own API key expires, from the owner's keys whose hint is its start
/// (the earliest, should several share it). `None` for a bearer token, or when the server
/// shows no hints or no expiry.
fn credential_key_expiry(client: &Client, owner: &str) -> Option<Timestamp> {
    if client.credential().scheme() != Scheme::ApiKey {
        return None;
    }
    let key = client.credential().secret().expose();
    client
        .list_api_keys(owner, "")
        .ok()?
        .iter()
        .filter(|listed| listed.hint().is_some_and(|hint| key.starts_with(hint)))
        .filter_map(|listed| listed.expires_at())
        .filter(|at| *at > Timestamp::now() + SignedDuration::from_mins(2))
        .min()
}

/// A refused POST, with the fix for its likely cause: what the server allows
/// (`GET /api/authentication`) when it refused the expiry.
fn explain_refusal(
    error: anyhow::Error,
    settings: &Mint,
    client: &Client,
    owner: &octopus::User,
) -> anyhow::Error {
    let ttl = settings.ttl;
    let from_oidc = client.credential().origin() == Origin::OidcExchange;
    if from_oidc && matches!(status_of(&error), Some(401 | 403)) {
        return anyhow!(
            "{error}; the server may not let an OIDC access token create API keys: give the step the broker's API key in OCTOPUS_API_KEY instead"
        );
    }
    if status_of(&error) != Some(400) {
        return error;
    }
    if settings.read_only && !refuses_an_expiry_after_the_creators(&error) {
        let said = format!("{error:#}");
        if said.contains("AccessLevel") || said.to_lowercase().contains("access level") {
            return anyhow!(
                "{error}; this server does not take a read-only access level for a key made through its API, and no key was made. {READ_ONLY_FIX}"
            );
        }
    }
    let asked = duration::display(ttl);
    let allowed = client.authentication().unwrap_or_default();
    if allowed.user_api_keys_enabled == Some(false) && owner.is_service != Some(true) {
        return anyhow!(
            "{error}; the server lets only service accounts have API keys (UserApiKeysEnabled is off), and the broker {} is not a service account: make the broker a service account (octopus-runkey setup --broker creates one)",
            owner.describe()
        );
    }
    match allowed.api_key_max_expiry_days {
        Some(days) if ttl.as_secs() > u64::try_from(days).unwrap_or(0) * 86_400 => anyhow!(
            "{error}; the server lets a key live at most {days} days (its ApiKeyMaxExpiryDays): choose a shorter --ttl or RUNKEY_TTL (now {asked})"
        ),
        _ if refuses_an_expiry_after_the_creators(&error) => anyhow!(
            "{error}; the credential that creates the run key ({}) expires before the TTL ends: give the broker a key that lives longer, or a shorter --ttl or RUNKEY_TTL (now {asked})",
            client.credential().source()
        ),
        _ => anyhow!(
            "{error}; if the server names the expiry, choose a shorter --ttl or RUNKEY_TTL (now {asked})"
        ),
    }
}
