"""Flattening a validated config, layout and manifest into the core's world spec.

The Rust ``World`` is built from a plain dict of numpy arrays and scalars
(:func:`build_world_spec`); every name is resolved to an index here, once, so
the core never handles strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from townlet import _core
from townlet.config import SimulationConfig
from townlet.config.manifest import KNOWN_HOOKS, AffordanceManifest, load_manifest
from townlet.world.layout import VENUE_KINDS, Layout, load_layout

ROLES = ("bed", "fridge", "stove", "shower", "till", "shelf", "desk", "bench")
NEEDS = ("hunger", "hygiene", "energy")
INVENTORY = ("food_raw", "meal", "clothes_clean")
# Columns of ``World.counters()``.
COLLAPSE, UNPAID, NO_WAGE, NEGLECT, AGE, SATISFIED = range(6)


def load_world_inputs(config: SimulationConfig) -> tuple[Layout, AffordanceManifest]:
    """Loads the layout (file or generated) and the manifest a config names."""
    if config.world.is_generated:
        from townlet.world.generator import generate_layout

        layout = generate_layout(config)
    else:
        layout = load_layout(config.resolve_path(config.world.layout))
    manifest = load_manifest(config.resolve_path(config.affordances.manifest))
    return layout, manifest


def _stream_seeds(config: SimulationConfig) -> list[int | None]:
    rng = config.world.rng
    return [rng.world, rng.events, rng.policy]


def lifecycle_params(config: SimulationConfig, collapse_ticks: int) -> dict[str, int]:
    """The core's exit-trigger thresholds (``lifecycle.*`` in ticks and days)."""
    life = config.lifecycle
    tpd = config.world.ticks_per_day
    return {
        "collapse_ticks": collapse_ticks,
        "eviction_days": life.eviction_unpaid_days,
        "unemployment_days": life.unemployment_days,
        "neglect_ticks": max(1, int(life.neglect_day_fraction * tpd)),
        "age_ticks": life.age_out_days * tpd if life.age_out_days is not None else 0,
        "near_window": config.rewards.clip.no_positive_within_death_ticks,
    }


