use super::*;
use crate::grid::UNREACHABLE;
use crate::rewards::N_COMPONENTS;
use crate::world::tests::{agent, spec};
use crate::world::{Role, WorldSpec};
use proptest::prelude::{any, prop_assert, proptest, ProptestConfig};

struct Out {
    map: Vec<f32>,
    features: Vec<f32>,
    options: Vec<bool>,
    primitives: Vec<bool>,
}

fn observe(w: &World) -> Out {
    let n = w.agents().capacity();
    let l = w.obs_layout();
    let mut out = Out {
        map: vec![f32::NAN; n * l.map_len()],
        features: vec![f32::NAN; n * l.features],
        options: vec![true; n * OPTIONS.len()],
        primitives: vec![true; n * PRIMITIVES.len()],
    };
    w.observe(&mut ObsBuffers {
        map: &mut out.map,
        features: &mut out.features,
        option_mask: &mut out.options,
        primitive_mask: &mut out.primitives,
    })
    .unwrap();
    out
}

fn with_variant(variant: Variant) -> WorldSpec {
    let mut s = spec();
    s.observation.variant = variant;
    s.type_names = vec!["bed".into(), "fridge".into()];
    s
}

fn feature(w: &World, out: &Out, slot: usize, name: &str) -> f32 {
    let l = w.obs_layout();
    let i = l
        .groups
        .iter()
        .flat_map(|g| g.names.iter())
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no feature {name}"));
    out.features[slot * l.features + i]
}

fn cell(w: &World, out: &Out, slot: usize, channel: &str, dx: i32, dy: i32) -> f32 {
    let l = w.obs_layout();
    let c = l.channels.iter().position(|n| n == channel).unwrap();
    let (win, r) = (l.window as i32, l.window as i32 / 2);
    let area = (win * win) as usize;
    out.map[slot * l.map_len() + c * area + ((r + dy) * win + (r + dx)) as usize]
}

fn step(w: &mut World, options: &[u8]) {
    let n = w.agents().capacity();
    let (mut r, mut t, mut e) = (vec![0.0; n * N_COMPONENTS], vec![0.0; n], Vec::new());
    w.step(options, &mut r, &mut t, &mut e).unwrap();
}

#[test]
fn an_agent_beside_the_fridge_sees_it_in_the_right_cell() {
    let mut w = World::new(with_variant(Variant::Full)).unwrap();
    let (a, _) = w.spawn(&agent(9, 6)).unwrap(); // the fridge is at (10, 6): east
    w.spawn(&agent(9, 5)).unwrap(); // a neighbour to the north
    let out = observe(&w);
    assert_eq!(cell(&w, &out, a, "object:fridge", 1, 0), 1.0);
    assert_eq!(cell(&w, &out, a, "object:fridge", 0, 0), 0.0);
    assert_eq!(cell(&w, &out, a, "object:bed", 1, 0), 0.0);
    assert_eq!(cell(&w, &out, a, "agents", 0, -1), 1.0);
    assert_eq!(
        cell(&w, &out, a, "agents", 0, 0),
        0.0,
        "the agent itself is not an 'other agent'"
    );
    // Walls: the east wall is two cells away; the object tile is not a wall.
    assert_eq!(cell(&w, &out, a, "walls", 2, 0), 1.0);
    assert_eq!(cell(&w, &out, a, "walls", 1, 0), 0.0);
    let l = w.obs_layout();
    assert_eq!(l.channels.len(), 2 + 2 + 3);
    assert_eq!(l.map_len(), 7 * 11 * 11);
}

#[test]
fn windows_near_the_edge_are_padded_as_walls() {
    let mut w = World::new(with_variant(Variant::Hybrid)).unwrap();
    let (a, _) = w.spawn(&agent(1, 6)).unwrap();
    let out = observe(&w);
    for dx in -5..=-2 {
        assert_eq!(
            cell(&w, &out, a, "walls", dx, 0),
            1.0,
            "off-grid cell {dx} reads as wall"
        );
    }
    assert_eq!(cell(&w, &out, a, "walls", -1, 0), 1.0, "the border wall");
    assert_eq!(cell(&w, &out, a, "walls", 1, 0), 0.0);
    assert_eq!(cell(&w, &out, a, "walls", 0, 2), 1.0, "south border (row 7)");
    assert_eq!(cell(&w, &out, a, "walls", 0, 5), 1.0, "below the grid");
}

