//! What the ceilings share with the components they bound: a ceiling is the best
//! bare use of the library for the same job, so where a component hashes a key
//! once and compares pointers first, its ceiling does too. A ceiling that a
//! component beats says nothing about how close the component is to the library's
//! limit; the report names such a ceiling "too weak".

use std::hash::{BuildHasherDefault, Hasher};

/// A hasher that passes a precomputed hash through (`write_u64`), or takes the low
/// 64 bits of a random 128-bit id (`write_u128`): the tricks `mcpbench-registry`
/// and `mcpbench-session` use, for bare maps.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only the two writes above are expected; fold anything else so a misuse
        // is slow, not wrong.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// [`PassThrough`] as a map's `BuildHasher`.
pub type PassThroughState = BuildHasherDefault<PassThrough>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    #[test]
    fn pass_through_uses_the_low_bits_of_an_id() {
        let mut h = PassThrough::default();
        0x1234_u128.wrapping_add(7 << 64).hash(&mut h);
        assert_eq!(h.finish(), 0x1234);
    }
}
