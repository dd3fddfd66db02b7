//! The purpose text of a run key and its machine-readable marker, written and read here.
//!
//! Octopus records every call made with a key as "identity established with API key
//! '<Purpose>'", so the purpose is what the audit log shows: a human part naming the operator
//! and the run, then the marker `[runkey <task>/<nonce>]` that lets `revoke` and `list` find
//! this tool's keys and tell one run's key from another's. Keys without a marker are never
//! touched.
//!
//! The human part has a fixed shape,
//! `<starter>[ ran '<runbook>'][ in <environment>][ for <tenant>][ (project <p>, space <s>)]`,
//! and [`read`] takes it apart again whatever the names hold: where a name holds one of the
//! shape's separators (` in `, ` for `, ` (`, ...), the space that starts it is written as a
//! no-break space (U+00A0), which looks the same but is not a separator; reading turns it
//! back. [`quoted_in`] finds a purpose quoted in Octopus's own texts by their fixed shapes.

use std::fmt;

/// The longest purpose we send, counted in UTF-16 code units (what .NET counts), which is
/// never fewer than Unicode characters.
pub const MAX_PURPOSE_LEN: usize = 200;
const MARKER_OPEN: &str = "[runkey ";
/// What `[runkey ` in a name becomes, so that no name can pass for a marker.
const NEUTRAL_OPEN: &str = "(runkey ";
const NONCE_LEN: usize = 10;
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// A task id longer than this cannot be a real `ServerTasks-N` and would crowd the purpose.
pub const MAX_TASK_LEN: usize = 64;
pub const NO_TASK: &str = "no-task";

/// Who clicked Run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub username: String,
    pub display_name: String,
    pub id: Option<String>,
}

impl Operator {
    /// `Display Name (username)`, or the username alone when the two are the same.
    pub fn describe(&self) -> String {
        let mut text = Text::default();
        self.write(&mut text);
        text.plain()
    }

    fn write(&self, text: &mut Text) {
        let mut display = clean(&self.display_name);
        let username = clean(&self.username);
        if display.is_empty() || display == username {
            // A name that reads like another kind of starter is written in full, so that
            // reading it back finds a person.
            if !reads_as_another_starter(&username) {
                text.name(&username);
                return;
            }
            display = username.clone();
        }
        text.name(&display);
        if display.starts_with("service account") {
            // Its first space a no-break space in the purpose: no "service account " prefix
            // for a reader to take it by.
            text.soften_first_space_of_last_name();
        }
        text.separator(USERNAME);
        text.name(&username);
        text.ours(")");
    }
}

/// Whether a person's name alone would read as a trigger, an unattributed run or a
/// service account.
fn reads_as_another_starter(name: &str) -> bool {
    name == "trigger"
        || name == UNATTRIBUTED
        || name.starts_with("trigger '")
        || name.starts_with("service account")
}

/// Who or what started the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Starter {
    /// A person clicked Run.
    Person(Operator),
    /// A service account started it through the API (a CI pipeline, another runbook, the
    /// broker itself when another run's key started it).
    ServiceAccount(Operator),
    /// Octopus itself (its system user): a scheduled or webhook trigger, named when known.
    Trigger { name: Option<String> },
}

/// The id of Octopus's own system user, which starts triggered runs.
pub const SYSTEM_USER_ID: &str = "users-system";

/// Whether `id` is Octopus's system user (compared case-insensitively).
pub fn is_system_user(id: &str) -> bool {
    id.trim().eq_ignore_ascii_case(SYSTEM_USER_ID)
}

impl Starter {
    /// `Jane Doe (jane.doe)`, `service account CI (svc-ci)`, `trigger 'Nightly'`, `trigger`.
    pub fn describe(&self) -> String {
        let mut text = Text::default();
        self.write(&mut text);
        text.plain()
    }

    fn write(&self, text: &mut Text) {
        match self {
            Starter::Person(op) => op.write(text),
            Starter::ServiceAccount(op) => {
                text.ours("service account ");
                op.write(text);
            }
            Starter::Trigger { name: Some(name) } => {
                text.ours("trigger '");
                text.name(name);
                text.ours("'");
            }
            Starter::Trigger { name: None } => text.ours("trigger"),
        }
    }
}

/// What the run is, as far as the step's variables tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    pub runbook: Option<String>,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub tenant: Option<String>,
    pub space: Option<String>,
}

/// `[runkey <task>/<nonce>]`: which run made the key, and which create attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marker {
    pub task: String,
    pub nonce: String,
}

impl Marker {
    /// A marker for a new create attempt, with a fresh random nonce.
    pub fn new(task: &str) -> anyhow::Result<Marker> {
        Ok(Marker {
            task: task.to_string(),
            nonce: new_nonce()?,
        })
    }

