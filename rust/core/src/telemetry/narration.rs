//! Narration: short sentences about notable events, throttled (`telemetry.narration`).
//!
//! A [`Template`] turns one event kind into a sentence in a category. A
//! sentence is published unless a throttle holds it back, checked in this
//! order:
//!
//! - dedupe: the same key (category, event kind, subject) within
//!   `dedupe_window_ticks` of its last publication;
//! - category cooldown: `category_cooldown_ticks[category]` after the
//!   category's last narration;
//! - global cooldown: `global_cooldown_ticks` after any narration;
//! - global window: at most `global_window_limit` narrations in any
//!   `global_window_ticks` ticks.
//!
//! Priority categories skip the global cooldown and the global window.
//! The subject of an event is its `agent_id`, else its `object`, else its
//! `canary`, else nothing. The encoder narrates core events as it writes
//! them and the Python events it is handed, in payload order, so the
//! throttles see events in the order they happened.

use std::collections::{HashMap, HashSet, VecDeque};

/// The throttles, by name, in the order they are checked.
pub const SUPPRESSIONS: [&str; 4] = ["dedupe", "category", "global", "window"];

/// Keys of the dedupe map kept before old ones are pruned.
const MAX_KEYS: usize = 4096;

/// How one event kind is narrated: its category and its text, where
/// `{field}` stands for the event's field (`?` when missing) and `{{`, `}}`
/// for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub category: String,
    pub text: String,
}

impl Template {
    /// The sentence for an event whose fields `field` looks up.
    pub fn render<'a>(&self, field: impl Fn(&str) -> Option<&'a str>) -> String {
        let text = &self.text;
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text.as_str();
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.push_str(&tail[..1]);
                rest = &tail[2..];
            } else if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
                out.push_str(field(&tail[1..end]).unwrap_or("?"));
                rest = &tail[end + 1..];
            } else {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// The throttle settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarrationConfig {
    pub global_cooldown_ticks: i64,
    pub category_cooldown_ticks: HashMap<String, i64>,
    pub dedupe_window_ticks: i64,
    pub global_window_ticks: i64,
    pub global_window_limit: usize,
    pub priority_categories: HashSet<String>,
}

/// A published narration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narration {
    pub tick: i64,
    pub category: String,
    pub text: String,
    /// The narrated event's kind.
    pub source: String,
    /// The narrated event's agent, when it names one.
    pub agent_id: Option<String>,
}

/// The throttle state (what a snapshot keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarratorState {
    pub last_global: i64,
    pub last_category: HashMap<String, i64>,
    pub last_key: HashMap<String, i64>,
    pub window: VecDeque<i64>,
    pub emitted: u64,
    /// Held back, by throttle ([`SUPPRESSIONS`] order).
    pub suppressed: [u64; 4],
}

/// Applies the templates and the throttles to events.
#[derive(Debug, Clone, Default)]
pub struct Narrator {
    pub config: NarrationConfig,
    templates: HashMap<String, Template>,
    pub state: NarratorState,
}

impl Narrator {
    /// A narrator with nothing narrated yet; `templates` maps event kinds to templates.
    pub fn new(config: NarrationConfig, templates: HashMap<String, Template>) -> Narrator {
        Narrator {
            config,
            templates,
            state: NarratorState {
                last_global: -1_000_000_000_000,
                ..NarratorState::default()
            },
        }
    }

    /// Whether events of `kind` are narrated at all.
    pub fn narrates(&self, kind: &str) -> bool {
        self.templates.contains_key(kind)
    }

