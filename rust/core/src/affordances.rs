//! The compiled affordance manifest and running affordances.
//!
//! Python validates the YAML manifest and hands the core each affordance's
//! object type, compiled precondition, duration, effects, hook ids and
//! interruptibility. An agent runs at most one affordance at a time: it
//! progresses one tick per step, fails as soon as a precondition stops
//! holding (when interruptible), and applies its effects on completion.

use crate::agents::{ITEMS, NEEDS};
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};
use crate::precondition::Program;

/// Hook phases; the codes are part of the Python contract.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before = 0,
    After = 1,
    Fail = 2,
}

/// What an affordance does on completion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effects {
    /// Need deltas (hunger, hygiene, energy), each in [-1, 1].
    pub needs: [f32; NEEDS],
    /// Fixed wallet delta.
    pub money: f64,
    /// Economy item whose current price is charged, if any.
    pub cost_item: Option<u8>,
    /// Inventory deltas (`food_raw`, `meal`, `clothes_clean`).
    pub inventory: [i16; ITEMS],
}

/// One affordance as the core runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct AffordanceDef {
    pub object_type: u16,
    pub program: Program,
    pub duration: u32,
    pub effects: Effects,
    /// Hook ids per phase (before, after, fail).
    pub hooks: [Vec<u16>; 3],
    pub interruptible: bool,
}

impl AffordanceDef {
    /// Checks ranges.
    pub fn validate(&self, index: usize) -> CoreResult<()> {
        let bad = |m: String| Err(CoreError::InvalidArgument(format!("affordance {index}: {m}")));
        if self.duration == 0 {
            return bad("duration must be at least 1 tick".into());
        }
        if self.effects.needs.iter().any(|d| !(-1.0..=1.0).contains(d)) {
            return bad(format!("need effects {:?} outside [-1, 1]", self.effects.needs));
        }
        if !self.effects.money.is_finite() {
            return bad("money effect must be finite".into());
        }
        Ok(())
    }
}

/// The manifest: affordances indexed by id, and by object type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    defs: Vec<AffordanceDef>,
    by_type: Vec<Vec<u16>>,
}

impl Manifest {
    /// Builds and validates the manifest.
    pub fn new(defs: Vec<AffordanceDef>) -> CoreResult<Manifest> {
        let mut by_type: Vec<Vec<u16>> = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            d.validate(i)?;
            let t = usize::from(d.object_type);
            if t >= by_type.len() {
                by_type.resize_with(t + 1, Vec::new);
            }
            by_type[t].push(i as u16);
        }
        Ok(Manifest { defs, by_type })
    }

    /// Number of affordances.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the manifest is empty.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// One affordance.
    pub fn get(&self, id: u16) -> Option<&AffordanceDef> {
        self.defs.get(usize::from(id))
    }

    /// Affordance ids offered by an object type, in manifest order.
    pub fn for_type(&self, object_type: u16) -> &[u16] {
        self.by_type.get(usize::from(object_type)).map_or(&[], Vec::as_slice)
    }
}

/// An affordance an agent is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub affordance: u16,
    pub object: u32,
    pub started: u64,
    pub progress: u32,
}

/// The result of one tick of a running affordance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    InProgress,
    Completed,
    /// A precondition stopped holding.
    Failed,
}

impl Running {
    /// Advances one tick given the current facts.
    pub fn step(&mut self, def: &AffordanceDef, facts: &[f64]) -> Step {
        if def.interruptible && !def.program.eval(facts) {
            return Step::Failed;
        }
        self.progress += 1;
        if self.progress >= def.duration {
            Step::Completed
        } else {
            Step::InProgress
        }
    }

    /// Serialises the running affordance.
    pub fn encode(&self, w: &mut Writer) {
        w.u16(self.affordance);
        w.u32(self.object);
        w.u64(self.started);
        w.u32(self.progress);
    }

    /// Restores a running affordance.
    pub fn decode(r: &mut Reader<'_>) -> CoreResult<Running> {
        Ok(Running {
            affordance: r.u16()?,
            object: r.u32()?,
            started: r.u64()?,
            progress: r.u32()?,
        })
    }
}

