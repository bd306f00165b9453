//! The three deterministic random streams (world, events, policy).
//!
//! Each stream is a `xoshiro256**` generator seeded through `SplitMix64` from
//! the master seed and the stream's index (or an explicit per-stream seed).
//! Its whole state is four `u64`s, so it serialises exactly and a restored
//! stream continues with the same numbers.

/// The stream a draw belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Movement jitter, tie-breaks, spawns: the world's own randomness.
    World = 0,
    /// Weather, utility faults, perturbations.
    Events = 1,
    /// Scripted-policy choices.
    Policy = 2,
}

/// `SplitMix64`, used to expand a seed into generator state.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `xoshiro256**` (Blackman & Vigna): fast, 256-bit state, good statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed` via `SplitMix64` (never the all-zero state).
    pub fn from_seed(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        if s == [0; 4] {
            return Rng { s: [1, 0, 0, 0] };
        }
        Rng { s }
    }

    /// A generator restored from its state; the all-zero state is refused.
    pub fn from_state(s: [u64; 4]) -> Option<Rng> {
        (s != [0; 4]).then_some(Rng { s })
    }

    /// The full state.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` without modulo bias (Lemire's method). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Bernoulli draw with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p.clamp(0.0, 1.0)
    }
}

/// The three streams together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    streams: [Rng; 3],
}

impl Streams {
    /// Streams derived from a master seed, with optional per-stream overrides
    /// (`[world, events, policy]`).
    pub fn new(master: u64, overrides: [Option<u64>; 3]) -> Streams {
        let derive = |i: usize| {
            overrides[i].unwrap_or_else(|| {
                let mut sm = master ^ (0xA076_1D64_78BD_642F_u64.wrapping_mul(i as u64 + 1));
                splitmix64(&mut sm)
            })
        };
        Streams {
            streams: [
                Rng::from_seed(derive(0)),
                Rng::from_seed(derive(1)),
                Rng::from_seed(derive(2)),
            ],
        }
    }

    /// One stream, mutably.
    pub fn get(&mut self, stream: Stream) -> &mut Rng {
        &mut self.streams[stream as usize]
    }

    /// All twelve state words, stream by stream.
    pub fn state(&self) -> [[u64; 4]; 3] {
        [
            self.streams[0].state(),
            self.streams[1].state(),
            self.streams[2].state(),
        ]
    }

    /// Restores from [`Streams::state`]; `None` if any stream's state is all zero.
    pub fn from_state(state: [[u64; 4]; 3]) -> Option<Streams> {
        Some(Streams {
            streams: [
                Rng::from_state(state[0])?,
                Rng::from_state(state[1])?,
                Rng::from_state(state[2])?,
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Rng, Stream, Streams};
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};

    #[test]
    fn streams_are_independent_and_reproducible() {
        let mut a = Streams::new(42, [None; 3]);
        let mut b = Streams::new(42, [None; 3]);
        let wa: Vec<u64> = (0..5).map(|_| a.get(Stream::World).next_u64()).collect();
        // Drawing from events must not disturb world.
        for _ in 0..100 {
            b.get(Stream::Events).next_u64();
        }
        let wb: Vec<u64> = (0..5).map(|_| b.get(Stream::World).next_u64()).collect();
        assert_eq!(wa, wb);
        assert_ne!(a.get(Stream::Policy).next_u64(), a.get(Stream::World).next_u64());
        let c = Streams::new(43, [None; 3]);
        assert_ne!(c.state(), Streams::new(42, [None; 3]).state());
        let d = Streams::new(42, [None, Some(7), None]);
        assert_eq!(d.state()[0], Streams::new(42, [None; 3]).state()[0]);
        assert_eq!(d.state()[1], Rng::from_seed(7).state());
    }

    #[test]
    fn distributions_are_sane() {
        let mut r = Rng::from_seed(1);
        let n = 60_000;
        let mut counts = [0u32; 6];
        let mut sum = 0.0;
        for _ in 0..n {
            counts[r.below(6) as usize] += 1;
            sum += r.next_f64();
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert!((sum / f64::from(n) - 0.5).abs() < 0.01);
        assert!(Rng::from_state([0; 4]).is_none());
    }

    proptest! {
        #[test]
        fn state_round_trip_continues_identically(seed in any::<u64>(), skip in 0usize..50) {
            let mut s = Streams::new(seed, [None; 3]);
            for _ in 0..skip { s.get(Stream::Events).next_u64(); }
            let mut restored = Streams::from_state(s.state()).unwrap();
            for stream in [Stream::World, Stream::Events, Stream::Policy] {
                for _ in 0..10 {
                    prop_assert_eq!(s.get(stream).next_u64(), restored.get(stream).next_u64());
                }
            }
        }

        #[test]
        fn below_stays_in_range(seed in any::<u64>(), n in 1u64..1000) {
            let mut r = Rng::from_seed(seed);
            for _ in 0..20 { prop_assert!(r.below(n) < n); }
        }
    }
}
