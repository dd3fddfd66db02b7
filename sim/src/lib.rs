//! A stateful simulator of the parts of the Octopus Deploy REST API that octopus-runkey
//! touches, served over real HTTP (or HTTPS) on 127.0.0.1 at a random port. It keeps the
//! real server's rules: users and service accounts, API keys with ownership rules and expiry
//! (an expired key gets 401), access tokens with their own lifetime, paging with
//! `Links["Page.Next"]` and a settable page size, runbook runs and their server tasks,
//! Octopus's error bodies, an audit log of changes with `IdentityEstablishedWith`,
//! deployment targets a script can disable, what `setup` prepares and removes (packages,
//! step templates, teams and scoped grants, accounts, runbooks with their processes,
//! snapshots and scheduled triggers, over the projects, environments and tenants of a
//! space), API key access levels (a read-only key reads and changes nothing), the
//! server's own OIDC issuer (discovery, JWKS,
//! token exchange for service accounts' OIDC identities), the anonymous authentication
//! settings, a clock of its own (in every answer's `Date`, settable behind or ahead of the
//! worker's), a request log with bodies, a connection counter, injected faults, outages of
//! the whole server (503s, resets, a refused port), and switches for what a server might do
//! wrong (listings that never end or repeat, errors that quote the credential). Its defaults
//! hide nothing a client must do itself: `partialPurpose` is ignored, and the usual cast
//! shares the broker account with other runs' keys and keys of people.
//! Tests seed it, run the real binary against it, and read its state afterwards. Beside the
//! server, what a step sees of the rest of Octopus: Calamari's reading of service messages
//! (`calamari`) and Tentacle's view of the step's processes (`tentacle`), shared by the
//! tests, the demo and the benchmarks. This file only declares modules and re-exports.

mod api;
mod auth;
pub mod calamari;
mod catalog;
mod credential_echo;
mod faults;
mod fixture;
mod http;
mod ids;
mod model;
mod oidc;
mod outage;
mod prepared;
mod render;
mod runbooks;
mod server;
mod simulator;
mod spaces;
mod state;
#[cfg(target_os = "linux")]
pub mod tentacle;
mod tls;

pub use catalog::{DEFAULT_PROJECT_GROUP, Environment, Project, ProjectGroup, Tenant};
pub use faults::{
    AccessLevelField, ExpiryMode, Fault, FaultKind, Options, Outage, Paging, PartialPurpose,
    TokenExpiryRule,
};
pub use fixture::{Fixture, OTHER_RUN_PURPOSE};
pub use model::{
    AccessLevel, ApiKey, AuditEvent, Machine, OidcIdentity, RequestRecord, RunbookRun, Task,
    TaskState, User,
};
pub use oidc::JwtVariant;
pub use prepared::{Package, ScopedUserRole, Space, Team, UserRole};
pub use render::{DEFAULT_TAKE, ENDLESS_PAGE_MAX, SKIP_IGNORED_TOTAL, octopus_date};
pub use simulator::Simulator;
pub use tls::TestCa;
