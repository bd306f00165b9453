//! `World`: owns the grid, objects, agents and every per-tick system.
//!
//! This part holds construction, the narrow mutation API used by the
//! console and lifecycle (spawn, remove, teleport, needs, prices, utilities,
//! weather, relations) and exact serialisation. The in-core tick lives in
//! `tick.rs`.

use crate::affordances::{AffordanceDef, Manifest, Running};
use crate::agents::{AgentInit, Agents, NEEDS};
use crate::codec::{Reader, Writer};
use crate::economy::{Economy, EconomyParams, Utility, Weather};
use crate::employment::{JobTerms, Record};
use crate::error::{CoreError, CoreResult};
use crate::grid::Grid;
use crate::lifecycle::LifecycleParams;
use crate::movement::Mover;
use crate::observe::{EmbeddingSlots, ObsLayout, ObsParams, SlotParams};
use crate::pathing::{Pathfinder, RouteStats};
use crate::policy::{PolicyParams, Tally};
use crate::queues::{QueueParams, Queues};
use crate::relations::{Relations, Scaling};
use crate::rewards::RewardParams;
use crate::rng::Streams;
use crate::spatial::{SpatialIndex, StaticBuckets};

/// Object roles the scripted controllers look for.
#[repr(usize)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Bed = 0,
    Fridge = 1,
    Stove = 2,
    Shower = 3,
    Till = 4,
    Shelf = 5,
    Desk = 6,
    Bench = 7,
}

/// Number of controller roles.
pub const ROLES: usize = 8;

/// A controller's plan for one agent: which option it serves, the object it
/// heads for, and the route there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub option: u8,
    pub target: i32,
    pub path: Vec<u8>,
    pub step: u16,
    /// With no target, do not look for one again before this tick.
    pub retry_at: u64,
    /// Distance field followed toward a public target (-1: none): an object
    /// type's field, or `object_types + venue kind` for that site's desks.
    pub field: i16,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            option: 0,
            target: -1,
            path: Vec::new(),
            step: 0,
            retry_at: 0,
            field: -1,
        }
    }
}

impl Plan {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.option);
        w.i32(self.target);
        w.len(self.path.len());
        for &d in &self.path {
            w.u8(d);
        }
        w.u16(self.step);
        w.u64(self.retry_at);
        w.u16(self.field as u16);
    }

    fn decode(r: &mut Reader<'_>) -> CoreResult<Plan> {
        let option = r.u8()?;
        let target = r.i32()?;
        let path = (0..r.len(1 << 24)?).map(|_| r.u8()).collect::<CoreResult<Vec<_>>>()?;
        Ok(Plan {
            option,
            target,
            path,
            step: r.u16()?,
            retry_at: r.u64()?,
            field: r.u16()? as i16,
        })
    }
}

/// Snapshot format version written by [`World::to_bytes`].
pub const FORMAT_VERSION: u32 = 3;
const MAGIC: &[u8; 4] = b"TWLT";

/// One placed object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    pub object_type: u16,
    pub x: i32,
    pub y: i32,
    /// Index into the venue list, or -1.
    pub venue: i32,
    pub capacity: u8,
    pub queue_limit: u16,
    /// Economy item sold here, or -1.
    pub sells: i8,
    /// Walkable tiles where waiting agents stand, head of the line first.
    pub queue_nodes: Vec<(i32, i32)>,
}

/// One venue: a kind code and an inclusive rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueSpec {
    pub kind: u8,
    pub rect: [i32; 4],
}

