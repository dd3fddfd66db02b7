//! Properties over arbitrary input: service messages survive Calamari's parser; purposes stay
//! within 200 characters with their marker intact, whatever hostile text the names hold, and
//! read back the person, run and task they were built from (also quoted in Octopus's texts); a
//! listed key reads back what the server sent, whatever else the answer carries; and mangled
//! answers never panic. `PROPTEST_CASES=100000 cargo test --test integration properties`
//! runs them longer.

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use octopus_runkey::octopus::{ApiKeyInfo, CreatedKey};
use octopus_runkey::purpose::{self, Marker, Operator, RunContext, Starter};
use octopus_runkey::service_message;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::support::calamari::parse_output;
use crate::support::marker;

fn task_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("no-task".to_string()),
        (1u64..10_000_000).prop_map(|n| format!("ServerTasks-{n}")),
        "[A-Za-z0-9._-]{1,64}"
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_variable_survives_the_encoder_and_calamaris_parser(name in "\\PC*", value in any::<String>(), sensitive in any::<bool>()) {
        let line = service_message::set_variable(&name, &value, sensitive);
        prop_assert!(line.is_ascii());
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let messages = parse_output(&line);
        prop_assert_eq!(messages.len(), 1);
        prop_assert_eq!(messages[0].name.as_str(), "setVariable");
        prop_assert_eq!(messages[0].get("name"), Some(name.as_str()));
        prop_assert_eq!(messages[0].get("value"), Some(value.as_str()));
        prop_assert_eq!(messages[0].get("sensitive").is_some(), sensitive);
    }

    #[test]
    fn any_mask_or_result_message_survives(text in any::<String>()) {
        let output = format!("{}\n{}\n", service_message::mask(&text), service_message::result_message(&text));
        let messages = parse_output(&output);
        prop_assert_eq!(messages.len(), 2);
        prop_assert_eq!(messages[0].get("value"), Some(text.as_str()));
        prop_assert_eq!(messages[1].get("message"), Some(text.as_str()));
    }

    #[test]
    fn purposes_stay_within_200_characters_with_an_intact_marker(
        display in any::<String>(),
        username in any::<String>(),
        runbook in proptest::option::of(any::<String>()),
        environment in proptest::option::of(any::<String>()),
        tenant in proptest::option::of(any::<String>()),
        task in task_id(),
    ) {
        let operator = Operator { username, display_name: display, id: None };
        let run = RunContext { runbook, environment, tenant, project: Some("P".into()), space: None };
        let marker = Marker::new(&task).unwrap();
        let text = purpose::compose(&purpose::human_part(Some(&operator), &run), &marker);
        prop_assert!(text.encode_utf16().count() <= purpose::MAX_PURPOSE_LEN, "{} units", text.encode_utf16().count());
        prop_assert_eq!(Marker::parse(&text), Some(marker));
        prop_assert!(!text.contains('\n'));
    }

    #[test]
    fn no_hostile_name_can_forge_move_or_hide_the_marker(
        display in hostile_name(),
        username in hostile_name(),
        runbook in proptest::option::of(hostile_name()),
        project in proptest::option::of(hostile_name()),
        environment in proptest::option::of(hostile_name()),
        tenant in proptest::option::of(hostile_name()),
        space in proptest::option::of(hostile_name()),
        attributed in any::<bool>(),
        task in task_id(),
    ) {
        let operator = Operator { username, display_name: display, id: None };
        let run = RunContext { runbook, project, environment, tenant, space };
        let marker_made = Marker::new(&task).unwrap();
        let human = purpose::human_part(attributed.then_some(&operator), &run);
        let text = purpose::compose(&human, &marker_made);
        prop_assert_eq!(Marker::parse(&text), Some(marker_made.clone()), "{:?}", text);
        // The contract's own expression agrees.
        prop_assert_eq!(
            marker(&text),
            Some((marker_made.task.clone(), marker_made.nonce.clone())),
            "{:?}", text
        );
        prop_assert!(text.encode_utf16().count() <= purpose::MAX_PURPOSE_LEN, "{} units: {:?}", text.encode_utf16().count(), text);
        prop_assert_eq!(text.matches("[runkey ").count(), 1, "{:?}", text);
        let suffix = format!(" {marker_made}");
        prop_assert!(text.ends_with(&suffix), "{:?}", text);
        prop_assert!(
            !text.chars().any(|c| FORMAT_CHARS.contains(&c) || purpose::is_format_char(c)),
            "a format character remains: {:?}", text
        );
        prop_assert!(!text.chars().any(char::is_control), "a control character remains: {:?}", text);
    }

    #[test]
    fn a_purpose_reads_back_the_person_run_and_task_it_was_built_from(
        display in shape_breaking_name(),
        username in shape_breaking_name(),
        trigger in shape_breaking_name(),
        kind in 0u8..4,
        runbook in proptest::option::of(shape_breaking_name()),
        project in proptest::option::of(shape_breaking_name()),
        environment in proptest::option::of(shape_breaking_name()),
        tenant in proptest::option::of(shape_breaking_name()),
        space in proptest::option::of(shape_breaking_name()),
        task in task_id(),
    ) {
        // Names as the settings take them: cleaned, and an empty one is missing.
        let named = |name: Option<String>| name.map(|n| purpose::clean(&n)).filter(|n| !n.is_empty());
        // A username is never empty: the settings refuse a run without one.
        let username = named(Some(username)).unwrap_or_else(|| "jd".to_string());
        let operator = Operator { username, display_name: display, id: None };
        let person = (operator.display_name.clone(), operator.username.clone());
        let starter = match kind {
            0 => Some(Starter::Person(operator)),
            1 => Some(Starter::ServiceAccount(operator)),
            2 => Some(Starter::Trigger { name: named(Some(trigger)) }),
            _ => None,
        };
        let run = RunContext {
            runbook: named(runbook),
            project: named(project),
            environment: named(environment),
            tenant: named(tenant),
            space: named(space),
        };
        let made = Marker::new(&task).unwrap();
        let text = purpose::compose(&purpose::human_part_of(starter.as_ref(), &run), &made);
        let reading = purpose::read(&text);
        prop_assert_eq!(reading.marker.as_ref(), Some(&made), "{:?}", text);
        // Octopus's own texts give the purpose back whole.
        let identity = format!("API key '{text}' created Fri, 22 Jul 2022 17:46:35 GMT");
        prop_assert_eq!(purpose::quoted_in(&identity), Some(text.as_str()));
        let generated = format!("User API key {text} (API-ABCD•••) for Runbook Broker was generated");
        prop_assert_eq!(purpose::quoted_in(&generated), Some(text.as_str()));
        // A shortened human part reads as far as it goes; a whole one reads back whole.
        if !text.contains(&format!("… {made}")) {
            let starter_text = starter.as_ref().map_or("unattributed run".to_string(), Starter::describe);
            prop_assert_eq!(&reading.starter, &starter_text, "{:?}", text);
            if kind < 2 {
                let display = purpose::clean(&person.0);
                let shown = if display.is_empty() || display == person.1 { person.1.clone() } else { display };
                prop_assert_eq!(reading.username.as_deref(), Some(person.1.as_str()), "{:?}", text);
                prop_assert_eq!(reading.display_name.as_deref(), Some(shown.as_str()), "{:?}", text);
            }
            prop_assert_eq!(&reading.runbook, &run.runbook, "{:?}", text);
            prop_assert_eq!(&reading.environment, &run.environment, "{:?}", text);
            prop_assert_eq!(&reading.tenant, &run.tenant, "{:?}", text);
            prop_assert_eq!(&reading.project, &run.project, "{:?}", text);
            prop_assert_eq!(&reading.space, &run.space, "{:?}", text);
        }
    }

    #[test]
    fn a_listed_key_reads_back_what_the_server_sent_whatever_else_it_carries(
        id in any::<String>(),
        purpose in proptest::option::of(any::<String>()),
        created in octopus_date(),
        expires in proptest::option::of(octopus_date()),
        api_key in listed_api_key(),
        extra in proptest::collection::btree_map(unknown_field_name(), json_value(), 0..6),
    ) {
        let mut answer: Map<String, Value> = extra.into_iter().collect();
        answer.insert("Id".into(), json!(id));
        if let Some(purpose) = &purpose {
            answer.insert("Purpose".into(), json!(purpose));
        }
        answer.insert("Created".into(), json!(created.0));
        if let Some((text, _)) = &expires {
            answer.insert("Expires".into(), json!(text));
        }
        answer.insert("ApiKey".into(), api_key);
        let body = Value::Object(answer).to_string();
        let key: ApiKeyInfo = serde_json::from_str(&body)
            .map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
        prop_assert_eq!(&key.id, &id);
        prop_assert_eq!(key.purpose(), purpose.as_deref().unwrap_or(""));
        prop_assert_eq!(key.created_at(), Some(created.1), "Created {}", created.0);
        prop_assert_eq!(key.expires_at(), expires.as_ref().map(|e| e.1));
    }

    #[test]
    fn mangled_real_answers_never_panic(cut in 0usize..400, junk in "[\\[\\]{}\":,0-9a-z]{0,8}") {
        let real = r#"{"Id":"apikeys-1","Purpose":"x [runkey ServerTasks-1/abcdef]","UserId":"Users-2","ApiKey":"API-ABC","Created":"2026-11-22T10:00:00.1234567+00:00","Expires":"2026-11-22T11:00:00.000+00:00","Links":{"Self":"/api/x"}}"#;
        let cut = cut.min(real.len());
        let mangled = format!("{}{junk}{}", &real[..cut], &real[cut..]);
        if let Ok(key) = serde_json::from_str::<ApiKeyInfo>(&mangled) {
            let _ = (key.expires_at(), key.created_at(), Marker::parse(key.purpose()));
        }
        let _ = serde_json::from_str::<CreatedKey>(&mangled);
    }
}

