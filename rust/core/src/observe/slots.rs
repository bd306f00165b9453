//! Embedding slots (SPEC §5): a fixed namespace of identity codes.
//!
//! Every live agent holds one slot; the observation names other agents by
//! their slot's code, so a policy never sees raw ids. A released slot is not
//! handed out again until `cooldown_ticks` have passed, so a new agent is not
//! mistaken for the one that just left. When no slot has cooled down, the
//! free slot released longest ago is reused early and counted (`forced`).
//! When every slot is held the agent gets none (code of zeros) and the
//! shortfall is counted (`exhausted`).

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};

/// Length of a slot code.
pub const CODE_DIM: usize = 8;

/// Namespace size and reuse cooldown (`embedding_allocator.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotParams {
    pub max_slots: u32,
    pub cooldown_ticks: u64,
}

impl Default for SlotParams {
    fn default() -> SlotParams {
        SlotParams {
            max_slots: 64,
            cooldown_ticks: 2000,
        }
    }
}

/// Allocation counters for telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotStats {
    /// Slots handed out.
    pub assigned: u64,
    /// Slots reused before their cooldown ended.
    pub forced: u64,
    /// Agents that got no slot because every slot was held.
    pub exhausted: u64,
}

/// The allocator: which agent holds each slot, and when free slots were released.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingSlots {
    params: SlotParams,
    /// Per embedding slot: the agent slot holding it.
    holder: Vec<Option<u32>>,
    /// Per embedding slot: tick of its last release (None: never used).
    released_at: Vec<Option<u64>>,
    /// Per agent slot: its embedding slot, or -1.
    of_agent: Vec<i32>,
    stats: SlotStats,
}

/// The fixed code of slot `slot`: a deterministic unit vector (splitmix64 of
/// the slot index, mapped to [-1, 1], normalised). The same in every run and
/// every build.
pub fn slot_code(slot: u32) -> [f32; CODE_DIM] {
    let mut state = u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x7F4A_7C15_9E37_79B9;
    let mut code = [0f32; CODE_DIM];
    for c in &mut code {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        *c = ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
    }
    let norm = code.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    for v in &mut code {
        *v /= norm;
    }
    code
}

