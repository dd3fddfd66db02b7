//! Every message the binary can print is in docs/troubleshooting.md, with its cause and fix.
//!
//! The messages are found in the source: every string literal in `src/` outside
//! `#[cfg(test)]` items that contains a space and is at least 20 characters long is taken
//! for a message (an error, a warning, an informational line, or a part of one), unless the
//! allow-list below says why it is not. Each literal is split at its `format!` placeholders;
//! every fixed piece of at least 12 characters must appear, word for word, in the
//! troubleshooting page (backticks and line breaks do not count). So a new message, or a
//! reworded one, fails this test until the page says what it means. The same holds for
//! the messages the step templates' scripts print (`fail_step`, `write_warning`).

use std::path::{Path, PathBuf};

use crate::support::octopus_step::{script_body, template};

/// Literals that are not messages, each with the reason. An entry matches a literal that
/// starts with it.
const NOT_MESSAGES: &[(&str, &str)] = &[
    // clap's help text (`--help`), not a message; cli.rs's doc comments are comments.
    (
        "Per-run, short-lived Octopus API keys",
        "the program's --help description",
    ),
    // Not text for people: a date format, and the text of a library's error matched on.
    ("%a, %d %b %Y", "a strftime format"),
    ("failed to lookup address", "matched in ureq's error text"),
    // `unreachable!`: a bug if it ever shows, never a message someone can act on.
    ("the loop returns on its second attempt", "unreachable!"),
    (
        "cannot be after the expiry",
        "matched in the server's refusal, not printed",
    ),
    // The guard's own errors: its stdout and stderr are the null device, so they are never
    // printed (the contract: the guard prints nothing). What `create` and `exec` print when a
    // guard cannot start is listed.
    ("reading the guard's spec", "the guard prints nothing"),
    ("the guard's spec is unreadable", "the guard prints nothing"),
    (
        "installing the guard's signal handlers",
        "the guard prints nothing",
    ),
    (
        "the guard's run key",
        "the guard's credential name, only in the guard's own (unprinted) errors",
    ),
];

/// A string literal of the source: its text (escapes resolved) and where it is.
#[derive(Debug)]
struct Literal {
    text: String,
    file: PathBuf,
    line: usize,
}

#[derive(Debug, PartialEq)]
enum Token {
    Str(String, usize),
    Ident(String),
    Punct(char),
}

/// Rust source as tokens: string literals (plain, byte and raw), identifiers and
/// punctuation; comments, char literals, lifetimes and numbers are dropped.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && at(i + 1) == '/') {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let start = line;
            let (text, end) = plain_string(&chars, i + 1, &mut line);
            out.push(Token::Str(text, start));
            i = end;
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while at(j) == '#' {
                j += 1;
            }
            at(j) == '"'
        } {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            let start = line;
            let mut text = String::new();
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(chars[j] == '\n');
                text.push(chars[j]);
                j += 1;
            }
            out.push(Token::Str(text, start));
            i = j;
        } else if c == 'b' && at(i + 1) == '"' {
            let start = line;
            let (text, end) = plain_string(&chars, i + 2, &mut line);
            out.push(Token::Str(text, start));
            i = end;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if !c.is_ascii_digit() {
                out.push(Token::Ident(word));
            }
            i = j;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// A `"..."` literal from just after its opening quote: its text and the index after it.
fn plain_string(chars: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
    let mut text = String::new();
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            let next = chars.get(i + 1).copied().unwrap_or('\0');
            i += 2;
            match next {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                'r' => text.push('\r'),
                '0' => text.push('\0'),
                '\n' => {
                    // A continuation: the line break and the next line's indentation go.
                    *line += 1;
                    while i < chars.len() && chars[i].is_whitespace() {
                        *line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                }
                'u' => {
                    let end = i + chars[i..].iter().position(|c| *c == '}').unwrap_or(0);
                    let hex: String = chars[i + 1..end].iter().collect();
                    text.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
                    i = end + 1;
                }
                'x' => {
                    let hex: String = chars[i..i + 2].iter().collect();
                    text.extend(u8::from_str_radix(&hex, 16).ok().map(char::from));
                    i += 2;
                }
                other => text.push(other),
            }
        } else {
            *line += usize::from(chars[i] == '\n');
            text.push(chars[i]);
            i += 1;
        }
    }
    (text, i + 1)
}

