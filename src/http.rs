//! The HTTP context: one per request. Moves request facts to the core and the decision back.

use crate::host;
use oauth_core::{decide, Config, Decision, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;

pub struct Http {
    id: u32,
    config: Option<Rc<Config>>,
}

impl Http {
    pub fn new(id: u32, config: Option<Rc<Config>>) -> Self {
        Http { id, config }
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(cfg) = self.config.as_deref() else {
            // Never configured: refuse rather than pass unchecked traffic.
            let body = r#"{"error":"temporarily_unavailable","error_description":"the auth filter is not configured"}"#;
            let headers = [("content-type".to_string(), "application/json".to_string())];
            host::send_local_response(503, &headers, body, "oauth_filter_unconfigured");
            return Action::Pause;
        };
        let request = read_request(cfg);
        match decide(cfg, &request, host::now_secs()) {
            Decision::Allow { edits, .. } => {
                for name in &edits.remove {
                    host::remove_request_header(name);
                }
                for (name, value) in &edits.set {
                    host::set_request_header(name, value);
                }
                Action::Continue
            }
            Decision::Deny { denial, response } => {
                log::debug!("denied: {} (context {})", denial.name(), self.id);
                let details = format!("oauth_filter_{}", denial.name());
                host::send_local_response(response.status, &response.headers, &response.body, &details);
                Action::Pause
            }
        }
    }
}

fn read_request(cfg: &Config) -> Request {
    let route_name = if cfg.uses_route_names() { host::property_string(&["xds", "route_name"]) } else { None };
    let metadata_policy =
        host::property_string(&["xds", "route_metadata", "filter_metadata", &cfg.metadata_namespace, "policy"]);
    Request { headers: host::request_headers(), route_name, metadata_policy }
}
