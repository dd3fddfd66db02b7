//! Integration tests: the real binary against the Octopus simulator, one module per feature.

mod support;

mod architecture;

mod audit;
mod create;
mod errors;
mod exec;
mod guard;
mod hardening;
mod list;
mod messages;
mod oidc;
mod package;
mod properties;
mod regressions;
mod revoke;
mod service_messages;
mod setup;
mod templates;
mod triggers;
mod untrusted;
mod use_;
