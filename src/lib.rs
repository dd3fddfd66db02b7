//! octopus-runkey as a library: the binary (`main.rs`) parses, resolves the settings, runs
//! one command and reports; everything it runs lives here, so that integration tests and
//! benchmarks can exercise the encoders and parsers directly.
//!
//! Layers, each using only those after it: `commands` (one per subcommand), then `runkey`
//! (the run key's lifecycle: mint, find the operator, guard, revoke), then `settings`
//! (command line and environment, resolved once), then `guard`, `octopus` (the REST
//! client), `child` (the step's command) and `console` (everything printed), then
//! `credential`, `purpose`, `service_message`, `secret`, `duration` and `exit`.

pub mod child;
pub mod cli;
pub mod commands;
pub mod console;
pub mod credential;
pub mod duration;
pub mod exit;
pub mod guard;
pub mod octopus;
pub mod purpose;
pub mod runkey;
pub mod secret;
pub mod service_message;
pub mod settings;