    /// The marker at the end of `purpose`, if it has one. Follows the contract's pattern
    /// `\[runkey (?P<task>[^/\]]+)/(?P<nonce>[A-Za-z0-9]+)\]$`, leftmost match first.
    pub fn parse(purpose: &str) -> Option<Marker> {
        let body_end = purpose.strip_suffix(']')?.len();
        let mut from = 0;
        while let Some(found) = purpose[from..].find(MARKER_OPEN) {
            let start = from + found + MARKER_OPEN.len();
            if start <= body_end
                && let Some(marker) = Self::parse_body(&purpose[start..body_end])
            {
                return Some(marker);
            }
            from += found + 1;
        }
        None
    }

    /// The first marker anywhere in `text` (a purpose quoted inside other words, as in an
    /// event's `IdentityEstablishedWith`), with the text before it.
    pub fn find_in(text: &str) -> Option<(Marker, &str)> {
        let mut from = 0;
        while let Some(found) = text[from..].find(MARKER_OPEN) {
            let start = from + found;
            let body_start = start + MARKER_OPEN.len();
            if let Some(end) = text[body_start..].find(']')
                && let Some(marker) = Self::parse_body(&text[body_start..body_start + end])
            {
                return Some((marker, &text[..start]));
            }
            from = start + 1;
        }
        None
    }

    fn parse_body(body: &str) -> Option<Marker> {
        let (task, nonce) = body.split_once('/')?;
        let task_ok = !task.is_empty() && !task.contains(']');
        let nonce_ok = !nonce.is_empty() && nonce.bytes().all(|b| b.is_ascii_alphanumeric());
        (task_ok && nonce_ok).then(|| Marker {
            task: task.to_string(),
            nonce: nonce.to_string(),
        })
    }

    /// The text every marker of this task starts with: what `partialPurpose` searches for.
    pub fn task_prefix(task: &str) -> String {
        format!("{MARKER_OPEN}{task}/")
    }

    /// The text every marker starts with.
    pub fn any_prefix() -> &'static str {
        MARKER_OPEN
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{MARKER_OPEN}{}/{}]", self.task, self.nonce)
    }
}

/// Checks that a task id can stand in a marker, so that the marker parses back to it.
pub fn validate_task_id(task: &str) -> Result<(), String> {
    if task.len() > MAX_TASK_LEN {
        return Err(format!("is longer than {MAX_TASK_LEN} characters"));
    }
    if task
        .chars()
        .any(|c| c == '/' || c == ']' || c.is_whitespace() || c.is_control())
    {
        return Err("contains '/', ']' or white space".to_string());
    }
    Ok(())
}

/// 10 characters from `[A-Za-z0-9]`, drawn without bias from the OS random source.
pub fn new_nonce() -> anyhow::Result<String> {
    let mut nonce = String::with_capacity(NONCE_LEN);
    let mut buf = [0u8; 32];
    while nonce.len() < NONCE_LEN {
        getrandom::fill(&mut buf)
            .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        // 248 = 4 * 62: bytes at or above it are dropped so that every letter is as likely.
        for byte in buf.iter().filter(|b| **b < 248) {
            if nonce.len() == NONCE_LEN {
                break;
            }
            nonce.push(NONCE_ALPHABET[(*byte % 62) as usize] as char);
        }
    }
    Ok(nonce)
}

/// The human part: `Jane Doe (jane.doe) ran 'Restart web' in Production for Acme (project
/// Web, space Default)`, or `unattributed run ...` when nobody is known.
pub fn human_part(operator: Option<&Operator>, run: &RunContext) -> String {
    human_part_of(operator.cloned().map(Starter::Person).as_ref(), run)
}

/// The human part for any starter: `service account CI (svc-ci) ran 'Deploy web'`,
/// `trigger 'Nightly clean-up' ran 'Clean up' in Production`, or `unattributed run of ...`.
pub fn human_part_of(starter: Option<&Starter>, run: &RunContext) -> String {
    let mut text = Text::default();
    match starter {
        Some(starter) => starter.write(&mut text),
        None => text.ours(UNATTRIBUTED),
    }
    if let Some(runbook) = &run.runbook {
        text.separator(if starter.is_some() { RAN } else { OF });
        text.name(runbook);
        text.ours("'");
    }
    if let Some(environment) = &run.environment {
        text.separator(IN);
        text.name(environment);
    }
    if let Some(tenant) = &run.tenant {
        text.separator(FOR);
        text.name(tenant);
    }
    match (&run.project, &run.space) {
        (Some(project), space) => {
            text.separator(PROJECT);
            text.name(project);
            if let Some(space) = space {
                text.separator(AND_SPACE);
                text.name(space);
            }
            text.ours(")");
        }
        (None, Some(space)) => {
            text.separator(SPACE);
            text.name(space);
            text.ours(")");
        }
        (None, None) => {}
    }
    text.finish()
}

