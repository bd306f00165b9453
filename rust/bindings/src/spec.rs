//! Building a core `WorldSpec` from the plain dict Python assembles
//! (`townlet.world.spec.build_world_spec`). Missing keys and wrong shapes
//! are `ShapeError` / `InvalidArgumentError`s naming the key.

use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use townlet_core::affordances::{AffordanceDef, Effects};
use townlet_core::economy::{EconomyParams, FaultParams};
use townlet_core::employment::JobTerms;
use townlet_core::lifecycle::LifecycleParams;
use townlet_core::observe::{ObsParams, SlotParams, Variant};
use townlet_core::policy::PolicyParams;
use townlet_core::precondition::Program;
use townlet_core::queues::QueueParams;
use townlet_core::relations::Scaling;
use townlet_core::rewards::RewardParams;
use townlet_core::world::{ObjectSpec, VenueSpec, WorldSpec, ROLES};
use townlet_core::CoreError;

use crate::errors::IntoPy;

fn get<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    let value = d
        .get_item(key)?
        .ok_or_else(|| CoreError::InvalidArgument(format!("world spec is missing key {key:?}")))
        .py()?;
    value.extract::<T>().map_err(|e| {
        let err: PyErr = e.into();
        crate::errors::to_pyerr(CoreError::InvalidArgument(format!("world spec key {key:?}: {err}")))
    })
}

fn sub<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyDict>> {
    get::<Bound<'py, PyDict>>(d, key)
}

fn rows<'py>(d: &Bound<'py, PyDict>, key: &str, cols: usize) -> PyResult<Vec<Vec<f64>>> {
    let arr: PyReadonlyArray2<'py, f64> = get(d, key)?;
    let view = arr.as_array();
    if view.ncols() != cols && view.nrows() > 0 {
        return Err(CoreError::Shape {
            what: format!("world spec {key:?}"),
            expected: format!("(n, {cols})"),
            got: format!("{:?}", view.shape()),
        })
        .py();
    }
    Ok(view.rows().into_iter().map(|r| r.to_vec()).collect())
}

fn fixed<const N: usize, T: Copy + Default>(v: &[T], key: &str) -> PyResult<[T; N]> {
    if v.len() != N {
        return Err(CoreError::Shape {
            what: format!("world spec {key:?}"),
            expected: N.to_string(),
            got: v.len().to_string(),
        })
        .py();
    }
    let mut out = [T::default(); N];
    out.copy_from_slice(v);
    Ok(out)
}

fn affordance(d: &Bound<'_, PyDict>, index: usize) -> PyResult<AffordanceDef> {
    let codes: Vec<u8> = get(d, "codes")?;
    let args: Vec<f64> = get(d, "args")?;
    let needs: Vec<f32> = get(d, "needs")?;
    let inventory: Vec<i16> = get(d, "inventory")?;
    let cost_item: i32 = get(d, "cost_item")?;
    let hook_lists: Vec<Vec<u16>> = get(d, "hooks")?;
    if hook_lists.len() != 3 {
        return Err(CoreError::InvalidArgument(format!(
            "affordance {index}: hooks must be [before, after, fail]"
        )))
        .py();
    }
    Ok(AffordanceDef {
        object_type: get(d, "object_type")?,
        program: Program::decode(&codes, &args).py()?,
        duration: get(d, "duration")?,
        effects: Effects {
            needs: fixed(&needs, "needs")?,
            money: get(d, "money")?,
            cost_item: u8::try_from(cost_item).ok(),
            inventory: fixed(&inventory, "inventory")?,
        },
        hooks: [hook_lists[0].clone(), hook_lists[1].clone(), hook_lists[2].clone()],
        interruptible: get(d, "interruptible")?,
    })
}

