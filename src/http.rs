//! The HTTP context: one per request. Moves request facts to the core and the decision back;
//! a request that must wait for keys is handed to the worker's waiters.

use crate::worker::Worker;
use crate::{apply, host, keys};
use oauth_core::{decide, Config, Decision, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Http {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
}

impl Http {
    pub fn new(id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Self {
        Http { id, worker }
    }
}

impl Context for Http {}

impl Drop for Http {
    fn drop(&mut self) {
        // A request that ends while waiting (client gone) leaves the waiters.
        if let Some(w) = &self.worker {
            if let Ok(mut w) = w.try_borrow_mut() {
                w.waiters.retain(|waiter| waiter.context_id != self.id);
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(cell) = self.worker.clone() else { return unconfigured() };
        let Ok(mut w) = cell.try_borrow_mut() else { return unconfigured() };
        let request = read_request(&w.config);
        let now = host::now_secs();
        let decision = decide(&w.config, &request, now, &w.keys_at(now), true);
        if let Decision::Wait { server, refetch } = decision {
            if refetch {
                keys::request_refetch(&w, server);
            }
            keys::add_waiter(&mut w, self.id, request, server);
            return Action::Pause;
        }
        apply::now(self.id, &decision)
    }
}

/// Never configured: refuse rather than pass unchecked traffic.
fn unconfigured() -> Action {
    let body = r#"{"error":"temporarily_unavailable","error_description":"the auth filter is not configured"}"#;
    let headers = [("content-type".to_string(), "application/json".to_string())];
    host::send_local_response(503, &headers, body, "oauth_filter_unconfigured");
    Action::Pause
}

fn read_request(cfg: &Config) -> Request {
    let route_name = if cfg.uses_route_names() { host::property_string(&["xds", "route_name"]) } else { None };
    let metadata_policy =
        host::property_string(&["xds", "route_metadata", "filter_metadata", &cfg.metadata_namespace, "policy"]);
    Request { headers: host::request_headers(), route_name, metadata_policy }
}
