//! A native proxy-wasm host for tests: it loads the built `oauth_filter.wasm` into wasmtime
//! and plays Envoy's part of the ABI (headers, bodies, properties, local replies, HTTP calls
//! the test answers, shared data with CAS, shared queues with `on_queue_ready` delivery,
//! ticks, metrics, foreign functions, a clock the test moves, WASI).
//! Every test owns its host state, so tests run in parallel. A trap fails the test with the
//! VM's log, which holds the panic message.

mod abi;
pub mod crypto;
mod mem;
pub mod state;
mod vm;
mod wasi;

pub use state::{Clock, HttpCall, LocalReply};
pub use vm::{Host, Outcome, Request, Vm, ROOT_ID};
