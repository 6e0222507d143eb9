//! The host side of the proxy-wasm ABI (0.2.1) as the Rust SDK uses it, state-based: calls
//! change `HostState`; tests look at the state afterwards.

use crate::mem::{deserialize_map, give, read, read_string, serialize_map, write, write_u32};
use crate::state::{HostState, HttpCall, LocalReply, Metric};
use wasmtime::{Caller, Linker, Result};

pub const OK: i32 = 0;
pub const NOT_FOUND: i32 = 1;
pub const BAD_ARGUMENT: i32 = 2;
pub const EMPTY: i32 = 7;
pub const CAS_MISMATCH: i32 = 8;

type C<'a> = Caller<'a, HostState>;

fn map_mut(state: &mut HostState, map: i32) -> Option<&mut Vec<(String, Vec<u8>)>> {
    match map {
        0 => Some(&mut state.stream().request_headers),
        2 => Some(&mut state.stream().response_headers),
        _ => None,
    }
}

fn map_pairs(state: &HostState, map: i32) -> Option<Vec<(String, Vec<u8>)>> {
    let stream = state.streams.get(&state.effective_context);
    match map {
        0 => Some(stream.map(|s| s.request_headers.clone()).unwrap_or_default()),
        2 => Some(stream.map(|s| s.response_headers.clone()).unwrap_or_default()),
        6 => state
            .call_answer
            .as_ref()
            .map(|(h, _)| h.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect()),
        1 | 3 | 7 => Some(Vec::new()),
        _ => None,
    }
}

/// Records a host call (see `HostState::note`), with the fuel used so far when fuel is counted.
pub(crate) fn note(c: &mut C, op: &str, args: &[&[u8]]) {
    let used = c.get_fuel().ok().map(|left| u64::MAX - left);
    c.data_mut().note(op, args);
    if let (Some(marks), Some(used)) = (c.data_mut().fuel_at.as_mut(), used) {
        marks.push(used);
    }
}

