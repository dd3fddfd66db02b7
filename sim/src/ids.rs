//! The values the server mints, shaped as Octopus shapes them: API key ids and secrets,
//! bearer access tokens, a JWT's `jti`, GUIDs (service accounts' external ids, the ids of
//! process steps and actions), and documents' ids numbered per kind. It imports nothing of
//! the simulator, so the state, the OIDC issuer and the records can all use it.

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// An API key's id: `apikeys-` and 25 letters and digits.
pub(crate) fn api_key_id() -> String {
    format!("apikeys-{}", random_chars(25, ALNUM))
}

/// An API key's secret: `API-` and 26 upper-case letters and digits, the shape clients check.
pub(crate) fn api_key_secret() -> String {
    format!("API-{}", random_chars(26, UPPER_ALNUM))
}

/// A bearer access token; it starts as a JWT's base64 does, and no client reads further.
pub(crate) fn access_token() -> String {
    format!("eyJ{}", random_chars(40, ALNUM))
}

/// The `jti` claim of a JWT: unique per token.
pub(crate) fn jwt_id() -> String {
    random_chars(16, ALNUM)
}

fn random_chars(count: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).expect("OS random source");
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

/// A new GUID (version 4), lower case, as Octopus shows a service account's external id.
pub(crate) fn guid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("OS random source");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Ids of the form `Kind-N`, numbered per kind as Octopus numbers its documents
/// (`Projects-1`, `Runbooks-1`, ...), never reused after a deletion.
#[derive(Default)]
pub(crate) struct Numbering {
    numbers: Vec<(&'static str, u64)>,
}

impl Numbering {
    /// The next number of `kind`, from 1.
    pub fn next_number(&mut self, kind: &'static str) -> u64 {
        match self.numbers.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.numbers.push((kind, 1));
                1
            }
        }
    }

    /// The next id of `kind`: `Kind-N`.
    pub fn next_id(&mut self, kind: &'static str) -> String {
        format!("{kind}-{}", self.next_number(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_look_like_guids() {
        let id = guid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, guid());
    }

    #[test]
    fn each_kind_has_its_own_numbers() {
        let mut numbering = Numbering::default();
        assert_eq!(numbering.next_id("Runbooks"), "Runbooks-1");
        assert_eq!(numbering.next_id("Projects"), "Projects-1");
        assert_eq!(numbering.next_id("Runbooks"), "Runbooks-2");
        assert_eq!(numbering.next_number("Projects"), 2);
    }
}
