//! Relationship ties: at most K per agent (default 6), each with trust,
//! familiarity and rivalry in [-1, 1].
//!
//! Events apply deltas scaled by the actor's personality. A new tie is
//! admitted while there is room; when full, it replaces the weakest tie only
//! if it is stronger. Ties decay toward zero each in-game hour and vanish
//! when they reach zero.

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};

/// One directed tie from an agent to another (by uid).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tie {
    pub other: u64,
    pub trust: f32,
    pub familiarity: f32,
    pub rivalry: f32,
}

impl Tie {
    /// Strength used for admission and eviction: the sum of magnitudes.
    pub fn strength(&self) -> f32 {
        self.trust.abs() + self.familiarity.abs() + self.rivalry.abs()
    }

    fn is_zero(&self) -> bool {
        self.trust == 0.0 && self.familiarity == 0.0 && self.rivalry == 0.0
    }
}

/// What kind of event a delta comes from (selects personality scaling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// No trait-specific scaling beyond forgiveness.
    Plain,
    /// A conflict at work: ambition adds rivalry.
    WorkConflict,
    /// A good chat: extroversion adds familiarity.
    GoodChat,
}

/// Personality scaling parameters (from `relationships.*` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// Negative deltas are scaled down to this factor at forgiveness = 1.
    pub forgiveness_damping: f32,
    /// Extra rivalry share at ambition = 1 on work conflicts.
    pub ambition_rivalry_boost: f32,
    /// Extra familiarity share at extroversion = 1 on good chats.
    pub extroversion_familiarity_boost: f32,
}

impl Default for Scaling {
    fn default() -> Scaling {
        Scaling {
            forgiveness_damping: 0.5,
            ambition_rivalry_boost: 0.3,
            extroversion_familiarity_boost: 0.3,
        }
    }
}

impl Scaling {
    /// Scales `(trust, familiarity, rivalry)` for an actor with traits
    /// `(extroversion, forgiveness, ambition)`.
    pub fn scale(&self, delta: [f32; 3], traits: [f32; 3], kind: EventKind) -> [f32; 3] {
        let [extroversion, forgiveness, ambition] = traits;
        let damp = 1.0 - (1.0 - self.forgiveness_damping) * forgiveness.max(0.0);
        let mut out = delta.map(|d| if d < 0.0 { d * damp } else { d });
        match kind {
            EventKind::WorkConflict => out[2] *= 1.0 + self.ambition_rivalry_boost * ambition.max(0.0),
            EventKind::GoodChat => out[1] *= 1.0 + self.extroversion_familiarity_boost * extroversion.max(0.0),
            EventKind::Plain => {}
        }
        out
    }
}

/// Index of the weakest tie (ties broken by the older uid, deterministically).
fn weakest(list: &[Tie]) -> Option<usize> {
    list.iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.strength().total_cmp(&b.strength()).then(a.other.cmp(&b.other)))
        .map(|(i, _)| i)
}

/// All ties, per agent slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Relations {
    max_ties: usize,
    ties: Vec<Vec<Tie>>,
}

impl Relations {
    /// Storage holding at most `max_ties` ties per agent.
    pub fn new(max_ties: usize) -> CoreResult<Relations> {
        if !(1..=32).contains(&max_ties) {
            return Err(CoreError::InvalidArgument(format!(
                "max_ties {max_ties} outside 1..=32"
            )));
        }
        Ok(Relations {
            max_ties,
            ties: Vec::new(),
        })
    }

    /// The per-agent limit.
    pub fn max_ties(&self) -> usize {
        self.max_ties
    }

    fn ensure(&mut self, slot: usize) {
        if slot >= self.ties.len() {
            self.ties.resize_with(slot + 1, Vec::new);
        }
    }

    /// The ties of `slot` (empty for unknown slots).
    pub fn ties(&self, slot: usize) -> &[Tie] {
        self.ties.get(slot).map_or(&[], Vec::as_slice)
    }

    /// The tie from `slot` to `other`, if any.
    pub fn tie(&self, slot: usize, other: u64) -> Option<&Tie> {
        self.ties(slot).iter().find(|t| t.other == other)
    }

