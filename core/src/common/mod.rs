//! Small pieces every part uses: codecs, digests, durations, the identity a token gives, an
//! LRU, secrets, shared-data key names and URL targets.

pub mod codec;
pub mod digest;
pub mod duration;
pub mod identity;
pub mod lru;
pub mod secret;
pub mod shared;
pub mod url;
