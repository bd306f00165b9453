//! Townlet's simulation core.
//!
//! Pure Rust, no Python: the bindings crate (`rust/bindings`) wraps it as the
//! `townlet._core` extension module. Every per-tick, per-agent computation of
//! the simulation lives here.

pub mod affordances;
pub mod agents;
pub mod codec;
mod controller;
pub mod economy;
pub mod employment;
pub mod error;
pub mod grid;
pub mod lifecycle;
pub mod movement;
pub mod observe;
pub mod pathing;
pub mod policy;
pub mod precondition;
pub mod queues;
pub mod relations;
pub mod rewards;
pub mod rng;
pub mod spatial;
pub mod telemetry;
pub mod tick;
pub mod world;

pub use error::{CoreError, CoreResult};

/// Version of the core crate.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
