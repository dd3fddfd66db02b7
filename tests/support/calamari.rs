//! A service-message parser that follows Calamari's own (ServiceMessageParser.cs): a state
//! machine that finds `##octopus`, collects up to the first `]` across lines, trims, drops
//! leading `[`, removes CR/LF, parses `<` + text + `/>` as XML, and base64-decodes every
//! attribute (standard alphabet, padding required, white space ignored as .NET does). A
//! message with any fault is dropped silently, as Calamari drops it. Checked against the 32
//! vectors recorded from Calamari in `tests/data/service-message-vectors.json`.

use std::collections::BTreeMap;

use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub name: String,
    /// Attribute names lower-cased (Calamari compares them case-insensitively).
    pub attributes: BTreeMap<String, String>,
}

impl Message {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Default)]
pub struct Parser {
    state: State,
    buffer: String,
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
