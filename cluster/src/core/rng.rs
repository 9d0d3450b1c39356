//! The core's only source of randomness: a seeded xorshift64* generator, so
//! a run is repeatable from its seed (node names, gossip picks, election
//! delays).

use crate::msg::{NodeName, NODE_NAME_LEN};

#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // Spread the seed (splitmix64) so that 0 and small seeds work.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`); the bias is irrelevant for our uses.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// A random 40-character lowercase hex node name.
    pub(crate) fn node_name(&mut self) -> NodeName {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut name = [0u8; NODE_NAME_LEN];
        for b in name.iter_mut() {
            *b = HEX[self.below(16) as usize];
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hex_and_repeatable() {
        let mut a = Rng::new(0);
        let mut b = Rng::new(0);
        let n = a.node_name();
        assert_eq!(n, b.node_name());
        assert!(n
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(a.below(10) < 10);
    }
}
