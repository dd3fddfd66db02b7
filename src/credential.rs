//! The credential a request is sent with: its secret, how it is presented (an API key
//! header or a bearer token), whose it is (the broker service account, or the run key acting
//! as itself) and where it came from (a variable, which messages name instead of the value,
//! or the OIDC exchange); and the broker's credential as a step gives it ([`Broker`]).

use crate::secret::Secret;

/// How the server is told who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Octopus-ApiKey: API-...`.
    ApiKey,
    /// `Authorization: Bearer <token>`, for a service account's access token.
    Bearer,
    /// No credential at all: OIDC discovery and the token exchange, which are anonymous.
    None,
}

/// Who the client acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The broker service account, which owns every run key.
    Broker,
    /// A run key acting as itself (revoke without the broker credential).
    RunKey,
}

/// Where a credential came from: messages name it instead of the value, and advice on a
/// refusal depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable of the step, by name.
    Variable(&'static str),
    /// The access token that the step's OIDC JWT (`RUNKEY_OIDC_JWT`) was exchanged for.
    OidcExchange,
    /// The run key as the guard holds it.
    Guard,
    /// No credential at all.
    Nothing,
}

impl Origin {
    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Variable(name) => name,
            Origin::OidcExchange => "the access token from RUNKEY_OIDC_JWT",
            Origin::Guard => "the guard's run key",
            Origin::Nothing => "no credential",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Credential {
    secret: Secret,
    scheme: Scheme,
    role: Role,
    origin: Origin,
    /// When it stops working, when that is known (an access token's `expires_in`): no key
    /// it creates may outlive it.
    expires: Option<jiff::Timestamp>,
}

impl Credential {
    pub fn new(secret: Secret, scheme: Scheme, role: Role, origin: Origin) -> Credential {
        Credential {
            secret,
            scheme,
            role,
            origin,
            expires: None,
        }
    }

    /// The same credential, known to stop working at `expires`.
    pub fn with_expiry(self, expires: Option<jiff::Timestamp>) -> Credential {
        Credential { expires, ..self }
    }

    pub fn expires(&self) -> Option<jiff::Timestamp> {
        self.expires
    }

    /// Where it came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Where it came from, for messages: a variable's name, or what made it.
    pub fn source(&self) -> &'static str {
        self.origin.describe()
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// For requests that carry no credential (OIDC discovery, the token exchange).
    pub fn anonymous() -> Credential {
        Credential::new(Secret::new(""), Scheme::None, Role::Broker, Origin::Nothing)
    }

    pub fn header_name(&self) -> &'static str {
        match self.scheme {
            Scheme::ApiKey => "X-Octopus-ApiKey",
            Scheme::Bearer => "Authorization",
            Scheme::None => "no credential",
        }
    }

    /// The header as sent: the only place a credential leaves for the server. `None` for an
    /// anonymous request.
    pub fn header_value(&self) -> Option<String> {
        match self.scheme {
            Scheme::ApiKey => Some(self.secret.expose().to_string()),
            Scheme::Bearer => Some(format!("Bearer {}", self.secret.expose())),
            Scheme::None => None,
        }
    }

    /// What to do when the server refuses this credential (401).
    pub fn fix_for_401(&self) -> &'static str {
        match (self.role, self.scheme) {
            (Role::RunKey, _) => "the run key expired or was revoked; run the create step again",
            (Role::Broker, Scheme::Bearer) => {
                "get a fresh access token for the broker service account (they last one hour)"
            }
            (Role::Broker, Scheme::ApiKey) => {
                "give the step a current API key of the broker service account"
            }
            (Role::Broker, Scheme::None) => "the server wants a credential for this request",
        }
    }
}

/// The broker's credential as the step gives it.
#[derive(Debug, Clone)]
pub enum Broker {
    /// `OCTOPUS_API_KEY` or `OCTOPUS_ACCESS_TOKEN`: ready to send.
    Ready(Credential),
    /// `RUNKEY_OIDC_JWT` and `RUNKEY_OIDC_AUDIENCE`: exchanged for an access token first.
    Oidc { jwt: Secret, audience: String },
}

/// Octopus API keys are `API-` followed by capital letters and digits.
pub fn is_key_shaped(key: &str) -> bool {
    key.strip_prefix("API-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_api_dash_capitals_and_digits() {
        assert!(is_key_shaped("API-ABC123"));
        for bad in ["API-", "api-ABC", "API-abc", "ABC123", "API-AB C", ""] {
            assert!(!is_key_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn headers_follow_the_scheme() {
        let key = Credential::new(
            Secret::new("API-K"),
            Scheme::ApiKey,
            Role::Broker,
            Origin::Variable("OCTOPUS_API_KEY"),
        );
        assert_eq!(
            (key.header_name(), key.header_value().as_deref()),
            ("X-Octopus-ApiKey", Some("API-K"))
        );
        let token = Credential::new(
            Secret::new("eyJ"),
            Scheme::Bearer,
            Role::Broker,
            Origin::Variable("OCTOPUS_ACCESS_TOKEN"),
        );
        assert_eq!(
            (token.header_name(), token.header_value().as_deref()),
            ("Authorization", Some("Bearer eyJ"))
        );
        assert_eq!(Credential::anonymous().header_value(), None);
        assert!(format!("{token:?}").contains("(redacted)"));
        assert!(!format!("{token:?}").contains("eyJ"));
    }

    #[test]
    fn messages_name_the_source_and_the_fix_for_each_role() {
        let run_key = Credential::new(
            Secret::new("API-R"),
            Scheme::ApiKey,
            Role::RunKey,
            Origin::Variable("RUNKEY_API_KEY"),
        );
        assert_eq!(run_key.source(), "RUNKEY_API_KEY");
        assert_eq!(run_key.origin(), Origin::Variable("RUNKEY_API_KEY"));
        assert!(run_key.fix_for_401().contains("run the create step again"));
        let broker = Credential::new(
            Secret::new("API-B"),
            Scheme::ApiKey,
            Role::Broker,
            Origin::Variable("OCTOPUS_API_KEY"),
        );
        assert!(
            broker
                .fix_for_401()
                .contains("current API key of the broker")
        );
        let token = Credential::new(
            Secret::new("t"),
            Scheme::Bearer,
            Role::Broker,
            Origin::OidcExchange,
        );
        assert!(token.fix_for_401().contains("fresh access token"));
        assert_eq!(token.source(), "the access token from RUNKEY_OIDC_JWT");
    }
}