    /// The narration of an event of `kind` at `tick`, or None when `kind`
    /// has no template or a throttle holds it back. `field` looks up the
    /// event's fields as text.
    pub fn offer<'a>(&mut self, kind: &str, tick: i64, field: impl Fn(&str) -> Option<&'a str>) -> Option<Narration> {
        let template = self.templates.get(kind)?;
        let cfg = &self.config;
        let st = &mut self.state;
        let category = template.category.as_str();
        let subject = field("agent_id")
            .or_else(|| field("object"))
            .or_else(|| field("canary"))
            .unwrap_or("");
        let key = format!("{category}|{kind}|{subject}");
        if st
            .last_key
            .get(&key)
            .is_some_and(|&last| tick - last < cfg.dedupe_window_ticks)
        {
            st.suppressed[0] += 1;
            return None;
        }
        let cooldown = cfg.category_cooldown_ticks.get(category).copied().unwrap_or(0);
        if st
            .last_category
            .get(category)
            .is_some_and(|&last| tick - last < cooldown)
        {
            st.suppressed[1] += 1;
            return None;
        }
        if !cfg.priority_categories.contains(category) {
            if tick - st.last_global < cfg.global_cooldown_ticks {
                st.suppressed[2] += 1;
                return None;
            }
            while st.window.front().is_some_and(|&t| tick - t >= cfg.global_window_ticks) {
                st.window.pop_front();
            }
            if st.window.len() >= cfg.global_window_limit {
                st.suppressed[3] += 1;
                return None;
            }
            st.window.push_back(tick);
        }
        st.last_global = tick;
        match st.last_category.get_mut(category) {
            Some(last) => *last = tick,
            None => {
                st.last_category.insert(category.to_owned(), tick);
            }
        }
        st.last_key.insert(key, tick);
        if st.last_key.len() > MAX_KEYS {
            let horizon = tick - cfg.dedupe_window_ticks;
            st.last_key.retain(|_, &mut t| t > horizon);
        }
        st.emitted += 1;
        Some(Narration {
            tick,
            category: template.category.clone(),
            text: template.render(&field),
            source: kind.to_owned(),
            agent_id: field("agent_id").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrator(global: i64, window: (i64, usize), priority: &[&str]) -> Narrator {
        let templates = [
            ("lifecycle_exit", "lifecycle", "{agent_id} left town ({reason})"),
            ("absent", "employment", "{agent_id} missed a shift"),
        ]
        .into_iter()
        .map(|(k, c, t)| {
            (
                k.to_owned(),
                Template {
                    category: c.to_owned(),
                    text: t.to_owned(),
                },
            )
        })
        .collect();
        let config = NarrationConfig {
            global_cooldown_ticks: global,
            category_cooldown_ticks: HashMap::from([("employment".to_owned(), 50)]),
            dedupe_window_ticks: 100,
            global_window_ticks: window.0,
            global_window_limit: window.1,
            priority_categories: priority.iter().map(|&p| p.to_owned()).collect(),
        };
        Narrator::new(config, templates)
    }

    fn fields<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn templates_render_fields_braces_and_missing_ones() {
        let t = Template {
            category: "c".into(),
            text: "{a} and {b} {{x}} }".into(),
        };
        assert_eq!(t.render(fields(&[("a", "A")])), "A and ? {x} }");
        let open = Template {
            category: "c".into(),
            text: "left { open".into(),
        };
        assert_eq!(open.render(fields(&[])), "left { open");
    }

    #[test]
    fn throttles_apply_in_order() {
        let mut n = narrator(10, (1000, 100), &[]);
        let exit = [("agent_id", "agent_1"), ("reason", "eviction")];
        let out = n.offer("lifecycle_exit", 0, fields(&exit)).expect("published");
        assert_eq!(out.text, "agent_1 left town (eviction)");
        assert_eq!(out.agent_id.as_deref(), Some("agent_1"));
        assert!(n.offer("lifecycle_exit", 5, fields(&exit)).is_none(), "dedupe");
        assert!(
            n.offer("absent", 5, fields(&[("agent_id", "agent_2")])).is_none(),
            "global"
        );
        assert!(n.offer("absent", 10, fields(&[("agent_id", "agent_2")])).is_some());
        assert!(
            n.offer("absent", 30, fields(&[("agent_id", "agent_3")])).is_none(),
            "category"
        );
        assert!(n.offer("hook", 30, fields(&[])).is_none(), "no template");
        assert_eq!(n.state.suppressed, [1, 1, 1, 0]);
        assert_eq!(n.state.emitted, 2);
    }

    #[test]
    fn the_window_limits_all_but_priority_categories() {
        let mut n = narrator(0, (200, 2), &["lifecycle"]);
        for (i, tick) in [0, 50, 100].into_iter().enumerate() {
            let id = format!("agent_{i}");
            let published = n.offer("absent", tick, fields(&[("agent_id", &id)])).is_some();
            assert_eq!(published, i < 2, "tick {tick}");
        }
        assert_eq!(n.state.suppressed[3], 1);
        assert!(n
            .offer("lifecycle_exit", 100, fields(&[("agent_id", "agent_9")]))
            .is_some());
        assert!(
            n.offer("absent", 200, fields(&[("agent_id", "agent_5")])).is_some(),
            "the window slid"
        );
    }
}
