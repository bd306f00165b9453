//! Criterion bench of `World::step` (the core tick, no observations) on
//! synthetic towns: one home (bed + fridge) per agent on an open grid.
//! Also the observation encoders and the masks alone. Reports agent-steps
//! (agent-observations) per second via criterion's element throughput.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use townlet_core::affordances::{AffordanceDef, Effects};
use townlet_core::agents::AgentInit;
use townlet_core::economy::EconomyParams;
use townlet_core::employment::JobTerms;
use townlet_core::observe::{ObsBuffers, ObsParams, SlotParams, Variant, PRIMITIVES};
use townlet_core::precondition::Program;
use townlet_core::queues::QueueParams;
use townlet_core::relations::Scaling;
use townlet_core::rewards::{RewardParams, N_COMPONENTS};
use townlet_core::tick::OPTIONS;
use townlet_core::world::{ObjectSpec, VenueSpec, World, WorldSpec};

const CELL: i32 = 6;

fn town(agents: usize) -> World {
    town_with(agents, ObsParams::default())
}

fn town_with(agents: usize, observation: ObsParams) -> World {
    let side = (agents as f64).sqrt().ceil() as usize;
    let (w, h) = (side * CELL as usize + 1, side * CELL as usize + 1);
    let mut objects = Vec::new();
    let mut venues = Vec::new();
    for i in 0..agents {
        let (cx, cy) = ((i % side) as i32 * CELL, (i / side) as i32 * CELL);
        venues.push(VenueSpec {
            kind: 0,
            rect: [cx, cy, cx + CELL - 1, cy + CELL - 1],
        });
        let v = i as i32;
        objects.push(ObjectSpec {
            object_type: 0,
            x: cx + 1,
            y: cy + 1,
            venue: v,
            capacity: 1,
            queue_limit: 2,
            queue_nodes: Vec::new(),
            sells: -1,
        });
        objects.push(ObjectSpec {
            object_type: 1,
            x: cx + 4,
            y: cy + 4,
            venue: v,
            capacity: 1,
            queue_limit: 2,
            queue_nodes: Vec::new(),
            sells: -1,
        });
    }
    let effect = |needs: [f32; 3], inventory: [i16; 3]| Effects {
        needs,
        inventory,
        ..Effects::default()
    };
    let spec = WorldSpec {
        width: w,
        height: h,
        tiles: vec![0; w * h],
        objects,
        venues,
        object_types: 2,
        affordances: vec![
            AffordanceDef {
                object_type: 0,
                program: Program::default(),
                duration: 60,
                effects: effect([0.0, 0.0, 0.5], [0; 3]),
                hooks: [vec![], vec![], vec![]],
                interruptible: true,
            },
            AffordanceDef {
                object_type: 1,
                program: Program::default(),
                duration: 10,
                effects: effect([0.4, 0.0, 0.0], [0; 3]),
                hooks: [vec![], vec![], vec![]],
                interruptible: true,
            },
        ],
        jobs: vec![JobTerms {
            start_tick: 300,
            end_tick: 600,
            wage_rate: 0.02,
            lateness_penalty: 0.005,
        }],
        job_sites: vec![0],
        decay: [0.0016, 0.0008, 0.0009],
        economy: EconomyParams::default(),
        queues: QueueParams::default(),
        rewards: RewardParams::default(),
        scaling: Scaling::default(),
        max_ties: 6,
        grace_ticks: 60,
        enforce_job_loop: true,
        ghost_step_after: 3,
        route_budget: 1 << 17,
        roles: [0, 1, -1, -1, -1, -1, -1, -1],
        relation_decay_per_hour: 0.01,
        hunger_collapse_deficit: 0.97,
        neglect_deficit: 0.9,
        seed: 7,
        stream_seeds: [None; 3],
        observation,
        embedding: SlotParams {
            max_slots: agents.max(64) as u32,
            cooldown_ticks: 2000,
        },
        type_names: Vec::new(),
        policy: townlet_core::policy::PolicyParams::default(),
        lifecycle: townlet_core::lifecycle::LifecycleParams::default(),
    };
    let mut world = World::new(spec).expect("valid synthetic town");
    for i in 0..agents {
        let (cx, cy) = ((i % side) as i32 * CELL, (i / side) as i32 * CELL);
        world
            .spawn(&AgentInit {
                x: cx + 2,
                y: cy + 2,
                needs: [0.8, 0.8, 0.8],
                wallet: 10.0,
                inventory: [0, 0, 0],
                job: 0,
                home: i as i32,
                personality: [0.0; 5],
            })
            .expect("spawn");
    }
    world
}

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("world_step");
    for agents in [8usize, 64, 512, 4096] {
        let mut world = town(agents);
        let n = world.agents().capacity();
        let mut rewards = vec![0.0f32; n * N_COMPONENTS];
        let mut totals = vec![0.0f32; n];
        let mut events = Vec::with_capacity(4096);
        // Options cycle every 50 ticks: eat, sleep, wait.
        let plans: Vec<Vec<u8>> = [1u8, 5, 0].iter().map(|&o| vec![o; n]).collect();
        let mut t = 0usize;
        group.throughput(Throughput::Elements(agents as u64));
        group.bench_with_input(BenchmarkId::from_parameter(agents), &agents, |b, _| {
            b.iter(|| {
                let options = &plans[(t / 50) % plans.len()];
                world
                    .step(options, &mut rewards, &mut totals, &mut events)
                    .expect("step");
                events.clear();
                t += 1;
            });
        });
    }
    group.finish();
}

