//! A service-message parser that follows Calamari's own (ServiceMessageParser.cs): a state
//! machine that finds `##octopus`, collects up to the first `]` across lines, trims, drops
//! leading `[`, removes CR/LF, parses `<` + text + `/>` as XML, and base64-decodes every
//! attribute (standard alphabet, padding required, white space ignored as .NET does). A
//! message with any fault is dropped silently, as Calamari drops it. On top of the parser,
//! what the server keeps from a step's output: its output variables, the values it masks
//! from then on, and its result message. `sim/tests/calamari.rs` checks the parser against
//! the 32 vectors recorded from Calamari in `sim/tests/data/service-message-vectors.json`.

use std::collections::BTreeMap;

use base64::Engine;

/// One service message Calamari accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub name: String,
    /// Attribute names lower-cased (Calamari compares them case-insensitively).
    pub attributes: BTreeMap<String, String>,
}

impl Message {
    /// The decoded value of attribute `name`, whatever its case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Calamari's parser, fed one line at a time: a message may span lines, so it keeps what it
/// has collected between calls.
#[derive(Default)]
pub struct Parser {
    state: State,
    buffer: String,
    /// The messages accepted so far, in order.
    pub messages: Vec<Message>,
}

#[derive(Default, PartialEq)]
enum State {
    #[default]
    Default,
    PossibleMessage,
    InMessage,
}

const PREFIX: &str = "##octopus";

impl Parser {
    /// Feeds one line (without its line break), as Calamari does for each line of output.
    pub fn parse(&mut self, line: &str) {
        for c in line.chars() {
            match self.state {
                State::Default => {
                    if c == '#' {
                        self.state = State::PossibleMessage;
                        self.buffer.push(c);
                    }
                }
                State::PossibleMessage => {
                    self.buffer.push(c);
                    if self.buffer == PREFIX {
                        self.state = State::InMessage;
                        self.buffer.clear();
                    } else if !PREFIX.starts_with(&self.buffer) {
                        self.state = State::Default;
                        self.buffer.clear();
                    }
                }
                State::InMessage => {
                    if c == ']' {
                        let text = std::mem::take(&mut self.buffer);
                        if let Some(message) = process(&text) {
                            self.messages.push(message);
                        }
                        self.state = State::Default;
                    } else {
                        self.buffer.push(c);
                    }
                }
            }
        }
    }
}

/// Every message Calamari would accept from this output.
pub fn parse_output(output: &str) -> Vec<Message> {
    let mut parser = Parser::default();
    for line in output.split('\n') {
        parser.parse(line.strip_suffix('\r').unwrap_or(line));
    }
    parser.messages
}

/// An output variable as the server records it from a `setVariable` message; the steps
/// after it read it as `Octopus.Action[<step>].Output.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputVariable {
    pub name: String,
    pub value: String,
    /// `sensitive` is `True` (any case): the value is masked in the task log from then on.
    pub sensitive: bool,
}

/// What the server keeps from one step's output, read from the service messages Calamari
/// accepts, in the order they came. A `setVariable` without a name or a value counts as one
/// with an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Every `setVariable`, in order (a later one of the same name wins).
    pub variables: Vec<OutputVariable>,
    /// What the task log masks from then on: the values of sensitive output variables and
    /// of `mask` messages, in order.
    pub masks: Vec<String>,
    /// The `message` of the first `resultMessage`: what the task summary shows instead of
    /// "The remote script failed with exit code N".
    pub result_message: Option<String>,
}

impl Recorded {
    pub fn from_output(output: &str) -> Recorded {
        let mut recorded = Recorded::default();
        let mut first_result: Option<Option<String>> = None;
        for message in parse_output(output) {
            match message.name.as_str() {
                "setVariable" => {
                    let variable = OutputVariable {
                        name: message.get("name").unwrap_or_default().to_string(),
                        value: message.get("value").unwrap_or_default().to_string(),
                        sensitive: message
                            .get("sensitive")
                            .is_some_and(|s| s.eq_ignore_ascii_case("true")),
                    };
                    if variable.sensitive {
                        recorded.masks.push(variable.value.clone());
                    }
                    recorded.variables.push(variable);
                }
                "mask" => recorded
                    .masks
                    .extend(message.get("value").map(str::to_string)),
                "resultMessage" if first_result.is_none() => {
                    first_result = Some(message.get("message").map(str::to_string));
                }
                _ => {}
            }
        }
        recorded.result_message = first_result.flatten();
        recorded
    }

    /// The value of output variable `name`: the last one set, as later steps see it.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }
}

fn process(text: &str) -> Option<Message> {
    let text = text
        .trim()
        .trim_start_matches('[')
        .replace(['\r', '\n'], "");
    let (name, raw) = parse_element(&text)?;
    let mut attributes = BTreeMap::new();
    for (key, value) in raw {
        let key = key.to_ascii_lowercase();
        if attributes.contains_key(&key) {
            return None; // ToDictionary with OrdinalIgnoreCase throws on duplicates
        }
        attributes.insert(key, decode_base64(&value)?);
    }
    Some(Message { name, attributes })
}

