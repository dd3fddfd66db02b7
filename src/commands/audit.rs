//! `audit`: the auditor's view. Octopus records every change a run key makes as an event of
//! the key's owner, the broker; the run key's purpose, which names the operator and the run,
//! reaches the event inside `IdentityEstablishedWith` (and, on newer servers, `ApiKeyId`
//! names the key). This reads the brokers' events and puts the operator back.
//!
//! Who made an event is read from that event alone: its own identity first, else the key
//! `ApiKeyId` names, whose purpose is taken from its creation event only when the broker's
//! own credential made that key. A later event can never change who made an earlier one.
//! A key that a run key minted (a script holding a run key can) carries whatever purpose its
//! script gave it: its creation, and every change made with it, are flagged as the minting
//! run's, never as the name it carries. Events it cannot attribute are the broker's own.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde_json::json;

use crate::console::{Console, csv_field, neutralise_json, shown};
use crate::exit::{ExitStatus, usage};
use crate::octopus::events::Event;
use crate::octopus::{self, Client, User, connect, status_of};
use crate::purpose::{self, Marker, Reading};
use crate::settings::{Audit, AuditFilter, Format};

/// One event, attributed.
struct Row {
    occurred: String,
    /// Who: the operator the purpose names, or the broker itself.
    operator: String,
    reading: Option<Reading>,
    task: Option<String>,
    purpose: Option<String>,
    /// The key that made the change, when the server says (`ApiKeyId`).
    key_id: Option<String>,
    /// What the auditor must know besides: a key minted with a run key, a change made with
    /// one, a run key's own creation or deletion.
    note: Option<String>,
    /// A run key's own creation or deletion, which `--changes-only` leaves out.
    bookkeeping: bool,
    category: String,
    message: String,
    event_id: String,
}

pub fn run(settings: &Audit, console: &Console) -> Result<ExitStatus> {
    let client = connect::broker(&settings.connection, &settings.credential, console)?;
    let (brokers, events) = brokers_and_events(settings, &client)?;
    let origins = KeyOrigins::gather(&client, &brokers, &events);
    let rows: Vec<Row> = events
        .iter()
        .map(|event| attribute(event, &origins))
        .filter(|row| !(settings.changes_only && row.bookkeeping))
        .filter(|row| wanted(row, &settings.filter))
        .collect();
    match settings.format {
        Format::Json => print_json(console, &rows)?,
        Format::Csv => print_csv(console, &rows)?,
        Format::Table => print_table(console, &rows, settings, &brokers)?,
    }
    Ok(ExitStatus::Success)
}

/// The brokers to report on and their events in the window: those `--broker` names; else
/// the caller when it is a service account (a broker auditing itself, one events request);
/// else (an auditor, an administrator) every account whose events were made with a run key.
fn brokers_and_events(settings: &Audit, client: &Client) -> Result<(Vec<User>, Vec<Event>)> {
    let (from, to) = (settings.from, settings.to);
    let mut brokers = Vec::new();
    for username in &settings.brokers {
        let users = match client.users(username) {
            Ok(users) => users,
            // An auditor may read events and not users: the events name their users.
            Err(e) if status_of(&e) == Some(403) => {
                return brokers_from_events(client, from, to, |event| {
                    settings.brokers.iter().any(|wanted| {
                        event
                            .username
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(wanted))
                    })
                });
            }
            Err(e) => {
                return Err(e.context(format!(
                    "looking for the broker '{username}' (GET /api/users)"
                )));
            }
        };
        let found = users
            .into_iter()
            .find(|user| {
                user.username
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(username))
            })
            .ok_or_else(|| no_such_broker(client, username))?;
        brokers.push(found);
    }
    if brokers.is_empty() {
        let me = client
            .me()
            .context("finding who is asking (GET /api/users/me)")?;
        if me.is_service == Some(true) {
            brokers.push(me);
        } else {
            // Everyone's events, kept for the accounts whose run keys made any.
            return brokers_from_events(client, from, to, |event| {
                event
                    .identity_established_with
                    .as_deref()
                    .and_then(purpose::quoted_in)
                    .and_then(Marker::parse)
                    .is_some()
            });
        }
    }
    let mut events = Vec::new();
    for broker in &brokers {
        events.extend(client.events(&broker.id, from, to)?);
    }
    // Newest first, as the server sends each broker's.
    events.sort_by_key(|e| std::cmp::Reverse(e.occurred_at()));
    Ok((brokers, events))
}

