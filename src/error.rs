//! Engine errors: what a caller did wrong, in the reference's two kinds (invalid value,
//! unknown key) plus the ones a service adds. Messages are lower-case except where the
//! reference's exact text is part of the contract.

use schemars::JsonSchema;
use serde::Serialize;
use thiserror::Error;

/// An error from an engine operation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    /// A value is out of its domain (the reference's `ValueError`).
    #[error("{0}")]
    InvalidValue(String),
    /// A name does not resolve (the reference's `KeyError`).
    #[error("{0}")]
    UnknownKey(String),
    /// A request is malformed (wrong types, missing fields).
    #[error("{0}")]
    BadRequest(String),
    /// A computation produced a number that is not finite.
    #[error("{0}")]
    NonFinite(String),
    /// A formula divided by zero where the reference raises `ZeroDivisionError`.
    #[error("{0}")]
    DivisionByZero(String),
    /// A value of the wrong type where the reference raises `TypeError` (a pack formula
    /// reading a map as a number, a path through a value).
    #[error("{0}")]
    WrongType(String),
}

impl EngineError {
    /// The stable kind string used in JSON errors.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::InvalidValue(_) => "invalid_value",
            EngineError::UnknownKey(_) => "unknown_key",
            EngineError::BadRequest(_) => "bad_request",
            EngineError::NonFinite(_) => "non_finite",
            EngineError::DivisionByZero(_) => "division_by_zero",
            EngineError::WrongType(_) => "type_error",
        }
    }

    /// The JSON form `{"kind": …, "message": …}`.
    pub fn to_json(&self) -> ErrorBody {
        ErrorBody { kind: self.kind(), message: self.to_string() }
    }
}

/// The body of a JSON error.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable kind.
    pub kind: &'static str,
    /// Human message.
    pub message: String,
}
