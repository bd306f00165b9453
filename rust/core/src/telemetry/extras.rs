//! The Python-side events and console results of a published tick.
//!
//! The tick thread converts them at capture (the bindings build one
//! [`Value`] per event and per console result, as `json.dumps` would write
//! them), so the worker publishes them, hashes their agent ids in privacy
//! mode and narrates them in the core, without the GIL.

use super::value::Value;
use super::Names;

/// The event kind whose events a payload leaves out: their outcomes travel in `console_results`.
const CONSOLE_RESULT: &str = "console_result";

/// The Python events and console results of one tick, converted at capture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// Python events in the order they happened (JSON objects, members that are None kept as null).
    pub events: Vec<Value>,
    /// The console results of the tick, in order.
    pub results: Vec<Value>,
}

impl Extras {
    /// Whether there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.results.is_empty()
    }

    /// The events a payload carries: all but those of kind `console_result`.
    pub fn published(&self) -> impl Iterator<Item = &Value> {
        self.events.iter().filter(|e| kind(e) != Some(CONSOLE_RESULT))
    }

    /// Replaces agent ids by their published form everywhere (privacy
    /// mode; see [`Value::scrub`]).
    pub fn scrub(&mut self, names: &mut Names) {
        for value in self.events.iter_mut().chain(&mut self.results) {
            value.scrub(names);
        }
    }
}

/// An event's kind: its `kind` member, when that is a string.
pub fn kind(event: &Value) -> Option<&str> {
    let Value::Object(members) = event else {
        return None;
    };
    members.iter().find(|(k, _)| k == "kind").and_then(|(_, v)| match v {
        Value::Str(s) => Some(s.as_str()),
        _ => None,
    })
}

/// An event's members as narration reads them: those that are not null,
/// as text (`Value::py_str`).
pub fn fields(event: &Value) -> Vec<(String, String)> {
    let Value::Object(members) = event else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(_, v)| *v != Value::Null)
        .map(|(k, v)| (k.clone(), v.py_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(members: &[(&str, Value)]) -> Value {
        Value::Object(members.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn console_result_events_are_not_published() {
        let extras = Extras {
            events: vec![
                obj(&[("kind", s("lifecycle_exit"))]),
                obj(&[("kind", s(CONSOLE_RESULT))]),
                obj(&[("kind", Value::Int(3))]),
                s("odd"),
            ],
            results: vec![obj(&[("status", s("ok"))])],
        };
        let kinds: Vec<_> = extras.published().map(kind).collect();
        assert_eq!(kinds, [Some("lifecycle_exit"), None, None]);
        assert!(!extras.is_empty());
        assert!(Extras::default().is_empty());
    }

    #[test]
    fn fields_read_as_python_writes_them() {
        let event = obj(&[
            ("kind", s("perturbation_started")),
            ("agent_id", Value::Null),
            ("end", Value::Int(120)),
            ("share", Value::Float(1e-5)),
            ("whole", Value::Float(2.0)),
            ("on", Value::Bool(true)),
            (
                "detail",
                obj(&[
                    ("who", s("it's")),
                    ("at", Value::List(vec![Value::Int(1), Value::Null])),
                ]),
            ),
            ("quoted", Value::List(vec![s("a'b\"c\\\n"), s("\u{1}")])),
        ]);
        // str() of each, from CPython
        assert_eq!(
            fields(&event),
            [
                ("kind", "perturbation_started"),
                ("end", "120"),
                ("share", "1e-05"),
                ("whole", "2.0"),
                ("on", "True"),
                ("detail", "{'who': \"it's\", 'at': [1, None]}"),
                ("quoted", "['a\\'b\"c\\\\\\n', '\\x01']"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(fields(&s("odd")).is_empty());
    }

    #[test]
    fn scrubbing_reaches_events_and_results() {
        let mut names = Names::new(Some(b"salt".to_vec()));
        let mut extras = Extras {
            events: vec![obj(&[("agent_id", s("agent_3")), ("uid", Value::Int(3))])],
            results: vec![obj(&[("result", s("agent_3 was fined"))])],
        };
        extras.scrub(&mut names);
        let hashed = names.scrub_text("agent_3").expect("an id");
        assert_eq!(extras.events, [obj(&[("agent_id", s(&hashed))])]);
        assert_eq!(extras.results, [obj(&[("result", s(&format!("{hashed} was fined")))])]);
    }
}
