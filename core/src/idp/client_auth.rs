//! How the filter, as a client of an IdP, authenticates its own calls (token endpoint for
//! client credentials, introspection endpoint): one `ClientAuth`, compiled once and applied to
//! a call as it goes out, so every method works the same for both callers. `private_key_jwt`
//! (RFC 7523 §2.2, OpenID Connect Core §9) proves the filter with a short JWT signed by its own
//! key, by the host where it can, fresh for every call (a retry included).

use crate::common::codec::percent_encode;
use crate::crypto::CryptoHost;
use crate::endpoints::issuer::signing::SigningKey;
use crate::common::url::HttpCall;
use crate::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jwt_simple::prelude::{Duration, JWTClaims, UnixTimeStamp};
use serde_json::Map;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion's lifetime: long enough for one call.
pub const LIFETIME_SECS: u64 = 60;

#[derive(Debug)]
pub enum ClientAuth {
    /// The call carries no client authentication.
    None,
    /// An `Authorization` value configured as is (Kong's and Janus's `authorization_value`).
    Header(Secret),
    /// client_secret_basic (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: Secret },
    /// client_secret_post: the id and secret as form parameters (the Auth0 variant).
    Post { client_id: String, secret: Secret },
    /// private_key_jwt (RFC 7523): a signed assertion in the form.
    PrivateKeyJwt(ClientAssertion),
}

impl ClientAuth {
    /// The client this authentication names (none for `None` and `Header`).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Basic { client_id, .. } | ClientAuth::Post { client_id, .. } => Some(client_id),
            ClientAuth::PrivateKeyJwt(a) => Some(&a.client_id),
            ClientAuth::None | ClientAuth::Header(_) => None,
        }
    }

    /// `call` with this authentication added, as it goes out at `now` (`nonce` unique to the
    /// call). None when it cannot be authenticated (the key could not sign): no call is made.
    pub fn apply(&self, mut call: HttpCall, now: u64, nonce: u64, host: Option<&dyn CryptoHost>) -> Option<HttpCall> {
        let form = match self {
            ClientAuth::None => return Some(call),
            ClientAuth::Header(value) => {
                call.headers.push(("authorization".to_string(), value.expose().to_string()));
                return Some(call);
            }
            ClientAuth::Basic { client_id, secret } => {
                call.headers.push(("authorization".to_string(), basic(client_id, secret.expose())));
                return Some(call);
            }
            ClientAuth::Post { client_id, secret } => {
                format!("client_id={}&client_secret={}", percent_encode(client_id), percent_encode(secret.expose()))
            }
            ClientAuth::PrivateKeyJwt(a) => a.form(now, nonce, host)?,
        };
        let body = call.body.get_or_insert_with(Vec::new);
        if !body.is_empty() {
            body.push(b'&');
        }
        body.extend_from_slice(form.as_bytes());
        Some(call)
    }

    /// Whether the client's own parameters (`client_id`, `client_secret`) go in the form body.
    pub fn in_body(&self) -> bool {
        matches!(self, ClientAuth::Post { .. } | ClientAuth::PrivateKeyJwt(_))
    }
}

/// An HTTP Basic `Authorization` value; id and secret form-encoded first (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", percent_encode(id), percent_encode(secret))))
}

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

    fn call(body: Option<&str>) -> HttpCall {
        HttpCall { cluster: "idp".into(), headers: Vec::new(), body: body.map(|b| b.as_bytes().to_vec()), timeout_ms: 1000 }
    }

    #[test]
    fn each_method_adds_itself_to_the_call() {
        let secret = || Secret::new("s&c ret");
        let none = ClientAuth::None.apply(call(Some("a=1")), 0, 0, None).unwrap();
        assert!(none.headers.is_empty());
        assert_eq!(none.body.as_deref(), Some(&b"a=1"[..]));
        let header = ClientAuth::Header(Secret::new("Bearer x")).apply(call(None), 0, 0, None).unwrap();
        assert_eq!(header.headers, vec![("authorization".to_string(), "Bearer x".to_string())]);
        let basic = ClientAuth::Basic { client_id: "id:1".into(), secret: secret() }.apply(call(Some("a=1")), 0, 0, None).unwrap();
        let value = basic.headers[0].1.strip_prefix("Basic ").unwrap();
        assert_eq!(String::from_utf8(STANDARD.decode(value).unwrap()).unwrap(), "id%3A1:s%26c%20ret");
        assert_eq!(basic.body.as_deref(), Some(&b"a=1"[..]));
        let post = ClientAuth::Post { client_id: "id".into(), secret: secret() }.apply(call(Some("a=1")), 0, 0, None).unwrap();
        assert!(post.headers.is_empty());
        assert_eq!(post.body.as_deref(), Some(&b"a=1&client_id=id&client_secret=s%26c%20ret"[..]));
        let empty = ClientAuth::Post { client_id: "id".into(), secret: secret() }.apply(call(None), 0, 0, None).unwrap();
        assert_eq!(empty.body.as_deref(), Some(&b"client_id=id&client_secret=s%26c%20ret"[..]));
    }

    #[test]
    fn an_assertion_is_signed_for_every_call() {
        let key = SigningKey::from_pem("ES256", &fixture("ec256.key"), "gw".into()).unwrap();
        let auth = ClientAuth::PrivateKeyJwt(ClientAssertion { client_id: "gw".into(), audience: "https://idp.test/i".into(), key });
        let one = auth.apply(call(Some("token=t")), 1_800_000_000, 1, None).unwrap();
        let two = auth.apply(call(Some("token=t")), 1_800_000_000, 2, None).unwrap();
        assert!(one.body.as_deref().unwrap().starts_with(b"token=t&client_id=gw&client_assertion_type="));
        assert_ne!(one.body, two.body, "a retry carries a fresh assertion");
    }
}
