//! The plan `setup` makes and walks: its steps (each created, updated, unchanged or
//! skipped, with the write that carries it out), the ids later writes need ([`Known`]),
//! and the warnings gathered while reading the space.

use anyhow::Result;

use crate::octopus::Client;
use crate::octopus::setup::Space;

/// What a step does to the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Removed,
    Unchanged,
    Skipped,
}

impl Outcome {
    /// What was done.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Removed => "removed",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
        }
    }

    /// What would be done: a dry run's plan speaks in the future tense.
    pub fn as_plan(self) -> &'static str {
        match self {
            Outcome::Created => "would create",
            Outcome::Updated => "would update",
            Outcome::Removed => "would remove",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One line of the plan.
pub struct Step {
    /// What kind of thing: `package`, `step template`, `service account`, ...
    pub kind: &'static str,
    pub name: String,
    pub outcome: Outcome,
    /// What the step does, or why nothing.
    pub detail: String,
    /// The request that carries it out: `Some` exactly when created or updated.
    pub write: Option<Box<dyn Apply>>,
}

impl Step {
    pub fn new(
        kind: &'static str,
        name: impl Into<String>,
        outcome: Outcome,
        detail: impl Into<String>,
    ) -> Step {
        Step {
            kind,
            name: name.into(),
            outcome,
            detail: detail.into(),
            write: None,
        }
    }

    pub fn writes(mut self, write: impl Apply + 'static) -> Step {
        self.write = Some(Box::new(write));
        self
    }
}

/// A request a plan makes: each step's own kind of write carries itself out.
pub trait Apply {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()>;
}

/// Ids that later writes need and earlier ones (or the plan's reads) provide.
#[derive(Default)]
pub struct Known {
    pub broker_id: Option<String>,
    pub team_id: Option<String>,
    /// The broker's external id: the audience of its OIDC tokens.
    pub external_id: Option<String>,
    /// The broker's Generic OIDC account.
    pub account_id: Option<String>,
    /// The step templates in the space, by name: (id, version).
    pub templates: std::collections::HashMap<String, (String, i64)>,
    /// The sweep's runbook and its process.
    pub runbook_id: Option<String>,
    pub process_id: Option<String>,
}

/// The plan for one space.
pub struct Plan {
    pub space: Space,
    pub steps: Vec<Step>,
    pub known: Known,
    pub warnings: Vec<String>,
    /// What `--remove` could not do, for the checklist.
    pub by_hand: Vec<String>,
}
