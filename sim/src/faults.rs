//! What a test can make the server do differently: faults injected into the next matching
//! requests (error statuses, resets, stalls, a proxy's HTML page), outages of the whole
//! server, and the switches for behaviour that differs between Octopus versions or that no
//! public source settles (among them what a server does with a key's access level).

use std::time::Duration;

use crate::http::Request;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status and an Octopus error body, without doing the work.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// A reverse proxy's HTML 502 page, without doing the work.
    Html502,
    /// Reset the connection before answering, without doing the work.
    ResetBeforeResponse,
    /// Do the work, then reset the connection instead of answering.
    CommitThenReset,
    /// Stall this long, then do the work and answer.
    Delay(Duration),
    /// Answer with this status and body (any bytes), without doing the work.
    Body { status: u16, body: String },
}

impl FaultKind {
    /// This status with an Octopus error body, and no `Retry-After`.
    pub fn status(status: u16) -> FaultKind {
        FaultKind::Status {
            status,
            retry_after: None,
        }
    }
}

/// A fault for the next `times` requests whose method matches and whose path contains
/// `path_contains`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub kind: FaultKind,
    pub times: usize,
}

impl Fault {
    pub fn new(method: &str, path_contains: &str, kind: FaultKind) -> Fault {
        Fault {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            kind,
            times: 1,
        }
    }

    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    pub(crate) fn matches(&self, request: &Request) -> bool {
        self.times > 0
            && self.method.eq_ignore_ascii_case(&request.method)
            && request.path().contains(&self.path_contains)
    }
}

/// An outage of the whole server, for every request until it ends (`Simulator::set_outage`,
/// `Simulator::outage_for`): a server restart, a load balancer failing over, a port nobody
/// listens on at the wrong second. No request reaches the API during one, and no injected
/// fault is used up; every request read is still logged, and counted apart
/// (`Simulator::requests_during_outage`), so a test can see that a client kept trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// A server that is up but not ready, as while it restarts: every request is answered
    /// 503 with an Octopus error body ("The server is restarting ...") and does no work.
    Unavailable,
    /// A load balancer whose backend is gone: every connection is accepted, its request
    /// read, and the connection reset without an answer.
    Reset,
    /// Nothing listens on the port: connections are refused, and connections opened before
    /// are reset at their next request. The port is closed for real and listened on again
    /// (the same port) when the outage ends. Refused attempts never reach the simulator,
    /// so they are neither logged nor counted.
    Refused,
}

/// How a server treats `partialPurpose` on a key listing. Octopus documents it only as an
/// "optional case-insensitive filter on the API key purpose", without saying whether it
/// matches a substring or a prefix, and older servers ignore it: a client must filter by
/// itself either way, so by default the simulator ignores it and shows whether it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialPurpose {
    /// Every key of the user is listed, whatever `partialPurpose` says (older servers).
    #[default]
    Ignored,
    /// Keys whose purpose contains the text, ignoring case.
    Substring,
    /// Keys whose purpose starts with the text, ignoring case.
    Prefix,
    /// A SQL `LIKE '%text%'` as a server might run it without escaping: `[...]` is a
    /// character class (so `[runkey ` matches one of those letters), `%` and `_` wildcards.
    SqlLike,
}

impl PartialPurpose {
    /// Whether a key with `purpose` is listed when the client asked for `partial`.
    pub fn admits(self, purpose: &str, partial: &str) -> bool {
        let (purpose, partial) = (purpose.to_lowercase(), partial.to_lowercase());
        match self {
            PartialPurpose::Ignored => true,
            PartialPurpose::Substring => purpose.contains(&partial),
            PartialPurpose::Prefix => purpose.starts_with(&partial),
            PartialPurpose::SqlLike => {
                let pattern: Vec<char> = format!("%{partial}%").chars().collect();
                let text: Vec<char> = purpose.chars().collect();
                like(&text, &pattern)
            }
        }
    }
}

/// SQL Server's `LIKE`: `%` any run, `_` any one character, `[abc]` one of them (an
/// unclosed `[` matches nothing).
fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some('%') => (0..=text.len()).any(|skip| like(&text[skip..], &pattern[1..])),
        Some('_') => !text.is_empty() && like(&text[1..], &pattern[1..]),
        Some('[') => {
            let Some(close) = pattern.iter().position(|c| *c == ']') else {
                return false;
            };
            !text.is_empty()
                && pattern[1..close].contains(&text[0])
                && like(&text[1..], &pattern[close + 1..])
        }
        Some(c) => text.first() == Some(c) && like(&text[1..], &pattern[1..]),
    }
}

