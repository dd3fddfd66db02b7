//! `audit`: the auditor's view. Octopus records every change a run key makes as an event of
//! the key's owner, the broker; the run key's purpose, which names the operator and the run,
//! reaches the event only inside `IdentityEstablishedWith` (and, on newer servers, as
//! `ApiKeyId`). This reads the broker's events and puts the operator back: from the marker
//! in `IdentityEstablishedWith`, else from the purpose of the key `ApiKeyId` names. Events it
//! cannot attribute are the broker's own, never guessed.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use serde_json::json;

use crate::console::{Console, neutralise_json};
use crate::exit::ExitStatus;
use crate::octopus::events::Event;
use crate::octopus::{self, Client, User, connect};
use crate::purpose::{self, Marker};
use crate::settings::{Audit, Format};

/// One event, attributed.
struct Row {
    occurred: String,
    operator: String,
    task: Option<String>,
    purpose: Option<String>,
    category: String,
    message: String,
    event_id: String,
}

pub fn run(settings: &Audit, console: &Console) -> Result<ExitStatus> {
    let client = connect::broker(&settings.connection, &settings.broker, console)?;
    let broker = client
        .me()
        .context("finding the broker account (GET /api/users/me)")?;
    let events = client.events(&broker.id, settings.from, settings.to)?;
    let purposes = Purposes::gather(&client, &broker, &events);
    let rows: Vec<Row> = events
        .iter()
        .map(|event| attribute(event, &purposes, &broker))
        .filter(|row| {
            settings
                .task
                .as_ref()
                .is_none_or(|task| row.task.as_ref() == Some(task))
                && settings
                    .operator
                    .as_ref()
                    .is_none_or(|name| row.operator.to_lowercase().contains(&name.to_lowercase()))
        })
        .collect();
    match settings.format {
        Format::Json => print_json(console, &rows)?,
        Format::Csv => print_csv(console, &rows)?,
        Format::Table => print_table(console, &rows, settings)?,
    }
    Ok(ExitStatus::Success)
}

/// What is known of run keys' purposes: by key id and by marker.
struct Purposes {
    by_key: HashMap<String, String>,
    by_marker: HashMap<Marker, String>,
}

impl Purposes {
    /// From the broker's live keys and from the key-creation events in the window (their
    /// message quotes the purpose).
    fn gather(client: &Client, broker: &User, events: &[Event]) -> Purposes {
        let mut purposes = Purposes {
            by_key: HashMap::new(),
            by_marker: HashMap::new(),
        };
        let live = client.list_api_keys(&broker.id, "").unwrap_or_default();
        for key in live {
            if let Some(marker) = Marker::parse(key.purpose()) {
                purposes.by_marker.insert(marker, key.purpose().to_string());
                purposes
                    .by_key
                    .insert(key.id.clone(), key.purpose().to_string());
            }
        }
        for event in events {
            let Some(message) = &event.message else {
                continue;
            };
            let Some(purpose) = purpose::quoted_in(message) else {
                continue;
            };
            let Some(marker) = Marker::parse(purpose) else {
                continue;
            };
            let purpose = purpose.to_string();
            for id in event
                .related_document_ids
                .iter()
                .filter(|id| id.starts_with("apikeys-"))
            {
                purposes
                    .by_key
                    .entry(id.clone())
                    .or_insert_with(|| purpose.clone());
            }
            purposes.by_marker.entry(marker).or_insert(purpose);
        }
        purposes
    }
}

/// The operator a purpose names: its starter (`Jane Doe (jane.doe)`,
/// `trigger 'Nightly clean-up'`, `service account CI (svc-ci)`).
fn operator_of(purpose: &str) -> String {
    let starter = purpose::read(purpose).starter;
    if starter.is_empty() {
        "an unnamed run".to_string()
    } else {
        starter
    }
}