fn decode_base64(value: &str) -> Option<String> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c.is_numeric() || c == '-' || c == '.'
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Parses `name attr='v' attr2="v2" ` (the text between `<` and `/>`). Namespace prefixes
/// are undeclared, so any `:` in a name fails, as it does in XElement.Parse.
fn parse_element(text: &str) -> Option<(String, Vec<(String, String)>)> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let name = read_name(&chars, &mut i)?;
    let mut attributes: Vec<(String, String)> = Vec::new();
    loop {
        let before = i;
        while i < chars.len() && is_xml_space(chars[i]) {
            i += 1;
        }
        if i == chars.len() {
            return Some((name, attributes));
        }
        if i == before {
            return None; // attributes must be separated by white space
        }
        let key = read_name(&chars, &mut i)?;
        while i < chars.len() && is_xml_space(chars[i]) {
            i += 1;
        }
        if chars.get(i) != Some(&'=') {
            return None;
        }
        i += 1;
        while i < chars.len() && is_xml_space(chars[i]) {
            i += 1;
        }
        let quote = *chars.get(i).filter(|c| **c == '\'' || **c == '"')?;
        i += 1;
        let mut raw = String::new();
        loop {
            let c = *chars.get(i)?;
            i += 1;
            if c == quote {
                break;
            }
            raw.push(c);
        }
        if attributes.iter().any(|(k, _)| *k == key) {
            return None; // duplicate attribute: not well-formed XML
        }
        attributes.push((key, unescape(&raw)?));
    }
}

fn read_name(chars: &[char], i: &mut usize) -> Option<String> {
    let start = *i;
    if !chars.get(*i).is_some_and(|c| is_name_start(*c)) {
        return None;
    }
    while *i < chars.len() && is_name_char(chars[*i]) {
        *i += 1;
    }
    let name: String = chars[start..*i].iter().collect();
    (!name.contains(':')).then_some(name)
}

/// XML attribute value: entities decoded, `<` refused, control characters refused, tab and
/// line breaks normalised to spaces.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => return None,
            '&' => {
                let end = rest.find(';')?;
                let entity = &rest[1..end];
                let decoded = match entity {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ if entity.starts_with("#x") => {
                        char::from_u32(u32::from_str_radix(&entity[2..], 16).ok()?)?
                    }
                    _ if entity.starts_with('#') => char::from_u32(entity[1..].parse().ok()?)?,
                    _ => return None,
                };
                out.push(decoded);
                rest = &rest[end + 1..];
                continue;
            }
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => return None,
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `##octopus[name attr='base64(value)' ...]`, as the binary writes it.
    fn message(name: &str, attributes: &[(&str, &str)]) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let attributes: String = attributes
            .iter()
            .map(|(k, v)| format!(" {k}='{}'", b64(v)))
            .collect();
        format!("##octopus[{name}{attributes}]")
    }

    #[test]
    fn a_step_leaves_its_variables_masks_and_first_result_message() {
        let output = [
            "plain text".to_string(),
            message(
                "setVariable",
                &[("name", "ApiKeyId"), ("value", "apikeys-1")],
            ),
            message(
                "setVariable",
                &[
                    ("Name", "ApiKey"),
                    ("value", "API-1"),
                    ("sensitive", "True"),
                ],
            ),
            message("mask", &[("value", "API-2")]),
            message("resultMessage", &[("message", "first")]),
            message("resultMessage", &[("message", "second")]),
            message(
                "setVariable",
                &[("name", "ApiKeyId"), ("value", "apikeys-2")],
            ),
            "text ".to_string() + &message("mask", &[("value", "API-3")]),
        ]
        .join("\r\n");
        let recorded = Recorded::from_output(&output);
        let names: Vec<(&str, bool)> = recorded
            .variables
            .iter()
            .map(|v| (v.name.as_str(), v.sensitive))
            .collect();
        assert_eq!(
            names,
            [("ApiKeyId", false), ("ApiKey", true), ("ApiKeyId", false)]
        );
        assert_eq!(recorded.variable("ApiKeyId"), Some("apikeys-2"));
        assert_eq!(recorded.variable("ApiKey"), Some("API-1"));
        assert_eq!(recorded.variable("Nothing"), None);
        assert_eq!(recorded.masks, ["API-1", "API-2", "API-3"]);
        assert_eq!(recorded.result_message.as_deref(), Some("first"));
    }

    #[test]
    fn a_result_message_without_text_is_still_the_first() {
        let output = [
            message("resultMessage", &[]),
            message("resultMessage", &[("message", "second")]),
        ]
        .join("\n");
        assert_eq!(Recorded::from_output(&output).result_message, None);
    }

    #[test]
    fn a_message_with_a_value_that_is_not_base64_is_dropped() {
        let output = "##octopus[setVariable name='QQ==' value='not base64!']";
        assert!(parse_output(output).is_empty());
        assert!(Recorded::from_output(output).variables.is_empty());
    }
}