/// Applies completion effects to one agent's needs, wallet and inventory.
/// `price` is the current price of the effect's cost item (ignored without one).
/// Returns the money charged for the cost item.
pub fn apply_effects(
    effects: &Effects,
    needs: &mut [f32; NEEDS],
    wallet: &mut f64,
    inventory: &mut [u16; ITEMS],
    price: f64,
) -> f64 {
    for (n, d) in needs.iter_mut().zip(effects.needs) {
        *n = (*n + d).clamp(0.0, 1.0);
    }
    let charge = if effects.cost_item.is_some() { price } else { 0.0 };
    *wallet += effects.money - charge;
    for (item, d) in inventory.iter_mut().zip(effects.inventory) {
        *item = (i32::from(*item) + i32::from(d)).clamp(0, i32::from(u16::MAX)) as u16;
    }
    charge
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precondition::{fact_id, FACTS};

    fn shower() -> AffordanceDef {
        let water = f64::from(fact_id("water_on").unwrap());
        AffordanceDef {
            object_type: 3,
            program: Program::decode(&[1], &[water]).unwrap(),
            duration: 3,
            effects: Effects {
                needs: [0.0, 0.8, 0.0],
                cost_item: Some(2),
                ..Effects::default()
            },
            hooks: [vec![], vec![1], vec![2]],
            interruptible: true,
        }
    }

    #[test]
    fn completes_after_duration() {
        let def = shower();
        let mut facts = vec![0.0; FACTS.len()];
        facts[fact_id("water_on").unwrap() as usize] = 1.0;
        let mut run = Running {
            affordance: 0,
            object: 7,
            started: 10,
            progress: 0,
        };
        assert_eq!(run.step(&def, &facts), Step::InProgress);
        assert_eq!(run.step(&def, &facts), Step::InProgress);
        assert_eq!(run.step(&def, &facts), Step::Completed);
    }

    #[test]
    fn water_outage_mid_shower_fails_gracefully() {
        let def = shower();
        let mut facts = vec![0.0; FACTS.len()];
        let water = fact_id("water_on").unwrap() as usize;
        facts[water] = 1.0;
        let mut run = Running {
            affordance: 0,
            object: 7,
            started: 10,
            progress: 0,
        };
        assert_eq!(run.step(&def, &facts), Step::InProgress);
        facts[water] = 0.0;
        assert_eq!(run.step(&def, &facts), Step::Failed);
        assert_eq!(run.progress, 1, "a failed tick makes no progress");
        let stubborn = AffordanceDef {
            interruptible: false,
            ..def
        };
        assert_eq!(run.step(&stubborn, &facts), Step::InProgress);
    }

    #[test]
    fn effects_clamp_and_charge() {
        let e = Effects {
            needs: [0.6, -0.5, 0.0],
            money: 0.5,
            cost_item: Some(0),
            inventory: [-1, 1, -3],
        };
        let (mut needs, mut wallet, mut inv) = ([0.7f32, 0.2, 0.5], 3.0, [1u16, 0, 1]);
        let charged = apply_effects(&e, &mut needs, &mut wallet, &mut inv, 1.2);
        assert!((charged - 1.2).abs() < 1e-12);
        assert!((needs[0] - 1.0).abs() < 1e-6 && needs[1].abs() < 1e-6);
        assert!((wallet - 2.3).abs() < 1e-12);
        assert_eq!(inv, [0, 1, 0]);
    }

    #[test]
    fn manifest_indexes_by_type_and_validates() {
        let m = Manifest::new(vec![
            shower(),
            AffordanceDef {
                object_type: 1,
                ..shower()
            },
            shower(),
        ])
        .unwrap();
        assert_eq!(m.for_type(3), &[0, 2]);
        assert_eq!(m.for_type(1), &[1]);
        assert!(m.for_type(9).is_empty());
        assert!(Manifest::new(vec![AffordanceDef {
            duration: 0,
            ..shower()
        }])
        .is_err());
        let bad = AffordanceDef {
            effects: Effects {
                needs: [2.0, 0.0, 0.0],
                ..Effects::default()
            },
            ..shower()
        };
        assert!(Manifest::new(vec![bad]).is_err());
        let run = Running {
            affordance: 4,
            object: 9,
            started: 77,
            progress: 3,
        };
        let mut w = Writer::new();
        run.encode(&mut w);
        assert_eq!(Running::decode(&mut Reader::new(&w.into_bytes())).unwrap(), run);
    }
}
