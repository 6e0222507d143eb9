//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): the
//! filter, as a client of the IdP (token and introspection calls), proves itself with a short
//! JWT signed by its own key instead of a shared secret. Signed by the host where it can.

use crate::crypto::CryptoHost;
use crate::codec::percent_encode;
use crate::issuer::signing::SigningKey;
use jwt_simple::prelude::{Duration, JWTClaims, UnixTimeStamp};
use serde_json::Map;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion's lifetime: long enough for one call.
pub const LIFETIME_SECS: u64 = 60;

#[derive(Debug)]
pub struct ClientAssertion {
    pub client_id: String,
    /// The endpoint the assertion is for (`aud`).
    pub audience: String,
    pub key: SigningKey,
}

impl ClientAssertion {
    /// The form parameters that authenticate one call made at `now`; `nonce` makes its `jti`
    /// unique. None when the key cannot sign (the call is then not made).
    pub fn form(&self, now: u64, nonce: u64, host: Option<&dyn CryptoHost>) -> Option<String> {
        let claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(now)),
            expires_at: Some(UnixTimeStamp::from_secs(now) + Duration::from_secs(LIFETIME_SECS)),
            invalid_before: None,
            issuer: Some(self.client_id.clone()),
            subject: Some(self.client_id.clone()),
            audiences: None,
            jwt_id: Some(format!("{nonce:016x}{:08x}", now as u32)),
            nonce: None,
            custom: Map::new(),
        }
        .with_audience(&self.audience);
        let jwt = self.key.sign(claims, host).ok()?;
        Some(format!(
            "client_id={}&client_assertion_type={}&client_assertion={jwt}",
            percent_encode(&self.client_id),
            percent_encode(ASSERTION_TYPE)
        ))
    }

    /// `call`'s form body with this authentication added.
    pub fn sign_call(&self, mut call: crate::url::HttpCall, now: u64, nonce: u64, host: Option<&dyn CryptoHost>) -> Option<crate::url::HttpCall> {
        let form = self.form(now, nonce, host)?;
        let body = call.body.get_or_insert_with(Vec::new);
        if !body.is_empty() {
            body.push(b'&');
        }
        body.extend_from_slice(form.as_bytes());
        Some(call)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jwt_simple::prelude::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/../test-harness/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn the_assertion_is_rfc7523s_and_fresh_per_call() {
        let key = SigningKey::from_pem("ES256", &fixture("ec256.key"), "gw".into()).unwrap();
        let a = ClientAssertion { client_id: "gateway jwt".into(), audience: "https://idp.test/token".into(), key };
        let form = a.form(1_800_000_000, 7, None).unwrap();
        let (head, jwt) = form.split_once("&client_assertion=").unwrap();
        assert_eq!(head, "client_id=gateway%20jwt&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer");
        let public = ES256PublicKey::from_pem(&fixture("ec256.pub")).unwrap();
        let opts = VerificationOptions { artificial_time: Some(UnixTimeStamp::from_secs(1_800_000_010)), ..Default::default() };
        let c = public.verify_token::<NoCustomClaims>(jwt, Some(opts)).unwrap();
        assert_eq!((c.issuer.as_deref(), c.subject.as_deref()), (Some("gateway jwt"), Some("gateway jwt")));
        assert_eq!(c.expires_at.unwrap().as_secs(), 1_800_000_000 + LIFETIME_SECS);
        let other = a.form(1_800_000_000, 8, None).unwrap();
        assert_ne!(form, other, "another nonce, another jti");
    }
}
