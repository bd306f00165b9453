//! Observation tensors and action masks (SPEC §5), for all agents in one call.
//!
//! Three variants share the common features (needs, wallet, time of day,
//! job and shift state, inventory, current option, last action,
//! `ctx_reset`, personality, utilities and the social snippet):
//!
//! - `full`: an egocentric `window` x `window` map with channels for walls,
//!   other agents, each object type, reserved objects, queue nodes and the
//!   agent's path hint;
//! - `hybrid`: a thin map (walls, objects, agents) plus direction features
//!   (unit vector and squashed distance) to the nearest shower, fridge and
//!   till, to home and to work;
//! - `compact`: no map; the direction features, queue flags and a 4-logit
//!   N/E/S/W path hint.
//!
//! Everything is written into caller buffers (one row per agent slot; dead
//! slots are zero with every mask false). [`ObsLayout`] names every channel
//! and feature with its index range; it is the metadata published to Python.

pub mod slots;

mod features;
mod map;
mod masks;

use crate::error::{CoreError, CoreResult};
use crate::tick::OPTIONS;
use crate::world::World;

pub(crate) use map::tile_codes;
pub use masks::PRIMITIVES;
pub use slots::{slot_code, EmbeddingSlots, SlotParams, SlotStats, CODE_DIM};

/// Observation variant names, by code.
pub const VARIANTS: [&str; 3] = ["full", "hybrid", "compact"];
/// Targets of the direction features (hybrid and compact).
pub const TARGETS: [&str; 5] = ["shower", "fridge", "till", "home", "work"];

/// Which observation variant to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Full = 0,
    Hybrid = 1,
    Compact = 2,
}

impl Variant {
    /// The variant named `name`.
    pub fn from_name(name: &str) -> CoreResult<Variant> {
        match name {
            "full" => Ok(Variant::Full),
            "hybrid" => Ok(Variant::Hybrid),
            "compact" => Ok(Variant::Compact),
            _ => Err(CoreError::InvalidArgument(format!(
                "unknown observation variant {name:?} (allowed: full, hybrid, compact)"
            ))),
        }
    }

    /// The variant's name.
    pub fn name(self) -> &'static str {
        VARIANTS[self as usize]
    }
}

/// Encoder settings (`observations.*` and the variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObsParams {
    pub variant: Variant,
    /// Side of the egocentric map window (odd sizes centre the agent; even
    /// sizes put it just below and right of the centre).
    pub window: usize,
    pub friends: usize,
    pub rivals: usize,
    pub path_hints: bool,
}

impl Default for ObsParams {
    fn default() -> ObsParams {
        ObsParams {
            variant: Variant::Hybrid,
            window: 11,
            friends: 2,
            rivals: 2,
            path_hints: true,
        }
    }
}

impl ObsParams {
    /// Checks the ranges the encoders rely on.
    pub fn validate(&self) -> CoreResult<()> {
        if !(1..=64).contains(&self.window) {
            return Err(CoreError::InvalidArgument(format!(
                "observation window {} outside 1..=64",
                self.window
            )));
        }
        if self.friends > 6 || self.rivals > 6 {
            return Err(CoreError::InvalidArgument(format!(
                "social snippet sizes {}/{} outside 0..=6",
                self.friends, self.rivals
            )));
        }
        Ok(())
    }
}

/// A named, contiguous block of features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGroup {
    pub name: String,
    pub start: usize,
    pub end: usize,
    /// One name per element, `group.element`.
    pub names: Vec<String>,
}

/// Shapes and names of one variant's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsLayout {
    pub variant: Variant,
    /// Map channel names; empty for compact.
    pub channels: Vec<String>,
    pub window: usize,
    pub groups: Vec<FeatureGroup>,
    pub features: usize,
}

impl ObsLayout {
    /// The layout for `params` over object types named `type_names`.
    pub fn new(params: &ObsParams, type_names: &[String]) -> ObsLayout {
        let channels: Vec<String> = match params.variant {
            Variant::Full => ["walls", "agents"]
                .iter()
                .map(ToString::to_string)
                .chain(type_names.iter().map(|t| format!("object:{t}")))
                .chain(["reserved", "queue_nodes", "path_hint"].iter().map(ToString::to_string))
                .collect(),
            Variant::Hybrid => ["walls", "objects", "agents"].iter().map(ToString::to_string).collect(),
            Variant::Compact => Vec::new(),
        };
        let mut groups: Vec<(&str, Vec<String>)> = vec![
            ("needs", names(&["hunger", "hygiene", "energy"])),
            ("wallet", names(&["wallet"])),
            ("time", names(&["sin", "cos"])),
            (
                "job",
                names(&[
                    "has_job",
                    "shift_active",
                    "at_work",
                    "on_shift",
                    "late",
                    "attendance_ratio",
                    "lateness",
                ]),
            ),
            ("inventory", names(&["food_raw", "meal", "clothes_clean"])),
            ("option", OPTIONS.iter().map(ToString::to_string).collect()),
            ("last_action", names(&["id", "success", "duration"])),
            ("ctx_reset", names(&["ctx_reset"])),
            ("personality", names(&["extroversion", "forgiveness", "ambition"])),
            ("world", names(&["power_on", "water_on", "weather"])),
        ];
        let mut social = Vec::new();
        for (kind, n) in [("friend", params.friends), ("rival", params.rivals)] {
            for i in 0..n {
                social.extend((0..CODE_DIM).map(|k| format!("{kind}{i}_code{k}")));
                social.extend(
                    ["trust", "familiarity", "rivalry"]
                        .iter()
                        .map(|f| format!("{kind}{i}_{f}")),
                );
            }
        }
        groups.push(("social", social));
        if params.variant != Variant::Full {
            let targets = TARGETS
                .iter()
                .flat_map(|t| ["dx", "dy", "distance"].iter().map(move |f| format!("{t}_{f}")))
                .collect();
            groups.push(("targets", targets));
        }
        if params.variant == Variant::Compact {
            groups.push((
                "queue",
                names(&["waiting", "position", "holding", "busy", "rival_in_line"]),
            ));
            groups.push(("path_hint", names(&["n", "e", "s", "w"])));
        }
        let mut start = 0;
        let groups: Vec<FeatureGroup> = groups
            .into_iter()
            .map(|(name, elements)| {
                let g = FeatureGroup {
                    name: name.to_string(),
                    start,
                    end: start + elements.len(),
                    names: elements.into_iter().map(|e| format!("{name}.{e}")).collect(),
                };
                start = g.end;
                g
            })
            .collect();
        ObsLayout {
            variant: params.variant,
            channels,
            window: params.window,
            groups,
            features: start,
        }
    }