/// The human part's separators, in the order they can come.
const RAN: &str = " ran '";
const OF: &str = " of '";
const IN: &str = " in ";
const FOR: &str = " for ";
const PROJECT: &str = " (project ";
const SPACE: &str = " (space ";
const AND_SPACE: &str = ", space ";
/// Between a display name and its username.
const USERNAME: &str = " (";
const UNATTRIBUTED: &str = "unattributed run";
/// What ends the starter: whatever the human part says next.
const AFTER_STARTER: [&str; 6] = [RAN, OF, IN, FOR, PROJECT, SPACE];
/// What may follow a runbook's closing quote.
const AFTER_RUNBOOK: [&str; 4] = [IN, FOR, PROJECT, SPACE];
/// Every separator a name must not hold.
const SEPARATORS: [&str; 8] = [USERNAME, RAN, OF, IN, FOR, PROJECT, SPACE, AND_SPACE];
const NO_BREAK_SPACE: char = '\u{00A0}';

/// The human part as it is written: the shape's own words, its separators and names
/// (cleaned), with the places of the names and separators kept, so that no separator can
/// appear anywhere but where the shape puts one.
#[derive(Default)]
struct Text {
    out: String,
    names: Vec<std::ops::Range<usize>>,
    separators: Vec<(usize, &'static str)>,
    /// Spaces written as no-break spaces whatever follows them.
    soft: Vec<usize>,
}

impl Text {
    fn ours(&mut self, words: &str) {
        self.out.push_str(words);
    }

    fn separator(&mut self, separator: &'static str) {
        self.separators.push((self.out.len(), separator));
        self.out.push_str(separator);
    }

    fn name(&mut self, name: &str) {
        let start = self.out.len();
        self.out.push_str(&clean(name));
        self.names.push(start..self.out.len());
    }

    fn soften_first_space_of_last_name(&mut self) {
        if let Some(name) = self.names.last()
            && let Some(at) = self.out[name.clone()].find(' ')
        {
            self.soft.push(name.start + at);
        }
    }

    /// The text as messages print it: names as people typed them (cleaned).
    fn plain(self) -> String {
        self.out
    }

    /// The text as the purpose holds it: wherever a separator's text appears that the shape
    /// did not put there (a name holds it, or a name's words meet the shape's own spaces),
    /// one of its spaces is a no-break space: one inside a name when it has one, else one
    /// that belongs to no separator of the shape.
    fn finish(self) -> String {
        let in_name = |at: &usize| self.names.iter().any(|name| name.contains(at));
        let in_separator = |at: &usize| {
            self.separators
                .iter()
                .any(|(start, separator)| (*start..start + separator.len()).contains(at))
        };
        let mut soft = vec![false; self.out.len()];
        for at in &self.soft {
            soft[*at] = true;
        }
        for separator in SEPARATORS {
            // Overlapping ones too: in "a for for (b)" the second " for " starts inside the
            // first.
            let starts = self
                .out
                .char_indices()
                .map(|(at, _)| at)
                .filter(|at| self.out[*at..].starts_with(separator));
            for at in starts {
                if self.separators.contains(&(at, separator)) {
                    continue;
                }
                let spaces: Vec<usize> = separator
                    .bytes()
                    .enumerate()
                    .filter(|(_, byte)| *byte == b' ')
                    .map(|(offset, _)| at + offset)
                    .collect();
                let chosen = spaces
                    .iter()
                    .find(|at| in_name(at))
                    .or_else(|| spaces.iter().find(|at| !in_separator(at)));
                if let Some(at) = chosen {
                    soft[*at] = true;
                }
            }
        }
        self.out
            .char_indices()
            .map(|(at, c)| if soft[at] { NO_BREAK_SPACE } else { c })
            .collect()
    }
}

/// The full purpose: human part, one space, marker; at most [`MAX_PURPOSE_LEN`] UTF-16
/// units. Only the human part is ever shortened (ending in `…`); the marker never is.
pub fn compose(human: &str, marker: &Marker) -> String {
    // Names are people's text: whatever they hold, the marker pattern must find only the
    // suffix appended here. Names can meet across fields ("x [runkey" + " (jane)"), so the
    // whole human part is neutralised, not each name.
    // "[runkey" without its space too: the space that joins the marker would supply it.
    let human = human.replace(MARKER_OPEN.trim_end(), NEUTRAL_OPEN.trim_end());
    let human = human.as_str();
    let marker = marker.to_string();
    let budget = MAX_PURPOSE_LEN.saturating_sub(utf16_len(&marker) + 1);
    let human = if utf16_len(human) <= budget {
        human.to_string()
    } else {
        let mut kept = String::new();
        let mut used = 1; // the ellipsis
        for c in human.chars() {
            if used + c.len_utf16() > budget {
                break;
            }
            used += c.len_utf16();
            kept.push(c);
        }
        format!("{}…", kept.trim_end())
    };
    format!("{human} {marker}")
}

/// Who started a run, as a purpose says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StarterKind {
    #[default]
    Person,
    ServiceAccount,
    Trigger,
    Unattributed,
}

