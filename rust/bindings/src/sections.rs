//! The Python-side parts of a captured tick as the core's value trees:
//! the town sections, and the tick's Python events and console results.
//!
//! The tick thread samples `employment`, the KPIs, the reward guardrails
//! and the slowest ticks as Python values (`town_sections`) and converts
//! them here in the same capture call (a few microseconds an in-game
//! hour), rounding floats as they are published. The worker then diffs and
//! writes them in the core without ever taking the GIL for them.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};
use townlet_core::telemetry::value::{round_to, SectionSample, Value, EMPLOYMENT, KPIS, SECTION_KEYS};
use townlet_core::telemetry::Extras;

/// Decimal places each section's floats are published with (None: as they are).
pub const DECIMALS: [Option<u32>; 4] = [None, Some(6), Some(6), Some(7)];
const REWARDS: usize = 2;
const SLOWEST: usize = 3;

/// `obj` as a published value: floats rounded to `decimals`, members whose
/// value is None left out, tuples and sets as lists, numpy values by their
/// `tolist()`. NaN, infinities and other types are refused.
pub fn to_value(obj: &Bound<'_, PyAny>, decimals: Option<u32>) -> PyResult<Value> {
    convert(obj, decimals, false)
}

/// `obj` (an event or a console result) as `json.dumps` writes it: as
/// [`to_value`], but floats as they are and None kept (as null).
pub fn to_json_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    convert(obj, None, true)
}

fn convert(obj: &Bound<'_, PyAny>, decimals: Option<u32>, keep_null: bool) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return Ok(Value::Int(i.extract()?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = finite(f.value())?;
        return Ok(Value::Float(decimals.map_or(v, |d| round_to(v, d))));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut members = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            if v.is_none() && !keep_null {
                continue;
            }
            members.push((key(&k)?, convert(&v, decimals, keep_null)?));
        }
        return Ok(Value::Object(members));
    }
    if obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PySet>()
        || obj.is_instance_of::<PyFrozenSet>()
    {
        return obj
            .try_iter()?
            .map(|item| convert(&item?, decimals, keep_null))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::List);
    }
    if obj.hasattr(intern!(obj.py(), "tolist"))? {
        return convert(&obj.call_method0(intern!(obj.py(), "tolist"))?, decimals, keep_null);
    }
    Err(PyTypeError::new_err(format!(
        "{} is not JSON serialisable",
        obj.get_type().name()?
    )))
}

/// `v`, refused when JSON cannot carry it.
fn finite(v: f64) -> PyResult<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(PyValueError::new_err(format!("{v} is not allowed in JSON")))
    }
}

/// A member name as `json.dumps` writes a dict key: strings as they are,
/// `true`/`false`/`null`, numbers as their JSON text; other keys are refused.
fn key(k: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = k.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    let value = if k.is_none() {
        Value::Null
    } else if let Ok(b) = k.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if let Ok(i) = k.cast::<PyInt>() {
        Value::Int(i.extract()?)
    } else if let Ok(f) = k.cast::<PyFloat>() {
        Value::Float(finite(f.value())?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "keys must be str, int, float, bool or None, not {}",
            k.get_type().name()?
        )));
    };
    let mut out = String::new();
    value.write(&mut out);
    Ok(out)
}

