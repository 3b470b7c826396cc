//! The checks the upload gate and the evaluation perform, by their stable names.

/// One kind of check. The health route lists [`Check::ALL`] by [`Check::as_str`], so
/// clients can tell what a server's content validation covers; the names are part of the
/// contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every safetensors rule: header length, JSON, dtypes, shapes × sizes, offsets
    /// ([`validate`](crate::validate) and [`evaluate`](crate::evaluate)).
    SafetensorsHeader,
    /// Every global a pickle imports is on the weights-only allowlist
    /// ([`pickle::is_allowed`](crate::pickle::is_allowed)).
    PickleGlobalsAllowlist,
    /// The content is the format the extension says.
    FormatMatchesExtension,
    /// The base model is told from metadata, key names or shapes.
    BaseModel,
    /// What the file is: a LoRA, or a checkpoint, embedding, VAE or ControlNet.
    FileKind,
    /// The network type (LoRA, LoCon, LoHa, LoKr, OFT, BOFT, GLoRA, (IA)³, full) and its
    /// variants.
    NetworkType,
    /// NaN and ±Inf weights (evaluation only).
    WeightsNanInf,
    /// Per-module strength ‖ΔW‖ against the others (evaluation only).
    ModuleStrength,
}

impl Check {
    /// Every check, in the order the health route lists them.
    pub const ALL: [Check; 8] = [
        Check::SafetensorsHeader,
        Check::PickleGlobalsAllowlist,
        Check::FormatMatchesExtension,
        Check::BaseModel,
        Check::FileKind,
        Check::NetworkType,
        Check::WeightsNanInf,
        Check::ModuleStrength,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::SafetensorsHeader => "safetensors_header",
            Check::PickleGlobalsAllowlist => "pickle_globals_allowlist",
            Check::FormatMatchesExtension => "format_matches_extension",
            Check::BaseModel => "base_model",
            Check::FileKind => "file_kind",
            Check::NetworkType => "network_type",
            Check::WeightsNanInf => "weights_nan_inf",
            Check::ModuleStrength => "module_strength",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_contract() {
        // The health route has listed these since the Python service; clients match them.
        assert_eq!(
            Check::ALL.map(Check::as_str),
            [
                "safetensors_header",
                "pickle_globals_allowlist",
                "format_matches_extension",
                "base_model",
                "file_kind",
                "network_type",
                "weights_nan_inf",
                "module_strength",
            ]
        );
    }
}