fn bench_observe(c: &mut Criterion) {
    for variant in [Variant::Full, Variant::Hybrid, Variant::Compact] {
        let mut group = c.benchmark_group(format!("observe_{}", variant.name()));
        for agents in [8usize, 64, 512, 4096] {
            let mut world = town_with(
                agents,
                ObsParams {
                    variant,
                    ..ObsParams::default()
                },
            );
            let n = world.agents().capacity();
            let (mut rewards, mut totals, mut events) = (vec![0.0f32; n * N_COMPONENTS], vec![0.0f32; n], Vec::new());
            for _ in 0..30 {
                world
                    .step(&vec![1u8; n], &mut rewards, &mut totals, &mut events)
                    .expect("step");
            }
            let layout = world.obs_layout().clone();
            let mut map = vec![0.0f32; n * layout.map_len()];
            let mut features = vec![0.0f32; n * layout.features];
            let mut options = vec![false; n * OPTIONS.len()];
            let mut primitives = vec![false; n * PRIMITIVES.len()];
            group.throughput(Throughput::Elements(agents as u64));
            group.bench_with_input(BenchmarkId::from_parameter(agents), &agents, |b, _| {
                b.iter(|| {
                    world
                        .observe(&mut ObsBuffers {
                            map: &mut map,
                            features: &mut features,
                            option_mask: &mut options,
                            primitive_mask: &mut primitives,
                        })
                        .expect("observe");
                });
            });
        }
        group.finish();
    }
}

fn bench_masks(c: &mut Criterion) {
    let mut group = c.benchmark_group("masks");
    for agents in [8usize, 64, 512, 4096] {
        let mut world = town(agents);
        let n = world.agents().capacity();
        let (mut rewards, mut totals, mut events) = (vec![0.0f32; n * N_COMPONENTS], vec![0.0f32; n], Vec::new());
        for _ in 0..30 {
            world
                .step(&vec![1u8; n], &mut rewards, &mut totals, &mut events)
                .expect("step");
        }
        let mut options = vec![false; n * OPTIONS.len()];
        let mut primitives = vec![false; n * PRIMITIVES.len()];
        group.throughput(Throughput::Elements(agents as u64));
        group.bench_with_input(BenchmarkId::from_parameter(agents), &agents, |b, _| {
            b.iter(|| world.masks(&mut options, &mut primitives).expect("masks"));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_step, bench_observe, bench_masks);
criterion_main!(benches);
