//! `Secret` wraps a credential (the broker key, an access token, a run key) so that no
//! `Debug` or `Display` of a value that holds one can print it. The only ways out are
//! [`Secret::expose`], used for the request header, the child's environment and the
//! base64 payload of the `mask`/`setVariable` service messages; and [`hand_over`], which
//! serialises it only where a field asks for it by name (the guard's spec, on its pipe).

use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
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

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
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
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("API-SECRETVALUE1234");
        assert_eq!(format!("{secret:?}"), "(redacted)");
        assert_eq!(format!("{secret}"), "(redacted)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some((redacted))");
        assert_eq!(secret.expose(), "API-SECRETVALUE1234");
    }
}