fn attribute(event: &Event, purposes: &Purposes, broker: &User) -> Row {
    let identity = event.identity_established_with.as_deref().unwrap_or("");
    let by_identity = purpose::quoted_in(identity).and_then(|quoted| {
        let marker = Marker::parse(quoted)?;
        let purpose = purposes
            .by_marker
            .get(&marker)
            .cloned()
            .unwrap_or_else(|| quoted.to_string());
        Some((marker, purpose))
    });
    let by_key = || {
        let purpose = purposes.by_key.get(event.api_key_id.as_deref()?)?;
        Some((Marker::parse(purpose)?, purpose.clone()))
    };
    let attributed = by_identity.or_else(by_key);
    let broker_name = format!(
        "{} (broker)",
        event
            .username
            .clone()
            .or(broker.username.clone())
            .unwrap_or_else(|| broker.id.clone())
    );
    Row {
        occurred: event
            .occurred_at()
            .map(octopus::utc)
            .unwrap_or_else(|| event.occurred.clone().unwrap_or_default()),
        operator: attributed
            .as_ref()
            .map_or(broker_name, |(_, purpose)| operator_of(purpose)),
        task: attributed.as_ref().map(|(marker, _)| marker.task.clone()),
        purpose: attributed.map(|(_, purpose)| purpose),
        category: event.category.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default(),
        event_id: event.id.clone(),
    }
}

fn print_json(console: &Console, rows: &[Row]) -> Result<()> {
    let rows: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({
                "Occurred": row.occurred,
                "Operator": row.operator,
                "Task": row.task,
                "Purpose": row.purpose,
                "Category": row.category,
                "Message": row.message,
                "EventId": row.event_id,
            })
        })
        .collect();
    console.line(&neutralise_json(&serde_json::to_string_pretty(&rows)?))?;
    Ok(())
}

fn print_csv(console: &Console, rows: &[Row]) -> Result<()> {
    let mut out = String::from("Occurred,Operator,Task,Purpose,Category,Message,EventId\n");
    for row in rows {
        let fields = [
            row.occurred.as_str(),
            row.operator.as_str(),
            row.task.as_deref().unwrap_or(""),
            row.purpose.as_deref().unwrap_or(""),
            row.category.as_str(),
            row.message.as_str(),
            row.event_id.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    console.text(out.trim_end())?;
    Ok(())
}

/// RFC 4180: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
/// or `@` is prefixed with `'` so that a spreadsheet does not run it as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn print_table(console: &Console, rows: &[Row], settings: &Audit) -> Result<()> {
    let window = format!(
        "from {} to {}",
        octopus::utc(settings.from),
        octopus::utc(settings.to)
    );
    if rows.is_empty() {
        console.text(&format!("No audited changes by the broker {window}."))?;
        return Ok(());
    }
    let width =
        |f: &dyn Fn(&Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let op_w = width(&|r| r.operator.chars().count(), 8).min(48);
    let task_w = width(&|r| r.task.as_deref().map_or(1, str::len), 4);
    let cat_w = width(&|r| r.category.len(), 8);
    let mut table = format!(
        "{:<20}  {:<op_w$}  {:<task_w$}  {:<cat_w$}  WHAT\n",
        "WHEN", "OPERATOR", "TASK", "CATEGORY"
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.operator.as_str()).or_default() += 1;
        table.push_str(&format!(
            "{:<20}  {:<op_w$}  {:<task_w$}  {:<cat_w$}  {}\n",
            row.occurred,
            row.operator,
            row.task.as_deref().unwrap_or("-"),
            row.category,
            row.message.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    table.push_str(&format!("\n{} change(s) {window}:\n", rows.len()));
    for (operator, count) in counts {
        table.push_str(&format!("  {count:>5}  {operator}\n"));
    }
    console.text(table.trim_end())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_is_the_human_part_up_to_the_run() {
        assert_eq!(
            operator_of(
                "Jane Doe (jane.doe) ran 'Restart web' in Production [runkey ServerTasks-1/abc]"
            ),
            "Jane Doe (jane.doe)"
        );
        assert_eq!(
            operator_of("trigger 'Nightly clean-up' ran 'Clean up' [runkey ServerTasks-2/abc]"),
            "trigger 'Nightly clean-up'"
        );
        assert_eq!(
            operator_of("unattributed run of 'X' [runkey a/b]"),
            "unattributed run"
        );
        assert_eq!(
            operator_of("Jane Doe (jane.doe) [runkey a/b]"),
            "Jane Doe (jane.doe)"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
