//! The container formats a LoRA file can be in.

/// The container formats a LoRA file can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Format {
    /// A safetensors file.
    Safetensors,
    /// A PyTorch zip archive (`torch.save` since 1.6).
    PytorchZip,
    /// A raw or legacy pickle.
    Pickle,
}

impl Format {
    /// Every format the gate accepts, in the order the health route lists them.
    pub const ALL: [Format; 3] = [Format::Safetensors, Format::PytorchZip, Format::Pickle];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::PytorchZip => "pytorch_zip",
            Format::Pickle => "pickle",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_contract() {
        assert_eq!(
            Format::ALL.map(Format::as_str),
            ["safetensors", "pytorch_zip", "pickle"]
        );
    }

    #[test]
    fn the_api_spelling_is_the_serde_spelling() {
        for format in Format::ALL {
            assert_eq!(
                serde_json::to_value(format).unwrap(),
                serde_json::Value::from(format.as_str())
            );
        }
    }
}
