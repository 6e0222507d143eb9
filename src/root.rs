//! The root context: one per worker VM. Parses and compiles the plugin configuration.

use crate::host;
use crate::http::Http;
use oauth_core::Config;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::rc::Rc;

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(bytes) = host::plugin_configuration() else {
            log::error!("invalid configuration: the host gave no plugin configuration");
            return false;
        };
        match Config::from_json(&bytes) {
            Ok(cfg) => {
                log::info!(
                    "configured: {} oauth servers, {} policies, {} routes",
                    cfg.servers.len(),
                    cfg.policies.len(),
                    cfg.routes.len()
                );
                self.config = Some(Rc::new(cfg));
                true
            }
            Err(e) => {
                // Names the field and the reason only; never the configuration's values.
                log::error!("{e}");
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(context_id, self.config.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
