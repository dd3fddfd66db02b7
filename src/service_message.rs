//! Writing `##octopus[...]` service messages exactly as Calamari parses them: the message
//! name, then `attr='value'` pairs whose values are standard base64 (with padding) of the
//! UTF-8 text. Base64 keeps every message ASCII (Calamari decodes child output with the OEM
//! code page on Windows) and free of the `]` that would end the message early.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// One service message line, without the trailing newline.
pub fn message(name: &str, attributes: &[(&str, &str)]) -> String {
    let mut line = format!("##octopus[{name}");
    for (attribute, value) in attributes {
        line.push_str(&format!(
            " {attribute}='{}'",
            STANDARD.encode(value.as_bytes())
        ));
    }
    line.push(']');
    line
}

/// `setVariable`: an output variable of this step, read later as
/// `Octopus.Action[<step>].Output.<name>`.
pub fn set_variable(name: &str, value: &str, sensitive: bool) -> String {
    if sensitive {
        message(
            "setVariable",
            &[("name", name), ("value", value), ("sensitive", "True")],
        )
    } else {
        message("setVariable", &[("name", name), ("value", value)])
    }
}

/// `mask`: the server hides this value in the task log from now on.
pub fn mask(value: &str) -> String {
    message("mask", &[("value", value)])
}

/// `resultMessage`: replaces "The remote script failed with exit code N" in the task summary.
pub fn result_message(text: &str) -> String {
    message("resultMessage", &[("message", text)])
}

/// `createArtifact`: attaches the file at `path` to the task, shown as `name`.
pub fn create_artifact(path: &str, name: &str, length: u64) -> String {
    message(
        "createArtifact",
        &[
            ("path", path),
            ("name", name),
            ("length", &length.to_string()),
        ],
    )
}

/// A log-level switch such as `stdout-warning` or `stdout-default`.
pub fn level(name: &str) -> String {
    message(name, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_calamari_vectors() {
        assert_eq!(mask("API-KEY"), "##octopus[mask value='QVBJLUtFWQ==']");
        assert_eq!(
            set_variable("ApiKey", "v", true),
            "##octopus[setVariable name='QXBpS2V5' value='dg==' sensitive='VHJ1ZQ==']"
        );
        assert_eq!(
            result_message("boom"),
            "##octopus[resultMessage message='Ym9vbQ==']"
        );
        assert_eq!(level("stdout-warning"), "##octopus[stdout-warning]");
    }

    #[test]
    fn empty_values_are_sent_explicitly() {
        assert_eq!(
            set_variable("X", "", false),
            "##octopus[setVariable name='WA==' value='']"
        );
    }

    #[test]
    fn output_is_ascii_even_for_non_ascii_text() {
        let line = set_variable("ApiKeyPurpose", "Zoë 😀 ] ' \n", false);
        assert!(line.is_ascii());
        assert_eq!(line.matches(']').count(), 1);
        assert!(!line.contains('\n'));
    }
}
