//! `private_key_jwt` client authentication of the filter's own calls (RFC 7523).

use super::super::raw::RawKeyPair;
use super::check::{err, Res};
use crate::idp::client_auth::ClientAssertion;
use crate::endpoints::issuer::signing::SigningKey;

/// The assertion `client_id` signs for calls to `audience` with the key `raw`.
pub fn assertion(path: &str, client_id: &str, audience: &str, raw: RawKeyPair) -> Res<ClientAssertion> {
    if client_id.is_empty() {
        return err(path, "needs a client id");
    }
    let key = SigningKey::from_pem(&raw.alg, raw.private_key.expose(), raw.kid.unwrap_or_default()).or_else(|e| err(path, e))?;
    Ok(ClientAssertion { client_id: client_id.to_string(), audience: audience.to_string(), key })
}
