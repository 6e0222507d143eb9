//! Small pieces every part uses: a decision's clock, codecs, digests, durations, the identity
//! a token gives, an LRU, secrets, shared-data key names and URL targets.

pub mod b64url;
pub mod byteset;
pub mod bytes;
pub mod claims;
pub mod clock;
pub mod codec;
pub mod digest;
pub mod flat;
pub mod duration;
pub mod identity;
pub mod lru;
pub mod secret;
pub mod shared;
pub mod url;