/// Converts the Python spec dict into a validated-shape `WorldSpec`.
pub fn world_spec(d: &Bound<'_, PyDict>) -> PyResult<WorldSpec> {
    let tiles: PyReadonlyArray2<'_, u8> = get(d, "tiles")?;
    let (height, width) = tiles.as_array().dim();
    let mut objects: Vec<ObjectSpec> = rows(d, "objects", 7)?
        .into_iter()
        .map(|r| ObjectSpec {
            object_type: r[0] as u16,
            x: r[1] as i32,
            y: r[2] as i32,
            venue: r[3] as i32,
            capacity: r[4] as u8,
            queue_limit: r[5] as u16,
            sells: r[6] as i8,
            queue_nodes: Vec::new(),
        })
        .collect();
    // Queue nodes: rows (object, x, y), each object's head of the line first.
    for r in rows(d, "queue_nodes", 3)? {
        let n = objects.len();
        let object = objects
            .get_mut(r[0] as usize)
            .filter(|_| r[0] >= 0.0)
            .ok_or_else(|| CoreError::InvalidArgument(format!("queue node names object {} outside 0..{n}", r[0])))
            .py()?;
        object.queue_nodes.push((r[1] as i32, r[2] as i32));
    }
    let venues = rows(d, "venues", 5)?
        .into_iter()
        .map(|r| VenueSpec {
            kind: r[0] as u8,
            rect: [r[1] as i32, r[2] as i32, r[3] as i32, r[4] as i32],
        })
        .collect();
    let affordances: Vec<Bound<'_, PyDict>> = get(d, "affordances")?;
    let affordances = affordances
        .iter()
        .enumerate()
        .map(|(i, a)| affordance(a, i))
        .collect::<PyResult<Vec<_>>>()?;
    let jobs = rows(d, "jobs", 4)?
        .into_iter()
        .map(|r| JobTerms {
            start_tick: r[0] as u32,
            end_tick: r[1] as u32,
            wage_rate: r[2],
            lateness_penalty: r[3],
        })
        .collect();
    let decay: Vec<f32> = get(d, "decay")?;
    let roles: Vec<i32> = get(d, "roles")?;
    let seeds: Vec<Option<u64>> = get(d, "stream_seeds")?;

    let e = sub(d, "economy")?;
    let f64s = |k: &str| -> PyResult<Vec<f64>> { get(&e, k) };
    let u32s = |k: &str| -> PyResult<Vec<u32>> { get(&e, k) };
    let economy = EconomyParams {
        ticks_per_day: get(&e, "ticks_per_day")?,
        base_prices: fixed(&f64s("prices")?, "economy.prices")?,
        initial_stock: fixed(&u32s("initial_stock")?, "economy.initial_stock")?,
        restock_per_day: fixed(&u32s("restock_per_day")?, "economy.restock_per_day")?,
        restock_tick: get(&e, "restock_tick")?,
        rent_per_day: get(&e, "rent_per_day")?,
        rent_tick: get(&e, "rent_tick")?,
        weather_odds: fixed(&f64s("weather_odds")?, "economy.weather_odds")?,
        weather_every: get(&e, "weather_every")?,
        weather_multipliers: fixed(&f64s("weather_multipliers")?, "economy.weather_multipliers")?,
        power: FaultParams {
            faults_per_day: get(&e, "power_faults_per_day")?,
            duration_ticks: get(&e, "power_fault_ticks")?,
        },
        water: FaultParams {
            faults_per_day: get(&e, "water_faults_per_day")?,
            duration_ticks: get(&e, "water_fault_ticks")?,
        },
    };
    let q = sub(d, "queues")?;
    let queues = QueueParams {
        cooldown_ticks: get(&q, "cooldown_ticks")?,
        reservation_timeout_ticks: get(&q, "reservation_timeout_ticks")?,
        queue_timeout_ticks: get(&q, "queue_timeout_ticks")?,
        age_priority_weight: get(&q, "age_priority_weight")?,
        patience_jitter: get(&q, "patience_jitter")?,
        use_patience: get(&q, "use_patience")?,
    };
    let r = sub(d, "rewards")?;
    let weights: Vec<f32> = get(&r, "weights")?;
    let rewards = RewardParams {
        weights: fixed(&weights, "rewards.weights")?,
        shaping: get(&r, "shaping")?,
        gamma: get(&r, "gamma")?,
        shaping_weight: get(&r, "shaping_weight")?,
        wage_rate: get(&r, "wage_rate")?,
        punctuality_bonus: get(&r, "punctuality_bonus")?,
        punctuality_window_ticks: get(&r, "punctuality_window_ticks")?,
        survival_tick: get(&r, "survival_tick")?,
        late_tick_penalty: get(&r, "late_tick_penalty")?,
        absence_penalty: get(&r, "absence_penalty")?,
        clip_per_tick: get(&r, "clip_per_tick")?,
    };
    let s = sub(d, "scaling")?;
    let scaling = Scaling {
        forgiveness_damping: get(&s, "forgiveness_damping")?,
        ambition_rivalry_boost: get(&s, "ambition_rivalry_boost")?,
        extroversion_familiarity_boost: get(&s, "extroversion_familiarity_boost")?,
    };
    let job_sites: PyReadonlyArray1<'_, u8> = get(d, "job_sites")?;
    let o = sub(d, "observation")?;
    let variant: String = get(&o, "variant")?;
    let observation = ObsParams {
        variant: Variant::from_name(&variant).py()?,
        window: get(&o, "window")?,
        friends: get(&o, "friends")?,
        rivals: get(&o, "rivals")?,
        path_hints: get(&o, "path_hints")?,
    };
    let e = sub(d, "embedding")?;
    let embedding = SlotParams {
        max_slots: get(&e, "max_slots")?,
        cooldown_ticks: get(&e, "cooldown_ticks")?,
    };
    let pol = sub(d, "policy")?;
    let thresholds: Vec<f32> = get(&pol, "thresholds")?;
    let policy = PolicyParams {
        thresholds: fixed(&thresholds, "policy.thresholds")?,
        hard: get(&pol, "hard")?,
        arrival_buffer: get(&pol, "arrival_buffer")?,
        commit_ticks: get(&pol, "commit_ticks")?,
        groceries_below: get(&pol, "groceries_below")?,
        groceries_target: get(&pol, "groceries_target")?,
        prep_ticks: get(&pol, "prep_ticks")?,
    };
    let lifecycle = lifecycle_params(&sub(d, "lifecycle")?)?;
    Ok(WorldSpec {
        width,
        height,
        tiles: tiles.as_array().iter().copied().collect(),
        objects,
        venues,
        object_types: get(d, "object_types")?,
        affordances,
        jobs,
        job_sites: job_sites.as_array().to_vec(),
        decay: fixed(&decay, "decay")?,
        economy,
        queues,
        rewards,
        scaling,
        max_ties: get(d, "max_ties")?,
        grace_ticks: get(d, "grace_ticks")?,
        enforce_job_loop: get(d, "enforce_job_loop")?,
        ghost_step_after: get(d, "ghost_step_after")?,
        route_budget: get(d, "route_budget")?,
        roles: fixed::<ROLES, i32>(&roles, "roles")?,
        relation_decay_per_hour: get(d, "relation_decay_per_hour")?,
        hunger_collapse_deficit: get(d, "hunger_collapse_deficit")?,
        neglect_deficit: get(d, "neglect_deficit")?,
        seed: get(d, "seed")?,
        stream_seeds: fixed::<3, Option<u64>>(&seeds, "stream_seeds")?,
        observation,
        embedding,
        type_names: get(d, "type_names")?,
        policy,
        lifecycle,
    })
}

/// Exit-trigger thresholds from a dict (`collapse_ticks`, `eviction_days`,
/// `unemployment_days`, `neglect_ticks`, `age_ticks`, `near_window`).
pub fn lifecycle_params(d: &Bound<'_, PyDict>) -> PyResult<LifecycleParams> {
    Ok(LifecycleParams {
        collapse_ticks: get(d, "collapse_ticks")?,
        eviction_days: get(d, "eviction_days")?,
        unemployment_days: get(d, "unemployment_days")?,
        neglect_ticks: get(d, "neglect_ticks")?,
        age_ticks: get(d, "age_ticks")?,
        near_window: get(d, "near_window")?,
    })
}