/// How a server pages its collections. Octopus's pages end: the last one has no
/// `Links["Page.Next"]`. A server bug, a proxy or cache that drops the query string, or
/// records added faster than a client reads them can make a listing that never ends or
/// that repeats itself, and a client that follows `Page.Next` must still stop. Applies to
/// every collection served as an Octopus page (keys, events, users, machines, spaces,
/// teams and their grants, accounts, step templates, projects, project groups,
/// environments, tenants, runbooks, project triggers); a service account's OIDC
/// identities are no such page (no links), nor is an `/all` (a bare array), and they are
/// always listed honestly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paging {
    /// Octopus's own paging: `skip` and `take` honoured, `Page.Next` only before the last page.
    #[default]
    Honest,
    /// A listing that never ends: every page is full (of the real items where there are
    /// any, then of fabricated ones, new ids each time, well-formed for their kind, never
    /// with the `[runkey ...]` marker, events inside the asked `from`/`to`), `TotalResults`
    /// grows with `skip`, and `Page.Next` always points at the next `skip`. A page holds at
    /// most 100 items whatever `take` asks, so thousands of pages cost little.
    Endless,
    /// `skip` is ignored: every page is the first page again, `TotalResults` is 1,000,000
    /// and `Page.Next` points at the next `skip`.
    SkipIgnored,
    /// Honest items, but the last page's `Page.Next` points back at the same page (the same
    /// URL as its `Self`).
    NextRepeats,
}

/// What a server does with the `Expires` of a key being created. Servers since 2020.6 honour
/// it within their rules; a server can also shorten it, ignore it and apply its default, or
/// (before 2020.6) know no expiry at all. A client must read the `Expires` it gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryMode {
    /// `Expires` is kept; one in the past, beyond `max_expiry_days`, or after the expiry of
    /// the key making the request is refused with 400.
    #[default]
    Honoured,
    /// `Expires` is silently shortened to at most this long from now (one in the past is
    /// still refused).
    CappedAt(jiff::SignedDuration),
    /// `Expires` is ignored: the key expires `default_expiry_days` from now.
    Ignored,
    /// A server without expiry: `Expires` is ignored, and the key has none, in the answer
    /// and in listings.
    Omitted,
}

/// What a server does with the `Expires` of a key created with an OIDC access token, when
/// it is after the token's own expiry. Whether Octopus caps such a key at the token's expiry
/// (as it refuses a key created with a key from outliving that key) is unconfirmed: a
/// client must work with each of these, and read back the `Expires` it got.
///
/// The default is `Unchecked`, what the simulator always did: with `Refuse` the
/// octopus-runkey binary of today fails to mint with a token, since it asks for its full
/// TTL (one hour by default) with a token that lives one hour from a moment earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenExpiryRule {
    /// Refused with 400, as for a key created with a key ("The expiry date cannot be after
    /// the expiry of the access token used to create it.").
    Refuse,
    /// Silently shortened to the token's expiry.
    Cap,
    /// Kept: the key outlives the token that made it.
    #[default]
    Unchecked,
}

/// What a server does with an `AccessLevel` field in the body of a new API key. No public
/// source documents one (`CreateUserApiKeyCommand` has `Purpose`, `Expires`, `UserId` and
/// `ActorType`; only the web portal is documented to choose a level), so a client that asks
/// for a read-only key must read the key back and trust only the `AccessLevel` it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLevelField {
    /// The field is ignored, as an unknown field is by a lenient server: every key made
    /// over the API has full access, whatever was asked.
    #[default]
    Ignored,
    /// The field is taken: `"ReadOnly"` makes a read-only key, `"FullAccess"` (or no field)
    /// a full one; `"Custom"` (which needs roles and scopes no body can carry) and any
    /// other value are refused with 400.
    Honoured,
    /// The field is refused with 400 as unknown, as a strict server refuses a field it does
    /// not know.
    Refused,
}