/// Everyone's events in the window, kept for the users of the events `names_a_broker`
/// picks: the brokers, as the events name them.
fn brokers_from_events(
    client: &Client,
    from: Timestamp,
    to: Timestamp,
    names_a_broker: impl Fn(&Event) -> bool,
) -> Result<(Vec<User>, Vec<Event>)> {
    let all = client.events_of(None, from, to)?;
    let mut found: BTreeMap<String, User> = BTreeMap::new();
    for event in all.iter().filter(|e| names_a_broker(e)) {
        if let Some(id) = &event.user_id {
            found.entry(id.clone()).or_insert_with(|| User {
                id: id.clone(),
                username: event.username.clone(),
                display_name: None,
                is_service: Some(true),
            });
        }
    }
    let events = all
        .into_iter()
        .filter(|e| e.user_id.as_ref().is_some_and(|id| found.contains_key(id)))
        .collect();
    Ok((found.into_values().collect(), events))
}

fn no_such_broker(client: &Client, username: &str) -> anyhow::Error {
    usage(format!(
        "--broker '{username}': no user of that username on {}; give a broker service account's exact username",
        client.server().base()
    ))
}

/// Where each API key in the window came from: its purpose, and whether a run key made it.
struct KeyOrigins {
    /// By key id: the creation seen in the window.
    created: HashMap<String, Creation>,
    /// By key id: the purposes of the brokers' live keys that carry the marker.
    live: HashMap<String, String>,
}

struct Creation {
    /// The purpose its creation message quotes.
    purpose: Option<String>,
    /// The run key that made it, when a run key did (its purpose, read).
    minted_by: Option<Reading>,
    occurred: Option<Timestamp>,
}

impl KeyOrigins {
    fn gather(client: &Client, brokers: &[User], events: &[Event]) -> KeyOrigins {
        let mut created = HashMap::new();
        for event in events
            .iter()
            .filter(|e| e.category.as_deref() == Some("Created"))
        {
            let Some(key_id) = event
                .related_document_ids
                .iter()
                .find(|id| id.to_ascii_lowercase().starts_with("apikeys-"))
            else {
                continue;
            };
            let minted_by = event
                .identity_established_with
                .as_deref()
                .and_then(purpose::quoted_in)
                .filter(|p| Marker::parse(p).is_some())
                .map(purpose::read);
            created.insert(
                key_id.clone(),
                Creation {
                    purpose: event
                        .message
                        .as_deref()
                        .and_then(purpose::quoted_in)
                        .map(str::to_string),
                    minted_by,
                    occurred: event.occurred_at(),
                },
            );
        }
        // Reading another account's keys needs more than EventView: without it, only the
        // events speak.
        let mut live = HashMap::new();
        for broker in brokers {
            for key in client.list_api_keys(&broker.id, "").unwrap_or_default() {
                if Marker::parse(key.purpose()).is_some() {
                    live.insert(key.id.clone(), key.purpose().to_string());
                }
            }
        }
        KeyOrigins { created, live }
    }

    /// A key with `purpose` that a run key minted before `before`, when no key the broker
    /// made itself carries that purpose too (older servers name no `ApiKeyId`).
    fn minted_with_purpose(&self, purpose: &str, before: Option<Timestamp>) -> Option<&Reading> {
        let earlier = |c: &&Creation| match (c.occurred, before) {
            (Some(made), Some(before)) => made <= before,
            _ => true,
        };
        let same = |c: &&Creation| c.purpose.as_deref() == Some(purpose);
        let by_broker = self
            .created
            .values()
            .filter(earlier)
            .filter(same)
            .any(|c| c.minted_by.is_none());
        if by_broker {
            return None;
        }
        self.created
            .values()
            .filter(earlier)
            .filter(same)
            .find_map(|c| c.minted_by.as_ref())
    }
}

/// "minted by the run key of ServerTasks-N, Jane Doe (jane.doe)".
fn minted_note(minter: &Reading) -> String {
    format!(
        "minted by the run key of {}, {}",
        minter
            .marker
            .as_ref()
            .map_or("no task", |m| m.task.as_str()),
        minter.starter
    )
}