pub fn link(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap("cover", "enter", |mut c: C, index: i32| {
        if let Some(entered) = c.data_mut().entered.as_mut() {
            entered.push(index as u32);
        }
    })?;
    let env = "env";
    linker.func_wrap(env, "proxy_log", |mut c: C, level: i32, ptr: i32, len: i32| -> Result<i32> {
        let msg = read_string(&mut c, ptr, len)?;
        crate::abi::note(&mut c, "log", &[&(level as u32).to_le_bytes(), msg.as_bytes()]);
        c.data_mut().logs.push((level as u32, msg));
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_get_log_level", |mut c: C, ret: i32| -> Result<i32> {
        crate::abi::note(&mut c, "log_level", &[]);
        let level = c.data().log_level;
        write_u32(&mut c, ret, level)?;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_get_current_time_nanoseconds", |mut c: C, ret: i32| -> Result<i32> {
        crate::abi::note(&mut c, "time", &[]);
        let now = c.data().clock.nanos();
        write(&mut c, ret, &now.to_le_bytes())?;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_set_tick_period_milliseconds", |mut c: C, period: i32| -> Result<i32> {
        crate::abi::note(&mut c, "tick_period", &[&(period as u32).to_le_bytes()]);
        c.data_mut().tick_period_ms = period as u32;
        Ok(OK)
    })?;
    linker.func_wrap(
        env,
        "proxy_get_buffer_bytes",
        |mut c: C, kind: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
            crate::abi::note(&mut c, "buffer", &[&(kind as u32).to_le_bytes()]);
            let s = c.data();
            let buf = match kind {
                0 => s.streams.get(&s.effective_context).map(|st| st.request_body.clone()).unwrap_or_default(),
                4 => match &s.call_answer {
                    Some((_, body)) => body.clone(),
                    None => return Ok(NOT_FOUND),
                },
                6 => s.vm_config.clone(),
                7 => s.plugin_config.clone(),
                _ => return Ok(NOT_FOUND),
            };
            let start = (start as u32 as usize).min(buf.len());
            let end = start.saturating_add(max as u32 as usize).min(buf.len());
            let slice = buf.get(start..end).unwrap_or(&[]).to_vec();
            give(&mut c, &slice, ret_ptr, ret_size)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_buffer_bytes",
        |mut c: C, kind: i32, _start: i32, _size: i32, ptr: i32, len: i32| -> Result<i32> {
            // The filter replaces the whole body here (start 0, size = the old length).
            let bytes = read(&mut c, ptr, len)?;
            crate::abi::note(&mut c, "set_buffer", &[&(kind as u32).to_le_bytes(), &bytes]);
            match kind {
                0 => c.data_mut().stream().request_body = bytes,
                _ => return Ok(BAD_ARGUMENT),
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_get_header_map_pairs", |mut c: C, map: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
        crate::abi::note(&mut c, "header_map", &[&(map as u32).to_le_bytes()]);
        let Some(pairs) = map_pairs(c.data(), map) else { return Ok(BAD_ARGUMENT) };
        give(&mut c, &serialize_map(&pairs), ret_ptr, ret_size)?;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_set_header_map_pairs", |mut c: C, map: i32, ptr: i32, len: i32| -> Result<i32> {
        let bytes = read(&mut c, ptr, len)?;
        let pairs = deserialize_map(&bytes)?;
        crate::abi::note(&mut c, "set_header_map", &[&(map as u32).to_le_bytes(), &bytes]);
        let Some(m) = map_mut(c.data_mut(), map) else { return Ok(BAD_ARGUMENT) };
        *m = pairs;
        Ok(OK)
    })?;
    linker.func_wrap(
        env,
        "proxy_get_header_map_value",
        |mut c: C, map: i32, kp: i32, ks: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, ks)?.to_ascii_lowercase();
            crate::abi::note(&mut c, "header", &[&(map as u32).to_le_bytes(), key.as_bytes()]);
            let Some(pairs) = map_pairs(c.data(), map) else { return Ok(BAD_ARGUMENT) };
            match pairs.into_iter().find(|(k, _)| *k == key) {
                Some((_, v)) => {
                    give(&mut c, &v, ret_ptr, ret_size)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_replace_header_map_value",
        |mut c: C, map: i32, kp: i32, ks: i32, vp: i32, vs: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, ks)?.to_ascii_lowercase();
            let value = read(&mut c, vp, vs)?;
            crate::abi::note(&mut c, "replace", &[&(map as u32).to_le_bytes(), key.as_bytes(), &value]);
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(BAD_ARGUMENT) };
            m.retain(|(k, _)| *k != key);
            m.push((key, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_add_header_map_value",
        |mut c: C, map: i32, kp: i32, ks: i32, vp: i32, vs: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, ks)?.to_ascii_lowercase();
            let value = read(&mut c, vp, vs)?;
            crate::abi::note(&mut c, "add", &[&(map as u32).to_le_bytes(), key.as_bytes(), &value]);
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(BAD_ARGUMENT) };
            m.push((key, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_remove_header_map_value", |mut c: C, map: i32, kp: i32, ks: i32| -> Result<i32> {
        let key = read_string(&mut c, kp, ks)?.to_ascii_lowercase();
        crate::abi::note(&mut c, "remove", &[&(map as u32).to_le_bytes(), key.as_bytes()]);
        let Some(m) = map_mut(c.data_mut(), map) else { return Ok(BAD_ARGUMENT) };
        m.retain(|(k, _)| *k != key);
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_get_property", |mut c: C, pp: i32, ps: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
        let path = read_string(&mut c, pp, ps)?;
        crate::abi::note(&mut c, "property", &[path.as_bytes()]);
        match c.data().properties.get(&path).cloned() {
            Some(v) => {
                give(&mut c, &v, ret_ptr, ret_size)?;
                Ok(OK)
            }
            None => Ok(NOT_FOUND),
        }
    })?;
    linker.func_wrap(env, "proxy_set_property", |mut c: C, pp: i32, ps: i32, vp: i32, vs: i32| -> Result<i32> {
        let path = read_string(&mut c, pp, ps)?;
        let value = read(&mut c, vp, vs)?;
        crate::abi::note(&mut c, "set_property", &[path.as_bytes(), &value]);
        c.data_mut().properties.insert(path, value);
        Ok(OK)
    })?;
    link_shared(linker)?;
    link_streams(linker)?;
    link_metrics(linker)?;
    Ok(())
}

fn link_shared(linker: &mut Linker<HostState>) -> Result<()> {
    let env = "env";
    linker.func_wrap(
        env,
        "proxy_get_shared_data",
        |mut c: C, kp: i32, ks: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, ks)?;
            let found = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?.data.get(&key).cloned();
            let size = found.as_ref().map_or(0, |(v, _)| v.len() as u32);
            crate::abi::note(&mut c, "shared_get", &[key.as_bytes(), &size.to_le_bytes()]);
            match found {
                Some((value, cas)) => {
                    give(&mut c, &value, ret_ptr, ret_size)?;
                    write_u32(&mut c, ret_cas, cas)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_shared_data",
        |mut c: C, kp: i32, ks: i32, vp: i32, vs: i32, cas: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, ks)?;
            let value = read(&mut c, vp, vs)?;
            crate::abi::note(&mut c, "shared_set", &[key.as_bytes(), &value, &(cas as u32).to_le_bytes()]);
            let mut shared = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?;
            let current = shared.data.get(&key).map(|(_, c)| *c);
            if cas != 0 && current != Some(cas as u32) {
                shared.cas_mismatches += 1;
                return Ok(CAS_MISMATCH);
            }
            shared.next_cas = shared.next_cas.wrapping_add(1).max(1);
            let next = shared.next_cas;
            shared.data.insert(key, (value, next));
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_register_shared_queue", |mut c: C, np: i32, ns: i32, ret: i32| -> Result<i32> {
        let name = read_string(&mut c, np, ns)?;
        crate::abi::note(&mut c, "register_queue", &[name.as_bytes()]);
        let owner = (c.data().vm_index, c.data().effective_context);
        let id = {
            let mut s = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?;
            let next = s.queues.len() as u32 + 1;
            let id = *s.queues.entry(name).or_insert(next);
            s.queue_owner.insert(id, owner);
            s.queue_items.entry(id).or_default();
            id
        };
        write_u32(&mut c, ret, id)?;
        Ok(OK)
    })?;
    linker.func_wrap(
        env,
        "proxy_resolve_shared_queue",
        |mut c: C, _vp: i32, _vs: i32, np: i32, ns: i32, ret: i32| -> Result<i32> {
            let name = read_string(&mut c, np, ns)?;
            crate::abi::note(&mut c, "resolve_queue", &[name.as_bytes()]);
            let id = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?.queues.get(&name).copied();
            match id {
                Some(id) => {
                    write_u32(&mut c, ret, id)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(env, "proxy_enqueue_shared_queue", |mut c: C, id: i32, vp: i32, vs: i32| -> Result<i32> {
        let value = read(&mut c, vp, vs)?;
        crate::abi::note(&mut c, "enqueue", &[&value]);
        let mut s = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?;
        match s.queue_items.get_mut(&(id as u32)) {
            Some(q) => {
                q.push_back(value);
                Ok(OK)
            }
            None => Ok(NOT_FOUND),
        }
    })?;
    linker.func_wrap(env, "proxy_dequeue_shared_queue", |mut c: C, id: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
        crate::abi::note(&mut c, "dequeue", &[]);
        let item = {
            let mut s = c.data().shared.lock().map_err(|_| wasmtime::format_err!("poisoned"))?;
            match s.queue_items.get_mut(&(id as u32)) {
                Some(q) => q.pop_front(),
                None => return Ok(NOT_FOUND),
            }
        };
        match item {
            Some(v) => {
                give(&mut c, &v, ret_ptr, ret_size)?;
                Ok(OK)
            }
            None => Ok(EMPTY),
        }
    })?;
    Ok(())
}

fn link_streams(linker: &mut Linker<HostState>) -> Result<()> {
    let env = "env";
    linker.func_wrap(env, "proxy_continue_stream", |mut c: C, _kind: i32| -> Result<i32> {
        crate::abi::note(&mut c, "continue_stream", &[]);
        c.data_mut().stream().continued = true;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_close_stream", |mut c: C, _kind: i32| -> Result<i32> {
        crate::abi::note(&mut c, "close_stream", &[]);
        Ok(OK)
    })?;
    linker.func_wrap(
        env,
        "proxy_send_local_response",
        |mut c: C, status: i32, dp: i32, ds: i32, bp: i32, bs: i32, hp: i32, hs: i32, _grpc: i32| -> Result<i32> {
            let details = read_string(&mut c, dp, ds)?;
            let body = read(&mut c, bp, bs)?;
            crate::abi::note(&mut c, "local_response", &[&(status as u32).to_le_bytes(), &body]);
            let headers = deserialize_map(&read(&mut c, hp, hs)?)?
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
            c.data_mut().stream().local_reply = Some(LocalReply { status: status as u32, headers, body, details });
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_http_call",
        |mut c: C, up: i32, us: i32, hp: i32, hs: i32, bp: i32, bs: i32, _tp: i32, _ts: i32, timeout: i32, ret: i32| -> Result<i32> {
            let cluster = read_string(&mut c, up, us)?;
            crate::abi::note(&mut c, "http_call", &[cluster.as_bytes()]);
            if c.data().unknown_clusters.contains(&cluster) {
                return Ok(BAD_ARGUMENT);
            }
            let headers = deserialize_map(&read(&mut c, hp, hs)?)?
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
            let body = read(&mut c, bp, bs)?;
            let token = c.data().next_token;
            let context_id = c.data().effective_context;
            c.data_mut().next_token += 1;
            c.data_mut().calls.push(HttpCall { token, context_id, cluster, headers, body, timeout_ms: timeout as u32 });
            write_u32(&mut c, ret, token)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_set_effective_context", |mut c: C, id: i32| -> Result<i32> {
        crate::abi::note(&mut c, "effective_context", &[]);
        c.data_mut().effective_context = id as u32;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_done", |mut c: C| -> Result<i32> {
        crate::abi::note(&mut c, "done", &[]);
        Ok(OK)
    })?;
    linker.func_wrap(
        env,
        "proxy_call_foreign_function",
        |mut c: C, np: i32, ns: i32, ap: i32, as_: i32, ret_ptr: i32, ret_size: i32| -> Result<i32> {
            let name = read_string(&mut c, np, ns)?;
            let args = read(&mut c, ap, as_)?;
            crate::abi::note(&mut c, "foreign", &[name.as_bytes(), &args]);
            let foreign = c.data().foreign.clone();
            let Some(f) = foreign.get(&name) else { return Ok(NOT_FOUND) };
            match f(&args) {
                Some(out) => {
                    give(&mut c, &out, ret_ptr, ret_size)?;
                    Ok(OK)
                }
                None => Ok(BAD_ARGUMENT),
            }
        },
    )?;
    Ok(())
}

fn link_metrics(linker: &mut Linker<HostState>) -> Result<()> {
    let env = "env";
    linker.func_wrap(env, "proxy_define_metric", |mut c: C, kind: i32, np: i32, ns: i32, ret: i32| -> Result<i32> {
        let name = read_string(&mut c, np, ns)?;
        crate::abi::note(&mut c, "define_metric", &[name.as_bytes()]);
        let metrics = &mut c.data_mut().metrics;
        let id = match metrics.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                metrics.push(Metric { kind: kind as u32, name, value: 0 });
                metrics.len() - 1
            }
        };
        write_u32(&mut c, ret, id as u32)?;
        Ok(OK)
    })?;
    linker.func_wrap(env, "proxy_increment_metric", |mut c: C, id: i32, offset: i64| -> Result<i32> {
        let name = c.data().metrics.get(id as usize).map(|m| m.name.clone()).unwrap_or_default();
        crate::abi::note(&mut c, "metric_inc", &[name.as_bytes(), &offset.to_le_bytes()]);
        match c.data_mut().metrics.get_mut(id as usize) {
            Some(m) => {
                m.value += offset;
                Ok(OK)
            }
            None => Ok(NOT_FOUND),
        }
    })?;
    linker.func_wrap(env, "proxy_record_metric", |mut c: C, id: i32, value: i64| -> Result<i32> {
        let name = c.data().metrics.get(id as usize).map(|m| m.name.clone()).unwrap_or_default();
        crate::abi::note(&mut c, "metric_record", &[name.as_bytes(), &value.to_le_bytes()]);
        match c.data_mut().metrics.get_mut(id as usize) {
            Some(m) => {
                m.value = value;
                Ok(OK)
            }
            None => Ok(NOT_FOUND),
        }
    })?;
    linker.func_wrap(env, "proxy_get_metric", |mut c: C, id: i32, ret: i32| -> Result<i32> {
        let name = c.data().metrics.get(id as usize).map(|m| m.name.clone()).unwrap_or_default();
        crate::abi::note(&mut c, "metric_get", &[name.as_bytes()]);
        let Some(v) = c.data().metrics.get(id as usize).map(|m| m.value) else { return Ok(NOT_FOUND) };
        write(&mut c, ret, &(v as u64).to_le_bytes())?;
        Ok(OK)
    })?;
    Ok(())
}
