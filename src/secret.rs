//! `Secret` wraps a credential (the broker key, an access token, a run key) so that no
//! `Debug` or `Display` of a value that holds one can print it. The only ways out are
//! [`Secret::expose`], used for the request header, the child's environment and the
//! base64 payload of the `mask`/`setVariable` service messages; and [`hand_over`], which
//! serialises it only where a field asks for it by name (the guard's spec, on its pipe).
//!
//! Every credential the process comes to hold ([`Secret::credential`], and every secret read
//! from an answer) is also remembered, so that [`redact`] can take it, whole or in part, out
//! of any text a server or proxy supplied before it is printed: an error body that quotes
//! the key it refused is printed without it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The credentials this process holds, for [`redact`].
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How many characters of a credential in a row are taken out of printed text: enough that
/// a key's hint (`API-ABCD`, 8 characters, which Octopus itself shows) is not, and any real
/// part of a key, token or JWT is.
const PART: usize = 16;

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A credential of this process (from the environment, an exchange, or the server's
    /// answer): also remembered so that no printed text can show it.
    pub fn credential(value: impl Into<String>) -> Self {
        let secret = Secret(value.into());
        remember(&secret.0);
        secret
    }

    /// The plain value. Every caller is a place where the secret is meant to leave the
    /// process: keep that list short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// A secret read from an answer (a created key, an access token, the guard's spec) is a
/// credential of this process.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::credential)
    }
}

fn remember(value: &str) {
    if value.chars().count() < 8 {
        return;
    }
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    if !held.iter().any(|h| h == value) {
        held.push(value.to_string());
    }
}

/// `text` with every credential this process holds taken out, whole or any part of
/// [`PART`] characters or more, each run replaced by `(redacted)`.
pub fn redact(text: &str) -> String {
    let held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    redact_with(text, &held)
}

fn redact_with(text: &str, held: &[String]) -> String {
    let mut hidden = vec![false; text.len()];
    for secret in held {
        let len = secret.len().min(PART);
        if len == 0 {
            continue;
        }
        let parts: HashSet<&str> = (0..=secret.len() - len)
            .filter(|i| secret.is_char_boundary(*i) && secret.is_char_boundary(i + len))
            .map(|i| &secret[i..i + len])
            .collect();
        for start in 0..text.len().saturating_sub(len - 1) {
            let end = start + len;
            if text.is_char_boundary(start)
                && text.is_char_boundary(end)
                && parts.contains(&text[start..end])
            {
                hidden[start..end].iter_mut().for_each(|h| *h = true);
            }
        }
    }
    if !hidden.contains(&true) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for (at, c) in text.char_indices() {
        if hidden[at] {
            if !in_secret {
                out.push_str("(redacted)");
                in_secret = true;
            }
        } else {
            in_secret = false;
            out.push(c);
        }
    }
    out
}

/// Serialises the plain value, for `#[serde(serialize_with = "crate::secret::hand_over")]`
/// on a field that is handed to another process of this tool. `Secret` itself implements
/// no `Serialize`, so nothing serialises one by accident.
pub fn hand_over<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&secret.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_credential_is_taken_out_of_text_whole_or_in_part() {
        // Made up, as are all the keys in these tests: the alphabet, not any server's key.
        let key = "API-ABCDEFGHIJKLMNOPQRSTUVWXYZ12".to_string();
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGFjZTpkZWZhdWx0In0.c2lnbmF0dXJl".to_string();
        let held = [key.clone(), jwt.clone()];
        assert_eq!(
            redact_with(&format!("The API key {key} is not valid"), &held),
            "The API key (redacted) is not valid"
        );
        // Part of it, long enough to matter; the hint Octopus shows itself stays.
        assert_eq!(
            redact_with("key ABCDEFGHIJKLMNOPQR... and API-ABCD•••", &held),
            "key (redacted)... and API-ABCD•••"
        );
        assert_eq!(
            redact_with(&format!("bad subject_token '{}'", &jwt[20..]), &held),
            "bad subject_token '(redacted)'"
        );
        assert_eq!(redact_with("nothing here", &held), "nothing here");
        assert_eq!(
            redact_with("ünïcode API-ABCDEFGHIJKLMNOP", &held),
            "ünïcode (redacted)"
        );
    }

    #[test]
    fn credentials_are_remembered_and_short_values_are_not() {
        // Made up: a word and zeros, not any server's key.
        let secret = Secret::credential("API-REMEMBERED0000000000000");
        assert_eq!(
            redact("said API-REMEMBERED0000000000000"),
            "said (redacted)"
        );
        let _short = Secret::credential("abc");
        assert_eq!(redact("abc"), "abc");
        assert_eq!(secret.expose(), "API-REMEMBERED0000000000000");
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("API-SECRETVALUE1234");
        assert_eq!(format!("{secret:?}"), "(redacted)");
        assert_eq!(format!("{secret}"), "(redacted)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some((redacted))");
        assert_eq!(secret.expose(), "API-SECRETVALUE1234");
    }
}
