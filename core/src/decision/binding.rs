//! Sender-constrained tokens: a token bound to a key (DPoP, RFC 9449: `cnf.jkt`) or to a
//! client certificate (RFC 8705: `cnf.x5t#S256`) is accepted only from the request that
//! proves it holds that key or certificate. Checked on every request, a repeated token too.

use crate::decision::dpop::{DpopRules, Mode};
use crate::decision::state::{FirstUse, WorkerState};
use crate::{Denial, Identity, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// A server's rules for bound tokens.
#[derive(Debug)]
pub struct BindingRules {
    pub dpop: Option<DpopRules>,
    /// Tokens must be bound to the connection's client certificate.
    pub certificate_required: bool,
}

impl BindingRules {
    pub fn dpop_mode(&self) -> Mode {
        self.dpop.as_ref().map_or(Mode::Disabled, |d| d.mode)
    }

    /// Whether a token with `binding` has nothing to prove here (the common case): bound to
    /// nothing, and the server asks for no binding.
    pub fn nothing_to_prove(&self, binding: &Binding) -> bool {
        self.dpop.is_none() && !self.certificate_required && binding.jkt.is_none() && binding.x5t.is_none()
    }
}

/// What a token is bound to (from its claims' `cnf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub jkt: Option<String>,
    pub x5t: Option<String>,
}

impl Binding {
    pub fn of(id: &Identity) -> Binding {
        let cnf = id.claims.get("cnf");
        let member = |k: &str| cnf.and_then(|c| c.get(k)).and_then(Value::as_str).map(String::from);
        Binding { jkt: member("jkt"), x5t: member("x5t#S256") }
    }
}

/// Whether the request may use a token with `binding`, accepted by a server with `rules`;
/// `dpop_scheme` when it came as `Authorization: DPoP`.
pub fn check(
    rules: &BindingRules,
    binding: &Binding,
    dpop_scheme: bool,
    token: &str,
    req: &Request,
    now: u64,
    state: &dyn WorkerState,
) -> Result<(), Bound> {
    match (&binding.x5t, rules.certificate_required) {
        (Some(x5t), _) => {
            let presented = state.peer_certificate_sha256().map(|d| URL_SAFE_NO_PAD.encode(d));
            if !presented.is_some_and(|p| crate::common::secret::constant_time_eq(p.as_bytes(), x5t.as_bytes())) {
                return Err(Denial::CertificateMismatch.into());
            }
        }
        (None, true) => return Err(Denial::CertificateRequired.into()),
        (None, false) => {}
    }
    let Some(dpop) = rules.dpop.as_ref().filter(|_| dpop_scheme) else {
        // Bearer: only for tokens not bound to a key, and not where DPoP is required.
        return match (&binding.jkt, rules.dpop_mode()) {
            (Some(_), _) | (None, Mode::Required) => Err(Denial::DpopRequired.into()),
            (None, _) => Ok(()),
        };
    };
    let checked = dpop.check(req, token, now, state.crypto())?;
    if binding.jkt.as_deref() != Some(checked.jkt.as_str()) {
        return Err(Denial::DpopKeyMismatch.into());
    }
    match state.first_use(&checked.replay_key, &checked.replay_hash, checked.until, now) {
        FirstUse::Yes => Ok(()),
        FirstUse::Seen => Err(Denial::DpopReplay.into()),
        FirstUse::Ask => Err(Bound::Ask(ReplayAsk { server: 0, hash: checked.replay_hash, until: checked.until, window: dpop.max_age + 2 * dpop.leeway })),
    }
}

/// Why a request does not hold its token's binding (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Denied(Denial),
    /// The proof is new here: the fleet store must record it before the request goes on.
    Ask(ReplayAsk),
}

impl From<Denial> for Bound {
    fn from(d: Denial) -> Bound {
        Bound::Denied(d)
    }
}

/// A DPoP proof to record in the fleet store, if no replica did: its hash (never the `jti`),
/// until when it must not come back, and the proof window (the lease it is kept under).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayAsk {
    /// The server whose proof it is (set by the decision).
    pub server: usize,
    pub hash: String,
    pub until: u64,
    pub window: u64,
}

/// Bytes from Envoy's hex digest (`connection.sha256_peer_certificate_digest`).
pub fn from_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    hex.chunks(2).map(|p| Some((digit(*p.first()?)? * 16 + digit(*p.get(1)?)?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envoys_hex_digest() {
        assert_eq!(from_hex(b"00ff10Ab"), Some(vec![0, 255, 16, 171]));
        assert_eq!(from_hex(b"abc"), None);
        assert_eq!(from_hex(b"zz"), None);
        assert_eq!(from_hex(b""), None);
    }
}