impl EmbeddingSlots {
    /// An empty allocator.
    pub fn new(params: SlotParams) -> CoreResult<EmbeddingSlots> {
        if params.max_slots == 0 || params.max_slots > 65_536 {
            return Err(CoreError::InvalidArgument(format!(
                "embedding max_slots {} outside 1..=65536",
                params.max_slots
            )));
        }
        let n = params.max_slots as usize;
        Ok(EmbeddingSlots {
            params,
            holder: vec![None; n],
            released_at: vec![None; n],
            of_agent: Vec::new(),
            stats: SlotStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> SlotStats {
        self.stats
    }

    /// The embedding slot of agent slot `agent`, if it holds one.
    pub fn of(&self, agent: usize) -> Option<u32> {
        self.of_agent.get(agent).and_then(|&s| u32::try_from(s).ok())
    }

    /// Gives agent slot `agent` a slot at `tick`: the lowest slot that has
    /// cooled down, else (forced) the free slot released longest ago, else none.
    pub fn assign(&mut self, agent: usize, tick: u64) -> Option<u32> {
        self.release(agent, tick);
        let cooled = |r: Option<u64>| r.is_none_or(|t| tick.saturating_sub(t) >= self.params.cooldown_ticks);
        let free = |i: &usize| self.holder[*i].is_none();
        let chosen = (0..self.holder.len())
            .filter(free)
            .find(|&i| cooled(self.released_at[i]))
            .or_else(|| {
                let oldest = (0..self.holder.len())
                    .filter(free)
                    .min_by_key(|&i| (self.released_at[i].unwrap_or(0), i));
                if oldest.is_some() {
                    self.stats.forced += 1;
                }
                oldest
            });
        if agent >= self.of_agent.len() {
            self.of_agent.resize(agent + 1, -1);
        }
        if let Some(i) = chosen {
            self.holder[i] = Some(agent as u32);
            self.of_agent[agent] = i as i32;
            self.stats.assigned += 1;
            Some(i as u32)
        } else {
            self.stats.exhausted += 1;
            None
        }
    }

    /// Frees agent slot `agent`'s embedding slot (if any) at `tick`.
    pub fn release(&mut self, agent: usize, tick: u64) {
        if let Some(i) = self.of(agent) {
            self.holder[i as usize] = None;
            self.released_at[i as usize] = Some(tick);
            self.of_agent[agent] = -1;
        }
    }

    /// Serialises the allocator.
    pub fn encode(&self, w: &mut Writer) {
        w.len(self.holder.len());
        for (h, r) in self.holder.iter().zip(&self.released_at) {
            w.u32(h.map_or(u32::MAX, |v| v));
            w.u64(r.map_or(u64::MAX, |v| v));
        }
        w.len(self.of_agent.len());
        for &a in &self.of_agent {
            w.u32(a as u32);
        }
        w.u64(self.stats.assigned);
        w.u64(self.stats.forced);
        w.u64(self.stats.exhausted);
    }

    /// Restores an allocator written by [`EmbeddingSlots::encode`].
    pub fn decode(params: SlotParams, r: &mut Reader<'_>) -> CoreResult<EmbeddingSlots> {
        let n = r.len(65_536)?;
        if n != params.max_slots as usize {
            return Err(CoreError::InvalidArgument(format!(
                "snapshot has {n} embedding slots, the config {}",
                params.max_slots
            )));
        }
        let mut holder = Vec::with_capacity(n);
        let mut released_at = Vec::with_capacity(n);
        for _ in 0..n {
            let h = r.u32()?;
            let t = r.u64()?;
            holder.push((h != u32::MAX).then_some(h));
            released_at.push((t != u64::MAX).then_some(t));
        }
        let m = r.len(10_000_000)?;
        let of_agent = (0..m)
            .map(|_| r.u32().map(|v| v as i32))
            .collect::<CoreResult<Vec<_>>>()?;
        let stats = SlotStats {
            assigned: r.u64()?,
            forced: r.u64()?,
            exhausted: r.u64()?,
        };
        Ok(EmbeddingSlots {
            params,
            holder,
            released_at,
            of_agent,
            stats,
        })
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact codes are the point
mod tests {
    use super::*;

    #[test]
    fn cooldown_then_forced_reuse_of_the_oldest() {
        let mut s = EmbeddingSlots::new(SlotParams {
            max_slots: 3,
            cooldown_ticks: 100,
        })
        .unwrap();
        assert_eq!(s.assign(0, 0), Some(0));
        assert_eq!(s.assign(1, 0), Some(1));
        s.release(0, 10);
        // Slot 0 is cooling down: the never-used slot 2 comes first.
        assert_eq!(s.assign(2, 20), Some(2));
        s.release(1, 30);
        // Nothing has cooled: the slot released longest ago (0, at tick 10) is forced.
        assert_eq!(s.assign(3, 40), Some(0));
        assert_eq!(s.stats().forced, 1);
        // Slot 1 (released at 30) is the only free one: forced again.
        assert_eq!(s.assign(4, 50), Some(1));
        assert_eq!(s.stats().forced, 2);
        // All held: no slot.
        assert_eq!(s.assign(5, 55), None);
        assert_eq!(s.stats().exhausted, 1);
        // After the cooldown, slot 0 is reused normally.
        s.release(3, 60);
        assert_eq!(s.assign(5, 160), Some(0));
        assert_eq!(s.stats().forced, 2);
        let mut w = Writer::new();
        s.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let back = EmbeddingSlots::decode(s.params, &mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn codes_are_fixed_unit_vectors_and_distinct() {
        let a = slot_code(0);
        assert_eq!(a, slot_code(0));
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let codes: Vec<_> = (0..64).map(slot_code).collect();
        for i in 0..64 {
            for j in 0..i {
                assert_ne!(codes[i], codes[j]);
            }
        }
    }
}
