//! Talking to identity providers: the one refresh machine every fetched source runs on
//! (`lease`), the sources (`remote` keys and discovery, `client_credentials` tokens),
//! token introspection (`introspection`) and how every call authenticates (`client_auth`).

pub mod client_auth;
pub mod client_credentials;
pub mod introspection;
pub mod lease;
pub mod remote;
