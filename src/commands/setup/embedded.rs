//! Every step template this binary ships, embedded at build time from `step-templates/`
//! (`build.rs` writes the list).

include!(concat!(env!("OUT_DIR"), "/templates.rs"));
