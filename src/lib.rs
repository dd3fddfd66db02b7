//! octopus-runkey as a library: the binary (`main.rs`) parses, runs one command and reports;
//! everything it runs lives here, so that integration tests and benchmarks can exercise the
//! encoders and parsers directly.

pub mod child;
pub mod cli;
pub mod commands;
pub mod console;
pub mod duration;
pub mod error;
pub mod octopus;
pub mod purpose;
pub mod secret;
pub mod service_message;
pub mod settings;
