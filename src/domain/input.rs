//! What every parser of typed input shares: the refusal, in words for the
//! person who typed the value, and the control-character check.

/// Why a typed value was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// A message for the field.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// True when `s` holds a control character other than tab, CR or LF.
pub fn has_control_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
}