/// What a purpose says, read back by its shape (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Who started the run, as [`Starter::describe`] wrote it (`Jane Doe (jane.doe)`,
    /// `trigger 'Nightly'`, `service account CI (svc-ci)`), or `unattributed run`.
    pub starter: String,
    /// What kind of starter that is.
    pub kind: StarterKind,
    /// A person's or service account's display name and username (the username alone when
    /// the purpose names no display name).
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub runbook: Option<String>,
    pub environment: Option<String>,
    pub tenant: Option<String>,
    pub project: Option<String>,
    pub space: Option<String>,
    /// The marker, when the purpose ends with one.
    pub marker: Option<Marker>,
}

/// Reads a purpose this tool wrote (shortened ones too, as far as they go). Text in
/// another shape reads as a starter and nothing else.
pub fn read(purpose: &str) -> Reading {
    let marker = Marker::parse(purpose);
    let human = match &marker {
        Some(marker) => purpose
            .strip_suffix(&marker.to_string())
            .unwrap_or(purpose)
            .trim_end_matches(' '),
        None => purpose.trim_matches(' '),
    };
    let plain = |text: &str| text.replace(NO_BREAK_SPACE, " ");
    let mut reading = Reading {
        marker,
        ..Reading::default()
    };
    let mut at = first_of(human, 0, &AFTER_STARTER).map_or(human.len(), |(at, _)| at);
    let starter = &human[..at];
    reading.starter = plain(starter);
    let person = if starter == UNATTRIBUTED {
        reading.kind = StarterKind::Unattributed;
        None
    } else if starter == "trigger" || starter.starts_with("trigger '") && starter.ends_with('\'') {
        reading.kind = StarterKind::Trigger;
        None
    } else if let Some(account) = starter
        .strip_prefix("service account ")
        .or_else(|| starter.strip_prefix("service account\u{a0}"))
    {
        reading.kind = StarterKind::ServiceAccount;
        Some(account)
    } else {
        Some(starter)
    };
    if let Some(person) = person {
        // `Display (username)`: a display name's own " (" is written with a no-break space.
        match person.split_once(USERNAME) {
            Some((display, username)) if username.ends_with(')') => {
                reading.display_name = Some(plain(display));
                reading.username = Some(plain(&username[..username.len() - 1]));
            }
            _ => {
                reading.display_name = Some(plain(person));
                reading.username = Some(plain(person));
            }
        }
    }
    for (separator, ends) in [
        (RAN, &AFTER_RUNBOOK[..]),
        (OF, &AFTER_RUNBOOK[..]),
        (IN, &[FOR, PROJECT, SPACE][..]),
        (FOR, &[PROJECT, SPACE][..]),
    ] {
        if !human[at..].starts_with(separator) {
            continue;
        }
        let start = at + separator.len();
        at = if separator == RAN || separator == OF {
            // The runbook ends at the quote that a separator (or the end) follows.
            let close = human[start..]
                .match_indices('\'')
                .map(|(i, _)| start + i)
                .find(|&i| {
                    i + 1 == human.len() || ends.iter().any(|e| human[i + 1..].starts_with(e))
                });
            reading.runbook = Some(plain(&human[start..close.unwrap_or(human.len())]));
            close.map_or(human.len(), |i| i + 1)
        } else {
            let end = first_of(human, start, ends).map_or(human.len(), |(i, _)| i);
            let name = Some(plain(&human[start..end]));
            if separator == IN {
                reading.environment = name;
            } else {
                reading.tenant = name;
            }
            end
        };
    }
    let details = |text: &str| plain(text.strip_suffix(')').unwrap_or(text));
    if let Some(rest) = human[at..].strip_prefix(PROJECT) {
        match rest.split_once(AND_SPACE) {
            Some((project, space)) => {
                reading.project = Some(plain(project));
                reading.space = Some(details(space));
            }
            None => reading.project = Some(details(rest)),
        }
    } else if let Some(rest) = human[at..].strip_prefix(SPACE) {
        reading.space = Some(details(rest));
    }
    reading
}

/// The first of `separators` in `text` at or after `from`: where, and which.
fn first_of<'s>(text: &str, from: usize, separators: &[&'s str]) -> Option<(usize, &'s str)> {
    separators
        .iter()
        .filter_map(|s| text[from..].find(s).map(|i| (from + i, *s)))
        .min_by_key(|(at, _)| *at)
}

