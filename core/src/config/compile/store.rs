//! `store`: the fleet store replicas share (etcd through its JSON gateway).

use super::check::{self, err, Res};
use crate::common::duration::Millis;
use crate::config::raw::RawEtcd;
use crate::fleet::{EtcdStore, DEFAULT_POLL_SECS, DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS};

pub fn etcd(path: &str, raw: RawEtcd) -> Res<EtcdStore> {
    if raw.cluster.is_empty() {
        return err(format!("{path}.cluster"), "must name the Envoy cluster that reaches etcd");
    }
    check::no_control(format!("{path}.cluster"), &raw.cluster)?;
    let authority = raw.authority.unwrap_or_else(|| raw.cluster.clone());
    check::no_control(format!("{path}.authority"), &authority)?;
    let prefix = raw.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    if prefix.is_empty() || !prefix.ends_with('/') {
        return err(format!("{path}.prefix"), "must end with /");
    }
    check::no_control(format!("{path}.prefix"), &prefix)?;
    let timeout_ms = check::timeout_ms(format!("{path}.timeout"), raw.timeout.unwrap_or(Millis(DEFAULT_TIMEOUT_MS)).0)?;
    let poll = raw.poll_interval.unwrap_or(Millis::from_secs(DEFAULT_POLL_SECS));
    if !poll.0.is_multiple_of(1000) || !(1..=3600).contains(&poll.secs()) {
        return err(format!("{path}.poll_interval"), "must be whole seconds from 1 s to 1 h");
    }
    let credentials = match (raw.username, raw.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some((u, p)),
        (Some(_), Some(_)) => return err(format!("{path}.username"), "must not be empty"),
        (None, None) => None,
        (Some(_), None) => return err(format!("{path}.password"), "required with `username`"),
        (None, Some(_)) => return err(format!("{path}.username"), "required with `password`"),
    };
    Ok(EtcdStore { cluster: raw.cluster, authority, prefix, timeout_ms, poll_secs: poll.secs(), credentials })
}