fn attribute(event: &Event, origins: &KeyOrigins) -> Row {
    let identity = event
        .identity_established_with
        .as_deref()
        .and_then(purpose::quoted_in)
        .filter(|p| Marker::parse(p).is_some());
    let quoted = event.message.as_deref().and_then(purpose::quoted_in);
    let about_a_key = event
        .related_document_ids
        .iter()
        .any(|id| id.to_ascii_lowercase().starts_with("apikeys-"));
    let category = event.category.clone().unwrap_or_default();
    let mut row = Row {
        occurred: event
            .occurred_at()
            .map(octopus::utc)
            .unwrap_or_else(|| event.occurred.clone().unwrap_or_default()),
        operator: format!(
            "{} (broker)",
            event
                .username
                .clone()
                .or(event.user_id.clone())
                .unwrap_or_default()
        ),
        reading: None,
        task: None,
        purpose: None,
        key_id: event.api_key_id.clone(),
        note: None,
        bookkeeping: false,
        category: category.clone(),
        message: event.message.clone().unwrap_or_default(),
        event_id: event.id.clone(),
    };
    let by = |row: &mut Row, purpose: &str| {
        row.purpose = Some(purpose.to_string());
        attribute_to(row, purpose::read(purpose));
    };
    // A change made with a key that a run key minted: the minting run's, flagged, whatever
    // name the key carries.
    let acting = event
        .api_key_id
        .as_deref()
        .and_then(|id| origins.created.get(id));
    let minted_by = match acting {
        Some(creation) => creation.minted_by.as_ref(),
        None => identity.and_then(|p| origins.minted_with_purpose(p, event.occurred_at())),
    };
    if let Some(minter) = minted_by {
        let note = minted_note(minter);
        attribute_to(&mut row, minter.clone());
        row.purpose = identity.map(str::to_string);
        row.note = Some(format!("made with a key {note}"));
        return row;
    }
    if let Some(purpose) = identity {
        by(&mut row, purpose);
        if category == "Created" && about_a_key {
            // A key created with a run key: whatever purpose it carries, it is this run's.
            let created = event
                .related_document_ids
                .iter()
                .find(|id| id.to_ascii_lowercase().starts_with("apikeys-"))
                .cloned()
                .unwrap_or_default();
            row.note = Some(format!(
                "key {created} {}",
                minted_note(row.reading.as_ref().unwrap())
            ));
        } else if about_a_key
            && category == "Deleted"
            && quoted.is_some_and(|q| Marker::parse(q).is_some())
        {
            row.bookkeeping = true;
            row.note = Some("a run key deleted".to_string());
        }
        return row;
    }
    // A run key's own creation, by the broker's own credential: its run's bookkeeping.
    if about_a_key
        && matches!(category.as_str(), "Created" | "Deleted")
        && let Some(purpose) = quoted.filter(|q| Marker::parse(q).is_some())
    {
        by(&mut row, purpose);
        row.bookkeeping = true;
        row.note = Some(if category == "Created" {
            "a run key created".to_string()
        } else {
            "a run key deleted".to_string()
        });
        return row;
    }
    // The key `ApiKeyId` names: its purpose from its creation by the broker, or the
    // broker's live key.
    let by_key = event.api_key_id.as_deref().and_then(|id| {
        origins
            .created
            .get(id)
            .and_then(|c| c.purpose.clone())
            .filter(|p| Marker::parse(p).is_some())
            .or_else(|| origins.live.get(id).cloned())
    });
    if let Some(purpose) = by_key {
        by(&mut row, &purpose);
    }
    row
}

/// The row names the run `reading` is of: its operator and task.
fn attribute_to(row: &mut Row, reading: Reading) {
    row.operator = if reading.starter.is_empty() {
        "an unnamed run".to_string()
    } else {
        reading.starter.clone()
    };
    row.task = reading.marker.as_ref().map(|m| m.task.clone());
    row.reading = Some(reading);
}

fn wanted(row: &Row, filter: &AuditFilter) -> bool {
    let has = |field: Option<&str>, wanted: &Option<String>| {
        wanted
            .as_ref()
            .is_none_or(|w| field.is_some_and(|f| f.to_lowercase().contains(&w.to_lowercase())))
    };
    let reading = row.reading.as_ref();
    let operator_matches = filter.operator.as_ref().is_none_or(|w| {
        let w = w.to_lowercase();
        [
            Some(row.operator.as_str()),
            reading.and_then(|r| r.username.as_deref()),
            reading.and_then(|r| r.display_name.as_deref()),
        ]
        .into_iter()
        .flatten()
        .any(|f| f.to_lowercase().contains(&w))
    });
    operator_matches
        && has(reading.and_then(|r| r.runbook.as_deref()), &filter.runbook)
        && has(reading.and_then(|r| r.project.as_deref()), &filter.project)
        && has(
            reading.and_then(|r| r.environment.as_deref()),
            &filter.environment,
        )
        && has(reading.and_then(|r| r.tenant.as_deref()), &filter.tenant)
        && filter
            .task
            .as_ref()
            .is_none_or(|task| row.task.as_ref() == Some(task))
}

