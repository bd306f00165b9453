use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::narration::{NarrationConfig, Template};
use super::*;

fn frame(tick: u64, uids: &[u64], rows: &[Row], detail: bool) -> Frame {
    Frame {
        stages: Arc::from(vec![Arc::from("core")]),
        seconds: vec![12.5e-6],
        ..Frame::from_rows(tick, uids.to_vec(), rows, detail).expect("small values")
    }
}

fn encoder() -> Encoder {
    Encoder::new(
        Labels {
            jobs: vec!["baker".into(), "clerk".into()],
            objects: vec!["bed_1".into(), "stove \"2\"".into()],
            venues: vec!["grocer_1".into()],
        },
        Names::new(None),
    )
}

#[allow(clippy::needless_pass_by_value)] // call sites build the frame inline
fn encode(enc: &mut Encoder, f: Frame, snapshot: bool, seq: u64) -> Value {
    let mut out = String::new();
    enc.encode(
        &f,
        &Plan {
            snapshot,
            seq,
            ..Plan::default()
        },
        None,
        &mut out,
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn merge(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else { return patch.clone() };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// The agents map after applying a diff payload to `agents` (as `apply_payload` does).
fn apply(agents: &Value, diff: &Value) -> Value {
    let mut out = merge(agents, diff.get("agents").unwrap_or(&json!({})));
    if let Some(moved) = diff.get("moved") {
        for (id, pos) in moved["ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(moved["positions"].as_array().unwrap())
        {
            out[id.as_str().unwrap()]["position"] = pos.clone();
        }
    }
    if let Some(needs) = diff.get("needs") {
        for (id, v) in needs["ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(needs["values"].as_array().unwrap())
        {
            out[id.as_str().unwrap()]["needs"] = json!({"hunger": v[0], "hygiene": v[1], "energy": v[2]});
        }
    }
    out
}

fn row(seed: i64) -> Row {
    [
        seed % 7,
        seed % 5,
        30,
        40,
        50,
        seed % 7,
        1234 + seed,
        seed % 3 - 1,
        seed % 5,
        1000,
        0,
        0,
        500,
        0,
    ]
}

#[test]
fn snapshot_lists_every_agent_with_every_field() {
    let mut enc = encoder();
    let p = encode(&mut enc, frame(3, &[4, 9], &[row(1), row(3)], true), false, 0);
    assert_eq!(p["kind"], "snapshot", "the first payload is a snapshot");
    assert_eq!(p["schema_version"], SCHEMA_VERSION);
    assert_eq!(p["seq"], 0);
    assert_eq!(p["tick"], 3);
    let a = &p["agents"]["agent_4"];
    assert_eq!(a["position"], json!([1, 1]));
    assert_eq!(a["needs"], json!({"hunger": 0.3, "hygiene": 0.4, "energy": 0.5}));
    assert_eq!(a["wallet"], json!(12.35));
    assert_eq!(a["option"], "get_fed");
    assert_eq!(
        a["job"],
        json!({"name": "baker", "attendance_state": "pending", "on_shift": false, "attendance_ratio": 1.0,
               "late_ticks": 0, "absences": 0, "wages_earned": 5.0, "wages_withheld": 0.0})
    );
    assert!(
        p["agents"]["agent_9"]["job"].get("name").is_none(),
        "job -1 has no name"
    );
    assert_eq!(p["events"], json!([]));
    assert_eq!(p["console_results"], json!([]));
    assert_eq!(p["timings_us"], json!({"core": 12}));
}

#[test]
fn an_unchanged_tick_diffs_to_nothing() {
    let mut enc = encoder();
    encode(&mut enc, frame(0, &[1, 2], &[row(1), row(2)], true), true, 0);
    let d = encode(&mut enc, frame(1, &[1, 2], &[row(1), row(2)], false), false, 1);
    assert_eq!(d["kind"], "diff");
    for key in ["agents", "moved", "needs"] {
        assert!(d.get(key).is_none(), "{key} in {d}");
    }
}

#[test]
fn frames_without_detail_carry_the_published_detail() {
    let mut enc = encoder();
    encode(&mut enc, frame(0, &[1, 2], &[row(1), row(2)], true), true, 0);
    let mut fast = [row(2), row(1)];
    for r in &mut fast {
        r[WALLET..].fill(0);
    }
    let d = encode(&mut enc, frame(1, &[2, 1], &fast, false), false, 1);
    assert!(d.get("agents").is_none(), "reordered agents with carried detail: {d}");
    assert_eq!(enc.table.as_ref().unwrap().rows[0], row(2));
}

/// A narrator with `templates` (`(kind, category, text)`) and no cooldowns: at most 10 narrations in 100 ticks.
fn narrator(templates: &[(&str, &str, &str)]) -> Narrator {
    let templates = templates
        .iter()
        .map(|&(kind, category, text)| {
            let template = Template {
                category: category.into(),
                text: text.into(),
            };
            (kind.to_owned(), template)
        })
        .collect();
    let config = NarrationConfig {
        global_window_ticks: 100,
        global_window_limit: 10,
        ..NarrationConfig::default()
    };
    Narrator::new(config, templates)
}

#[test]
fn events_name_agents_and_objects() {
    let mut enc = encoder();
    let mut f = frame(5, &[1], &[row(1)], true);
    f.events = vec![
        FrameEvent {
            tick: 5,
            kind: 11,
            uid: 1,
            object: 1,
            value: 0.123_456,
        },
        FrameEvent {
            tick: 5,
            kind: 12,
            uid: NO_UID,
            object: -1,
            value: f32::NAN,
        },
    ];
    let mut out = String::new();
    let plan = Plan {
        snapshot: true,
        seq: 7,
        head: Some("\"population\":1".into()),
        events: Some("{\"kind\":\"narration\",\"tick\":5}".into()),
        results: Some("[{\"ok\":true}]".into()),
        narrate: vec![("lifecycle_exit".into(), vec![("agent_id".into(), "agent_3".into())])],
        ..Plan::default()
    };
    let mut narrator = narrator(&[
        (
            "queue_refused",
            "queue_conflict",
            "{agent_id} was turned away at {object}",
        ),
        ("lifecycle_exit", "lifecycle", "{agent_id} left town ({reason})"),
    ]);
    enc.encode(&f, &plan, Some(&mut narrator), &mut out);
    let p: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        p["events"],
        json!([
            {"kind": "queue_refused", "tick": 5, "agent_id": "agent_1", "object": "stove \"2\"", "value": 0.1235},
            {"kind": "reward_clipped", "tick": 5, "value": 0.0},
            {"kind": "narration", "tick": 5},
            {"kind": "narration", "tick": 5, "category": "queue_conflict",
             "text": "agent_1 was turned away at stove \"2\"", "source": "queue_refused", "agent_id": "agent_1"},
            {"kind": "narration", "tick": 5, "category": "lifecycle",
             "text": "agent_3 left town (?)", "source": "lifecycle_exit", "agent_id": "agent_3"},
        ])
    );
    assert_eq!(narrator.state.emitted, 2);
    assert_eq!(p["population"], 1);
    assert_eq!(p["console_results"], json!([{"ok": true}]));
}

#[test]
fn python_events_follow_the_core_ones_hashed_and_narrated() {
    use super::value::Value as V;
    let obj = |members: &[(&str, V)]| V::Object(members.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
    let text = |s: &str| V::Str(s.to_owned());
    let mut enc = Encoder::new(Labels::default(), Names::new(Some(vec![b'k'; 32])));
    let mut f = frame(5, &[7], &[row(1)], true);
    f.events = vec![FrameEvent {
        tick: 5,
        kind: 12,
        uid: 7,
        object: -1,
        value: 1.0,
    }];
    let exit = obj(&[
        ("kind", text("lifecycle_exit")),
        ("tick", V::Int(5)),
        ("agent_id", text("agent_3")),
        ("reason", text("starvation")),
        ("uid", V::Int(3)),
        ("note", V::Null),
    ]);
    let plan = Plan {
        extras: Some(Box::new(Extras {
            events: vec![exit, obj(&[("kind", text("console_result")), ("cmd_id", text("c1"))])],
            results: vec![obj(&[("cmd_id", text("c1")), ("result", text("agent_3 fined"))])],
        })),
        events: Some("{\"kind\":\"telemetry_alert\"}".into()),
        ..Plan::default()
    };
    let mut narrator = narrator(&[("lifecycle_exit", "lifecycle", "{agent_id} left town ({reason})")]);
    let mut out = String::new();
    enc.encode(&f, &plan, Some(&mut narrator), &mut out);
    let p: Value = serde_json::from_str(&out).unwrap();
    // hashlib.blake2b(b"agent_3", key=b"k" * 32, digest_size=6).hexdigest()
    let (three, seven) = (names_of(&mut enc, 3), names_of(&mut enc, 7));
    assert_eq!(
        p["events"],
        json!([
            {"kind": "reward_clipped", "tick": 5, "agent_id": seven, "value": 1.0},
            {"kind": "lifecycle_exit", "tick": 5, "agent_id": three, "reason": "starvation", "note": null},
            {"kind": "telemetry_alert"},
            {"kind": "narration", "tick": 5, "category": "lifecycle",
             "text": format!("{three} left town (starvation)"), "source": "lifecycle_exit", "agent_id": three},
        ])
    );
    assert_eq!(
        p["console_results"],
        json!([{"cmd_id": "c1", "result": format!("{three} fined")}])
    );
    assert!(!out.contains("agent_3"), "no raw id: {out}");
    let plain = Plan {
        results: Some("[1]".into()),
        ..plan
    };
    let mut out = String::new();
    enc.encode(&f, &plain, None, &mut out);
    let p: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(p["console_results"], json!([1]), "results given by the plan win");
}

/// The published name of agent `uid`.
fn names_of(enc: &mut Encoder, uid: u64) -> String {
    enc.names.get(uid).to_owned()
}

#[test]
fn privacy_names_are_keyed_hashes() {
    let mut names = Names::new(Some(vec![b'k'; 32]));
    assert!(names.hashed());
    // hashlib.blake2b(b"agent_7", key=b"k" * 32, digest_size=6).hexdigest()
    assert_eq!(names.get(7), "anon_a1743b3ee2ab");
    assert_eq!(Names::new(None).get(7), "agent_7");
}

#[test]
fn ids_in_text_are_replaced_as_whole_words() {
    // re.sub(r"\bagent_\d+\b", hash, text) with the Python hasher
    let mut names = Names::new(Some(vec![b'k'; 32]));
    assert_eq!(
        names.scrub_text("agent_7 met agent_007.").as_deref(),
        Some("anon_a1743b3ee2ab met anon_9d99b2758376.")
    );
    assert_eq!(
        names
            .scrub_text("xagent_7 agent_7x agent_ agent_agent_7 (agent_12)")
            .as_deref(),
        Some("xagent_7 agent_7x agent_ agent_agent_7 (anon_797d1136a0c2)")
    );
    assert_eq!(names.scrub_text("é agent_3é"), None);
    assert_eq!(names.scrub_text("nobody"), None);
    assert_eq!(Names::new(None).scrub_text("agent_7"), None, "raw ids without a key");
}

fn tables() -> impl Strategy<Value = (Vec<u64>, Vec<Row>)> {
    prop::collection::btree_map(0u64..40, prop::array::uniform14(0i64..4), 0..12).prop_map(|m| {
        let mut uids: Vec<u64> = m.keys().copied().collect();
        let rows: Vec<Row> = m.values().copied().collect();
        // slot order is not uid order: rotate so reordering is exercised
        if !uids.is_empty() {
            let k = uids[0] as usize % uids.len();
            uids.rotate_left(k);
            let mut rows = rows;
            rows.rotate_left(k);
            return (uids, rows);
        }
        (uids, rows)
    })
}

proptest! {
    /// A diff applied to the previous snapshot gives the next snapshot's agents.
    #[test]
    fn diffs_rebuild_the_next_snapshot((u0, r0) in tables(), (u1, r1) in tables()) {
        let mut enc = encoder();
        let before = encode(&mut enc, frame(0, &u0, &r0, true), true, 0);
        let diff = encode(&mut enc, frame(1, &u1, &r1, true), false, 1);
        let mut fresh = encoder();
        let after = encode(&mut fresh, frame(1, &u1, &r1, true), true, 0);
        prop_assert_eq!(apply(&before["agents"], &diff), after["agents"].clone());
    }
}

/// The quantised need as the general path computes it.
#[test]
fn prefetching_a_frame_changes_nothing() {
    let empty = Frame::default();
    empty.prefetch_for_write(true); // empty buffers: dangling pointers, nothing fetched
    assert_eq!(empty, Frame::default());
    let rows: Vec<Row> = (0..200).map(row).collect();
    let uids: Vec<u64> = (0..200).collect();
    let full = frame(7, &uids, &rows, true);
    let before = full.clone();
    full.prefetch_for_write(true);
    full.prefetch_for_write(false);
    assert_eq!(full, before);
}

fn need_reference(n: f32) -> i16 {
    narrow(quantise(f64::from(n * NEED_SCALE), 1.0))
}

#[test]
fn needs_quantise_at_the_edges_as_the_general_path_does() {
    let edges = [
        0.0, -0.0, 0.005, 0.015, 0.025, 0.995, 1.0, -0.005, 327.67, 327.675, 327.68, -327.68, -327.685, 1e9, -1e9,
    ];
    for n in edges
        .into_iter()
        .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE])
    {
        assert_eq!(need(n), need_reference(n), "need {n}");
    }
}

proptest! {
    /// The frame's `f32` need quantisation matches the general `f64` one for every need.
    #[test]
    fn needs_quantise_as_the_general_path_does(bits in any::<u32>(), unit in 0.0f32..=1.0) {
        let n = f32::from_bits(bits);
        prop_assert_eq!(need(n), need_reference(n));
        prop_assert_eq!(need(unit), need_reference(unit));
    }
}
