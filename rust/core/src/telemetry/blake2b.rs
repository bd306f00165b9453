//! Keyed `BLAKE2b` (RFC 7693), for privacy-mode agent ids.
//!
//! Only what telemetry needs: a one-shot hash of a short message with an
//! optional key and a digest length of 1 to 64 bytes. It gives the same
//! digests as Python's `hashlib.blake2b(data, key=key, digest_size=n)`.

const IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const BLOCK: usize = 128;

#[inline]
fn mix(v: &mut [u64; 16], [a, b, c, d]: [usize; 4], x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

fn compress(h: &mut [u64; 8], block: &[u8; BLOCK], counter: u128, last: bool) {
    let mut m = [0u64; 16];
    for (word, bytes) in m.iter_mut().zip(block.chunks_exact(8)) {
        *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= counter as u64;
    v[13] ^= (counter >> 64) as u64;
    if last {
        v[14] = !v[14];
    }
    for round in 0..12 {
        let s = &SIGMA[round % 10];
        mix(&mut v, [0, 4, 8, 12], m[s[0]], m[s[1]]);
        mix(&mut v, [1, 5, 9, 13], m[s[2]], m[s[3]]);
        mix(&mut v, [2, 6, 10, 14], m[s[4]], m[s[5]]);
        mix(&mut v, [3, 7, 11, 15], m[s[6]], m[s[7]]);
        mix(&mut v, [0, 5, 10, 15], m[s[8]], m[s[9]]);
        mix(&mut v, [1, 6, 11, 12], m[s[10]], m[s[11]]);
        mix(&mut v, [2, 7, 8, 13], m[s[12]], m[s[13]]);
        mix(&mut v, [3, 4, 9, 14], m[s[14]], m[s[15]]);
    }
    for (i, word) in h.iter_mut().enumerate() {
        *word ^= v[i] ^ v[i + 8];
    }
}

/// The `digest_len`-byte `BLAKE2b` digest of `data` under `key` (empty: unkeyed).
///
/// # Panics
/// When `digest_len` is outside 1..=64 or the key is longer than 64 bytes.
pub fn blake2b(digest_len: usize, key: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(
        (1..=64).contains(&digest_len),
        "digest length {digest_len} outside 1..=64"
    );
    assert!(key.len() <= 64, "key of {} bytes exceeds 64", key.len());
    let mut h = IV;
    h[0] ^= 0x0101_0000 ^ ((key.len() as u64) << 8) ^ digest_len as u64;
    // The key, padded to a whole block, is hashed as the message's first block.
    let mut message = Vec::with_capacity(BLOCK + data.len());
    if !key.is_empty() {
        message.extend_from_slice(key);
        message.resize(BLOCK, 0);
    }
    message.extend_from_slice(data);
    let total = message.len();
    let mut block = [0u8; BLOCK];
    let mut offset = 0;
    while total - offset > BLOCK {
        block.copy_from_slice(&message[offset..offset + BLOCK]);
        offset += BLOCK;
        compress(&mut h, &block, offset as u128, false);
    }
    block = [0u8; BLOCK];
    block[..total - offset].copy_from_slice(&message[offset..]);
    compress(&mut h, &block, total as u128, true);
    let mut out = Vec::with_capacity(64);
    for word in h {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(digest_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    #[test]
    fn rfc_7693_abc() {
        assert_eq!(
            hex(&blake2b(64, b"", b"abc")),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn empty_message() {
        assert_eq!(
            hex(&blake2b(64, b"", b"")),
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419\
             d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
        );
    }

    #[test]
    fn keyed_short_digests_match_hashlib() {
        // hashlib.blake2b(b"agent_7", key=b"k" * 32, digest_size=6).hexdigest()
        assert_eq!(hex(&blake2b(6, &[b'k'; 32], b"agent_7")), KEYED_AGENT_7);
        // a message spanning several blocks
        let long = vec![0xabu8; 300];
        assert_eq!(
            hex(&blake2b(32, b"key", &long)),
            "0bc16a1c855b5d5dd4d54c5fb3913a446544966865aedca60b874684f8efd90d"
        );
        // exactly one block of message after the key block
        assert_ne!(blake2b(6, b"key", &[0u8; 128]), blake2b(6, b"key", &[0u8; 127]));
    }

    const KEYED_AGENT_7: &str = "a1743b3ee2ab";
}
