//! The purpose text of a run key and its machine-readable marker.
//!
//! Octopus records every call made with a key as "identity established with API key
//! '<Purpose>'", so the purpose is what the audit log shows: a human part naming the operator
//! and the run, then the marker `[runkey <task>/<nonce>]` that lets `revoke` and `list` find
//! this tool's keys and tell one run's key from another's. Keys without a marker are never
//! touched.

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
        if self.display_name.is_empty() || self.display_name == self.username {
            clean(&self.username)
        } else {
            format!("{} ({})", clean(&self.display_name), clean(&self.username))
        }
    }
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
        match self {
            Starter::Person(op) => op.describe(),
            Starter::ServiceAccount(op) => format!("service account {}", op.describe()),
            Starter::Trigger { name: Some(name) } => format!("trigger '{}'", clean(name)),
            Starter::Trigger { name: None } => "trigger".to_string(),
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
    let mut text = match starter {
        Some(starter) => starter.describe(),
        None => "unattributed run".to_string(),
    };
    match (&run.runbook, starter) {
        (Some(runbook), Some(_)) => text.push_str(&format!(" ran '{}'", clean(runbook))),
        (Some(runbook), None) => text.push_str(&format!(" of '{}'", clean(runbook))),
        (None, _) => {}
    }
    if let Some(environment) = &run.environment {
        text.push_str(&format!(" in {}", clean(environment)));
    }
    if let Some(tenant) = &run.tenant {
        text.push_str(&format!(" for {}", clean(tenant)));
    }
    let mut details = Vec::new();
    if let Some(project) = &run.project {
        details.push(format!("project {}", clean(project)));
    }
    if let Some(space) = &run.space {
        details.push(format!("space {}", clean(space)));
    }
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join(", ")));
    }
    text
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

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Names come from people: fold control characters and line breaks into single spaces,
/// and drop Unicode format characters (bidi overrides, zero-width characters, soft hyphens,
/// BOM), which would make the audit log read differently from what it holds.
pub fn clean(text: &str) -> String {
    let text: String = text.chars().filter(|c| !is_format_char(*c)).collect();
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
}