#[test]
fn hybrid_directions_point_to_the_nearest_target_with_bfs_distance() {
    let mut w = World::new(with_variant(Variant::Hybrid)).unwrap();
    let (a, _) = w.spawn(&agent(4, 6)).unwrap();
    let out = observe(&w);
    // Fridge at (10, 6), used from (9, 6): straight east, 5 steps.
    let d = w.type_field(1).unwrap()[w.grid.index(4, 6).unwrap()];
    assert_eq!(d, 5);
    assert_eq!(feature(&w, &out, a, "targets.fridge_dx"), 1.0);
    assert_eq!(feature(&w, &out, a, "targets.fridge_dy"), 0.0);
    let want = f32::from(d) / (f32::from(d) + 16.0);
    assert!((feature(&w, &out, a, "targets.fridge_distance") - want).abs() < 1e-6);
    // No shower or till in this town: (0, 0, 1).
    assert_eq!(feature(&w, &out, a, "targets.shower_distance"), 1.0);
    assert_eq!(feature(&w, &out, a, "targets.till_dx"), 0.0);
    // Home: the bed at (1, 1), up and to the west.
    assert!(feature(&w, &out, a, "targets.home_dx") < 0.0);
    assert!(feature(&w, &out, a, "targets.home_dy") < 0.0);
}

#[test]
fn compact_path_hint_follows_a_shortest_path_around_walls() {
    let mut s = with_variant(Variant::Compact);
    // A wall across the room at x = 6 with a gap at y = 1.
    for y in 2..7 {
        s.tiles[y * s.width + 6] = crate::grid::Tile::Wall as u8;
    }
    let mut w = World::new(s).unwrap();
    let mut init = agent(4, 6);
    init.inventory = [0, 1, 0];
    let (a, _) = w.spawn(&init).unwrap();
    step(&mut w, &[1]); // get_fed: a route to the home fridge around the wall
    let out = observe(&w);
    let logits: Vec<f32> = ["n", "e", "s", "w"]
        .iter()
        .map(|d| feature(&w, &out, a, &format!("path_hint.{d}")))
        .collect();
    assert_eq!(logits.iter().filter(|&&v| v == 1.0).count(), 1, "{logits:?}");
    // The stored route is a shortest path: its length equals the BFS distance.
    let plan = &w.plans[a];
    let here = w.grid.index(w.agents().x[a], w.agents().y[a]).unwrap();
    let field = w.grid.distance_field(&w.access[1]).unwrap();
    assert_eq!(plan.path.len() - usize::from(plan.step), usize::from(field[here]));
    // The hinted step goes downhill on the BFS field (north, toward the gap).
    let d = logits.iter().position(|&v| v == 1.0).unwrap();
    let (dx, dy) = crate::grid::DIRECTIONS[d];
    let next = w.grid.index(w.agents().x[a] + dx, w.agents().y[a] + dy).unwrap();
    assert_eq!(field[next] + 1, field[here]);
    assert_ne!(field[here], UNREACHABLE);
    assert_eq!(d, 0, "north first");
}

#[test]
fn social_snippet_matches_the_ties() {
    let mut w = World::new(with_variant(Variant::Compact)).unwrap();
    let slots: Vec<usize> = (0..4).map(|i| w.spawn(&agent(2 + i, 3)).unwrap().0).collect();
    w.set_relation(slots[0], slots[1], [0.9, 0.5, 0.0]).unwrap();
    w.set_relation(slots[0], slots[2], [0.2, 0.1, 0.7]).unwrap();
    w.set_relation(slots[0], slots[3], [0.5, 0.0, 0.3]).unwrap();
    let out = observe(&w);
    let f = |name: &str| feature(&w, &out, slots[0], name);
    assert_eq!((f("social.friend0_trust"), f("social.friend0_familiarity")), (0.9, 0.5));
    assert_eq!(f("social.friend1_trust"), 0.5);
    assert_eq!(f("social.rival0_rivalry"), 0.7);
    assert_eq!(f("social.rival1_rivalry"), 0.3);
    let code = slot_code(w.embedding_slot(slots[1]).unwrap());
    for (k, v) in code.iter().enumerate() {
        assert_eq!(f(&format!("social.friend0_code{k}")), *v);
    }
    // An agent without ties has an all-zero snippet.
    let g = w.obs_layout().group("social").unwrap().clone();
    let row = &out.features[slots[1] * w.obs_layout().features..][g.start..g.end];
    assert!(row.iter().all(|&v| v == 0.0));
    assert_eq!(g.end - g.start, 44);
}