    /// Floats per agent in the map (0 for compact).
    pub fn map_len(&self) -> usize {
        self.channels.len() * self.window * self.window
    }

    /// The feature group named `name`.
    pub fn group(&self, name: &str) -> Option<&FeatureGroup> {
        self.groups.iter().find(|g| g.name == name)
    }
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// Caller buffers for one [`World::observe`] call, one row per agent slot.
pub struct ObsBuffers<'a> {
    /// `capacity x channels x window x window` (empty for compact).
    pub map: &'a mut [f32],
    /// `capacity x features`.
    pub features: &'a mut [f32],
    /// `capacity x OPTIONS.len()`.
    pub option_mask: &'a mut [bool],
    /// `capacity x PRIMITIVES.len()`.
    pub primitive_mask: &'a mut [bool],
}

impl World {
    /// The observation layout of this world's variant.
    pub fn obs_layout(&self) -> &ObsLayout {
        &self.obs_layout
    }

    /// Embedding slot counters.
    pub fn slot_stats(&self) -> SlotStats {
        self.slots.stats()
    }

    /// The embedding slot held by agent slot `slot`, if any.
    pub fn embedding_slot(&self, slot: usize) -> Option<u32> {
        self.slots.of(slot)
    }

    /// Writes every agent's observation and masks into `buf`.
    pub fn observe(&self, buf: &mut ObsBuffers<'_>) -> CoreResult<()> {
        let n = self.agents.capacity();
        let layout = &self.obs_layout;
        let (m, f) = (layout.map_len(), layout.features);
        let (o, p) = (OPTIONS.len(), PRIMITIVES.len());
        if buf.map.len() != n * m
            || buf.features.len() != n * f
            || buf.option_mask.len() != n * o
            || buf.primitive_mask.len() != n * p
        {
            return Err(CoreError::Shape {
                what: "observation buffers".into(),
                expected: format!("map {}, features {}, masks {} and {}", n * m, n * f, n * o, n * p),
                got: format!(
                    "{}, {}, {} and {}",
                    buf.map.len(),
                    buf.features.len(),
                    buf.option_mask.len(),
                    buf.primitive_mask.len()
                ),
            });
        }
        for s in 0..n {
            let map = &mut buf.map[s * m..(s + 1) * m];
            let features = &mut buf.features[s * f..(s + 1) * f];
            let options = &mut buf.option_mask[s * o..(s + 1) * o];
            let primitives = &mut buf.primitive_mask[s * p..(s + 1) * p];
            if !self.agents.alive[s] {
                map.fill(0.0);
                features.fill(0.0);
                options.fill(false);
                primitives.fill(false);
                continue;
            }
            match layout.variant {
                Variant::Full => self.full_map(s, map),
                Variant::Hybrid => self.thin_map(s, map),
                Variant::Compact => {}
            }
            self.write_features(s, features);
            self.option_mask(s, options);
            self.primitive_mask(s, primitives);
        }
        Ok(())
    }

    /// Writes every agent's option and primitive masks (the masks of
    /// [`World::observe`], without the tensors): `option_mask` is
    /// `capacity x OPTIONS.len()`, `primitive_mask` `capacity x
    /// PRIMITIVES.len()`; free slots are all false.
    pub fn masks(&self, option_mask: &mut [bool], primitive_mask: &mut [bool]) -> CoreResult<()> {
        let n = self.agents.capacity();
        let (o, p) = (OPTIONS.len(), PRIMITIVES.len());
        if option_mask.len() != n * o || primitive_mask.len() != n * p {
            return Err(CoreError::Shape {
                what: "mask buffers".into(),
                expected: format!("{} and {}", n * o, n * p),
                got: format!("{} and {}", option_mask.len(), primitive_mask.len()),
            });
        }
        let rows = option_mask.chunks_exact_mut(o).zip(primitive_mask.chunks_exact_mut(p));
        for (s, (options, primitives)) in rows.enumerate() {
            if self.agents.alive[s] {
                self.option_mask(s, options);
                self.primitive_mask(s, primitives);
            } else {
                options.fill(false);
                primitives.fill(false);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // encoders write exact 0/1 flags and copied values
mod tests;