/// The string literals outside `#[cfg(test)]` items.
fn literals_of(file: &Path) -> Vec<Literal> {
    let source = std::fs::read_to_string(file).unwrap();
    let tokens = tokens(&source);
    let cfg_test = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i..].starts_with(&cfg_test) {
            // Skip the item: up to its first `;`, or its `{ ... }` block.
            i += cfg_test.len();
            while i < tokens.len()
                && tokens[i] != Token::Punct(';')
                && tokens[i] != Token::Punct('{')
            {
                i += 1;
            }
            if tokens.get(i) == Some(&Token::Punct('{')) {
                let mut depth = 0;
                while i < tokens.len() {
                    match tokens[i] {
                        Token::Punct('{') => depth += 1,
                        Token::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
        } else if let Token::Str(text, line) = &tokens[i] {
            found.push(Literal {
                text: text.clone(),
                file: file.to_path_buf(),
                line: *line,
            });
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// A literal that reads as text for people: a space in it and at least 20 characters.
fn is_message(text: &str) -> bool {
    text.contains(' ') && text.chars().count() >= 20
}

/// The fixed pieces of a `format!` string, between its `{...}` placeholders (`{{` and `}}`
/// stand for braces).
fn fixed_pieces(text: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                pieces.last_mut().unwrap().push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.last_mut().unwrap().push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                pieces.push(String::new());
            }
            c => pieces.last_mut().unwrap().push(c),
        }
    }
    pieces
}

/// What must be found on the page: each piece without the punctuation and white space at
/// its ends, when at least 12 characters remain.
fn needles(text: &str, split: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    split(text)
        .iter()
        .map(|piece| normalise(piece))
        .map(|piece| {
            piece
                .trim_matches(|c: char| c.is_whitespace() || ":;,.'\"".contains(c))
                .to_string()
        })
        .filter(|piece| piece.chars().count() >= 12)
        .collect()
}

/// Backticks and table escapes dropped, white space folded to one space.
fn normalise(text: &str) -> String {
    text.replace('`', "")
        .replace("\\|", "|")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn troubleshooting() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md");
    normalise(&std::fs::read_to_string(path).unwrap())
}

fn source_messages() -> Vec<Literal> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .iter()
        .flat_map(|f| literals_of(f))
        .filter(|l| is_message(&l.text))
        .filter(|l| {
            !NOT_MESSAGES
                .iter()
                .any(|(start, _)| l.text.starts_with(start))
        })
        .collect()
}

#[test]
fn every_message_of_the_binary_is_in_troubleshooting() {
    let page = troubleshooting();
    let messages = source_messages();
    assert!(
        messages.len() > 50,
        "the scan found only {} messages: is the tokenizer broken?",
        messages.len()
    );
    let missing: Vec<String> = messages
        .iter()
        .flat_map(|l| {
            needles(&l.text, fixed_pieces)
                .into_iter()
                .filter(|needle| !page.contains(needle.as_str()))
                .map(move |needle| format!("{}:{}: {needle:?}", l.file.display(), l.line))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md does not list these messages (or parts of them); add each with its cause and fix:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_allow_list_names_only_literals_that_exist() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let all: Vec<Literal> = files.iter().flat_map(|f| literals_of(f)).collect();
    for (start, why) in NOT_MESSAGES {
        assert!(
            all.iter().any(|l| l.text.starts_with(start)),
            "the allow-list entry {start:?} ({why}) matches no literal in src/: remove it"
        );
    }
}

#[test]
fn the_scanner_finds_literals_and_skips_tests_comments_and_chars() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.rs");
    std::fs::write(
        &file,
        r####"
// "a comment that looks like a message"
/* "a block comment that looks like one" */
fn f<'a>(x: &'a str) -> char {
    let quote = '"';
    let _ = format!("first message with {x} and \
                     a continuation");
    let _ = r#"a raw "message" with quotes"#;
    let _ = '\'';
    '{'
}
#[cfg(test)]
mod tests {
    fn g() { let _ = "inside the tests, not a message"; { "nested block" }; }
}
fn h() { let _ = "after the tests module again"; }
"####,
    )
    .unwrap();
    let found: Vec<String> = literals_of(&file).into_iter().map(|l| l.text).collect();
    assert_eq!(
        found,
        [
            "first message with {x} and a continuation",
            "a raw \"message\" with quotes",
            "after the tests module again",
        ]
    );
    assert_eq!(
        fixed_pieces("{label} was refused ({{401}}): {source:#} is invalid"),
        ["", " was refused ({401}): ", " is invalid"]
    );
    assert_eq!(
        needles(
            "{label} was refused (401): {source} is invalid or expired",
            fixed_pieces
        ),
        ["was refused (401)", "is invalid or expired"]
    );
}

/// The messages a template's script prints: the text of each `fail_step "..."` and
/// `write_warning "..."`, split at its shell expansions (`$name`, `'$name'`).
fn script_messages(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    for call in ["fail_step \"", "write_warning \""] {
        for rest in body.split(call).skip(1) {
            found.push(rest.split('"').next().unwrap().to_string());
        }
    }
    found
}

fn shell_pieces(text: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                chars.next();
            }
            pieces.push(String::new());
        } else {
            pieces.last_mut().unwrap().push(c);
        }
    }
    pieces
}

#[test]
fn every_message_of_the_step_templates_is_in_troubleshooting() {
    let page = troubleshooting();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("step-templates");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut missing = Vec::new();
    let mut count = 0;
    for file in &files {
        for message in script_messages(&script_body(&template(file))) {
            count += 1;
            for needle in needles(&message, shell_pieces) {
                if !page.contains(needle.as_str()) {
                    missing.push(format!("{file}: {needle:?}"));
                }
            }
        }
    }
    assert!(count >= 5, "found only {count} template messages");
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md does not list these template messages:\n{}",
        missing.join("\n")
    );
}

/// Prints every message the scan finds, for whoever writes the troubleshooting page:
/// `cargo test --test integration messages::list_the_messages -- --ignored --nocapture`.
#[test]
#[ignore]
fn list_the_messages() {
    for l in source_messages() {
        println!("{}:{}: {}", l.file.display(), l.line, l.text);
    }
}