/// A date as an Octopus server writes it, and the instant it means: an offset of `Z` or
/// `±HH:MM` (or none, which older servers send and means UTC), and 0 to 7 fractional digits.
fn octopus_date() -> impl Strategy<Value = (String, Timestamp)> {
    (
        0i64..4_102_444_800,
        0i32..1_000_000_000,
        0u32..=7,
        prop_oneof![
            Just(None),
            Just(Some(0)),
            (-14 * 60i32..=14 * 60).prop_map(|m| Some(m * 60))
        ],
        any::<bool>(),
    )
        .prop_map(|(seconds, nanos, digits, offset, zulu)| {
            let scale = 10i32.pow(9 - digits);
            let fraction = nanos / scale;
            let instant = Timestamp::new(seconds, fraction * scale).unwrap();
            let offset_seconds = offset.unwrap_or(0);
            let local = instant
                .to_zoned(TimeZone::fixed(
                    Offset::from_seconds(offset_seconds).unwrap(),
                ))
                .strftime("%Y-%m-%dT%H:%M:%S")
                .to_string();
            let fraction = match digits {
                0 => String::new(),
                d => format!(".{fraction:0width$}", width = d as usize),
            };
            let suffix = match offset {
                None => String::new(),
                Some(0) if zulu => "Z".to_string(),
                Some(s) => format!(
                    "{}{:02}:{:02}",
                    if s < 0 { '-' } else { '+' },
                    s.abs() / 3600,
                    s.abs() % 3600 / 60
                ),
            };
            (format!("{local}{fraction}{suffix}"), instant)
        })
}

