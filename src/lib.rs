//! oauth-filter: the proxy-wasm adapter. It reads what the host knows, asks the core, and
//! carries out the decision. Nothing here decides.

mod admin;
mod apply;
mod crypto;
mod fetch;
mod fleet;
mod hold;
mod host;
mod http;
mod introspect;
mod memcmp;
mod metrics;
mod phase;
mod pool;
mod records;
mod root;
mod setup;
mod shared;
mod waiters;
mod worker;

use proxy_wasm::types::LogLevel;

#[global_allocator]
static ALLOCATOR: pool::Pool = pool::Pool::new();

proxy_wasm::main! {{
    // Also installs the SDK's panic hook, which logs a panic at critical level.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(root::Root::default()));
}}
