//! The endpoints `setup` prepares (and clears) a space with, one short function each, by
//! what they touch: `library` (spaces, the built-in feed, step templates), `access`
//! (service accounts, teams, user roles and their scoped grants), `trust` (the broker's OIDC
//! identities and accounts) and `runbooks` (projects and environments, the sweep's runbook,
//! its process, snapshots and scheduled trigger). Resources that are sent back whole (a
//! team, a template, an account, a process) stay JSON values, so that fields this tool does
//! not know survive a `PUT` unchanged.

pub mod access;
pub mod library;
pub mod runbooks;
pub mod trust;

pub use access::{Scope, ScopedUserRole, UserRole};
pub use library::Space;
pub use trust::{OidcIdentities, OidcIdentity};
