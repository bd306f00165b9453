//! The town sections Python samples (`employment`, `kpis`, `rewards`,
//! `slowest_ticks`), held as small JSON value trees so that the worker
//! diffs and writes them without the GIL.
//!
//! The tick thread samples them as Python values; the worker converts each
//! sample once (the bindings build a [`Value`] per section, floats already
//! rounded as published) and the encoder keeps the sections as last
//! sampled and as last published: a snapshot writes them whole, a diff
//! writes an RFC 7386 merge patch of each one that changed.

use std::fmt::Write;
use std::sync::Arc;

use super::json::{write_f64, write_int, write_str};
use super::Names;

/// A JSON value as published (objects keep their members' order).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// In merge patches, a removed member; in events, a member that is None.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Appends this value as compact JSON.
    pub fn write(&self, out: &mut String) {
        self.write_in(&JSON, out);
    }

    /// Appends `items` as a compact JSON array.
    pub fn write_list(items: &[Value], out: &mut String) {
        Value::write_items(items, &JSON, out);
    }

    /// Appends this value in `notation`.
    fn write_in(&self, notation: &Notation, out: &mut String) {
        match self {
            Value::Null => out.push_str(notation.null),
            Value::Bool(b) => out.push_str(notation.bools[usize::from(*b)]),
            Value::Int(i) => write_int(out, *i),
            Value::Float(f) => write_f64(out, *f),
            Value::Str(s) => (notation.string)(out, s),
            Value::List(items) => Value::write_items(items, notation, out),
            Value::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(notation.comma);
                    }
                    (notation.string)(out, key);
                    out.push_str(notation.colon);
                    value.write_in(notation, out);
                }
                out.push('}');
            }
        }
    }

    fn write_items(items: &[Value], notation: &Notation, out: &mut String) {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(notation.comma);
            }
            item.write_in(notation, out);
        }
        out.push(']');
    }

    /// The RFC 7386 merge patch that takes `old` to `new` (which holds no
    /// `Null`), or None when they are equal: objects are patched member by
    /// member (`Null` for a removed one), anything else is replaced whole.
    pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
        if old == new {
            return None;
        }
        let (Value::Object(before), Value::Object(after)) = (old, new) else {
            return Some(new.clone());
        };
        let mut patch = Vec::new();
        for (key, value) in after {
            match before.iter().find(|(k, _)| k == key) {
                None => patch.push((key.clone(), value.clone())),
                Some((_, was)) => {
                    if let Some(p) = Value::merge_patch(was, value) {
                        patch.push((key.clone(), p));
                    }
                }
            }
        }
        for (key, _) in before {
            if !after.iter().any(|(k, _)| k == key) {
                patch.push((key.clone(), Value::Null));
            }
        }
        Some(Value::Object(patch))
    }

    /// The text Python's `str()` makes of this value (as the event it came
    /// from held it): strings as they are, `True`/`False`, floats by their
    /// `repr`; in lists and objects, strings quoted and `None` for null, as
    /// Python writes lists and dicts. Narration fills its templates with it.
    pub fn py_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_in(&PYTHON, &mut out);
                out
            }
        }
    }

    /// Replaces agent ids in strings and member names by their published
    /// form and drops the members that carry an agent's raw number (`uid`,
    /// `slot`), when `names` hashes ids (privacy mode); else does nothing.
    pub fn scrub(&mut self, names: &mut Names) {
        if !names.hashed() {
            return;
        }
        match self {
            Value::Str(s) => {
                if let Some(text) = names.scrub_text(s) {
                    *s = text;
                }
            }
            Value::List(items) => items.iter_mut().for_each(|v| v.scrub(names)),
            Value::Object(members) => {
                members.retain(|(k, _)| k != "uid" && k != "slot");
                for (key, value) in members.iter_mut() {
                    if let Some(text) = names.scrub_text(key) {
                        *key = text;
                    }
                    value.scrub(names);
                }
            }
            _ => {}
        }
    }
}

