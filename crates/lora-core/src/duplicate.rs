//! What an upload does when its bytes equal a live file's (`if_duplicate`).

use serde::{Deserialize, Serialize};

/// The upload's choice when the same bytes are already live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IfDuplicate {
    /// Store it anyway, under its own name (the default, as before).
    #[default]
    Store,
    /// Store nothing and answer with the live file.
    Reuse,
    /// Store nothing and refuse (409, naming the live file).
    Refuse,
}

impl IfDuplicate {
    /// Every choice.
    pub const ALL: [IfDuplicate; 3] = [IfDuplicate::Store, IfDuplicate::Reuse, IfDuplicate::Refuse];

    /// The form and metadata spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            IfDuplicate::Store => "store",
            IfDuplicate::Reuse => "reuse",
            IfDuplicate::Refuse => "refuse",
        }
    }

    /// Parses a form or metadata value (trimmed, case ignored; empty means the default).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_ascii_lowercase();
        if raw.is_empty() {
            return Some(Self::default());
        }
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_and_nothing_else_does() {
        for choice in IfDuplicate::ALL {
            assert_eq!(IfDuplicate::parse(choice.as_str()), Some(choice));
        }
        assert_eq!(IfDuplicate::parse(" Reuse "), Some(IfDuplicate::Reuse));
        assert_eq!(IfDuplicate::parse(""), Some(IfDuplicate::Store));
        assert_eq!(IfDuplicate::parse("replace"), None);
    }
}
