//! Struct-of-arrays agent storage with reusable slots.
//!
//! Every per-agent field is its own `Vec` indexed by slot, so per-tick loops
//! stream through memory. Removed slots are reused lowest-first, which keeps
//! slot assignment deterministic. Each agent also has a stable `uid` (its
//! public id is `agent_<uid>`) that is never reused.

use std::collections::BTreeSet;

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};

/// Needs, in order: hunger, hygiene, energy (satiation in [0, 1]).
pub const NEEDS: usize = 3;
/// Inventory items, in order: `food_raw`, `meal`, `clothes_clean`.
pub const ITEMS: usize = 3;
/// Personality traits, in order: extroversion, forgiveness, ambition, patience, frugal (each in [-1, 1]).
pub const TRAITS: usize = 5;
/// Sentinel for "no job" / "no home".
pub const NONE: i32 = -1;

/// What a new agent starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInit {
    pub x: i32,
    pub y: i32,
    pub needs: [f32; NEEDS],
    pub wallet: f64,
    pub inventory: [u16; ITEMS],
    pub job: i32,
    pub home: i32,
    pub personality: [f32; TRAITS],
}

impl AgentInit {
    /// Validates ranges: needs in [0, 1], finite money, traits in [-1, 1].
    pub fn validate(&self) -> CoreResult<()> {
        if self.needs.iter().any(|n| !(0.0..=1.0).contains(n)) {
            return Err(CoreError::InvalidArgument(format!(
                "needs {:?} must lie in [0, 1]",
                self.needs
            )));
        }
        if !self.wallet.is_finite() {
            return Err(CoreError::InvalidArgument(format!(
                "wallet {} must be finite",
                self.wallet
            )));
        }
        if self.personality.iter().any(|t| !(-1.0..=1.0).contains(t)) {
            return Err(CoreError::InvalidArgument(format!(
                "personality {:?} must lie in [-1, 1]",
                self.personality
            )));
        }
        Ok(())
    }
}

/// The last primitive an agent performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LastAction {
    pub id: u8,
    pub success: bool,
    pub duration: u16,
}

/// Counters the lifecycle's exit triggers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LifeCounters {
    /// Consecutive ticks with hunger deficit above the collapse threshold.
    pub collapse_ticks: u32,
    /// Consecutive rent days left unpaid.
    pub unpaid_rent_days: u16,
    /// Consecutive days without a wage.
    pub days_without_wage: u16,
    /// Ticks today with some deficit above the neglect threshold.
    pub neglect_ticks: u32,
    /// Ticks since spawn.
    pub age_ticks: u32,
    /// Ticks since spawn with every need above the self-sufficiency line (0.3).
    pub satisfied_ticks: u32,
}

/// The storage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Agents {
    pub alive: Vec<bool>,
    pub uid: Vec<u64>,
    pub x: Vec<i32>,
    pub y: Vec<i32>,
    pub needs: Vec<[f32; NEEDS]>,
    pub wallet: Vec<f64>,
    pub inventory: Vec<[u16; ITEMS]>,
    pub job: Vec<i32>,
    pub home: Vec<i32>,
    pub personality: Vec<[f32; TRAITS]>,
    pub option: Vec<u8>,
    pub commit_ticks: Vec<u16>,
    pub last_action: Vec<LastAction>,
    pub ctx_reset: Vec<bool>,
    pub counters: Vec<LifeCounters>,
    free: BTreeSet<u32>,
    next_uid: u64,
    count: usize,
}

impl Agents {
    /// Empty storage.
    pub fn new() -> Agents {
        Agents::default()
    }

    /// Number of live agents.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no live agents.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of slots (live or free).
    pub fn capacity(&self) -> usize {
        self.alive.len()
    }

    /// The uid the next spawn will get.
    pub fn next_uid(&self) -> u64 {
        self.next_uid
    }

    /// Whether `slot` holds a live agent.
    pub fn is_alive(&self, slot: usize) -> bool {
        self.alive.get(slot).copied().unwrap_or(false)
    }

