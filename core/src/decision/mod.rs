//! A request's decision: which policy (`routing`), which token (`extract`), whether it holds
//! (`authenticate`, with the cached `verdicts`; `binding` and `dpop` for bound tokens; `rules`
//! for claims and scopes), what goes upstream (`upstream`) and how a refusal reads (`denial`).
//! `decide` ties them together; `state` is what the decision may ask the worker.

pub mod authenticate;
pub mod binding;
pub mod decide;
pub mod denial;
pub mod dpop;
pub mod extract;
pub mod request;
pub mod routing;
pub mod rules;
pub mod state;
pub mod upstream;
pub mod verdicts;
