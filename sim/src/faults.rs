//! What a test can make the server do differently: faults injected into the next matching
//! requests (error statuses, resets, stalls, a proxy's HTML page), and the switches for
//! behaviour that differs between Octopus versions or that no public source settles.

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

/// Server behaviours that differ between Octopus versions or are unconfirmed.
#[derive(Debug, Clone)]
pub struct Options {
    /// The most items one page holds, whatever `take` asks (None: `take` is honoured).
    pub max_take: Option<usize>,
    /// Newer servers filter key listings by `partialPurpose`; older ones ignore it.
    pub partial_purpose: bool,
    /// Whether a key may delete itself (unconfirmed on real servers).
    pub allow_self_delete: bool,
    /// 2025.4+ caps `Expires` at this many days from now.
    pub max_expiry_days: i64,
    /// The expiry of a key created without `Expires`.
    pub default_expiry_days: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_take: None,
            partial_purpose: true,
            allow_self_delete: true,
            max_expiry_days: 366,
            default_expiry_days: 180,
        }
    }
}
