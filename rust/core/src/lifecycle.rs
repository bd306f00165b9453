//! Exit-trigger detection (SPEC §8), run inside the tick.
//!
//! The lifecycle's decisions (caps, cooldowns, suppression, who exits) are
//! made in Python, but checking every agent's counters against the trigger
//! thresholds is per-agent, per-tick work: it happens here, while the
//! counters are updated, and only agents with an armed trigger produce an
//! event (`EventKind::Trigger`, its value a bit set of [`TRIGGER_BITS`]).

use crate::agents::LifeCounters;
use crate::error::{CoreError, CoreResult};

/// Hunger collapsed for `collapse_ticks`.
pub const HUNGER_COLLAPSE: u32 = 1;
/// Rent unpaid for `eviction_days` days.
pub const EVICTION: u32 = 1 << 1;
/// No wage for `unemployment_days` days while holding a job.
pub const UNEMPLOYMENT: u32 = 1 << 2;
/// Some deficit above the neglect line for `neglect_ticks` ticks today.
pub const NEGLECT: u32 = 1 << 3;
/// Older than `age_ticks` (0: never).
pub const AGE_OUT: u32 = 1 << 4;
/// Within `near_window` ticks of a fatal hunger collapse.
pub const NEAR_COLLAPSE: u32 = 1 << 5;
/// Bit names, in bit order; part of the Python contract.
pub const TRIGGER_BITS: [&str; 6] = [
    "hunger_collapse",
    "eviction",
    "unemployment",
    "neglect",
    "age_out",
    "near_collapse",
];

/// Trigger thresholds (`lifecycle.*`, with days converted to ticks where needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleParams {
    pub collapse_ticks: u32,
    pub eviction_days: u16,
    pub unemployment_days: u16,
    pub neglect_ticks: u32,
    /// 0: no age-out.
    pub age_ticks: u32,
    /// Ticks before a fatal collapse that count as "near death".
    pub near_window: u32,
}

impl Default for LifecycleParams {
    fn default() -> LifecycleParams {
        LifecycleParams {
            collapse_ticks: 30,
            eviction_days: 2,
            unemployment_days: 2,
            neglect_ticks: 250,
            age_ticks: 0,
            near_window: 10,
        }
    }
}

impl LifecycleParams {
    /// Checks that every threshold is at least one.
    pub fn validate(&self) -> CoreResult<()> {
        if self.collapse_ticks == 0 || self.eviction_days == 0 || self.unemployment_days == 0 || self.neglect_ticks == 0
        {
            return Err(CoreError::InvalidArgument(format!(
                "lifecycle thresholds must be at least 1: {self:?}"
            )));
        }
        Ok(())
    }

    /// The armed triggers of one agent's counters (0: none).
    pub fn triggers(&self, c: &LifeCounters) -> u32 {
        let mut bits = 0;
        if c.collapse_ticks >= self.collapse_ticks {
            bits |= HUNGER_COLLAPSE;
        }
        if c.collapse_ticks > 0 && c.collapse_ticks + self.near_window >= self.collapse_ticks {
            bits |= NEAR_COLLAPSE;
        }
        if c.unpaid_rent_days >= self.eviction_days {
            bits |= EVICTION;
        }
        if c.days_without_wage >= self.unemployment_days {
            bits |= UNEMPLOYMENT;
        }
        if c.neglect_ticks >= self.neglect_ticks {
            bits |= NEGLECT;
        }
        if self.age_ticks > 0 && c.age_ticks >= self.age_ticks {
            bits |= AGE_OUT;
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_arms_its_trigger() {
        let p = LifecycleParams::default();
        assert_eq!(p.triggers(&LifeCounters::default()), 0);
        let c = LifeCounters {
            collapse_ticks: 20,
            ..LifeCounters::default()
        };
        assert_eq!(p.triggers(&c), NEAR_COLLAPSE);
        let c = LifeCounters {
            collapse_ticks: 30,
            unpaid_rent_days: 2,
            days_without_wage: 2,
            neglect_ticks: 250,
            age_ticks: 5,
            satisfied_ticks: 0,
        };
        let all = HUNGER_COLLAPSE | NEAR_COLLAPSE | EVICTION | UNEMPLOYMENT | NEGLECT;
        assert_eq!(p.triggers(&c), all);
        let aged = LifecycleParams { age_ticks: 5, ..p };
        assert_eq!(aged.triggers(&c), all | AGE_OUT);
        assert!(LifecycleParams { collapse_ticks: 0, ..p }.validate().is_err());
        assert_eq!(TRIGGER_BITS.len(), 6);
    }
}