/// The fields of a row, in the order JSON and CSV give them.
fn fields(row: &Row) -> [(&'static str, Option<String>); 17] {
    let reading = row.reading.as_ref();
    let part = |f: fn(&Reading) -> Option<&String>| reading.and_then(f).cloned();
    [
        ("Occurred", Some(row.occurred.clone())),
        ("Operator", Some(row.operator.clone())),
        ("OperatorDisplayName", part(|r| r.display_name.as_ref())),
        ("OperatorUsername", part(|r| r.username.as_ref())),
        ("Runbook", part(|r| r.runbook.as_ref())),
        ("Project", part(|r| r.project.as_ref())),
        ("Environment", part(|r| r.environment.as_ref())),
        ("Tenant", part(|r| r.tenant.as_ref())),
        ("Space", part(|r| r.space.as_ref())),
        ("Task", row.task.clone()),
        ("KeyId", row.key_id.clone()),
        ("Purpose", row.purpose.clone()),
        ("Note", row.note.clone()),
        ("Bookkeeping", Some(row.bookkeeping.to_string())),
        ("Category", Some(row.category.clone())),
        ("Message", Some(row.message.clone())),
        ("EventId", Some(row.event_id.clone())),
    ]
}

fn print_json(console: &Console, rows: &[Row]) -> Result<()> {
    let rows: Vec<_> = rows
        .iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for (name, value) in fields(row) {
                let value = match (name, value) {
                    ("Bookkeeping", Some(b)) => json!(b == "true"),
                    (_, Some(v)) => json!(v),
                    (_, None) => serde_json::Value::Null,
                };
                object.insert(name.to_string(), value);
            }
            serde_json::Value::Object(object)
        })
        .collect();
    console.line(&neutralise_json(&serde_json::to_string_pretty(&rows)?))?;
    Ok(())
}

fn print_csv(console: &Console, rows: &[Row]) -> Result<()> {
    let header: Vec<&str> = fields_header();
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let line: Vec<String> = fields(row)
            .into_iter()
            .map(|(_, value)| csv_field(&value.unwrap_or_default()))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    console.text(out.trim_end())?;
    Ok(())
}

fn fields_header() -> Vec<&'static str> {
    let empty = Row {
        occurred: String::new(),
        operator: String::new(),
        reading: None,
        task: None,
        purpose: None,
        key_id: None,
        note: None,
        bookkeeping: false,
        category: String::new(),
        message: String::new(),
        event_id: String::new(),
    };
    fields(&empty).iter().map(|(name, _)| *name).collect()
}

fn print_table(console: &Console, rows: &[Row], settings: &Audit, brokers: &[User]) -> Result<()> {
    let window = format!(
        "from {} to {}",
        octopus::utc(settings.from),
        octopus::utc(settings.to)
    );
    if rows.is_empty() {
        let whose = match brokers {
            [] => "by a run key".to_string(),
            [one] => format!("by the broker {}", shown(&one.describe())),
            many => format!("by the brokers {}", many.len()),
        };
        console.text(&format!("No audited changes {whose} {window}."))?;
        return Ok(());
    }
    let width =
        |f: &dyn Fn(&Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let op_w = width(&|r| shown(&r.operator).chars().count(), 8).min(48);
    let task_w = width(&|r| r.task.as_deref().map_or(1, |t| shown(t).len()), 4);
    let cat_w = width(&|r| shown(&r.category).len(), 8);
    let mut table = format!(
        "{:<20}  {:<op_w$}  {:<task_w$}  {:<cat_w$}  WHAT\n",
        "WHEN", "OPERATOR", "TASK", "CATEGORY"
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        let operator = shown(&row.operator).into_owned();
        *counts.entry(operator.clone()).or_default() += 1;
        let what = shown(&row.message)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let what = match &row.note {
            Some(note) => format!("[{}] {what}", shown(note)),
            None => what,
        };
        table.push_str(&format!(
            "{:<20}  {:<op_w$}  {:<task_w$}  {:<cat_w$}  {}\n",
            shown(&row.occurred),
            operator,
            row.task.as_deref().map_or("-".into(), shown),
            shown(&row.category),
            what
        ));
    }
    table.push_str(&format!("\n{} change(s) {window}:\n", rows.len()));
    for (operator, count) in counts {
        table.push_str(&format!("  {count:>5}  {operator}\n"));
    }
    console.text(table.trim_end())?;
    Ok(())
}
