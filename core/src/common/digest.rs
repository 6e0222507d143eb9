//! The small hashes shared by the caches and the shared-data keys: a token's key in this
//! worker's caches, and FNV-1a for shared-data key names.

/// A token's key in this worker's caches (verified tokens, verdicts): SipHash-1-3 with a
/// 128-bit output under a secret random key of this VM, computed once per request. A keyed
/// PRF, so nobody who does not know the key can make a token that collides with another; one
/// pass over the token, several times cheaper than SHA-256, which remains for what leaves the
/// VM (introspection slots in shared data).
pub type TokenDigest = [u8; 16];

thread_local! {
    /// This VM's key: two words drawn from std's randomly keyed hasher (WASI `random_get`).
    static KEY: (u64, u64) = {
        use std::hash::BuildHasher;
        let random = std::hash::RandomState::new();
        (random.hash_one(0x6b30u16), random.hash_one(0x6b31u16))
    };
}

pub fn digest(token: &[u8]) -> TokenDigest {
    let (k0, k1) = KEY.with(|k| *k);
    sip::<1, 3>(k0, k1, token, true)
}

/// SipHash-c-d of `data` under the key (k0, k1), as the reference implementation computes it:
/// a 128-bit output when `wide` (both halves), else the 64-bit one (in the first 8 bytes).
fn sip<const C: usize, const D: usize>(k0: u64, k1: u64, data: &[u8], wide: bool) -> [u8; 16] {
    let mut v = [0x736f_6d65_7073_6575 ^ k0, 0x646f_7261_6e64_6f6d ^ k1, 0x6c79_6765_6e65_7261 ^ k0, 0x7465_6462_7974_6573 ^ k1];
    if wide {
        v[1] ^= 0xee;
    }
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let absorb = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        for _ in 0..C {
            round(v);
        }
        v[0] ^= m;
    };
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        absorb(&mut v, u64::from_le_bytes(eight));
    }
    let mut last = [0u8; 8];
    let tail = words.remainder();
    last.iter_mut().zip(tail).for_each(|(l, t)| *l = *t);
    absorb(&mut v, u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56));
    v[2] ^= if wide { 0xee } else { 0xff };
    let mut out = [0u8; 16];
    let (lo, hi) = out.split_at_mut(8);
    for _ in 0..D {
        round(&mut v);
    }
    lo.copy_from_slice(&(v[0] ^ v[1] ^ v[2] ^ v[3]).to_le_bytes());
    if wide {
        v[1] ^= 0xdd;
        for _ in 0..D {
            round(&mut v);
        }
        hi.copy_from_slice(&(v[0] ^ v[1] ^ v[2] ^ v[3]).to_le_bytes());
    }
    out
}

/// FNV-1a, for shared-data key names (not a security hash).
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_rounds_and_padding_are_std_siphash_2_4() {
        let data: Vec<u8> = (0..100u8).collect();
        for (k0, k1) in [(0, 0), (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908), (u64::MAX, 7)] {
            for len in 0..data.len() {
                #[allow(deprecated)]
                let mut std_sip = std::hash::SipHasher::new_with_keys(k0, k1);
                std::hash::Hasher::write(&mut std_sip, &data[..len]);
                let ours = sip::<2, 4>(k0, k1, &data[..len], false);
                assert_eq!(ours[..8], std::hash::Hasher::finish(&std_sip).to_le_bytes(), "{len}");
            }
        }
    }

    #[test]
    fn the_reference_128_bit_vectors() {
        // SipHash-2-4 with a 128-bit output, key 00..0f, message 00..(n-1): the first entries
        // of the reference implementation's `vectors_sip128`.
        let expected: [[u8; 16]; 2] = [
            [0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93],
            [0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45],
        ];
        let data: Vec<u8> = (0..2u8).collect();
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(&sip::<2, 4>(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, &data[..n], true), want, "{n}");
        }
    }

    #[test]
    fn the_digest_is_stable_in_a_vm_and_tells_tokens_apart() {
        assert_eq!(digest(b"a.b.c"), digest(b"a.b.c"));
        assert_ne!(digest(b"a.b.c"), digest(b"a.b.d"));
        assert_ne!(digest(b""), digest(b"\0"));
    }
}