def build_world_spec(
    config: SimulationConfig, layout: Layout, manifest: AffordanceManifest
) -> dict[str, Any]:
    """The dict ``townlet._core.World`` is constructed from."""
    items = list(_core.ITEMS)
    types = list(manifest.objects)
    type_id = {name: i for i, name in enumerate(types)}
    venue_index = {v.id: i for i, v in enumerate(layout.venues)}
    objects = np.array(
        [
            (
                type_id[o.type],
                o.x,
                o.y,
                venue_index.get(o.venue, -1) if o.venue else -1,
                manifest.objects[o.type].capacity,
                manifest.objects[o.type].queue_nodes,
                items.index(s) if (s := manifest.objects[o.type].sells) in items else -1,
            )
            for o in layout.objects
        ],
        dtype=np.float64,
    ).reshape(-1, 7)
    queue_nodes = np.array(
        [(i, x, y) for i, o in enumerate(layout.objects) for x, y in o.queue], dtype=np.float64
    ).reshape(-1, 3)
    venues = np.array(
        [(VENUE_KINDS.index(v.kind), *v.rect) for v in layout.venues], dtype=np.float64
    ).reshape(-1, 5)
    hook_id = {name: i for i, name in enumerate(KNOWN_HOOKS)}
    affordances = []
    for aff in manifest.affordances.values():
        e = aff.effects
        affordances.append(
            {
                "object_type": type_id[aff.object_type],
                "codes": list(aff.program.codes),
                "args": list(aff.program.args),
                "duration": aff.duration,
                "needs": [float(getattr(e, n)) for n in NEEDS],
                "money": float(e.money),
                "cost_item": items.index(e.cost_item) if e.cost_item in items else -1,
                "inventory": [int(getattr(e, n)) for n in INVENTORY],
                "hooks": [
                    [hook_id[h] for h in aff.hooks.get(phase, ())] for phase in ("before", "after", "fail")
                ],
                "interruptible": aff.interruptible,
            }
        )
    jobs = list(config.jobs.values())
    economy = config.economy
    weather = economy.weather
    tpd = config.world.ticks_per_day
    rewards = config.rewards
    behavior = config.behavior
    return {
        "tiles": np.ascontiguousarray(layout.tiles, dtype=np.uint8),
        "objects": objects,
        "queue_nodes": queue_nodes,
        "venues": venues,
        "object_types": len(types),
        "type_names": types,
        "observation": {
            "variant": str(config.observation_variant),
            "window": config.observations.local_window,
            "friends": config.observations.social_friends,
            "rivals": config.observations.social_rivals,
            "path_hints": config.observations.path_hints,
        },
        "embedding": {
            "max_slots": config.embedding_allocator.max_slots,
            "cooldown_ticks": config.embedding_allocator.cooldown_ticks,
        },
        "affordances": affordances,
        "jobs": np.array(
            [(j.start_tick, j.end_tick, j.wage_rate, j.lateness_penalty) for j in jobs], dtype=np.float64
        ).reshape(-1, 4),
        "job_sites": np.array([VENUE_KINDS.index(j.location) for j in jobs], dtype=np.uint8),
        "decay": list(rewards.decay_rates.as_tuple()),
        "economy": {
            "ticks_per_day": tpd,
            "prices": [economy.prices[i] for i in items],  # type: ignore[index]
            "initial_stock": [economy.initial_stock.get(i, 0) for i in items],  # type: ignore[call-overload]
            "restock_per_day": [economy.restock_per_day.get(i, 0) for i in items],  # type: ignore[call-overload]
            "restock_tick": economy.restock_tick_of_day,
            "rent_per_day": economy.rent_per_day,
            "rent_tick": economy.rent_tick_of_day,
            "weather_odds": [weather.probabilities.get(w, 0.0) for w in ("sunny", "rainy", "cold")],
            "weather_every": weather.change_every_ticks,
            "weather_multipliers": [
                weather.price_multipliers.get(w, 1.0) for w in ("sunny", "rainy", "cold")
            ],
            "power_faults_per_day": economy.utilities.power.faults_per_day,
            "power_fault_ticks": economy.utilities.power.fault_duration_ticks,
            "water_faults_per_day": economy.utilities.water.faults_per_day,
            "water_fault_ticks": economy.utilities.water.fault_duration_ticks,
        },
        "queues": {
            "cooldown_ticks": config.queue_fairness.cooldown_ticks,
            "reservation_timeout_ticks": config.behavior.reservation_timeout_ticks,
            "queue_timeout_ticks": config.behavior.queue_timeout_ticks,
            "age_priority_weight": config.queue_fairness.age_priority_weight,
            "patience_jitter": config.queue_fairness.patience_jitter,
            "use_patience": config.personality.patience,
        },
        "rewards": {
            "weights": list(rewards.needs_weights.as_tuple()),
            "shaping": config.shaping.use_potential,
            "gamma": config.shaping.gamma,
            "shaping_weight": config.shaping.potential_weight,
            "wage_rate": rewards.wage_rate,
            "punctuality_bonus": rewards.punctuality.bonus,
            "punctuality_window_ticks": rewards.punctuality.window_minutes * tpd / 1440.0,
            "survival_tick": rewards.survival_tick,
            "late_tick_penalty": rewards.late_tick_penalty,
            "absence_penalty": rewards.absence_penalty,
            "clip_per_tick": rewards.clip.clip_per_tick,
        },
        "scaling": {
            "forgiveness_damping": config.relationships.forgiveness_damping,
            "ambition_rivalry_boost": config.relationships.ambition_rivalry_boost,
            "extroversion_familiarity_boost": config.relationships.extroversion_familiarity_boost,
        },
        "max_ties": config.relationships.max_ties,
        "grace_ticks": config.employment.grace_ticks,
        "enforce_job_loop": config.employment.enforce_job_loop,
        "ghost_step_after": config.queue_fairness.ghost_step_after,
        "route_budget": config.world.route_budget,
        "lifecycle": lifecycle_params(config, config.lifecycle.hunger_collapse_ticks),
        "policy": {
            "thresholds": [behavior.hunger_threshold, behavior.hygiene_threshold, behavior.energy_threshold],
            "hard": behavior.hard_need_threshold,
            "arrival_buffer": behavior.job_arrival_buffer,
            "commit_ticks": behavior.option_commit_ticks,
            "groceries_below": behavior.groceries_below_items,
            "groceries_target": behavior.groceries_target_items,
            "prep_ticks": behavior.pre_shift_ticks,
        },
        "roles": [type_id.get(role, -1) for role in ROLES],
        "relation_decay_per_hour": config.relationships.decay_per_hour,
        "hunger_collapse_deficit": config.lifecycle.hunger_collapse_deficit,
        "neglect_deficit": config.lifecycle.neglect_deficit,
        "seed": config.world.seed,
        "stream_seeds": _stream_seeds(config),
    }
