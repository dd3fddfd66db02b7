//! Properties over arbitrary input: service messages survive Calamari's parser, purposes stay
//! within 200 characters with their marker intact, and no server answer makes the wire types
//! panic. `PROPTEST_CASES=100000 cargo test --test integration properties` runs them longer.

use octopus_runkey::octopus::{ApiKeyInfo, CreatedKey, User};
use octopus_runkey::purpose::{self, Marker, Operator, RunContext};
use octopus_runkey::service_message;
use proptest::prelude::*;

use crate::support::calamari::parse_output;

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
    fn no_answer_makes_the_wire_types_panic(body in any::<String>()) {
        let _ = serde_json::from_str::<User>(&body);
        let _ = serde_json::from_str::<ApiKeyInfo>(&body);
        let _ = serde_json::from_str::<CreatedKey>(&body);
        let _ = serde_json::from_str::<Vec<ApiKeyInfo>>(&body);
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