#[test]
fn masks_follow_what_is_possible() {
    let mut w = World::new(with_variant(Variant::Full)).unwrap();
    let mut init = agent(9, 6);
    init.inventory = [0, 0, 0];
    init.job = -1;
    let (a, _) = w.spawn(&init).unwrap();
    let out = observe(&w);
    let o = &out.options[a * OPTIONS.len()..(a + 1) * OPTIONS.len()];
    assert!(o[0], "wait");
    assert!(!o[1], "no food, no till: cannot get fed");
    assert!(!o[3], "no job");
    assert!(o[5], "a bed at home");
    let p = &out.primitives[a * PRIMITIVES.len()..(a + 1) * PRIMITIVES.len()];
    assert!(p[0] && !p[1], "north open, east is the fridge");
    assert!(p[5], "interact with the free fridge");
    assert!(!p[6], "nobody to talk to");
    assert!(!p[8] && !p[10], "nothing to use or equip");
    w.spawn(&agent(8, 6)).unwrap();
    let out = observe(&w);
    assert!(out.primitives[a * PRIMITIVES.len() + 6], "a neighbour to talk to");
}

#[test]
fn dead_slots_are_zero_and_masked() {
    let mut w = World::new(with_variant(Variant::Full)).unwrap();
    w.spawn(&agent(2, 2)).unwrap();
    let (b, _) = w.spawn(&agent(3, 3)).unwrap();
    w.remove(b).unwrap();
    let out = observe(&w);
    let l = w.obs_layout();
    assert!(out.map[b * l.map_len()..].iter().all(|&v| v == 0.0));
    assert!(out.features[b * l.features..].iter().all(|&v| v == 0.0));
    assert!(!out.options[b * OPTIONS.len()..].iter().any(|&m| m));
}

#[test]
fn masks_alone_equal_the_masks_of_observe() {
    for variant in [Variant::Full, Variant::Hybrid, Variant::Compact] {
        let mut w = World::new(with_variant(variant)).unwrap();
        for (x, y) in [(2, 2), (5, 3), (8, 4), (3, 5), (9, 6), (8, 6)] {
            w.spawn(&agent(x, y)).unwrap();
        }
        w.remove(2).unwrap();
        let n = w.agents().capacity();
        let mut options = vec![0u8; n];
        for t in 0..120u8 {
            for (s, o) in options.iter_mut().enumerate() {
                *o = (t / 20 + s as u8) % OPTIONS.len() as u8;
            }
            step(&mut w, &options);
            if t % 20 != 0 {
                continue;
            }
            let out = observe(&w);
            let mut option_mask = vec![true; n * OPTIONS.len()];
            let mut primitive_mask = vec![true; n * PRIMITIVES.len()];
            w.masks(&mut option_mask, &mut primitive_mask).unwrap();
            assert_eq!(option_mask, out.options, "{variant:?} at tick {t}");
            assert_eq!(primitive_mask, out.primitives, "{variant:?} at tick {t}");
            assert!(!option_mask[2 * OPTIONS.len()..3 * OPTIONS.len()].iter().any(|&m| m));
        }
    }
}

