//! Per-agent reward components and the per-tick clip (SPEC §6).
//!
//! Components are computed separately so telemetry can report each one; the
//! total is their sum clipped to `±clip_per_tick`. Guardrails that need
//! lifecycle facts (terminal penalty, no positive reward around a death,
//! per-episode clip) are applied later by the Python side.

/// Component names, in buffer order; part of the Python contract.
pub const COMPONENTS: [&str; 8] = [
    "homeostasis",
    "shaping",
    "wage",
    "punctuality",
    "survival",
    "lateness",
    "absence",
    "social",
];
/// Number of components.
pub const N_COMPONENTS: usize = COMPONENTS.len();

/// Reward parameters, from `rewards.*` in the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardParams {
    pub weights: [f32; 3],
    pub shaping: bool,
    pub gamma: f32,
    pub shaping_weight: f32,
    pub wage_rate: f32,
    pub punctuality_bonus: f32,
    pub punctuality_window_ticks: f32,
    pub survival_tick: f32,
    pub late_tick_penalty: f32,
    pub absence_penalty: f32,
    pub clip_per_tick: f32,
}

impl Default for RewardParams {
    fn default() -> RewardParams {
        RewardParams {
            weights: [1.0, 0.6, 0.8],
            shaping: false,
            gamma: 0.99,
            shaping_weight: 0.1,
            wage_rate: 0.01,
            punctuality_bonus: 0.05,
            punctuality_window_ticks: 20.8,
            survival_tick: 0.002,
            late_tick_penalty: -0.005,
            absence_penalty: -0.2,
            clip_per_tick: 0.2,
        }
    }
}

/// What one agent did this tick, as far as rewards care.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TickFacts {
    pub needs_before: [f32; 3],
    pub needs_after: [f32; 3],
    /// Worked a tick on shift at the site.
    pub worked: bool,
    /// Clocked in this tick, this many ticks after the shift start.
    pub clocked_in_late_by: Option<u32>,
    /// Was marked absent this tick.
    pub absent: bool,
    /// Social reward already computed (C1..C3 taps), 0 when gated off.
    pub social: f32,
}

/// `-Σ w_i · deficit_i²`.
pub fn homeostasis(weights: [f32; 3], needs: [f32; 3]) -> f32 {
    -(0..3).map(|i| weights[i] * (1.0 - needs[i]).powi(2)).sum::<f32>()
}

/// Triangular punctuality bonus: full on time, zero at the edge of the window.
pub fn punctuality(bonus: f32, window_ticks: f32, late_by: u32) -> f32 {
    if window_ticks <= 0.0 {
        return 0.0;
    }
    bonus * (1.0 - late_by as f32 / window_ticks).max(0.0)
}

/// Fills `out` with the components for one agent and returns the clipped total
/// and whether the clip applied.
pub fn compute(p: &RewardParams, f: &TickFacts, out: &mut [f32; N_COMPONENTS]) -> (f32, bool) {
    out[0] = homeostasis(p.weights, f.needs_after);
    out[1] = if p.shaping {
        // Potential: the negative weighted deficit; F = γΦ(s') − Φ(s).
        let phi = |n: [f32; 3]| -(0..3).map(|i| p.weights[i] * (1.0 - n[i])).sum::<f32>();
        p.shaping_weight * (p.gamma * phi(f.needs_after) - phi(f.needs_before))
    } else {
        0.0
    };
    out[2] = if f.worked { p.wage_rate } else { 0.0 };
    out[3] = f.clocked_in_late_by.map_or(0.0, |late| {
        punctuality(p.punctuality_bonus, p.punctuality_window_ticks, late)
    });
    out[4] = p.survival_tick;
    out[5] = f
        .clocked_in_late_by
        .map_or(0.0, |late| p.late_tick_penalty * late as f32);
    out[6] = if f.absent { p.absence_penalty } else { 0.0 };
    out[7] = f.social;
    let total: f32 = out.iter().sum();
    let clipped = total.clamp(-p.clip_per_tick, p.clip_per_tick);
    (clipped, total.abs() > p.clip_per_tick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn homeostasis_is_zero_only_when_sated() {
        assert!(homeostasis([1.0, 0.6, 0.8], [1.0; 3]).abs() < 1e-9);
        let h = homeostasis([1.0, 0.6, 0.8], [0.5, 1.0, 1.0]);
        assert!((h + 0.25).abs() < 1e-6);
    }

    #[test]
    fn punctuality_is_triangular_and_below_a_skipped_meal() {
        let p = RewardParams::default();
        assert!((punctuality(p.punctuality_bonus, p.punctuality_window_ticks, 0) - 0.05).abs() < 1e-9);
        assert!(punctuality(0.05, 20.0, 10) > 0.024 && punctuality(0.05, 20.0, 10) < 0.026);
        assert!(punctuality(0.05, 20.0, 40).abs() < 1e-9);
        // One tick of an extra 0.5 hunger deficit hurts more than the whole bonus.
        assert!(p.punctuality_bonus < p.weights[0] * 0.25);
    }

    #[test]
    fn components_and_clip() {
        let p = RewardParams::default();
        let mut out = [0.0; N_COMPONENTS];
        let facts = TickFacts {
            needs_before: [1.0; 3],
            needs_after: [1.0; 3],
            worked: true,
            clocked_in_late_by: Some(0),
            ..TickFacts::default()
        };
        let (total, clipped) = compute(&p, &facts, &mut out);
        assert!(!clipped);
        assert!((total - (0.01 + 0.05 + 0.002)).abs() < 1e-6);
        let starving = TickFacts {
            needs_after: [0.0; 3],
            absent: true,
            ..facts
        };
        let (total, clipped) = compute(&p, &starving, &mut out);
        assert!(clipped);
        assert!((total + 0.2).abs() < 1e-6);
        assert!(out[0] < -2.0);
    }

    proptest! {
        #[test]
        fn total_is_bounded_and_finite(before in prop::array::uniform3(0f32..=1.0), after in prop::array::uniform3(0f32..=1.0),
                                        worked in any::<bool>(), late in proptest::option::of(0u32..500), absent in any::<bool>(),
                                        shaping in any::<bool>(), social in -1f32..1.0) {
            let p = RewardParams { shaping, ..RewardParams::default() };
            let mut out = [0.0; N_COMPONENTS];
            let f = TickFacts { needs_before: before, needs_after: after, worked, clocked_in_late_by: late, absent, social };
            let (total, _) = compute(&p, &f, &mut out);
            prop_assert!(total.is_finite() && total.abs() <= p.clip_per_tick + 1e-6);
            prop_assert!(out.iter().all(|c| c.is_finite()));
        }
    }
}
