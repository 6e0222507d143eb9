//! State shared by a fleet of gateway replicas (issue 26): what several Envoy processes must
//! agree on, kept in a distributed store instead of one process's shared data. So far the
//! store's protocol: `etcd`, etcd v3 through its JSON gateway. The adapter's calls, the admin
//! API's replication and DPoP's fleet-wide replay check build on it.

pub mod etcd;