    /// Applies an already-scaled delta to the tie `slot -> other`, creating it
    /// under the admission rule. Returns whether the tie exists afterwards.
    pub fn apply(&mut self, slot: usize, self_uid: u64, other: u64, delta: [f32; 3]) -> bool {
        if other == self_uid {
            return false;
        }
        self.ensure(slot);
        let max = self.max_ties;
        let list = &mut self.ties[slot];
        if let Some(t) = list.iter_mut().find(|t| t.other == other) {
            t.trust = (t.trust + delta[0]).clamp(-1.0, 1.0);
            t.familiarity = (t.familiarity + delta[1]).clamp(-1.0, 1.0);
            t.rivalry = (t.rivalry + delta[2]).clamp(-1.0, 1.0);
            return true;
        }
        let new = Tie {
            other,
            trust: delta[0].clamp(-1.0, 1.0),
            familiarity: delta[1].clamp(-1.0, 1.0),
            rivalry: delta[2].clamp(-1.0, 1.0),
        };
        if new.is_zero() {
            return false;
        }
        if list.len() < max {
            list.push(new);
            return true;
        }
        // Full: evict the weakest only if the newcomer is stronger.
        let i = weakest(list).expect("list is full, so not empty");
        if new.strength() > list[i].strength() {
            list[i] = new;
            true
        } else {
            false
        }
    }

    /// Sets a tie directly (console `set_rel`), bypassing admission when full
    /// by evicting the weakest tie.
    pub fn set(&mut self, slot: usize, self_uid: u64, other: u64, values: [f32; 3]) -> CoreResult<()> {
        if other == self_uid {
            return Err(CoreError::InvalidArgument(
                "an agent cannot have a tie to itself".into(),
            ));
        }
        if values.iter().any(|v| !(-1.0..=1.0).contains(v)) {
            return Err(CoreError::InvalidArgument(format!(
                "tie values {values:?} must lie in [-1, 1]"
            )));
        }
        self.ensure(slot);
        let tie = Tie {
            other,
            trust: values[0],
            familiarity: values[1],
            rivalry: values[2],
        };
        let list = &mut self.ties[slot];
        if let Some(t) = list.iter_mut().find(|t| t.other == other) {
            *t = tie;
        } else if list.len() < self.max_ties {
            list.push(tie);
        } else {
            let i = weakest(list).expect("full list");
            list[i] = tie;
        }
        list.retain(|t| !t.is_zero());
        Ok(())
    }

    /// Moves every value `rate` toward zero and drops ties that reach zero.
    pub fn decay(&mut self, rate: f32) {
        let step = |v: f32| if v.abs() <= rate { 0.0 } else { v - rate * v.signum() };
        for list in &mut self.ties {
            for t in list.iter_mut() {
                t.trust = step(t.trust);
                t.familiarity = step(t.familiarity);
                t.rivalry = step(t.rivalry);
            }
            list.retain(|t| !t.is_zero());
        }
    }

    /// Clears the ties of `slot` (an agent leaves; a new one gets empty memory).
    pub fn clear(&mut self, slot: usize) {
        if let Some(list) = self.ties.get_mut(slot) {
            list.clear();
        }
    }

    /// Drops every tie pointing at `uid` (that agent has left the town).
    pub fn forget(&mut self, uid: u64) {
        for list in &mut self.ties {
            list.retain(|t| t.other != uid);
        }
    }

    /// Serialises all ties.
    pub fn encode(&self, w: &mut Writer) {
        w.len(self.max_ties);
        w.len(self.ties.len());
        for list in &self.ties {
            w.len(list.len());
            for t in list {
                w.u64(t.other);
                w.f32(t.trust);
                w.f32(t.familiarity);
                w.f32(t.rivalry);
            }
        }
    }

