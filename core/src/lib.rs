//! The pure core of oauth-filter: no proxy-wasm types here. Everything that decides lives in
//! this crate and is tested natively; the filter crate only moves data between host and core.

pub mod admin;
pub mod authenticate;
pub mod binding;
pub mod client_auth;
pub mod client_credentials;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod decide;
pub mod denial;
pub mod digest;
pub mod dpop;
pub mod duration;
pub mod endpoints;
pub mod extract;
pub mod form;
pub mod identity;
pub mod introspection;
pub mod issuer;
pub mod janus;
pub mod jwt;
pub mod lease;
pub mod lru;
pub mod remote;
pub mod request;
pub mod response;
pub mod routing;
pub mod rules;
pub mod secret;
pub mod shared;
pub mod state;
pub mod upstream;
pub mod url;
pub mod verdicts;

pub use decide::{decide, decide_again, Decision, Wait, WaitOn};
pub use state::{Event, NothingFetched, WorkerState};
pub use upstream::UpstreamEdits;
pub use config::{Config, ConfigError};
pub use denial::Denial;
pub use identity::Identity;
pub use request::Request;
pub use response::LocalResponse;
pub use secret::Secret;
