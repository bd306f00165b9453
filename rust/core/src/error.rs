//! The core's single error type.

use thiserror::Error;

/// Every failure the core can report. The bindings map each variant to a
/// Python exception class under `townlet.errors.TownletError`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A caller passed a value outside what the core accepts.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An array had the wrong length or shape.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: String,
        got: String,
    },
    /// A layout is unusable (size, unknown tile code, nothing walkable).
    #[error("invalid layout: {0}")]
    Layout(String),
    /// A compiled precondition program is malformed.
    #[error("invalid precondition program: {0}")]
    Program(String),
}

/// Result alias used across the core.
pub type CoreResult<T> = Result<T, CoreError>;