    /// Restores ties written by [`Relations::encode`].
    pub fn decode(r: &mut Reader<'_>) -> CoreResult<Relations> {
        let mut rel = Relations::new(r.len(32)?)?;
        let n = r.len(10_000_000)?;
        for _ in 0..n {
            let k = r.len(rel.max_ties)?;
            let mut list = Vec::with_capacity(k);
            for _ in 0..k {
                list.push(Tie {
                    other: r.u64()?,
                    trust: r.f32()?,
                    familiarity: r.f32()?,
                    rivalry: r.f32()?,
                });
            }
            rel.ties.push(list);
        }
        Ok(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admission_and_eviction() {
        let mut r = Relations::new(2).unwrap();
        assert!(r.apply(0, 100, 1, [0.3, 0.0, 0.0]));
        assert!(r.apply(0, 100, 2, [0.1, 0.0, 0.0]));
        // Full: a weaker newcomer is refused, a stronger one evicts the weakest (uid 2).
        assert!(!r.apply(0, 100, 3, [0.05, 0.0, 0.0]));
        assert!(r.apply(0, 100, 4, [0.0, 0.2, 0.0]));
        let others: Vec<u64> = r.ties(0).iter().map(|t| t.other).collect();
        assert_eq!(others, vec![1, 4]);
        assert!(!r.apply(0, 100, 100, [0.5, 0.5, 0.5]), "no self ties");
    }

    #[test]
    fn clamps_and_decays() {
        let mut r = Relations::new(6).unwrap();
        for _ in 0..30 {
            r.apply(0, 9, 1, [0.1, -0.1, 0.05]);
        }
        let t = *r.tie(0, 1).unwrap();
        assert_eq!((t.trust, t.familiarity), (1.0, -1.0));
        r.decay(0.5);
        let t = *r.tie(0, 1).unwrap();
        assert!((t.trust - 0.5).abs() < 1e-6 && (t.familiarity + 0.5).abs() < 1e-6);
        r.decay(0.5);
        r.decay(0.5);
        assert!(r.ties(0).is_empty(), "ties vanish at zero");
    }

    #[test]
    fn personality_scaling() {
        let s = Scaling::default();
        // Forgiveness 1 halves negatives, leaves positives.
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(
            s.scale([-0.2, 0.2, 0.0], [0.0, 1.0, 0.0], EventKind::Plain),
            [-0.1, 0.2, 0.0]
        ));
        // Unforgiving agents take the full hit.
        assert!(close(
            s.scale([-0.2, 0.0, 0.0], [0.0, -1.0, 0.0], EventKind::Plain),
            [-0.2, 0.0, 0.0]
        ));
        let work = s.scale([0.0, 0.0, 0.1], [0.0, 0.0, 1.0], EventKind::WorkConflict);
        assert!((work[2] - 0.13).abs() < 1e-6);
        let chat = s.scale([0.0, 0.1, 0.0], [1.0, 0.0, 0.0], EventKind::GoodChat);
        assert!((chat[1] - 0.13).abs() < 1e-6);
    }

    #[test]
    fn set_forget_and_errors() {
        let mut r = Relations::new(1).unwrap();
        r.set(0, 5, 7, [0.1, 0.1, 0.1]).unwrap();
        r.set(0, 5, 8, [0.0, 0.0, 0.01]).unwrap();
        assert_eq!(r.ties(0)[0].other, 8);
        assert!(r.set(0, 5, 5, [0.0; 3]).is_err());
        assert!(r.set(0, 5, 6, [2.0, 0.0, 0.0]).is_err());
        r.forget(8);
        assert!(r.ties(0).is_empty());
        assert!(Relations::new(0).is_err());
    }

    proptest! {
        #[test]
        fn invariants_hold(events in proptest::collection::vec(
            (0usize..5, 0u64..12, -0.6f32..0.6, -0.6f32..0.6, -0.6f32..0.6, any::<bool>()), 1..200)) {
            let mut r = Relations::new(6).unwrap();
            for (slot, other, a, b, c, decay) in events {
                r.apply(slot, slot as u64, other, [a, b, c]);
                if decay { r.decay(0.01); }
                for s in 0..5 {
                    let ties = r.ties(s);
                    prop_assert!(ties.len() <= 6);
                    let mut others: Vec<u64> = ties.iter().map(|t| t.other).collect();
                    others.sort_unstable();
                    others.dedup();
                    prop_assert_eq!(others.len(), ties.len());
                    for t in ties {
                        prop_assert!(t.other != s as u64);
                        for v in [t.trust, t.familiarity, t.rivalry] {
                            prop_assert!((-1.0..=1.0).contains(&v));
                        }
                    }
                }
            }
            let mut w = Writer::new();
            r.encode(&mut w);
            let bytes = w.into_bytes();
            let mut rd = Reader::new(&bytes);
            prop_assert_eq!(Relations::decode(&mut rd).unwrap(), r);
            rd.finish().unwrap();
        }
    }
}