/// The Python events and console results of a `FrameExtras`, converted
/// for the encoder (None when it has neither). An event or result that
/// cannot be converted is left out; the first such error comes back too.
pub fn extras_of(extras: &Bound<'_, PyAny>) -> PyResult<(Option<Extras>, Option<String>)> {
    let py = extras.py();
    let mut error = None;
    let mut all = |attr: &Bound<'_, PyString>| -> PyResult<Vec<Value>> {
        let mut out = Vec::new();
        for item in extras.getattr(attr)?.try_iter()? {
            match to_json_value(&item?) {
                Ok(value) => out.push(value),
                Err(e) => {
                    error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        Ok(out)
    };
    let converted = Extras {
        events: all(intern!(py, "events"))?,
        results: all(intern!(py, "results"))?,
    };
    Ok(((!converted.is_empty()).then_some(converted), error))
}

/// The last Python object converted for a slot and what it became: the
/// tick thread hands over the very same object while it is unchanged.
type Converted = Option<(Py<PyAny>, Arc<Value>)>;

/// Converts samples of `town_sections` output, reusing the value of an
/// input that is the same object as last time (the slowest ticks, the last
/// finished day).
#[derive(Default)]
pub struct SectionReader {
    slowest: Converted,
    last_day: Converted,
}

impl SectionReader {
    /// The sections of one sample: `employment` (with
    /// `review_window_ticks`; the encoder hashes its ids in privacy mode),
    /// `rewards`, `slowest_ticks`, and the `kpis` members sampled (`today`
    /// when present; `last_day` when it is a new day).
    pub fn sample(&mut self, raw: &Bound<'_, PyAny>) -> PyResult<SectionSample> {
        let py = raw.py();
        let mut sample = SectionSample::default();
        let mut employment = to_value(&raw.get_item(intern!(py, "employment"))?, DECIMALS[EMPLOYMENT])?;
        let Value::Object(members) = &mut employment else {
            return Err(PyTypeError::new_err("employment must be a dict"));
        };
        let window = Value::Int(raw.get_item(intern!(py, "review_window_ticks"))?.extract()?);
        match members.iter_mut().find(|(k, _)| k == "review_window_ticks") {
            Some((_, slot)) => *slot = window,
            None => members.push(("review_window_ticks".to_owned(), window)),
        }
        sample.values[EMPLOYMENT] = Some(Arc::new(employment));
        let rewards = to_value(&raw.get_item(intern!(py, "rewards"))?, DECIMALS[REWARDS])?;
        sample.values[REWARDS] = Some(Arc::new(rewards));
        let slowest = raw.get_item(intern!(py, "slowest"))?;
        sample.values[SLOWEST] = Some(Arc::clone(cached(&mut self.slowest, &slowest, slow_ticks)?));
        let mut kpis = Vec::new();
        let dict = raw.cast::<PyDict>()?;
        if let Some(today) = dict.get_item(intern!(py, "today"))? {
            kpis.push(("today".to_owned(), to_value(&today, DECIMALS[KPIS])?));
            sample.today = true;
        }
        let last_day = raw.get_item(intern!(py, "last_day"))?;
        let new_day = !last_day.is_none() && !self.last_day.as_ref().is_some_and(|(o, _)| o.is(&last_day));
        if new_day {
            let day = cached(&mut self.last_day, &last_day, |d| to_value(d, DECIMALS[KPIS]))?;
            kpis.push(("last_day".to_owned(), Value::clone(day)));
        }
        if !kpis.is_empty() {
            sample.values[KPIS] = Some(Arc::new(Value::Object(kpis)));
        }
        Ok(sample)
    }
}

/// The value of `obj`: the cached one when `obj` is the object converted last.
fn cached<'a>(
    slot: &'a mut Converted,
    obj: &Bound<'_, PyAny>,
    convert: impl Fn(&Bound<'_, PyAny>) -> PyResult<Value>,
) -> PyResult<&'a Arc<Value>> {
    if !slot.as_ref().is_some_and(|(o, _)| o.is(obj)) {
        *slot = Some((obj.clone().unbind(), Arc::new(convert(obj)?)));
    }
    Ok(&slot.as_ref().expect("set above").1)
}

/// The slowest ticks (`SlowTick`s) as published: tick, seconds and
/// seconds per stage, to 0.1 µs.
fn slow_ticks(slowest: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = slowest.py();
    let decimals = DECIMALS[SLOWEST];
    let mut out = Vec::new();
    for s in slowest.try_iter()? {
        let s = s?;
        let mut stages = Vec::new();
        for pair in s.getattr(intern!(py, "stages"))?.try_iter()? {
            let (name, seconds): (String, Bound<'_, PyAny>) = pair?.extract()?;
            stages.push((name, to_value(&seconds, decimals)?));
        }
        out.push(Value::Object(vec![
            ("tick".to_owned(), to_value(&s.getattr(intern!(py, "tick"))?, None)?),
            (
                "seconds".to_owned(),
                to_value(&s.getattr(intern!(py, "seconds"))?, decimals)?,
            ),
            ("stages".to_owned(), Value::Object(stages)),
        ]));
    }
    Ok(Value::List(out))
}

/// `value` as a Python object (floats, ints, strings, lists, dicts).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::List(items) => {
            PyList::new(py, items.iter().map(|v| to_py(py, v)).collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
        Value::Object(members) => {
            let d = PyDict::new(py);
            for (k, v) in members {
                d.set_item(k, to_py(py, v)?)?;
            }
            d.into_any()
        }
    })
}

/// Sections (`[Option<Value>; 4]`) as a dict of those present.
pub fn sections_to_py<'py>(py: Python<'py>, sections: &[Option<Arc<Value>>; 4]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (key, value) in SECTION_KEYS.iter().zip(sections) {
        if let Some(v) = value {
            d.set_item(key, to_py(py, v)?)?;
        }
    }
    Ok(d)
}

/// The inverse of [`sections_to_py`]: other keys are ignored.
pub fn sections_from_py(d: &Bound<'_, PyDict>) -> PyResult<[Option<Arc<Value>>; 4]> {
    let mut out: [Option<Arc<Value>>; 4] = Default::default();
    for (i, key) in SECTION_KEYS.iter().enumerate() {
        if let Some(v) = d.get_item(key)? {
            out[i] = Some(Arc::new(to_value(&v, DECIMALS[i])?));
        }
    }
    Ok(out)
}
