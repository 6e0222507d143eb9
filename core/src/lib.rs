//! The pure core of oauth-filter: no proxy-wasm types here. Everything that decides lives in
//! this crate and is tested natively; the filter crate only moves data between host and core.

pub mod common;
pub mod config;
pub mod crypto;
pub mod decision;
pub mod endpoints;
pub mod fleet;
pub mod idp;
pub mod jwt;

pub use decision::decide::{decide, decide_again, Decision, Wait, WaitOn};
pub use decision::state::{Event, NothingFetched, WorkerState};
pub use decision::upstream::UpstreamEdits;
pub use config::{Config, ConfigError};
pub use decision::denial::Denial;
pub use common::clock::Now;
pub use common::identity::Identity;
pub use decision::request::Request;
pub use endpoints::response::LocalResponse;
pub use common::secret::Secret;
