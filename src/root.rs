//! The root context: one per worker VM. Compiles the configuration, drives key fetches on its
//! tick, and receives the answers to its calls.

use crate::host::{self, SetShared};
use crate::http::Http;
use crate::records::Job;
use crate::worker::Worker;
use crate::{admin, fetch, fleet, hold, introspect, metrics, waiters};
use oauth_core::config::LogLevel;
use oauth_core::{common::shared, Config};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::RefCell;
use std::rc::Rc;

/// Tick period while keys are fetched from an IdP: new keys reach waiting requests this fast.

#[derive(Default)]
pub struct Root {
    worker: Option<Rc<RefCell<Worker>>>,
}

/// A number unique to this VM among all VMs of the Envoy process (for leases and locks).
fn vm_id() -> u64 {
    let mut seq = 0;
    for _ in 0..16 {
        let (bytes, cas) = host::get_shared(shared::VM_SEQUENCE).unwrap_or_default();
        seq = shared::next_sequence(&bytes);
        if host::set_shared(shared::VM_SEQUENCE, seq.to_string().as_bytes(), cas) == SetShared::Done {
            break;
        }
    }
    shared::vm_id(seq, host::now_nanos())
}

impl Context for Root {
    fn on_http_call_response(&mut self, token_id: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let Some(w) = &self.worker else { return };
        let Ok(mut w) = w.try_borrow_mut() else { return };
        // Whether etcd answered (the servers' poll, or a write): what it taught is compiled
        // before the next request, and before an admin write is answered.
        let from_store = if let Some(pending) = w.calls.remove(&token_id) {
            let poll = matches!(pending.job, Job::Fleet);
            fetch::on_response(&mut w, pending, body_size);
            poll
        } else if w.introspections.contains_key(&token_id) {
            introspect::answered(&mut w, token_id, body_size);
            false
        } else if fleet::owns(&w, token_id) {
            fleet::answered(&mut w, token_id, body_size);
            true
        } else {
            false
        };
        if from_store && w.config.admin.is_some() {
            admin::tick(&mut w);
        }
        waiters::resolve(&mut w);
    }

    /// The host ends the VM (a new configuration, Envoy stopping): the counts not handed
    /// over yet go now.
    fn on_done(&mut self) -> bool {
        metrics::flush();
        true
    }
}

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
                proxy_wasm::set_log_level(match cfg.log_level {
                    LogLevel::Trace => proxy_wasm::types::LogLevel::Trace,
                    LogLevel::Debug => proxy_wasm::types::LogLevel::Debug,
                    LogLevel::Info => proxy_wasm::types::LogLevel::Info,
                    LogLevel::Warn => proxy_wasm::types::LogLevel::Warn,
                    LogLevel::Error => proxy_wasm::types::LogLevel::Error,
                    LogLevel::Critical => proxy_wasm::types::LogLevel::Critical,
                });
                for notice in &cfg.notices {
                    if notice.starts_with("warning: ") {
                        log::warn!("{notice}");
                    } else {
                        log::info!("{notice}");
                    }
                }
                metrics::define_all();
                let admin = cfg.admin.is_some();
                let mut worker = Worker::new(Rc::new(cfg), vm_id(), bytes);
                // Servers added through the admin API may introspect too.
                worker.wake_queue = host::register_queue(&introspect::queue_name(worker.vm_id));
                if admin {
                    admin::init(&mut worker);
                }
                crate::setup::install(&mut worker);
                self.worker = Some(Rc::new(RefCell::new(worker)));
                true
            }
            Err(e) => {
                // Names the field and the reason only; never the configuration's values.
                log::error!("{e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(w) = &self.worker {
            if let Ok(mut w) = w.try_borrow_mut() {
                fetch::tick(&mut w);
                introspect::send(&mut w);
                fleet::send(&mut w);
                waiters::resolve(&mut w);
                if w.config.admin.is_some() {
                    admin::tick(&mut w);
                }
                // Last: letting a request go on makes its context the effective one.
                let base = w.base_tick_ms;
                hold::release(&mut w, base);
            }
        }
        metrics::flush();
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        host::drain_queue(queue_id);
        if let Some(w) = &self.worker {
            if let Ok(mut w) = w.try_borrow_mut() {
                introspect::send(&mut w);
                fleet::send(&mut w);
                waiters::resolve(&mut w);
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(context_id, self.worker.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
