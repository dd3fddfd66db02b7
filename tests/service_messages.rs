//! The test parser agrees with Calamari on every recorded vector, so the other tests'
//! decoding of our output is what Octopus would see.

use serde_json::Value;

use crate::support::calamari::{Parser, parse_output};

#[test]
fn the_test_parser_agrees_with_calamari_on_every_vector() {
    let data: Value =
        serde_json::from_str(include_str!("data/service-message-vectors.json")).unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 32);
    for vector in vectors {
        let mut parser = Parser::default();
        for line in vector["lines"].as_array().unwrap() {
            parser.parse(line.as_str().unwrap());
        }
        let got: Vec<Value> = parser
            .messages
            .iter()
            .map(|m| serde_json::json!({"name": m.name, "attributes": m.attributes}))
            .collect();
        let expected = vector["calamari_accepts"].as_array().unwrap();
        let normalised: Vec<Value> = expected
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m["attributes"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect();
                serde_json::json!({"name": m["name"], "attributes": attributes})
            })
            .collect();
        assert_eq!(got, normalised, "vector {}", vector["lines"]);
    }
}

#[test]
fn a_message_with_text_before_it_is_what_the_server_ignores_so_ours_start_at_column_0() {
    // Calamari accepts it; the server does not, so every line we print starts with ##octopus.
    assert_eq!(parse_output("x ##octopus[mask value='QQ==']").len(), 1);
}