/// The purpose of this tool's key quoted in an Octopus text: an event's
/// `IdentityEstablishedWith` (`API key '<purpose>' created <date>`) or a key-creation
/// message (`User API key <purpose> (API-ABCD•••) for <user> was generated`). Read by those
/// fixed shapes, whatever the purpose's names hold; in another wording, from the last
/// `API key` before the first marker.
pub fn quoted_in(text: &str) -> Option<&str> {
    for shape in ["API key '", "User API key "] {
        if let Some(rest) = text.strip_prefix(shape) {
            let (marker, before) = Marker::find_in(rest)?;
            let start = text.len() - rest.len();
            return Some(&text[start..start + before.len() + marker.to_string().len()]);
        }
    }
    let (marker, before) = Marker::find_in(text)?;
    let start = [
        before.rfind("API key '").map(|i| i + "API key '".len()),
        before.rfind("API key ").map(|i| i + "API key ".len()),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let end = before.len() + marker.to_string().len();
    Some(text[start..end].trim_start_matches('\'').trim_start())
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Names come from people: fold control characters and line breaks into single spaces,
/// drop Unicode format characters (bidi overrides, zero-width characters, soft hyphens,
/// BOM), which would make the audit log read differently from what it holds, and turn
/// `[runkey` into `(runkey`, so that no name passes for a marker.
pub fn clean(text: &str) -> String {
    let text: String = text.chars().filter(|c| !is_format_char(*c)).collect();
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        // No name can pass for a marker ("[runkey" without its space too: a separator's
        // space could supply it).
        .replace(MARKER_OPEN.trim_end(), NEUTRAL_OPEN.trim_end())
}

/// Unicode general category Cf (format), Unicode 15.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jane() -> Operator {
        Operator {
            username: "jane.doe".into(),
            display_name: "Jane Doe".into(),
            id: Some("Users-3".into()),
        }
    }

    #[test]
    fn human_part_names_operator_and_run() {
        let run = RunContext {
            runbook: Some("Restart web".into()),
            environment: Some("Production".into()),
            ..RunContext::default()
        };
        assert_eq!(
            human_part(Some(&jane()), &run),
            "Jane Doe (jane.doe) ran 'Restart web' in Production"
        );
        let full = RunContext {
            runbook: Some("Restart web".into()),
            project: Some("Web".into()),
            environment: Some("Production".into()),
            tenant: Some("Acme".into()),
            space: Some("Default".into()),
        };
        assert_eq!(
            human_part(Some(&jane()), &full),
            "Jane Doe (jane.doe) ran 'Restart web' in Production for Acme (project Web, space Default)"
        );
    }

    #[test]
    fn triggers_and_service_accounts_are_named_as_such() {
        let run = RunContext {
            runbook: Some("Clean up".into()),
            environment: Some("Production".into()),
            ..RunContext::default()
        };
        let named = Starter::Trigger {
            name: Some("Nightly clean-up".into()),
        };
        assert_eq!(
            human_part_of(Some(&named), &run),
            "trigger 'Nightly clean-up' ran 'Clean up' in Production"
        );
        assert_eq!(
            human_part_of(Some(&Starter::Trigger { name: None }), &run),
            "trigger ran 'Clean up' in Production"
        );
        let ci = Starter::ServiceAccount(Operator {
            username: "svc-ci".into(),
            display_name: "CI".into(),
            id: Some("Users-9".into()),
        });
        assert_eq!(
            human_part_of(Some(&ci), &run),
            "service account CI (svc-ci) ran 'Clean up' in Production"
        );
        assert!(is_system_user("Users-System"));
        assert!(!is_system_user("Users-1"));
    }

    #[test]
    fn unattributed_runs_say_so() {
        let run = RunContext {
            runbook: Some("Nightly".into()),
            ..RunContext::default()
        };
        assert_eq!(human_part(None, &run), "unattributed run of 'Nightly'");
    }

    #[test]
    fn marker_round_trips() {
        let marker = Marker::new("ServerTasks-123").unwrap();
        let purpose = compose("Jane Doe (jane.doe)", &marker);
        assert!(purpose.ends_with(&format!("[runkey ServerTasks-123/{}]", marker.nonce)));
        assert_eq!(Marker::parse(&purpose), Some(marker));
    }

    #[test]
    fn marker_parse_follows_the_contract_pattern() {
        let parsed = Marker::parse("x [runkey ServerTasks-1/abc123]").unwrap();
        assert_eq!(
            (parsed.task.as_str(), parsed.nonce.as_str()),
            ("ServerTasks-1", "abc123")
        );
        // No space needed before the marker; the leftmost match wins, as with the regex.
        let parsed = Marker::parse("[runkey [runkey a/b]").unwrap();
        assert_eq!(parsed.task, "[runkey a");
        for not_ours in [
            "Jane Doe",
            "x [runkey ServerTasks-1/abc123] trailing",
            "x [runkey ServerTasks-1/abc-123]",
            "x [runkey /abc]",
            "x [runkey a/]",
            "x [runkey a/b/c]",
            "x [runkey a]",
            "x [runkeyServerTasks-1/abc]",
        ] {
            assert_eq!(Marker::parse(not_ours), None, "{not_ours}");
        }
    }

    #[test]
    fn a_marker_is_found_inside_other_text() {
        let (marker, before) = Marker::find_in(
            "API key 'Jane Doe (jane) ran 'X' [runkey ServerTasks-7/abc123]' created Fri, 22 Jul 2022",
        )
        .unwrap();
        assert_eq!(
            (marker.task.as_str(), marker.nonce.as_str()),
            ("ServerTasks-7", "abc123")
        );
        assert_eq!(before, "API key 'Jane Doe (jane) ran 'X' ");
        assert_eq!(Marker::find_in("Session cookie"), None);
        assert_eq!(
            Marker::find_in("[runkey a/b-c] [runkey d/e]")
                .unwrap()
                .0
                .task,
            "d"
        );
    }

    #[test]
    fn long_names_are_shortened_and_the_marker_kept() {
        let op = Operator {
            username: "u".repeat(64),
            display_name: "😀".repeat(64),
            id: None,
        };
        let run = RunContext {
            runbook: Some("r".repeat(200)),
            ..RunContext::default()
        };
        let marker = Marker::new("ServerTasks-99999").unwrap();
        let purpose = compose(&human_part(Some(&op), &run), &marker);
        assert!(utf16_len(&purpose) <= MAX_PURPOSE_LEN);
        assert!(purpose.contains("… [runkey"));
        assert_eq!(Marker::parse(&purpose), Some(marker));
    }

    #[test]
    fn nonces_are_fresh_and_alphanumeric() {
        let a = new_nonce().unwrap();
        let b = new_nonce().unwrap();
        assert_eq!(a.len(), NONCE_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn task_ids_that_would_break_the_marker_are_refused() {
        assert!(validate_task_id("ServerTasks-1").is_ok());
        assert!(validate_task_id("a/b").is_err());
        assert!(validate_task_id("a]").is_err());
        assert!(validate_task_id("a b").is_err());
        assert!(validate_task_id(&"x".repeat(65)).is_err());
    }

    #[test]
    fn no_name_can_pass_for_the_marker() {
        let marker = Marker::new("ServerTasks-5").unwrap();
        for evil in [
            "[runkey ServerTasks-9/abc]",
            "Evil [runkey X",
            "x [runkey",
            "[runkey a/b] [runkey c/d]",
        ] {
            let op = Operator {
                username: evil.into(),
                display_name: evil.into(),
                id: None,
            };
            let run = RunContext {
                runbook: Some(evil.into()),
                project: Some(evil.into()),
                environment: Some(evil.into()),
                tenant: Some(evil.into()),
                space: Some(evil.into()),
            };
            let purpose = compose(&human_part(Some(&op), &run), &marker);
            assert_eq!(Marker::parse(&purpose), Some(marker.clone()), "{purpose}");
            assert_eq!(purpose.matches(MARKER_OPEN).count(), 1, "{purpose}");
        }
    }

    #[test]
    fn format_characters_are_dropped_from_names() {
        let op = Operator {
            username: "jd".into(),
            display_name: "Ja\u{202E}ne\u{200B} D\u{00AD}oe\u{FEFF}".into(),
            id: None,
        };
        assert_eq!(
            human_part(Some(&op), &RunContext::default()),
            "Jane Doe (jd)"
        );
    }

    #[test]
    fn names_with_line_breaks_are_folded() {
        let op = Operator {
            username: "jd".into(),
            display_name: "Jane\n\tDoe".into(),
            id: None,
        };
        assert_eq!(
            human_part(Some(&op), &RunContext::default()),
            "Jane Doe (jd)"
        );
    }

    #[test]
    fn the_filters_are_the_markers_own_text() {
        assert_eq!(
            Marker::task_prefix("ServerTasks-1"),
            "[runkey ServerTasks-1/"
        );
        assert_eq!(Marker::any_prefix(), "[runkey ");
    }

    #[test]
    fn a_task_id_of_exactly_64_characters_is_fine() {
        assert!(validate_task_id(&"x".repeat(MAX_TASK_LEN)).is_ok());
    }

    #[test]
    fn an_operator_without_a_display_name_is_their_username() {
        let op = Operator {
            username: "jd".into(),
            display_name: String::new(),
            id: None,
        };
        assert_eq!(op.describe(), "jd");
        let op = Operator {
            username: "jd".into(),
            display_name: "jd".into(),
            id: None,
        };
        assert_eq!(op.describe(), "jd");
    }

    #[test]
    fn nonces_use_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.extend(new_nonce().unwrap().chars());
        }
        assert!(seen.len() > 40, "{} distinct characters", seen.len());
    }

    #[test]
    fn a_shortened_purpose_uses_the_whole_budget() {
        let marker = Marker::new("ServerTasks-1").unwrap();
        let purpose = compose(&"x".repeat(300), &marker);
        assert_eq!(utf16_len(&purpose), MAX_PURPOSE_LEN, "{purpose}");
        assert!(purpose.ends_with(&format!("x… {marker}")), "{purpose}");
        let short = compose("Jane", &marker);
        assert_eq!(short, format!("Jane {marker}"));
        // Exactly at the budget: nothing is cut.
        let budget = MAX_PURPOSE_LEN - utf16_len(&marker.to_string()) - 1;
        let exact = compose(&"y".repeat(budget), &marker);
        assert!(!exact.contains('…'), "{exact}");
        assert_eq!(utf16_len(&exact), MAX_PURPOSE_LEN);
    }

    #[test]
    fn control_characters_that_are_not_white_space_split_names_too() {
        assert_eq!(clean("Jane\u{7}Doe\u{1b}"), "Jane Doe");
    }

    fn full_run() -> RunContext {
        RunContext {
            runbook: Some("Restart web".into()),
            project: Some("Web".into()),
            environment: Some("Production".into()),
            tenant: Some("Acme".into()),
            space: Some("Default".into()),
        }
    }

    #[test]
    fn a_purpose_reads_back_every_part() {
        let marker = Marker::new("ServerTasks-7").unwrap();
        let text = compose(&human_part(Some(&jane()), &full_run()), &marker);
        assert_eq!(
            read(&text),
            Reading {
                starter: "Jane Doe (jane.doe)".into(),
                kind: StarterKind::Person,
                display_name: Some("Jane Doe".into()),
                username: Some("jane.doe".into()),
                runbook: Some("Restart web".into()),
                environment: Some("Production".into()),
                tenant: Some("Acme".into()),
                project: Some("Web".into()),
                space: Some("Default".into()),
                marker: Some(marker),
            }
        );
        let short = read("jd (space Default) [runkey a/b]");
        assert_eq!(short.starter, "jd");
        assert_eq!(
            (short.display_name.as_deref(), short.username.as_deref()),
            (Some("jd"), Some("jd"))
        );
        assert_eq!(
            (short.project, short.space.as_deref()),
            (None, Some("Default"))
        );
        let unattributed = read("unattributed run of 'X' [runkey a/b]");
        assert_eq!(unattributed.starter, "unattributed run");
        assert_eq!(unattributed.kind, StarterKind::Unattributed);
        assert_eq!(unattributed.username, None);
        assert_eq!(unattributed.runbook.as_deref(), Some("X"));
        assert_eq!(read("Session cookie").starter, "Session cookie");
        assert_eq!(read("Session cookie").marker, None);
    }

    #[test]
    fn the_starter_is_the_human_part_up_to_the_run() {
        // Moved from audit.rs's operator_of, which this reading replaced.
        let starter = |p: &str| read(p).starter;
        assert_eq!(
            starter(
                "Jane Doe (jane.doe) ran 'Restart web' in Production [runkey ServerTasks-1/abc]"
            ),
            "Jane Doe (jane.doe)"
        );
        assert_eq!(
            starter("trigger 'Nightly clean-up' ran 'Clean up' [runkey ServerTasks-2/abc]"),
            "trigger 'Nightly clean-up'"
        );
        assert_eq!(
            starter("unattributed run of 'X' [runkey a/b]"),
            "unattributed run"
        );
        assert_eq!(
            starter("Jane Doe (jane.doe) [runkey a/b]"),
            "Jane Doe (jane.doe)"
        );
    }

    #[test]
    fn names_holding_the_shapes_words_cannot_move_the_cut() {
        let op = Operator {
            username: "jane (project x".into(),
            display_name: "Jane in Ops (for now)".into(),
            id: None,
        };
        let run = RunContext {
            runbook: Some("Rotate API key for billing' in x".into()),
            environment: Some("for (space y".into()),
            tenant: Some("a (project b, space c)".into()),
            project: Some("p, space q".into()),
            space: Some("s)".into()),
        };
        let marker = Marker::new("ServerTasks-8").unwrap();
        let text = compose(&human_part(Some(&op), &run), &marker);
        let reading = read(&text);
        assert_eq!(reading.starter, "Jane in Ops (for now) (jane (project x)");
        assert_eq!(
            reading.display_name.as_deref(),
            Some("Jane in Ops (for now)")
        );
        assert_eq!(reading.username.as_deref(), Some("jane (project x"));
        assert_eq!(
            reading.runbook.as_deref(),
            Some("Rotate API key for billing' in x")
        );
        assert_eq!(reading.environment.as_deref(), Some("for (space y"));
        assert_eq!(reading.tenant.as_deref(), Some("a (project b, space c)"));
        assert_eq!(reading.project.as_deref(), Some("p, space q"));
        assert_eq!(reading.space.as_deref(), Some("s)"));
        // Only the spaces that would have started a separator changed, and they look the same.
        assert_eq!(text.replace('\u{00A0}', " "), {
            let mut plain = String::from(
                "Jane in Ops (for now) (jane (project x) ran 'Rotate API key for billing' in x' in for (space y for a (project b, space c) (project p, space q, space s)) ",
            );
            plain.push_str(&marker.to_string());
            plain
        });
        // Ordinary names are written as they are.
        let plain = compose(&human_part(Some(&jane()), &full_run()), &marker);
        assert!(!plain.contains('\u{00A0}'), "{plain}");
    }

    #[test]
    fn the_starter_is_read_for_every_kind_of_run() {
        let run = RunContext {
            runbook: Some("Clean up".into()),
            environment: Some("Production".into()),
            ..RunContext::default()
        };
        let marker = Marker::new("ServerTasks-2").unwrap();
        for starter in [
            Starter::Trigger {
                name: Some("Nightly in prod".into()),
            },
            Starter::Trigger { name: None },
            Starter::ServiceAccount(Operator {
                username: "svc-ci".into(),
                display_name: "CI".into(),
                id: None,
            }),
        ] {
            let reading = read(&compose(&human_part_of(Some(&starter), &run), &marker));
            assert_eq!(reading.starter, starter.describe());
            let (kind, username) = match &starter {
                Starter::ServiceAccount(_) => (StarterKind::ServiceAccount, Some("svc-ci")),
                _ => (StarterKind::Trigger, None),
            };
            assert_eq!(
                (reading.kind, reading.username.as_deref()),
                (kind, username)
            );
            assert_eq!(reading.runbook.as_deref(), Some("Clean up"));
            assert_eq!(reading.environment.as_deref(), Some("Production"));
        }
    }

    #[test]
    fn a_shortened_purpose_reads_as_far_as_it_goes() {
        let run = RunContext {
            runbook: Some("r".repeat(300)),
            ..RunContext::default()
        };
        let marker = Marker::new("ServerTasks-3").unwrap();
        let reading = read(&compose(&human_part(Some(&jane()), &run), &marker));
        assert_eq!(reading.starter, "Jane Doe (jane.doe)");
        assert!(reading.runbook.unwrap().ends_with("r…"));
        assert_eq!(reading.marker, Some(marker));
    }

    #[test]
    fn a_purpose_is_found_in_octopus_texts_by_their_shapes() {
        assert_eq!(
            quoted_in(
                "API key 'Jane Doe (jane) ran 'X' [runkey a/b]' created Fri, 22 Jul 2022 17:46:35 GMT"
            ),
            Some("Jane Doe (jane) ran 'X' [runkey a/b]")
        );
        assert_eq!(
            quoted_in(
                "User API key Jane ran 'Y' [runkey a/b] (API-ABCD•••) for broker was generated"
            ),
            Some("Jane ran 'Y' [runkey a/b]")
        );
        // Another wording: from the last "API key" before the marker.
        assert_eq!(
            quoted_in("Added User API key 'Jane ran X [runkey a/b]"),
            Some("Jane ran X [runkey a/b]")
        );
        assert_eq!(quoted_in("[runkey a/b]"), Some("[runkey a/b]"));
        assert_eq!(quoted_in("Session cookie"), None);
        // A runbook named like Octopus's own words cannot move the start.
        let named = "API key 'Jane (jane) ran 'Rotate API key 'x' [runkey a/b]' created Fri";
        assert_eq!(
            quoted_in(named),
            Some("Jane (jane) ran 'Rotate API key 'x' [runkey a/b]")
        );
    }

    #[test]
    fn a_separator_made_of_the_shapes_own_spaces_loses_one_that_no_separator_needs() {
        // " in " (the shape's), "for" (a name), " y" (the shape's words): the " for " they
        // make starts with the last space of the real " in ", which must stay.
        let mut text = Text::default();
        text.separator(IN);
        text.name("for");
        text.ours(" y");
        assert_eq!(text.finish(), " in for\u{a0}y");
    }

    #[test]
    fn a_person_named_like_another_starter_reads_back_as_a_person() {
        let marker = Marker::new("ServerTasks-4").unwrap();
        for (display, username, described) in [
            ("trigger", "trigger", "trigger (trigger)"),
            (
                "unattributed run",
                "unattributed run",
                "unattributed run (unattributed run)",
            ),
            ("trigger 'x'", "jd", "trigger 'x' (jd)"),
            ("service account CI", "jd", "service account CI (jd)"),
            ("", "service account", "service account (service account)"),
        ] {
            let op = Operator {
                username: username.into(),
                display_name: display.into(),
                id: None,
            };
            assert_eq!(op.describe(), described);
            let reading = read(&compose(
                &human_part(Some(&op), &RunContext::default()),
                &marker,
            ));
            assert_eq!(reading.starter, described);
            assert_eq!(reading.kind, StarterKind::Person, "{described}");
            assert_eq!(reading.username.as_deref(), Some(username), "{described}");
        }
    }
}