/// Everything a world is built from (the validated config, flattened).
#[derive(Debug, Clone, PartialEq)]
pub struct WorldSpec {
    pub width: usize,
    pub height: usize,
    pub tiles: Vec<u8>,
    pub objects: Vec<ObjectSpec>,
    pub venues: Vec<VenueSpec>,
    pub object_types: usize,
    pub affordances: Vec<AffordanceDef>,
    pub jobs: Vec<JobTerms>,
    /// Venue kind of each job's site.
    pub job_sites: Vec<u8>,
    pub decay: [f32; NEEDS],
    pub economy: EconomyParams,
    pub queues: QueueParams,
    pub rewards: RewardParams,
    pub scaling: Scaling,
    pub max_ties: usize,
    pub grace_ticks: u32,
    pub enforce_job_loop: bool,
    pub ghost_step_after: u16,
    /// A* tile expansions allowed per tick; once spent, later agents that
    /// need a route wait a tick (the first query of a tick always runs).
    pub route_budget: u32,
    /// Object type id for each controller role (see [`Role`]), or -1.
    pub roles: [i32; ROLES],
    /// Relationship decay toward zero per in-game hour.
    pub relation_decay_per_hour: f32,
    /// Hunger deficit above which the collapse counter runs.
    pub hunger_collapse_deficit: f32,
    /// Any deficit above which the neglect counter runs.
    pub neglect_deficit: f32,
    pub seed: u64,
    pub stream_seeds: [Option<u64>; 3],
    /// Observation encoder settings.
    pub observation: ObsParams,
    /// Embedding slot namespace.
    pub embedding: SlotParams,
    /// Object type names (observation channel names); `type_<i>` when empty.
    pub type_names: Vec<String>,
    /// The scripted policy's thresholds and the commitment window.
    pub policy: PolicyParams,
    /// Exit-trigger thresholds.
    pub lifecycle: LifecycleParams,
}

/// The world.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) spec: WorldSpec,
    pub(crate) grid: Grid,
    pub(crate) manifest: Manifest,
    /// Per object type: BFS distance from every tile to that type's access tiles.
    pub(crate) type_fields: Vec<Vec<u16>>,
    pub(crate) access: Vec<Vec<usize>>,
    /// Per object: its queue node tiles, head first.
    pub(crate) queue_nodes: Vec<Vec<usize>>,
    /// Per tile, static facts for the observation maps
    /// (`observe::map::{WALL, OBJECT, NODE}` bits).
    pub(crate) tile_code: Vec<u8>,
    pub(crate) obs_layout: ObsLayout,
    pub(crate) slots: EmbeddingSlots,
    pub(crate) tick: u64,
    pub(crate) agents: Agents,
    pub(crate) spatial: SpatialIndex,
    pub(crate) queues: Queues,
    pub(crate) economy: Economy,
    pub(crate) attendance: Vec<Record>,
    pub(crate) relations: Relations,
    pub(crate) running: Vec<Option<Running>>,
    pub(crate) rng: Streams,
    pub(crate) mover: Mover,
    pub(crate) pathfinder: Pathfinder,
    pub(crate) route_stats: RouteStats,
    pub(crate) tally: Tally,
    /// Venue index covering each tile, or -1.
    pub(crate) venue_at: Vec<i32>,
    /// Per venue and role, the venue's reachable objects of that role's type
    /// (the candidates of `home_object`), ascending: venue `v`'s role `r`
    /// objects are `home_objects[home_start[v * ROLES + r]..home_start[v * ROLES + r + 1]]`.
    pub(crate) home_start: Vec<u32>,
    pub(crate) home_objects: Vec<u32>,
    pub(crate) plans: Vec<Plan>,
    /// Objects of each role's type, ascending.
    pub(crate) role_objects: Vec<Vec<u32>>,
    /// Object standing on each tile, or -1.
    pub(crate) tile_object: Vec<i32>,
    /// Objects by position, for bounded "nearest free" searches.
    pub(crate) object_buckets: StaticBuckets,
    /// Per venue kind: distance field to the desks in venues of that kind (empty if none).
    pub(crate) site_fields: Vec<Vec<u16>>,
    pub(crate) scratch: crate::tick::Scratch,
}

