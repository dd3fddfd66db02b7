//! The server's own OpenID Connect issuer: one ES256 (P-256) signing key made when the
//! simulator starts, JWTs signed with it (what Octopus puts in `<account>.OpenIdConnect.Jwt`),
//! their verification, and the `*`/`?` subject patterns of service accounts' OIDC identities.
//! The signatures are real, so a token signed by any other key is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

/// A P-256 key pair and the `kid` its JWKS entry and JWT headers carry.
pub(crate) struct SigningKey {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key just made");
        SigningKey {
            kid: kid.to_string(),
            pair,
        }
    }

    /// The public key as a JWK (`kty` EC, `crv` P-256, `x`, `y`).
    pub fn jwk(&self) -> Value {
        // An uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// A compact JWS of `claims`, signed ES256.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ES256 signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// The claims of `jwt` when it is an ES256 JWS that this key signed; otherwise why not.
    pub fn verify(&self, jwt: &str) -> Result<Value, Refusal> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return Err(Refusal::Malformed);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed);
        let header: Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| Refusal::Malformed)?;
        let claims: Value =
            serde_json::from_slice(&decode(payload)?).map_err(|_| Refusal::Malformed)?;
        let signature = decode(signature)?;
        if header["alg"] != "ES256" || !claims.is_object() {
            return Err(Refusal::Signature);
        }
        let point = self.pair.public_key().as_ref();
        let input = jwt.rsplit_once('.').map_or("", |(input, _)| input);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &signature)
            .map_err(|_| Refusal::Signature)?;
        Ok(claims)
    }
}

/// A JWT that the server's issuer did not mint as it should, for tests of refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtVariant {
    /// Signed by a key the server never published (with the server's `kid`, as a forger
    /// would claim).
    OtherKey,
    /// Signed by the server's key, but naming another issuer.
    OtherIssuer(String),
}

/// Why a subject token is not even read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Malformed,
    Signature,
}

/// The claims Octopus puts in a step's JWT: issuer, subject, audience, and its lifetime.
pub(crate) fn claims(
    issuer: &str,
    subject: &str,
    audience: &str,
    now: Timestamp,
    expires: Timestamp,
) -> Value {
    json!({
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now.as_second(),
        "nbf": now.as_second(),
        "exp": expires.as_second(),
        "jti": crate::ids::jwt_id(),
    })
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (none too)
/// and `?` for exactly one; everything else, case included, must be equal.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_case_sensitive_and_question_marks_take_one_character() {
        assert!(wildcard_match(
            "space:default:*",
            "space:default:project:web"
        ));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(!wildcard_match(
            "space:Default:*",
            "space:default:project:web"
        ));
        assert!(wildcard_match(
            "*:project:*:env?",
            "space:x:project:web:env1"
        ));
        assert!(!wildcard_match("space:default", "space:default:project"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn a_signature_verifies_only_with_its_own_key() {
        let server = SigningKey::generate("k1");
        let other = SigningKey::generate("k1");
        let now = Timestamp::now();
        let jwt = server.sign(&claims("https://o", "s", "a", now, now));
        assert_eq!(server.verify(&jwt).unwrap()["sub"], "s");
        assert_eq!(other.verify(&jwt), Err(Refusal::Signature));
        assert_eq!(server.verify("a.b"), Err(Refusal::Malformed));
        let tampered = jwt.replacen('.', ".x", 1);
        assert!(server.verify(&tampered).is_err());
    }
}