/// How a value is written: as compact JSON, or as Python's `repr()`.
struct Notation {
    null: &'static str,
    /// `false`, then `true`.
    bools: [&'static str; 2],
    comma: &'static str,
    colon: &'static str,
    string: fn(&mut String, &str),
}

const JSON: Notation = Notation {
    null: "null",
    bools: ["false", "true"],
    comma: ",",
    colon: ":",
    string: write_str,
};

const PYTHON: Notation = Notation {
    null: "None",
    bools: ["False", "True"],
    comma: ", ",
    colon: ": ",
    string: write_py_str,
};

/// Appends Python's `repr()` of the string `s`: single quotes (double
/// when `s` holds a single quote and no double one), backslash escapes for
/// the quote, the backslash, tabs, newlines and control characters.
fn write_py_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// `v` rounded to `decimals` decimal places exactly as Python's
/// `round(v, decimals)` does: the float nearest the decimal that the exact
/// binary value rounds to (half to even). Values too large to carry that
/// many decimals, NaN and infinities are left as they are.
pub fn round_to(v: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    let x = v * scale;
    if !x.is_finite() || x.abs() >= 4_503_599_627_370_496.0 {
        return v;
    }
    // `x` is off the exact product by half an ulp at most: unless it is
    // that close to a tie, rounding it rounds the exact value the same way.
    let margin = x.abs() * 4.0 * f64::EPSILON + f64::MIN_POSITIVE;
    let rounded = if (x - x.floor() - 0.5).abs() > margin {
        x.round() / scale
    } else {
        // Near a tie: the exact decimal expansion decides, as Python's does.
        format!("{v:.prec$}", prec = decimals as usize).parse().unwrap_or(v)
    };
    if rounded == 0.0 {
        0.0_f64.copysign(v) // Python keeps the sign of a negative rounded to zero
    } else {
        rounded
    }
}

/// The Python-sampled sections, in published order.
pub const SECTION_KEYS: [&str; 4] = ["employment", "kpis", "rewards", "slowest_ticks"];
/// The index of `employment` in [`SECTION_KEYS`]: it names agents.
pub const EMPLOYMENT: usize = 0;
/// The index of `kpis` in [`SECTION_KEYS`]: its members merge into the previous sample's.
pub const KPIS: usize = 1;

/// One sample of the Python-side sections: the new value of each sampled
/// one (for `kpis`, the members to merge in) and whether it carries the
/// KPIs of the day in progress (such payloads carry the worker's health).
/// Values are shared: a section that did not change since the last sample
/// (the slowest ticks, the last finished day) is the same value, neither
/// copied nor compared member by member.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SectionSample {
    pub values: [Option<Arc<Value>>; 4],
    pub today: bool,
}

/// The Python-side sections as last sampled and as last published (shared
/// until the next sample changes them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sections {
    pub latest: [Option<Arc<Value>>; 4],
    pub published: [Option<Arc<Value>>; 4],
}

impl Sections {
    /// Makes `sample` the latest values (`kpis` members merged into the
    /// previous ones); `names` hashes the ids in `employment` in privacy mode.
    pub fn apply(&mut self, sample: &SectionSample, names: &mut Names) {
        for (i, value) in sample.values.iter().enumerate() {
            let Some(value) = value else { continue };
            if i == EMPLOYMENT && names.hashed() {
                let mut scrubbed = Value::clone(value);
                scrubbed.scrub(names);
                self.latest[i] = Some(Arc::new(scrubbed));
                continue;
            }
            if let (Some(latest), Value::Object(fresh)) = (&mut self.latest[i], &**value) {
                if i == KPIS && matches!(**latest, Value::Object(_)) {
                    let Value::Object(members) = Arc::make_mut(latest) else {
                        unreachable!("checked above")
                    };
                    for (key, v) in fresh {
                        match members.iter_mut().find(|(k, _)| k == key) {
                            Some((_, slot)) => slot.clone_from(v),
                            None => members.push((key.clone(), v.clone())),
                        }
                    }
                    continue;
                }
            }
            self.latest[i] = Some(Arc::clone(value));
        }
    }

