//! The run key: the heart of the tool. A key minted for the broker service account with a
//! purpose naming the operator and the run (`mint`, with who started the run from
//! `starter`), handed to a guard that revokes it when the run is over (`watch`), and revoked
//! by the command that made it (`exec`) or by a later step. The commands `create` and
//! `exec` are thin layers over this module.

mod ending;
mod key;
mod mint;
mod settle;
mod starter;
mod watch;

pub use ending::{RunKeys, end_of_run};
pub use key::RunKey;
pub use mint::mint;
pub use settle::settle;
pub use watch::{guard_interval, watch_exec, watch_task};
