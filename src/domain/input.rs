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

/// True when `s` holds a character that changes how text reads without being
/// seen: the bidirectional controls (Unicode UAX #9: embeddings, overrides,
/// isolates, marks) and the zero-width characters. In a name or an address they
/// only ever disguise it.
pub fn has_invisible_chars(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(
            c,
            '\u{061C}'                      // Arabic letter mark
                | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
                | '\u{202A}'..='\u{202E}'   // embeddings and overrides
                | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}'   // isolates
                | '\u{FEFF}'                // zero-width no-break space
                | '\u{00AD}'                // soft hyphen
                | '\u{180E}'                // Mongolian vowel separator
                | '\u{E0000}'..='\u{E007F}' // tags
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_zero_width_characters_are_found() {
        for s in [
            "ad\u{202E}nim",
            "ad\u{200B}min",
            "\u{2066}x\u{2069}",
            "a\u{FEFF}",
        ] {
            assert!(has_invisible_chars(s), "{s:?}");
        }
        for s in ["admin", "Chloé Martin", "李小龙", "👩‍💻"] {
            assert_eq!(has_invisible_chars(s), s.contains('\u{200D}'), "{s:?}");
        }
    }
}
