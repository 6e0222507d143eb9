//! An admin API write as the fleet store takes it: the one server the operation changed,
//! written only if the store still holds the revision this replica read (created only if
//! absent), so two replicas writing at once never lose an update. A write that lost the race
//! learns the server as it is now from the same answer; the operation is then run again on it.

use super::etcd::{self, Failed};
use super::servers::PollState;
use super::EtcdStore;
use crate::endpoints::admin::Store;
use serde_json::Value;

/// How many times an operation is run again after losing a race before it answers 503.
pub const MAX_TRIES: u32 = 4;

/// The server an operation changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put { name: String, server: Value },
    Delete { name: String },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Put { name, .. } | Change::Delete { name } => name,
        }
    }
}

/// The one server that differs between `before` and `after` (an admin operation changes one).
pub fn change(before: &Store, after: &Store) -> Option<Change> {
    let put = after.servers.iter().find(|(k, v)| before.servers.get(*k) != Some(*v));
    let deleted = before.servers.keys().find(|k| !after.servers.contains_key(*k));
    match (put, deleted) {
        (Some((name, server)), None) => Some(Change::Put { name: name.clone(), server: server.clone() }),
        (None, Some(name)) => Some(Change::Delete { name: name.clone() }),
        _ => None,
    }
}

/// The transaction: against the revision of the server as `st` holds it.
pub fn call(store: &EtcdStore, change: &Change, st: &PollState) -> etcd::Call {
    let key = store.server_key(change.name());
    let rev = st.servers.get(change.name()).map_or(0, |s| s.rev);
    match change {
        Change::Put { server, .. } => etcd::put_if_revision(key.as_bytes(), server.to_string().as_bytes(), rev),
        Change::Delete { .. } => etcd::delete_if_revision(key.as_bytes(), rev),
    }
}

/// What came of a write.
#[derive(Debug, PartialEq)]
pub enum Written {
    /// Made: `st` now holds it.
    Done,
    /// Another write came first: `st` now holds the server as it is; run the operation again.
    Lost,
}

/// Reads a write's answer into `st`.
pub fn answered(change: &Change, body: &[u8], st: &mut PollState) -> Result<Written, Failed> {
    let (made, revision, now) = etcd::read_write(body)?;
    if made {
        let server = match change {
            Change::Put { server, .. } => Some(server.clone()),
            Change::Delete { .. } => None,
        };
        st.written(change.name(), server, revision);
        return Ok(Written::Done);
    }
    st.seen(change.name(), now.as_ref(), revision);
    Ok(Written::Lost)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn etcd() -> EtcdStore {
        EtcdStore { cluster: "etcd".into(), authority: "etcd".into(), prefix: "/of/".into(), timeout_ms: 1000, poll_secs: 5, credentials: None }
    }

    fn body(c: &etcd::Call) -> Value {
        serde_json::from_str(&c.body).unwrap()
    }

    #[test]
    fn one_server_changed_is_one_compared_write() {
        let mut before = Store::default();
        before.servers.insert("a".into(), json!({"name": "a"}));
        let mut after = before.clone();
        after.servers.insert("b".into(), json!({"name": "b"}));
        let put = change(&before, &after).unwrap();
        assert_eq!(put, Change::Put { name: "b".into(), server: json!({"name": "b"}) });
        let st = PollState::default();
        assert_eq!(body(&call(&etcd(), &put, &st))["compare"][0]["target"], "CREATE", "a new server: only if absent");
        let mut st = PollState::default();
        st.written("a", Some(json!({"name": "a"})), 7);
        let del = change(&after, &before).unwrap();
        assert_eq!(del, Change::Delete { name: "b".into() });
        let mut changed = before.clone();
        changed.servers.insert("a".into(), json!({"name": "a", "x": 1}));
        let upd = change(&before, &changed).unwrap();
        assert_eq!(body(&call(&etcd(), &upd, &st))["compare"][0]["mod_revision"], "7", "an update: only at the revision read");
        assert_eq!(change(&before, &before), None);
    }

    #[test]
    fn a_lost_race_brings_the_server_as_it_is() {
        let mut st = PollState::default();
        st.written("a", Some(json!({"name": "a"})), 7);
        let upd = Change::Put { name: "a".into(), server: json!({"name": "a", "x": 1}) };
        let lost = br#"{"header":{"revision":"12"},"responses":[{"response_range":{"kvs":[{"key":"L29mL3NlcnZlcnMvYQ==","mod_revision":"11","value":"eyJuYW1lIjoiYSIsInkiOjJ9"}]}}]}"#;
        assert_eq!(answered(&upd, lost, &mut st), Ok(Written::Lost));
        assert_eq!((st.servers["a"].rev, &st.servers["a"].server), (11, &json!({"name": "a", "y": 2})));
        let made = br#"{"header":{"revision":"13"},"succeeded":true}"#;
        assert_eq!(answered(&upd, made, &mut st), Ok(Written::Done));
        assert_eq!(st.servers["a"].rev, 13);
        let gone = br#"{"header":{"revision":"14"},"responses":[{"response_range":{}}]}"#;
        assert_eq!(answered(&Change::Delete { name: "a".into() }, gone, &mut st), Ok(Written::Lost));
        assert!(st.servers.is_empty(), "deleted elsewhere");
        assert!(answered(&upd, b"<html>", &mut st).is_err());
    }
}
