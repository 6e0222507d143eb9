//! JWT validation inside the filter.

pub mod alg;
pub mod cache;
pub mod eddsa;
pub mod header;
pub mod heads;
pub mod hmac;
pub mod hosted;
pub mod keys;
pub mod payload;
pub mod verify;

pub use alg::{Alg, AlgSet};
pub use keys::{parse_jwks, VerifyKey};
pub use verify::JwtRules;
