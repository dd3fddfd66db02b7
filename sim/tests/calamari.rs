//! The Calamari emulation's parser agrees with Calamari's own on every recorded vector
//! (`data/service-message-vectors.json`: well-formed, malformed, split over lines, odd
//! quoting, invalid base64, non-ASCII), so every test that decodes the binary's output
//! through it sees what Octopus would see.

use octopus_sim::calamari::Parser;
use serde_json::Value;

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