    /// Appends `,"key":…` for the sections of a payload: every latest one in
    /// a snapshot; in a diff, a merge patch of each that changed since it
    /// was last published. The written values become the published ones.
    pub fn write(&mut self, snapshot: bool, out: &mut String) {
        for (i, key) in SECTION_KEYS.iter().enumerate() {
            let Some(latest) = &self.latest[i] else { continue };
            match &self.published[i] {
                // The same value as published (an unchanged section) needs no comparing.
                Some(old) if !snapshot && Arc::ptr_eq(old, latest) => continue,
                Some(old) if !snapshot => {
                    if let Some(patch) = Value::merge_patch(old, latest) {
                        Self::member(out, key, &patch);
                    }
                }
                _ => Self::member(out, key, latest),
            }
            self.published[i] = Some(Arc::clone(latest));
        }
    }

    fn member(out: &mut String, key: &str, value: &Value) {
        out.push(',');
        write_str(out, key);
        out.push(':');
        value.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj(members: &[(&str, Value)]) -> Value {
        Value::Object(members.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    }

    /// `target` with the RFC 7386 merge `patch` applied.
    fn apply_patch(target: &Value, patch: &Value) -> Value {
        let Value::Object(changes) = patch else {
            return patch.clone();
        };
        let mut members = match target {
            Value::Object(m) => m.clone(),
            _ => Vec::new(),
        };
        for (key, change) in changes {
            let at = members.iter().position(|(k, _)| k == key);
            match (change, at) {
                (Value::Null, Some(i)) => {
                    members.remove(i);
                }
                (Value::Null, None) => {}
                (change, Some(i)) => members[i].1 = apply_patch(&members[i].1, change),
                (change, None) => members.push((key.clone(), apply_patch(&Value::Null, change))),
            }
        }
        Value::Object(members)
    }

    fn json(v: &Value) -> String {
        let mut out = String::new();
        v.write(&mut out);
        out
    }

    #[test]
    fn values_write_as_compact_json() {
        let v = obj(&[
            ("a", Value::Int(-3)),
            (
                "b",
                Value::List(vec![Value::Float(0.5), Value::Bool(true), Value::Null]),
            ),
            ("c\"", Value::Str("x\ny".into())),
            ("d", obj(&[])),
            ("e", Value::Float(2.0)),
        ]);
        assert_eq!(json(&v), r#"{"a":-3,"b":[0.5,true,null],"c\"":"x\ny","d":{},"e":2.0}"#);
    }

    #[test]
    fn merge_patch_names_only_what_changed() {
        let old = obj(&[
            ("a", Value::Int(1)),
            (
                "b",
                obj(&[("c", Value::Int(2)), ("d", Value::List(vec![Value::Int(1)]))]),
            ),
            ("gone", Value::Bool(true)),
        ]);
        let new = obj(&[
            ("a", Value::Int(1)),
            (
                "b",
                obj(&[
                    ("c", Value::Int(3)),
                    ("d", Value::List(vec![Value::Int(1)])),
                    ("e", Value::Str("x".into())),
                ]),
            ),
        ]);
        let patch = Value::merge_patch(&old, &new).expect("changed");
        assert_eq!(json(&patch), r#"{"b":{"c":3,"e":"x"},"gone":null}"#);
        assert_eq!(apply_patch(&old, &patch), new);
        assert_eq!(Value::merge_patch(&new, &new), None);
    }

    #[test]
    #[allow(clippy::float_cmp)] // exact results are the point
    fn rounding_matches_pythons_round() {
        // round(x, 6) in Python for each x
        for (x, want) in [
            (0.5f64, 0.5f64),
            (0.123_456_789, 0.123_457),
            (-0.033_333_333_333_333_41, -0.033_333),
            (383.399_999_999_997_36, 383.4),
            (1e-9, 0.0),
            (5.0, 5.0),
            (1e300, 1e300),
            (0.25, 0.25),
        ] {
            assert_eq!(round_to(x, 6).to_bits(), want.to_bits(), "{x}");
        }
        assert_eq!(round_to(-1e-9, 6).to_bits(), (-0.0f64).to_bits());
        assert_eq!(
            round_to(0.000_295_65, 7),
            0.000_295_7,
            "the exact value is above the tie"
        );
        assert_eq!(round_to(0.25, 1), 0.2, "an exact tie goes to even");
        assert_eq!(round_to(0.375, 2), 0.38, "an exact tie goes to even");
        assert_eq!(round_to(2.5, 0), 2.0);
        assert!(round_to(f64::NAN, 6).is_nan());
    }

    #[test]
    fn kpis_merge_and_diffs_carry_only_changed_sections() {
        let mut sections = Sections::default();
        let day = |n: i64| obj(&[("day", Value::Int(n))]);
        let mut first = SectionSample::default();
        first.values[0] = Some(Arc::new(obj(&[("queue", Value::List(vec![]))])));
        first.values[KPIS] = Some(Arc::new(obj(&[("today", day(0))])));
        sections.apply(&first, &mut Names::new(None));
        let mut out = String::new();
        sections.write(true, &mut out);
        assert_eq!(out, r#","employment":{"queue":[]},"kpis":{"today":{"day":0}}"#);
        let mut next = SectionSample::default();
        next.values[0] = Some(Arc::new(obj(&[("queue", Value::List(vec![]))])));
        next.values[KPIS] = Some(Arc::new(obj(&[("last_day", day(0)), ("today", day(1))])));
        sections.apply(&next, &mut Names::new(None));
        out.clear();
        sections.write(false, &mut out);
        assert_eq!(out, r#","kpis":{"today":{"day":1},"last_day":{"day":0}}"#);
        out.clear();
        sections.write(false, &mut out);
        assert_eq!(out, "", "nothing changed since");
        assert_eq!(sections.latest, sections.published);
    }

    #[test]
    fn scrubbing_hashes_ids_and_drops_raw_numbers_in_privacy_mode() {
        let value = obj(&[
            ("pending", Value::List(vec![Value::Str("agent_7".into())])),
            (
                "agent_7",
                obj(&[
                    ("uid", Value::Int(7)),
                    ("slot", Value::Int(0)),
                    ("reason", Value::Str("late".into())),
                ]),
            ),
        ]);
        let mut raw = value.clone();
        raw.scrub(&mut Names::new(None));
        assert_eq!(raw, value, "ids stay raw without privacy mode");
        let mut private = value;
        private.scrub(&mut Names::new(Some(vec![b'k'; 32])));
        assert_eq!(
            json(&private),
            r#"{"pending":["anon_a1743b3ee2ab"],"anon_a1743b3ee2ab":{"reason":"late"}}"#
        );
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::Int),
            (-2.0f64..2.0).prop_map(|f| Value::Float(round_to(f, 2))),
            "[a-c]{0,2}".prop_map(Value::Str),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
                prop::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn a_merge_patch_takes_old_to_new(old in tree(), new in tree()) {
            match Value::merge_patch(&old, &new) {
                None => prop_assert_eq!(&old, &new),
                Some(patch) => {
                    let applied = apply_patch(&old, &patch);
                    // Members a patch adds land after the kept ones: compare as sorted objects.
                    prop_assert_eq!(sorted(&applied), sorted(&new));
                }
            }
        }
    }

    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut m: Vec<_> = m.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(m)
            }
            Value::List(items) => Value::List(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
}
