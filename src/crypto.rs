//! Envoy's BoringSSL as the core's `CryptoHost`: the `verify_signature` and `sign` foreign
//! functions, used for the algorithms that passed the probe at configure time.

use crate::host;
use oauth_core::crypto::{self, proto, CryptoHost, Verdict};
use oauth_core::jwt::AlgSet;

pub struct EnvoyCrypto {
    algs: AlgSet,
}

impl EnvoyCrypto {
    /// Probes the host; None when it verifies none of the algorithms correctly.
    pub fn probe() -> Option<EnvoyCrypto> {
        let candidate = EnvoyCrypto { algs: crypto::host_capable() };
        let algs = crypto::probe::probe(&candidate);
        let names: Vec<&str> = oauth_core::jwt::Alg::ALL.iter().filter(|a| algs.contains(**a)).map(|a| a.name()).collect();
        if names.is_empty() {
            log::info!("host crypto: none (signatures are checked in the filter)");
            return None;
        }
        log::info!("host crypto: {}", names.join(" "));
        Some(EnvoyCrypto { algs })
    }
}

impl CryptoHost for EnvoyCrypto {
    fn algs(&self) -> AlgSet {
        self.algs
    }

    fn verify(&self, hash: &str, public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Verdict {
        let args = proto::verify_arguments(hash, public_key_der, signature, text);
        match host::call_foreign("verify_signature", &args).as_deref().map(proto::verify_result) {
            Some(Some(true)) => Verdict::Valid,
            Some(Some(false)) => Verdict::Invalid,
            _ => Verdict::Unavailable,
        }
    }

    fn sign(&self, hash: &str, private_key_pem: &str, text: &[u8]) -> Option<Vec<u8>> {
        let args = proto::sign_arguments(hash, private_key_pem, text);
        host::call_foreign("sign", &args).as_deref().and_then(proto::sign_result)
    }
}
