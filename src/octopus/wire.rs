//! What Octopus sends and takes, as serde types with Octopus's own PascalCase field names,
//! and its date formats. Every type ignores unknown fields and makes optional every field an
//! older server may leave out: before 2020.6 there was no `Expires`, and a listed key's
//! `ApiKey` was a masked string rather than an object, so a listed key's `ApiKey` is never
//! read.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;

use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// A service account rather than a person.
    #[serde(default)]
    pub is_service: Option<bool>,
}

impl User {
    /// `Display Name (username, Users-N)`, with whatever of the names the server sent.
    pub fn describe(&self) -> String {
        let id = &self.id;
        match (self.display_name.as_deref(), self.username.as_deref()) {
            (Some(d), Some(u)) if d != u && !d.is_empty() => format!("{d} ({u}, {id})"),
            (_, Some(u)) | (Some(u), None) => format!("{u} ({id})"),
            (None, None) => id.clone(),
        }
    }
}

/// The answer to creating a key: the only time the server shows the key itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedKey {
    pub id: String,
    #[serde(default)]
    pub purpose: Option<String>,
    pub api_key: Secret,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
}

/// A listed key. Its `ApiKey` field is never trusted for anything but its hint: newer
/// servers send `{"HasValue": true, "Hint": "API-ABCD"}`, older ones a masked string, and
/// a hint is shared by many keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKeyInfo {
    pub id: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    api_key: Option<serde_json::Value>,
    /// When the key was last used (2026+ servers), null when never.
    #[serde(default)]
    last_used_time_stamp: Option<String>,
    /// Whether a null `LastUsedTimeStamp` means the key was never used.
    #[serde(default)]
    is_last_used_timestamp_known: Option<bool>,
    /// `FullAccess`, `ReadOnly` or `Custom` (2026.3+ servers); absent before.
    #[serde(default)]
    pub access_level: Option<String>,
}

/// Whether a key was ever used, as far as the server says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastUsed {
    /// The server does not say (before 2026, or it does not know).
    Unknown,
    Never,
    At(Timestamp),
}

impl ApiKeyInfo {
    pub fn last_used(&self) -> LastUsed {
        match (
            self.last_used_time_stamp
                .as_deref()
                .and_then(parse_timestamp),
            self.is_last_used_timestamp_known,
        ) {
            (Some(at), _) => LastUsed::At(at),
            (None, Some(true)) => LastUsed::Never,
            (None, _) => LastUsed::Unknown,
        }
    }

    /// The first characters of the key, when the server shows them (`API-ABCD`).
    pub fn hint(&self) -> Option<&str> {
        let hint = match self.api_key.as_ref()? {
            serde_json::Value::Object(fields) => fields.get("Hint")?.as_str()?,
            serde_json::Value::String(masked) => masked.split(['*', '•']).next()?,
            _ => return None,
        };
        (hint.len() > 4).then_some(hint)
    }

    pub fn purpose(&self) -> &str {
        self.purpose.as_deref().unwrap_or("")
    }

    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires.as_deref().and_then(parse_timestamp)
    }

    pub fn created_at(&self) -> Option<Timestamp> {
        self.created.as_deref().and_then(parse_timestamp)
    }
}

/// One page of a collection; `Links["Page.Next"]` is there only when a next page is.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub links: HashMap<String, Option<String>>,
    /// How many items the whole collection holds, as the server counts them.
    #[serde(default)]
    pub total_results: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunbookRun {
    #[serde(default)]
    pub deployed_by: Option<String>,
    #[serde(default)]
    pub deployed_by_id: Option<String>,
}

/// Octopus's error body: `{"ErrorMessage": "...", "Errors": ["..."], ...}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub errors: Option<Vec<String>>,
}

/// What Octopus accepts for `Expires`: `2026-11-22T10:00:00.000+00:00`.
pub fn format_expires(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// A time as the tool shows it: ISO 8601 UTC to the second, `2026-11-22T10:00:00Z`.
pub fn utc(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Octopus dates: ISO 8601 with an offset and up to 7 fractional digits; a date without an
/// offset (older servers) is read as UTC.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse::<Timestamp>().ok().or_else(|| {
        text.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_is_sent_with_milliseconds_and_an_offset() {
        let at: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(format_expires(at), "2026-11-22T10:00:00.000+00:00");
        assert_eq!(utc(at), "2026-11-22T10:00:00Z");
    }

    #[test]
    fn octopus_dates_parse_with_offsets_and_seven_digits() {
        let a = parse_timestamp("2026-11-22T10:00:00.1234567+00:00").unwrap();
        let b = parse_timestamp("2026-11-22T20:00:00.1234567+10:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse_timestamp("2026-11-22T10:00:00"),
            parse_timestamp("2026-11-22T10:00:00Z")
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn wire_types_ignore_unknown_fields_and_tolerate_old_servers() {
        let listed: ApiKeyInfo = serde_json::from_str(
            r#"{"Id":"apikeys-1","Purpose":"p","ApiKey":"API-XXXX****","Created":"2019-01-01T00:00:00+00:00","Future":1}"#,
        ).unwrap();
        assert_eq!(listed.expires, None);
        assert_eq!(listed.purpose(), "p");
        let user: User =
            serde_json::from_str(r#"{"Id":"Users-1","Username":"svc","DisplayName":null}"#)
                .unwrap();
        assert_eq!(user.describe(), "svc (Users-1)");
        let user: User =
            serde_json::from_str(r#"{"Id":"Users-2","Username":"jane","DisplayName":"Jane Doe"}"#)
                .unwrap();
        assert_eq!(user.describe(), "Jane Doe (jane, Users-2)");
    }

    #[test]
    fn a_listed_keys_hint_comes_from_either_shape_and_never_from_nothing() {
        let key = |api_key: &str| -> ApiKeyInfo {
            serde_json::from_str(&format!(r#"{{"Id":"apikeys-1","ApiKey":{api_key}}}"#)).unwrap()
        };
        assert_eq!(
            key(r#"{"HasValue":true,"Hint":"API-ABCD"}"#).hint(),
            Some("API-ABCD")
        );
        assert_eq!(key(r#""API-WXYZ••••••""#).hint(), Some("API-WXYZ"));
        assert_eq!(key(r#""API-QRST****""#).hint(), Some("API-QRST"));
        assert_eq!(key(r#"{"HasValue":true}"#).hint(), None);
        assert_eq!(key(r#""API""#).hint(), None);
        assert_eq!(key(r#""API-****""#).hint(), None);
        assert_eq!(key(r#""API-A****""#).hint(), Some("API-A"));
        assert_eq!(key("null").hint(), None);
    }

    #[test]
    fn a_users_description_shows_each_name_once() {
        let user = |display: &str| User {
            id: "Users-2".into(),
            username: Some("jane".into()),
            display_name: Some(display.into()),
            is_service: None,
        };
        assert_eq!(user("jane").describe(), "jane (Users-2)");
        assert_eq!(user("").describe(), "jane (Users-2)");
        assert_eq!(user("Jane Doe").describe(), "Jane Doe (jane, Users-2)");
    }

    #[test]
    fn a_listed_keys_dates_are_read() {
        let key: ApiKeyInfo = serde_json::from_str(
            r#"{"Id":"apikeys-1","Created":"2026-11-22T10:00:00+00:00","Expires":"2026-11-22T11:00:00.000+00:00"}"#,
        )
        .unwrap();
        assert_eq!(key.created_at(), parse_timestamp("2026-11-22T10:00:00Z"));
        assert_eq!(key.expires_at(), parse_timestamp("2026-11-22T11:00:00Z"));
        assert!(key.created_at().is_some());
    }
}