/// A listed key's `ApiKey`: a masked string (before 2020.6) or `{"HasValue": .., "Hint": ..}`.
fn listed_api_key() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        (any::<bool>(), proptest::option::of("[A-Z0-9]{0,6}"))
            .prop_map(|(has, hint)| json!({"HasValue": has, "Hint": hint})),
    ]
}

/// A field name no wire type reads (case matters to serde, so `id` is unknown too).
fn unknown_field_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z.]{0,12}".prop_filter("a field the type reads", |name| {
        !["Id", "Purpose", "Created", "Expires", "ApiKey"].contains(&name.as_str())
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[A-Za-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The regression the property above stepped on (its smallest case): a name that ends the
/// human part with `[runkey` meets the marker through the separator space, so the purpose
/// holds `[runkey ` twice and the leftmost match takes `[runkey no-task` for the task; a
/// revoke by task then never finds the key.
#[test]
fn a_name_ending_the_purpose_in_runkey_cannot_join_the_marker() {
    let run = RunContext {
        tenant: Some("[runkey ".into()),
        ..RunContext::default()
    };
    let made = Marker::new("no-task").unwrap();
    let text = purpose::compose(&purpose::human_part(None, &run), &made);
    assert_eq!(Marker::parse(&text), Some(made), "{text:?}");
    assert_eq!(text.matches("[runkey ").count(), 1, "{text:?}");
}

/// Unicode format characters (category Cf) that people's names really carry: a right-to-left
/// override, a zero-width space, a soft hyphen, a byte order mark, and a few more.
const FORMAT_CHARS: [char; 8] = [
    '\u{202E}',
    '\u{200B}',
    '\u{00AD}',
    '\u{FEFF}',
    '\u{200E}',
    '\u{2066}',
    '\u{061C}',
    '\u{E0041}',
];

/// A name someone could give a user, runbook, project, environment, tenant or space: pieces
/// of the marker (`[runkey `, `/`, `]`, a whole fake marker), a service message opener,
/// format and control characters and ordinary text, in any order; or a name at the 200-unit
/// edges (in ASCII, in a two-byte letter, in an astral emoji), possibly ending in `[runkey `.
/// Names built from the purpose's own words and separators, quotes, brackets and hostile
/// text: none of them may move where the reader cuts.
fn shape_breaking_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(vec![
            " in ",
            " for ",
            " ran '",
            " of '",
            " (",
            "(",
            ")",
            "'",
            " (project ",
            "(project ",
            " (space ",
            ", space ",
            ", ",
            "project ",
            "space ",
            "trigger",
            "trigger '",
            "service account ",
            "unattributed run",
            "API key '",
            "' created ",
            "User API key ",
            " (API-ABCD•••) for ",
            "in",
            "for",
            "ran",
            " ",
            "…",
            "\u{a0}",
        ])
        .prop_map(String::from),
        "[a-zA-Z .']{1,6}",
        hostile_name(),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn hostile_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[runkey ".to_string()),
        Just("[runkey".to_string()),
        Just("/".to_string()),
        Just("]".to_string()),
        Just("[runkey ServerTasks-9/abcdef]".to_string()),
        Just("##octopus[".to_string()),
        Just("##octopus[setVariable name='QQ==' value='QQ==']".to_string()),
        proptest::sample::select(FORMAT_CHARS.to_vec()).prop_map(String::from),
        proptest::sample::select(vec!['\n', '\r', '\t', '\0', '\u{1b}', '\u{7f}', '\u{85}'])
            .prop_map(String::from),
        "[a-zA-Z0-9 .'-]{1,8}",
        any::<char>().prop_map(String::from),
    ];
    let edge = (
        proptest::sample::select(vec!['x', 'é', '😀']),
        proptest::sample::select(vec![99usize, 100, 199, 200, 201]),
        proptest::sample::select(vec!["", "[runkey ", "[runkey", " ]"]),
    )
        .prop_map(|(c, n, tail)| format!("{}{tail}", c.to_string().repeat(n)));
    prop_oneof![
        4 => proptest::collection::vec(piece, 0..10).prop_map(|p| p.concat()),
        1 => edge,
    ]
}