#[test]
fn home_has_agrees_with_home_object() {
    let mut s = spec();
    s.roles = [0, 1, -1, 1, -1, -1, -1, -1]; // the fridge also serves as the shower
    s.venues.push(crate::world::VenueSpec {
        kind: 0,
        rect: [5, 5, 6, 6],
    });
    let mut w = World::new(s).unwrap();
    let mut homeless = agent(3, 3);
    homeless.home = -1;
    let mut empty_home = agent(4, 4);
    empty_home.home = 1;
    let slots: Vec<usize> = [agent(2, 2), homeless, empty_home]
        .iter()
        .map(|a| w.spawn(a).unwrap().0)
        .collect();
    for &slot in &slots {
        for role in [
            Role::Bed,
            Role::Fridge,
            Role::Stove,
            Role::Shower,
            Role::Till,
            Role::Shelf,
            Role::Desk,
            Role::Bench,
        ] {
            assert_eq!(
                w.home_has(slot, role),
                w.home_object(slot, role) >= 0,
                "{slot} {role:?}"
            );
        }
    }
    assert!(w.home_has(slots[0], Role::Bed) && w.home_has(slots[0], Role::Shower));
    assert!(!w.home_has(slots[0], Role::Stove));
    assert!(!w.home_has(slots[1], Role::Bed) && !w.home_has(slots[2], Role::Bed));
}

#[test]
fn masks_check_their_buffers() {
    let mut w = World::new(spec()).unwrap();
    w.spawn(&agent(2, 2)).unwrap();
    let n = w.agents().capacity();
    let mut options = vec![false; n * OPTIONS.len()];
    let mut short = vec![false; n * PRIMITIVES.len() - 1];
    let err = w.masks(&mut options, &mut short).unwrap_err();
    assert!(matches!(err, CoreError::Shape { .. }), "{err}");
}

#[test]
fn layout_names_cover_every_feature_once() {
    for variant in [Variant::Full, Variant::Hybrid, Variant::Compact] {
        let w = World::new(with_variant(variant)).unwrap();
        let l = w.obs_layout();
        let names: Vec<&String> = l.groups.iter().flat_map(|g| g.names.iter()).collect();
        assert_eq!(names.len(), l.features);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{variant:?}");
        let mut at = 0;
        for g in &l.groups {
            assert_eq!(g.start, at);
            assert_eq!(g.names.len(), g.end - g.start);
            at = g.end;
        }
    }
}

#[test]
fn slots_follow_spawns_and_removes_with_cooldown() {
    let mut s = spec();
    s.embedding = SlotParams {
        max_slots: 2,
        cooldown_ticks: 50,
    };
    let mut w = World::new(s).unwrap();
    let (a, _) = w.spawn(&agent(2, 2)).unwrap();
    let (b, _) = w.spawn(&agent(3, 3)).unwrap();
    assert_eq!((w.embedding_slot(a), w.embedding_slot(b)), (Some(0), Some(1)));
    w.remove(a).unwrap();
    let (c, _) = w.spawn(&agent(4, 4)).unwrap();
    assert_eq!(w.embedding_slot(c), Some(0), "forced: nothing else is free");
    assert_eq!(w.slot_stats().forced, 1);
    let bytes = w.to_bytes();
    let back = World::from_bytes(w.spec().clone(), &bytes).unwrap();
    assert_eq!(back.slot_stats(), w.slot_stats());
    assert_eq!(back.embedding_slot(c), Some(0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn every_value_is_finite_and_in_range(seed in any::<u64>(), variant in 0usize..3) {
        let v = [Variant::Full, Variant::Hybrid, Variant::Compact][variant];
        let mut w = World::new(with_variant(v)).unwrap();
        let mut rng = crate::rng::Rng::from_seed(seed);
        for (x, y) in [(2, 2), (5, 3), (8, 4), (3, 5), (9, 6)] {
            let mut a = agent(x, y);
            a.personality = [rng.next_f64() as f32 * 2.0 - 1.0, 0.5, -0.5, 0.0, 0.0];
            w.spawn(&a).unwrap();
        }
        let mut options = [0u8; 5];
        for t in 0..300 {
            if t % 30 == 0 {
                for o in &mut options {
                    *o = rng.below(OPTIONS.len() as u64) as u8;
                }
            }
            step(&mut w, &options);
            if t % 50 == 0 {
                let out = observe(&w);
                prop_assert!(out.map.iter().all(|v| (0.0..=1.0).contains(v)));
                prop_assert!(out.features.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
            }
        }
    }
}
