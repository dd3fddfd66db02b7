//! octopus-runkey as a library: the binary (`main.rs`) parses, resolves the settings, runs
//! one command and reports; everything it runs lives here, so that integration tests and
//! benchmarks can exercise the encoders and parsers directly.
//!
//! Layers, each using only those after it: `commands` (one per subcommand) → `settings`
//! (command line + environment, resolved once) → `octopus` (the REST client), `child`
//! (the step's command), `console` (everything printed) → `credential`, `purpose`,
//! `service_message`, `secret`, `duration`, `exit`.

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
pub mod secret;
pub mod service_message;
pub mod settings;