/// Server behaviours that differ between Octopus versions or are unconfirmed. The defaults
/// are the strictest a client can meet, so that nothing the client should do itself is done
/// for it by the simulator; the one exception is `token_expiry_rule` (see
/// [`TokenExpiryRule`]). The switches for a server that misbehaves (`paging`,
/// `echo_credentials`) are off by default.
#[derive(Debug, Clone)]
pub struct Options {
    /// The most items one page holds, whatever `take` asks (None: `take` is honoured).
    pub max_take: Option<usize>,
    /// How key listings treat `partialPurpose` (default: ignored).
    pub partial_purpose_filter: PartialPurpose,
    /// Whether a key may delete itself (unconfirmed on real servers).
    pub allow_self_delete: bool,
    /// What the server does with the `Expires` of a new key (default: honoured).
    pub expiry: ExpiryMode,
    /// 2025.4+ refuses an `Expires` more than this many days from now.
    pub max_expiry_days: i64,
    /// The expiry of a key created without `Expires`.
    pub default_expiry_days: i64,
    /// `IdentityEstablishedWith` without the key's purpose (its wording is not published and
    /// may change): events then name their key only through `ApiKeyId`.
    pub identity_without_purpose: bool,
    /// Events recorded without `ApiKeyId` and `ApiKeyHint`, as servers before 2026 write
    /// them: a change then names its key only inside `IdentityEstablishedWith`. Applies to
    /// the events recorded while it is set.
    pub events_without_api_key_id: bool,
    /// Whether the server serves OpenID Connect discovery, its JWKS and the token endpoint
    /// (2025.1+); `false` is an older server, where all three answer 404.
    pub oidc_discovery: bool,
    /// Whether keys show `LastUsedTimeStamp` and `IsLastUsedTimestampKnown`, as servers
    /// since 2026 do (default: not, as older servers).
    pub last_used_timestamps: bool,
    /// Whether an OIDC access token may create API keys (unconfirmed on real servers). When
    /// `false`, `POST /api/users/{id}/apikeys` with a bearer token answers 403.
    pub access_tokens_create_keys: bool,
    /// Whether regular users may make API keys (default true). An administrator can switch
    /// it off since 2023.2; service accounts still get keys. When `false`,
    /// `GET /api/authentication` says so in `UserApiKeysEnabled`, and a key for a user who
    /// is not a service account is refused with 400 (the wording is the simulator's own).
    pub user_api_keys_enabled: bool,
    /// Whether the server serves `GET /api/authentication` (default true); `false` is an
    /// older server, which answers 404, so a client cannot learn the expiry limits first.
    pub authentication_endpoint: bool,
    /// How long an OIDC access token lives, from the token exchange or
    /// `Simulator::add_access_token` (default one hour, as Octopus documents); the
    /// exchange's `expires_in` says the same, and a request with an expired token gets 401.
    pub access_token_lifetime: jiff::SignedDuration,
    /// What happens to a key created with an access token whose `Expires` is after the
    /// token's expiry (default: nothing, it is kept; see [`TokenExpiryRule`]). Applies
    /// while `expiry` is `Honoured`, like the rule for a key created with a key.
    pub token_expiry_rule: TokenExpiryRule,
    /// A buggy server or proxy that quotes the credential in its errors (default false;
    /// real Octopus never does): a 401's `ErrorMessage` names the API key or access token
    /// presented ("The API key API-... is not valid, or it has expired."), every other
    /// error message (400, 403, 404, 5xx, injected faults included) has it appended, and a
    /// refused OIDC token exchange's `error_description` quotes the whole `subject_token`.
    /// A client must never print what the server sends back without redacting it.
    pub echo_credentials: bool,
    /// How every paged collection is paged (default: honestly, as Octopus does).
    pub paging: Paging,
    /// What a server does with an `AccessLevel` in the body of a new key (default: ignores
    /// it, so every key made over the API has full access; see [`AccessLevelField`]).
    pub access_level_field: AccessLevelField,
    /// Whether key reads (one key, listings; never the answer to the create) show
    /// `AccessLevel` (`FullAccess`, `ReadOnly`, `Custom`), as Octopus 2026.3 does (default
    /// false, as older servers and the reference schemas of the simulator's own tests). A
    /// read-only key is read-only whether or not its reads say so.
    pub access_level_in_reads: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_take: None,
            partial_purpose_filter: PartialPurpose::Ignored,
            allow_self_delete: true,
            expiry: ExpiryMode::Honoured,
            max_expiry_days: 366,
            default_expiry_days: 180,
            identity_without_purpose: false,
            events_without_api_key_id: false,
            oidc_discovery: true,
            access_tokens_create_keys: true,
            last_used_timestamps: false,
            user_api_keys_enabled: true,
            authentication_endpoint: true,
            access_token_lifetime: jiff::SignedDuration::from_hours(1),
            token_expiry_rule: TokenExpiryRule::Unchecked,
            echo_credentials: false,
            paging: Paging::Honest,
            access_level_field: AccessLevelField::Ignored,
            access_level_in_reads: false,
        }
    }
}