impl World {
    /// Builds a world; every index and range in `spec` is checked.
    pub fn new(spec: WorldSpec) -> CoreResult<World> {
        let mut grid = Grid::new(spec.width, spec.height, &spec.tiles)?;
        for (i, o) in spec.objects.iter().enumerate() {
            let idx = grid
                .index(o.x, o.y)
                .ok_or_else(|| CoreError::InvalidArgument(format!("object {i} at ({}, {}) off the grid", o.x, o.y)))?;
            if usize::from(o.object_type) >= spec.object_types {
                return Err(CoreError::InvalidArgument(format!(
                    "object {i} has unknown type {}",
                    o.object_type
                )));
            }
            if o.venue >= spec.venues.len() as i32 || o.venue < -1 {
                return Err(CoreError::InvalidArgument(format!(
                    "object {i} names unknown venue {}",
                    o.venue
                )));
            }
            grid.set_blocked(idx, true);
        }
        let mut queue_nodes = Vec::with_capacity(spec.objects.len());
        for (i, o) in spec.objects.iter().enumerate() {
            let tiles = o
                .queue_nodes
                .iter()
                .map(|&(x, y)| match grid.index(x, y) {
                    Some(t) if grid.walkable(t) => Ok(t),
                    _ => Err(CoreError::InvalidArgument(format!(
                        "object {i}: queue node ({x}, {y}) is not a walkable tile"
                    ))),
                })
                .collect::<CoreResult<Vec<usize>>>()?;
            queue_nodes.push(tiles);
        }
        let tile_code = crate::observe::tile_codes(&grid, &spec.objects, &queue_nodes);
        spec.observation.validate()?;
        spec.policy.validate()?;
        spec.lifecycle.validate()?;
        if !spec.type_names.is_empty() && spec.type_names.len() != spec.object_types {
            return Err(CoreError::Shape {
                what: "type_names".into(),
                expected: spec.object_types.to_string(),
                got: spec.type_names.len().to_string(),
            });
        }
        let type_names: Vec<String> = if spec.type_names.is_empty() {
            (0..spec.object_types).map(|i| format!("type_{i}")).collect()
        } else {
            spec.type_names.clone()
        };
        let obs_layout = ObsLayout::new(&spec.observation, &type_names);
        let access: Vec<Vec<usize>> = spec
            .objects
            .iter()
            .map(|o| grid.access_tiles(grid.index(o.x, o.y).expect("checked above")))
            .collect();
        let mut type_fields = Vec::with_capacity(spec.object_types);
        for t in 0..spec.object_types {
            let sources: Vec<usize> = spec
                .objects
                .iter()
                .zip(&access)
                .filter(|(o, _)| usize::from(o.object_type) == t)
                .flat_map(|(_, a)| a.iter().copied())
                .collect();
            type_fields.push(grid.distance_field(&sources)?);
        }
        for (j, job) in spec.jobs.iter().enumerate() {
            job.validate(spec.economy.ticks_per_day)
                .map_err(|e| CoreError::InvalidArgument(format!("job {j}: {e}")))?;
        }
        if spec.job_sites.len() != spec.jobs.len() {
            return Err(CoreError::Shape {
                what: "job_sites".into(),
                expected: spec.jobs.len().to_string(),
                got: spec.job_sites.len().to_string(),
            });
        }
        let manifest = Manifest::new(spec.affordances.clone())?;
        let mut venue_at = vec![-1i32; grid.len()];
        for (v, venue) in spec.venues.iter().enumerate() {
            let [x0, y0, x1, y1] = venue.rect;
            for y in y0.max(0)..=y1.min(spec.height as i32 - 1) {
                for x in x0.max(0)..=x1.min(spec.width as i32 - 1) {
                    venue_at[y as usize * spec.width + x as usize] = v as i32;
                }
            }
        }
        let mut venue_objects = vec![Vec::new(); spec.venues.len()];
        for (i, o) in spec.objects.iter().enumerate() {
            if o.venue >= 0 {
                venue_objects[o.venue as usize].push(i as u32);
            }
        }
        let mut home_start = Vec::with_capacity(venue_objects.len() * ROLES + 1);
        let mut home_objects = Vec::new();
        home_start.push(0u32);
        for objects in &venue_objects {
            for &t in &spec.roles {
                home_objects.extend(objects.iter().copied().filter(|&o| {
                    t >= 0 && i32::from(spec.objects[o as usize].object_type) == t && !access[o as usize].is_empty()
                }));
                home_start.push(home_objects.len() as u32);
            }
        }
        let mut tile_object = vec![-1i32; grid.len()];
        for (i, o) in spec.objects.iter().enumerate() {
            tile_object[grid.index(o.x, o.y).expect("checked above")] = i as i32;
        }
        let desk = spec.roles[Role::Desk as usize];
        let kinds = spec.venues.iter().map(|v| usize::from(v.kind) + 1).max().unwrap_or(0);
        let mut site_fields = vec![Vec::new(); kinds];
        for (kind, field) in site_fields.iter_mut().enumerate() {
            let sources: Vec<usize> = spec
                .objects
                .iter()
                .zip(&access)
                .filter(|(o, _)| {
                    i32::from(o.object_type) == desk
                        && o.venue >= 0
                        && usize::from(spec.venues[o.venue as usize].kind) == kind
                })
                .flat_map(|(_, a)| a.iter().copied())
                .collect();
            if !sources.is_empty() {
                *field = grid.distance_field(&sources)?;
            }
        }
        if spec.roles.iter().any(|&r| r >= spec.object_types as i32) {
            return Err(CoreError::InvalidArgument(format!(
                "roles {:?} name unknown object types",
                spec.roles
            )));
        }
        let queue_specs: Vec<(u8, u16)> = spec.objects.iter().map(|o| (o.capacity, o.queue_limit)).collect();
        Ok(World {
            spatial: SpatialIndex::new(spec.width, spec.height, SpatialIndex::DEFAULT_CELL)?,
            queues: Queues::new(spec.queues, &queue_specs)?,
            economy: Economy::new(spec.economy.clone(), spec.venues.len())?,
            relations: Relations::new(spec.max_ties)?,
            rng: Streams::new(spec.seed, spec.stream_seeds),
            grid,
            manifest,
            type_fields,
            access,
            queue_nodes,
            tile_code,
            obs_layout,
            slots: EmbeddingSlots::new(spec.embedding)?,
            tick: 0,
            agents: Agents::new(),
            attendance: Vec::new(),
            running: Vec::new(),
            mover: Mover::default(),
            pathfinder: Pathfinder::default(),
            route_stats: RouteStats::default(),
            tally: Tally::default(),
            venue_at,
            home_start,
            home_objects,
            plans: Vec::new(),
            role_objects: spec
                .roles
                .iter()
                .map(|&t| {
                    (0..spec.objects.len() as u32)
                        .filter(|&o| t >= 0 && i32::from(spec.objects[o as usize].object_type) == t)
                        .collect()
                })
                .collect(),
            scratch: crate::tick::Scratch::default(),
            object_buckets: StaticBuckets::new(
                spec.width,
                spec.height,
                SpatialIndex::DEFAULT_CELL,
                &spec.objects.iter().map(|o| (o.x, o.y)).collect::<Vec<_>>(),
            )?,
            tile_object,
            site_fields,
            spec,
        })
    }