    /// Errors unless `slot` holds a live agent.
    pub fn check(&self, slot: usize) -> CoreResult<()> {
        if self.is_alive(slot) {
            Ok(())
        } else {
            Err(CoreError::InvalidArgument(format!("slot {slot} holds no live agent")))
        }
    }

    /// Live slots in ascending order.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.alive.iter().enumerate().filter_map(|(i, &a)| a.then_some(i))
    }

    /// Adds an agent; returns `(slot, uid)`. The lowest free slot is reused.
    pub fn spawn(&mut self, init: &AgentInit) -> CoreResult<(usize, u64)> {
        init.validate()?;
        let slot = if let Some(s) = self.free.pop_first() {
            s as usize
        } else {
            let s = self.alive.len();
            self.alive.push(false);
            self.uid.push(0);
            self.x.push(0);
            self.y.push(0);
            self.needs.push([0.0; NEEDS]);
            self.wallet.push(0.0);
            self.inventory.push([0; ITEMS]);
            self.job.push(NONE);
            self.home.push(NONE);
            self.personality.push([0.0; TRAITS]);
            self.option.push(0);
            self.commit_ticks.push(0);
            self.last_action.push(LastAction::default());
            self.ctx_reset.push(false);
            self.counters.push(LifeCounters::default());
            s
        };
        let uid = self.next_uid;
        self.next_uid += 1;
        self.alive[slot] = true;
        self.uid[slot] = uid;
        self.x[slot] = init.x;
        self.y[slot] = init.y;
        self.needs[slot] = init.needs;
        self.wallet[slot] = init.wallet;
        self.inventory[slot] = init.inventory;
        self.job[slot] = init.job;
        self.home[slot] = init.home;
        self.personality[slot] = init.personality;
        self.option[slot] = 0;
        self.commit_ticks[slot] = 0;
        self.last_action[slot] = LastAction::default();
        self.ctx_reset[slot] = true;
        self.counters[slot] = LifeCounters::default();
        self.count += 1;
        Ok((slot, uid))
    }

    /// Removes the agent in `slot`; the slot becomes free for reuse.
    pub fn remove(&mut self, slot: usize) -> CoreResult<u64> {
        self.check(slot)?;
        self.alive[slot] = false;
        self.free.insert(slot as u32);
        self.count -= 1;
        Ok(self.uid[slot])
    }

    /// Finds the slot of a live agent by uid (linear; for rare console calls).
    pub fn slot_of(&self, uid: u64) -> Option<usize> {
        self.slots().find(|&s| self.uid[s] == uid)
    }

    /// Serialises every slot (live and free) and the allocator state.
    pub fn encode(&self, w: &mut Writer) {
        w.len(self.capacity());
        w.u64(self.next_uid);
        for s in 0..self.capacity() {
            w.bool(self.alive[s]);
            w.u64(self.uid[s]);
            w.i32(self.x[s]);
            w.i32(self.y[s]);
            self.needs[s].iter().for_each(|&v| w.f32(v));
            w.f64(self.wallet[s]);
            self.inventory[s].iter().for_each(|&v| w.u16(v));
            w.i32(self.job[s]);
            w.i32(self.home[s]);
            self.personality[s].iter().for_each(|&v| w.f32(v));
            w.u8(self.option[s]);
            w.u16(self.commit_ticks[s]);
            let a = self.last_action[s];
            w.u8(a.id);
            w.bool(a.success);
            w.u16(a.duration);
            w.bool(self.ctx_reset[s]);
            let c = self.counters[s];
            w.u32(c.collapse_ticks);
            w.u16(c.unpaid_rent_days);
            w.u16(c.days_without_wage);
            w.u32(c.neglect_ticks);
            w.u32(c.age_ticks);
            w.u32(c.satisfied_ticks);
        }
    }

    /// Restores storage written by [`Agents::encode`].
    pub fn decode(r: &mut Reader<'_>) -> CoreResult<Agents> {
        let n = r.len(10_000_000)?;
        let mut a = Agents {
            next_uid: r.u64()?,
            ..Agents::default()
        };
        for s in 0..n {
            let alive = r.bool()?;
            a.alive.push(alive);
            a.uid.push(r.u64()?);
            a.x.push(r.i32()?);
            a.y.push(r.i32()?);
            a.needs.push([r.f32()?, r.f32()?, r.f32()?]);
            a.wallet.push(r.f64()?);
            a.inventory.push([r.u16()?, r.u16()?, r.u16()?]);
            a.job.push(r.i32()?);
            a.home.push(r.i32()?);
            a.personality.push([r.f32()?, r.f32()?, r.f32()?, r.f32()?, r.f32()?]);
            a.option.push(r.u8()?);
            a.commit_ticks.push(r.u16()?);
            a.last_action.push(LastAction {
                id: r.u8()?,
                success: r.bool()?,
                duration: r.u16()?,
            });
            a.ctx_reset.push(r.bool()?);
            a.counters.push(LifeCounters {
                collapse_ticks: r.u32()?,
                unpaid_rent_days: r.u16()?,
                days_without_wage: r.u16()?,
                neglect_ticks: r.u32()?,
                age_ticks: r.u32()?,
                satisfied_ticks: r.u32()?,
            });
            if alive {
                a.count += 1;
            } else {
                a.free.insert(s as u32);
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn init(x: i32) -> AgentInit {
        AgentInit {
            x,
            y: 1,
            needs: [0.8, 0.7, 0.6],
            wallet: 3.0,
            inventory: [1, 0, 1],
            job: 0,
            home: 2,
            personality: [0.1, -0.2, 0.3, 0.0, 0.0],
        }
    }

    #[test]
    fn slots_are_reused_lowest_first_and_uids_never() {
        let mut a = Agents::new();
        for i in 0..4 {
            assert_eq!(a.spawn(&init(i)).unwrap(), (i as usize, i as u64));
        }
        a.remove(2).unwrap();
        a.remove(0).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.spawn(&init(9)).unwrap(), (0, 4));
        assert_eq!(a.spawn(&init(9)).unwrap(), (2, 5));
        assert_eq!(a.spawn(&init(9)).unwrap(), (4, 6));
        assert_eq!(a.slots().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(a.slot_of(5), Some(2));
        assert_eq!(a.slot_of(2), None);
        assert!(a.ctx_reset[2]);
    }

    #[test]
    fn rejects_bad_input() {
        let mut a = Agents::new();
        assert!(a.remove(0).is_err());
        let mut bad = init(0);
        bad.needs[1] = 1.5;
        assert!(a.spawn(&bad).is_err());
        let mut bad = init(0);
        bad.wallet = f64::NAN;
        assert!(a.spawn(&bad).is_err());
        let mut bad = init(0);
        bad.personality[0] = -2.0;
        assert!(a.spawn(&bad).is_err());
        a.spawn(&init(0)).unwrap();
        a.remove(0).unwrap();
        assert!(a.remove(0).is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(ops in proptest::collection::vec((any::<bool>(), 0usize..20), 1..60)) {
            let mut a = Agents::new();
            for (spawn, slot) in ops {
                if spawn || a.is_empty() {
                    a.spawn(&init(slot as i32)).unwrap();
                } else if a.is_alive(slot) {
                    a.remove(slot).unwrap();
                }
            }
            let mut w = Writer::new();
            a.encode(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            let mut b = Agents::decode(&mut r).unwrap();
            r.finish().unwrap();
            prop_assert_eq!(b.len(), a.len());
            prop_assert_eq!(b.slots().collect::<Vec<_>>(), a.slots().collect::<Vec<_>>());
            // Same future: the next spawn lands in the same slot with the same uid.
            prop_assert_eq!(a.spawn(&init(0)).unwrap(), b.spawn(&init(0)).unwrap());
            for cut in [0, bytes.len() / 2, bytes.len() - 1] {
                prop_assert!(Agents::decode(&mut Reader::new(&bytes[..cut])).is_err());
            }
        }
    }
}
