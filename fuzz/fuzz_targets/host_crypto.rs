//! What the host's `verify_signature` and `sign` answer (protobuf) and the ECDSA signatures
//! it gives (DER), and the R‖S → DER conversion of token signatures.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oauth_core::crypto::{der, proto};

fuzz_target!(|data: &[u8]| {
    let _ = proto::verify_result(data);
    let _ = proto::sign_result(data);
    for n in [32, 48] {
        if let Some(raw) = der::der_to_raw(data, n) {
            // What comes out converts back to a DER that reads as the same pair.
            let again = der::raw_to_der(&raw, n).and_then(|d| der::der_to_raw(&d, n));
            assert_eq!(again.as_deref(), Some(raw.as_slice()));
        }
        let _ = der::raw_to_der(data, n);
    }
});