    /// The spec the world was built from.
    pub fn spec(&self) -> &WorldSpec {
        &self.spec
    }

    /// Current tick.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Route-planning counters so far.
    pub fn route_stats(&self) -> RouteStats {
        self.route_stats
    }

    /// Ghost steps and blocked moves so far.
    pub fn mover_stats(&self) -> (u64, u64) {
        (self.mover.ghost_steps, self.mover.blocked)
    }

    /// The agent storage (read-only).
    pub fn agents(&self) -> &Agents {
        &self.agents
    }

    /// The economy (read-only).
    pub fn economy(&self) -> &Economy {
        &self.economy
    }

    /// The queues (read-only).
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Relationship ties (read-only).
    pub fn relations(&self) -> &Relations {
        &self.relations
    }

    /// Attendance record of a slot.
    pub fn attendance(&self, slot: usize) -> Option<&Record> {
        self.attendance.get(slot).filter(|_| self.agents.is_alive(slot))
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// A field a plan can follow: object-type fields first, then per-site desk fields.
    pub(crate) fn plan_field(&self, field: i16) -> &[u16] {
        let f = field as usize;
        if f < self.type_fields.len() {
            &self.type_fields[f]
        } else {
            self.site_fields
                .get(f - self.type_fields.len())
                .map_or(&[], Vec::as_slice)
        }
    }

    /// BFS distance field to an object type's access tiles.
    pub fn type_field(&self, object_type: usize) -> Option<&[u16]> {
        self.type_fields.get(object_type).map(Vec::as_slice)
    }

    /// The compiled affordance manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Walkable tiles from which `object` can be used.
    pub fn access_tiles(&self, object: usize) -> &[usize] {
        self.access.get(object).map_or(&[], Vec::as_slice)
    }

    /// Plans a route for `slot` to the access tiles of `object` into `out`
    /// (direction codes); false when unreachable.
    pub fn route_to_object(&mut self, slot: usize, object: usize, out: &mut Vec<u8>) -> CoreResult<bool> {
        self.agents.check(slot)?;
        let goals = self
            .access
            .get(object)
            .ok_or_else(|| CoreError::InvalidArgument(format!("object {object} outside 0..{}", self.access.len())))?;
        let start = self
            .grid
            .index(self.agents.x[slot], self.agents.y[slot])
            .expect("agents stand on the grid");
        Ok(self.pathfinder.route(&self.grid, start, goals, out))
    }

    fn check_standable(&self, x: i32, y: i32) -> CoreResult<()> {
        match self.grid.index(x, y) {
            Some(t) if self.grid.walkable(t) => Ok(()),
            Some(_) => Err(CoreError::InvalidArgument(format!("tile ({x}, {y}) is blocked"))),
            None => Err(CoreError::InvalidArgument(format!(
                "tile ({x}, {y}) is outside the grid"
            ))),
        }
    }

    /// Adds an agent; returns `(slot, uid)`.
    pub fn spawn(&mut self, init: &AgentInit) -> CoreResult<(usize, u64)> {
        self.check_standable(init.x, init.y)?;
        if init.job >= self.spec.jobs.len() as i32 || init.job < -1 {
            return Err(CoreError::InvalidArgument(format!(
                "job {} outside -1..{}",
                init.job,
                self.spec.jobs.len()
            )));
        }
        if init.home >= self.spec.venues.len() as i32 || init.home < -1 {
            return Err(CoreError::InvalidArgument(format!("home venue {} unknown", init.home)));
        }
        let (slot, uid) = self.agents.spawn(init)?;
        self.spatial.insert(slot as u32, init.x, init.y)?;
        if slot >= self.attendance.len() {
            self.attendance.resize(slot + 1, Record::default());
            self.running.resize(slot + 1, None);
            self.plans.resize(slot + 1, Plan::default());
        }
        self.attendance[slot] = Record::default();
        self.running[slot] = None;
        self.plans[slot] = Plan::default();
        self.relations.clear(slot);
        self.mover.reset(slot);
        self.slots.assign(slot, self.tick);
        Ok((slot, uid))
    }

    /// Removes an agent: its reservations, queue places, ties and running
    /// affordance go with it.
    pub fn remove(&mut self, slot: usize) -> CoreResult<u64> {
        let uid = self.agents.remove(slot)?;
        self.spatial.remove(slot as u32);
        self.queues.forget(slot as u32);
        self.running[slot] = None;
        self.plans[slot] = Plan::default();
        self.relations.clear(slot);
        self.relations.forget(uid);
        self.slots.release(slot, self.tick);
        Ok(uid)
    }

    /// Moves an agent instantly (console `teleport`); aborts what it was doing.
    pub fn teleport(&mut self, slot: usize, x: i32, y: i32) -> CoreResult<()> {
        self.agents.check(slot)?;
        self.check_standable(x, y)?;
        self.spatial.move_to(slot as u32, x, y)?;
        self.agents.x[slot] = x;
        self.agents.y[slot] = y;
        self.agents.ctx_reset[slot] = true;
        if let Some(run) = self.running[slot].take() {
            self.queues.release(run.object as usize, slot as u32);
        }
        self.queues.forget(slot as u32);
        self.plans[slot] = Plan::default();
        self.mover.reset(slot);
        Ok(())
    }

    /// Sets one need (console `setneed`).
    pub fn set_need(&mut self, slot: usize, need: usize, value: f32) -> CoreResult<()> {
        self.agents.check(slot)?;
        if need >= NEEDS || !(0.0..=1.0).contains(&value) {
            return Err(CoreError::InvalidArgument(format!(
                "need {need} must be 0..{NEEDS} and value {value} in [0, 1]"
            )));
        }
        self.agents.needs[slot][need] = value;
        Ok(())
    }

    /// Sets or clears a price override (console `price`).
    pub fn set_price(&mut self, item: usize, price: Option<f64>) -> CoreResult<()> {
        self.economy.set_price(item, price)
    }

    /// Forces a utility off or releases it (blackout / outage).
    pub fn set_utility(&mut self, utility: Utility, forced_off: bool) {
        self.economy.set_forced_off(utility, forced_off);
    }

    /// Sets the weather (console `rain start|stop`).
    pub fn set_weather(&mut self, weather: Weather) {
        self.economy.set_weather(weather);
    }

    /// Closes or reopens a venue (perturbation `closure`): a closed venue
    /// sells nothing and fails `venue_open` preconditions.
    pub fn set_closed(&mut self, venue: usize, closed: bool) -> CoreResult<()> {
        self.economy.set_closed(venue, closed)
    }

    /// Sets the perturbation price multiplier on an item (1.0 clears it).
    pub fn set_price_multiplier(&mut self, item: usize, factor: f64) -> CoreResult<()> {
        self.economy.set_multiplier(item, factor)
    }

    /// Applies a relationship event from `slot` toward `other_slot`: the
    /// delta (trust, familiarity, rivalry) is scaled by the actor's
    /// personality (`kind` selects ambition or extroversion scaling) and
    /// admitted under the top-K rule. Returns whether the tie exists after.
    pub fn relation_event(
        &mut self,
        slot: usize,
        other_slot: usize,
        delta: [f32; 3],
        kind: crate::relations::EventKind,
    ) -> CoreResult<bool> {
        self.agents.check(slot)?;
        self.agents.check(other_slot)?;
        if delta.iter().any(|d| !(-1.0..=1.0).contains(d)) {
            return Err(CoreError::InvalidArgument(format!(
                "delta {delta:?} must lie in [-1, 1]"
            )));
        }
        let p = self.agents.personality[slot];
        let scaled = self.spec.scaling.scale(delta, [p[0], p[1], p[2]], kind);
        let (a, b) = (self.agents.uid[slot], self.agents.uid[other_slot]);
        Ok(self.relations.apply(slot, a, b, scaled))
    }

    /// Sets a tie (console `set_rel`).
    pub fn set_relation(&mut self, slot: usize, other_slot: usize, values: [f32; 3]) -> CoreResult<()> {
        self.agents.check(slot)?;
        self.agents.check(other_slot)?;
        let (a, b) = (self.agents.uid[slot], self.agents.uid[other_slot]);
        self.relations.set(slot, a, b, values)
    }

    /// Serialises the whole mutable state; with the same spec,
    /// [`World::from_bytes`] restores a world with the same future.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        for &b in MAGIC {
            w.u8(b);
        }
        w.u32(FORMAT_VERSION);
        w.u64(self.tick);
        for s in self.rng.state() {
            for v in s {
                w.u64(v);
            }
        }
        self.agents.encode(&mut w);
        self.queues.encode(&mut w);
        self.economy.encode(&mut w);
        w.len(self.attendance.len());
        for r in &self.attendance {
            r.encode(&mut w);
        }
        self.relations.encode(&mut w);
        self.slots.encode(&mut w);
        w.len(self.running.len());
        for r in &self.running {
            w.bool(r.is_some());
            if let Some(r) = r {
                r.encode(&mut w);
            }
        }
        self.mover.encode(&mut w);
        self.route_stats.encode(&mut w);
        self.tally.encode(&mut w);
        w.len(self.plans.len());
        for p in &self.plans {
            p.encode(&mut w);
        }
        w.into_bytes()
    }

    /// Restores a world from [`World::to_bytes`] output and the same spec.
    pub fn from_bytes(spec: WorldSpec, bytes: &[u8]) -> CoreResult<World> {
        let mut world = World::new(spec)?;
        let mut r = Reader::new(bytes);
        let mut magic = [0u8; 4];
        for m in &mut magic {
            *m = r.u8()?;
        }
        if &magic != MAGIC {
            return Err(CoreError::InvalidArgument(
                "not a Townlet world snapshot (bad magic)".into(),
            ));
        }
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(CoreError::InvalidArgument(format!(
                "world snapshot format {version} is not supported (this build reads {FORMAT_VERSION})"
            )));
        }
        world.tick = r.u64()?;
        let mut state = [[0u64; 4]; 3];
        for s in &mut state {
            for v in s.iter_mut() {
                *v = r.u64()?;
            }
        }
        world.rng = Streams::from_state(state).ok_or_else(|| CoreError::InvalidArgument("corrupt RNG state".into()))?;
        world.agents = Agents::decode(&mut r)?;
        world.queues = Queues::decode(world.spec.queues, &mut r)?;
        world.economy = Economy::decode(world.spec.economy.clone(), &mut r)?;
        let n = r.len(10_000_000)?;
        world.attendance = (0..n).map(|_| Record::decode(&mut r)).collect::<CoreResult<_>>()?;
        world.relations = Relations::decode(&mut r)?;
        world.slots = EmbeddingSlots::decode(world.spec.embedding, &mut r)?;
        let n = r.len(10_000_000)?;
        world.running = (0..n)
            .map(|_| {
                if r.bool()? {
                    Running::decode(&mut r).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect::<CoreResult<_>>()?;
        world.mover = Mover::decode(&mut r)?;
        world.route_stats = RouteStats::decode(&mut r)?;
        world.tally = Tally::decode(&mut r)?;
        let n = r.len(10_000_000)?;
        world.plans = (0..n).map(|_| Plan::decode(&mut r)).collect::<CoreResult<_>>()?;
        r.finish()?;
        let cap = world.agents.capacity();
        if world.attendance.len() != cap || world.running.len() != cap || world.plans.len() != cap {
            return Err(CoreError::InvalidArgument(
                "snapshot sections disagree on the agent count".into(),
            ));
        }
        for slot in world.agents.slots().collect::<Vec<_>>() {
            let (x, y) = (world.agents.x[slot], world.agents.y[slot]);
            world.check_standable(x, y)?;
            world.spatial.insert(slot as u32, x, y)?;
        }
        Ok(world)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::affordances::Effects;
    use crate::grid::Tile;
    use crate::precondition::Program;

    /// A 12x8 room: a bed (type 0) and a fridge (type 1), one home venue.
    pub(crate) fn spec() -> WorldSpec {
        let (w, h) = (12usize, 8usize);
        let mut tiles = vec![Tile::Floor as u8; w * h];
        for x in 0..w {
            tiles[x] = Tile::Wall as u8;
            tiles[(h - 1) * w + x] = Tile::Wall as u8;
        }
        for y in 0..h {
            tiles[y * w] = Tile::Wall as u8;
            tiles[y * w + w - 1] = Tile::Wall as u8;
        }
        WorldSpec {
            width: w,
            height: h,
            tiles,
            objects: vec![
                ObjectSpec {
                    object_type: 0,
                    x: 1,
                    y: 1,
                    venue: 0,
                    capacity: 1,
                    queue_limit: 2,
                    sells: -1,
                    queue_nodes: Vec::new(),
                },
                ObjectSpec {
                    object_type: 1,
                    x: 10,
                    y: 6,
                    venue: 0,
                    capacity: 1,
                    queue_limit: 2,
                    sells: -1,
                    queue_nodes: Vec::new(),
                },
            ],
            venues: vec![VenueSpec {
                kind: 0,
                rect: [0, 0, 11, 7],
            }],
            object_types: 2,
            affordances: vec![AffordanceDef {
                object_type: 1,
                program: Program::default(),
                duration: 5,
                effects: Effects {
                    needs: [0.6, 0.0, 0.0],
                    inventory: [0, -1, 0],
                    ..Effects::default()
                },
                hooks: [vec![], vec![], vec![]],
                interruptible: true,
            }],
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
            seed: 42,
            stream_seeds: [None; 3],
            observation: ObsParams::default(),
            embedding: SlotParams::default(),
            type_names: Vec::new(),
            policy: PolicyParams::default(),
            lifecycle: LifecycleParams::default(),
        }
    }

    pub(crate) fn agent(x: i32, y: i32) -> AgentInit {
        AgentInit {
            x,
            y,
            needs: [0.9, 0.8, 0.7],
            wallet: 5.0,
            inventory: [1, 1, 1],
            job: 0,
            home: 0,
            personality: [0.0; 5],
        }
    }

    #[test]
    fn builds_fields_and_blocks_objects() {
        let mut w = World::new(spec()).unwrap();
        let fridge = w.type_field(1).unwrap().to_vec();
        assert_eq!(fridge[w.grid.index(9, 6).unwrap()], 0);
        assert_eq!(fridge[w.grid.index(10, 5).unwrap()], 0);
        assert_eq!(fridge[w.grid.index(1, 2).unwrap()], 12);
        assert!(!w.grid.walkable(w.grid.index(1, 1).unwrap()));
        assert_eq!(w.access_tiles(0).len(), 2);
        assert_eq!(w.manifest().for_type(1), &[0]);
        let (slot, _) = w.spawn(&agent(2, 2)).unwrap();
        let mut path = Vec::new();
        assert!(w.route_to_object(slot, 1, &mut path).unwrap());
        assert_eq!(path.len(), usize::from(fridge[w.grid.index(2, 2).unwrap()]));
        assert!(w.route_to_object(slot, 9, &mut path).is_err());
        let mut bad = spec();
        bad.objects[0].object_type = 7;
        assert!(World::new(bad).is_err());
        let mut bad = spec();
        bad.objects[0].x = 40;
        assert!(World::new(bad).is_err());
    }

    #[test]
    fn mutations_validate_input() {
        let mut w = World::new(spec()).unwrap();
        assert!(w.spawn(&agent(0, 0)).is_err(), "wall");
        assert!(w.spawn(&agent(1, 1)).is_err(), "object tile");
        let (a, _) = w.spawn(&agent(2, 2)).unwrap();
        let (b, _) = w.spawn(&agent(3, 2)).unwrap();
        assert!(w.teleport(a, 0, 3).is_err());
        w.teleport(a, 5, 5).unwrap();
        assert_eq!(w.spatial.position(a as u32), Some((5, 5)));
        assert!(w.set_need(a, 3, 0.5).is_err() && w.set_need(a, 0, 1.5).is_err());
        w.set_need(a, 0, 0.25).unwrap();
        w.set_relation(a, b, [0.5, 0.2, 0.0]).unwrap();
        assert!(w.set_relation(a, a, [0.5, 0.2, 0.0]).is_err());
        // A forgiving agent takes half the hit from a bad chat.
        w.agents.personality[a] = [0.0, 1.0, 0.0, 0.0, 0.0];
        let kind = crate::relations::EventKind::Plain;
        assert!(w.relation_event(a, b, [-0.2, 0.0, 0.0], kind).unwrap());
        let uid = w.agents.uid[b];
        assert!((w.relations.tie(a, uid).unwrap().trust - 0.4).abs() < 1e-6);
        assert!(w.relation_event(a, b, [2.0, 0.0, 0.0], kind).is_err());
        let uid_b = w.remove(b).unwrap();
        assert!(w.relations.tie(a, uid_b).is_none(), "ties to a removed agent go");
        assert!(w.teleport(b, 5, 5).is_err());
        let mut bad_job = agent(4, 4);
        bad_job.job = 3;
        assert!(w.spawn(&bad_job).is_err());
    }

    #[test]
    fn bytes_round_trip_and_corruption() {
        let mut w = World::new(spec()).unwrap();
        w.spawn(&agent(2, 2)).unwrap();
        w.spawn(&agent(4, 3)).unwrap();
        w.remove(0).unwrap();
        w.set_price(0, Some(1.5)).unwrap();
        let bytes = w.to_bytes();
        let back = World::from_bytes(spec(), &bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.spatial.position(1), Some((4, 3)));
        assert!(World::from_bytes(spec(), &bytes[..bytes.len() - 3]).is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(World::from_bytes(spec(), &bad).is_err());
        let mut future = bytes;
        future[4] = 9;
        let err = World::from_bytes(spec(), &future).unwrap_err().to_string();
        assert!(err.contains("format 9 is not supported"), "{err}");
    }
}
