//! Integration tests: the real binary against the Octopus simulator, one module per feature.

mod support;

// The shape of the source: no two files import each other.
mod architecture;

// Read-only run keys: asked for, proven, or deleted.
mod access;
// `audit`: the auditor's view of the brokers' events.
mod audit;
// `create`: minting, the operator, the expiry, settling a lost answer, concurrent runs.
mod create;
// `exec`: create, use and revoke in one step, signals included.
mod exec;
// The guard: revoking after a cancel, a kill or the end of the task.
mod guard;
// `list`.
mod list;
// Every message of the binary and the templates is in docs/troubleshooting.md.
mod messages;
// Names people typed that hold marker text or invisible characters.
mod names;
// The server and the network: faults, retries, timeouts, TLS, proxies, redirects, URLs.
mod network;
// OIDC: the broker with no stored secret.
mod oidc;
// What the tool prints and where: warning blocks, verbose lines.
mod output;
// Properties over arbitrary input: encoders, purposes, answers.
mod properties;
// Regression tests, each naming the issue whose defect it pins.
mod regressions;
// `revoke`: by id, by task, with the broker or the run key, and the sweep.
mod revoke;
// Secrets never reach argv, files, logs or a child that should not have them.
mod secrets;
// Service messages start lines, whatever the names printed hold.
mod service_messages;
// `setup`: preparing a space.
mod setup;
// The step templates, run as Octopus and Calamari run them.
mod templates;
// Runs that no person started: triggers and service accounts.
mod triggers;
// Usage errors (exit 2), named before any request.
mod usage;
// `use`: the step's command with the run key in its environment.
mod use_;
