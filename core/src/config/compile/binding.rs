//! Sender-constrained tokens of a server: DPoP (RFC 9449) and certificate binding (RFC 8705).

use super::super::raw::RawBinding;
use super::check::{err, Res};
use crate::decision::binding::BindingRules;
use crate::decision::dpop::{self, DpopRules, Mode};
use crate::jwt::{Alg, AlgSet};

/// `leeway`: the strategy's, in seconds (a proof's `iat` is checked with it too).
pub fn rules(path: &str, server: &str, raw: &RawBinding, leeway: u64) -> Res<BindingRules> {
    let certificate_required = match raw.certificate_bound.as_deref() {
        None | Some("optional") => false,
        Some("required") => true,
        Some(_) => return err(format!("{path}.certificate_bound"), "must be \"optional\" or \"required\""),
    };
    let mode = match raw.dpop.as_deref() {
        None | Some("disabled") => Mode::Disabled,
        Some("optional") => Mode::Optional,
        Some("required") => Mode::Required,
        Some(_) => return err(format!("{path}.dpop"), "must be \"disabled\", \"optional\" or \"required\""),
    };
    if mode == Mode::Disabled {
        let set = [("dpop_algs", raw.dpop_algs.is_some()), ("dpop_max_age", raw.dpop_max_age.is_some()),
            ("dpop_replay_slots", raw.dpop_replay_slots.is_some())];
        super::check::absent(path, &set, "only meaningful with `dpop`")?;
        return Ok(BindingRules { dpop: None, certificate_required });
    }
    let names: Vec<String> = match &raw.dpop_algs {
        Some(list) => list.clone(),
        None => dpop::DEFAULT_ALGS.iter().map(|a| a.to_string()).collect(),
    };
    let mut algs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Alg::parse(name) {
            Some(a) if !a.is_hmac() => algs.push(a),
            _ => return err(format!("{path}.dpop_algs[{i}]"), "an asymmetric JWS algorithm (ES256, ES384, RS*, PS*, EdDSA)"),
        }
    }
    if algs.is_empty() {
        return err(format!("{path}.dpop_algs"), "must name at least one algorithm");
    }
    let slots = raw.dpop_replay_slots.unwrap_or(dpop::DEFAULT_SLOTS);
    if !(1..=1_000_000).contains(&slots) {
        return err(format!("{path}.dpop_replay_slots"), "must be between 1 and 1000000");
    }
    let max_age = raw.dpop_max_age.unwrap_or(dpop::DEFAULT_MAX_AGE);
    if !(1..=3600).contains(&max_age) {
        return err(format!("{path}.dpop_max_age"), "must be between 1 and 3600 seconds");
    }
    Ok(BindingRules {
        dpop: Some(DpopRules {
            mode,
            algs: names.join(" "),
            proof_algs: algs.iter().copied().collect::<AlgSet>(),
            max_age,
            leeway,
            prefix: crate::common::shared::dpop_prefix(server),
            slots,
        }),
        certificate_required,
    })
}
