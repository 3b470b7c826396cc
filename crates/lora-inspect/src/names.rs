//! What a tensor's name says: the module it belongs to and which part of it it is.

/// Which part of a module a tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Down,
    Up,
    Mid,
    Alpha,
    /// `hada_*` (LoHa).
    Loha,
    /// `lokr_*` (LoKr).
    Lokr,
    /// `dora_scale` (LyCORIS) or `lora_magnitude_vector` (PEFT): DoRA's magnitude.
    Dora,
    /// `diff`, `diff_b`: a full delta.
    Diff,
    /// `w_norm`, `b_norm`: a norm layer's delta (LyCORIS `train_norm`).
    Norm,
    /// `oft_blocks` (LyCORIS / kohya, BOFT when 4-D), `oft_diag`, PEFT `oft_R`.
    Oft,
    /// PEFT `boft_R`, `boft_s`.
    Boft,
    /// `a1.weight` … `b2.weight` (GLoRA).
    Glora,
    /// LyCORIS `on_input`, PEFT `ia3_l`.
    Ia3,
}

/// Splits a tensor name into its module and the part it is, or `None` for other tensors.
pub(crate) fn split(name: &str) -> Option<(&str, Part)> {
    const SUFFIXES: &[(&str, Part)] = &[
        (".lora_down.weight", Part::Down),
        (".lora_up.weight", Part::Up),
        (".lora_mid.weight", Part::Mid),
        (".lora_A.weight", Part::Down),
        (".lora_B.weight", Part::Up),
        (".lora_A.default.weight", Part::Down),
        (".lora_B.default.weight", Part::Up),
        // genmo's Mochi fine-tuner: bare parameters, no `.weight`.
        (".lora_A", Part::Down),
        (".lora_B", Part::Up),
        (".lora.down.weight", Part::Down),
        (".lora.up.weight", Part::Up),
        (".down.weight", Part::Down),
        (".up.weight", Part::Up),
        (".alpha", Part::Alpha),
        (".dora_scale", Part::Dora),
        (".lora_magnitude_vector", Part::Dora),
        (".lora_magnitude_vector.weight", Part::Dora),
        (".lora_magnitude_vector.default", Part::Dora),
        (".diff", Part::Diff),
        (".diff_b", Part::Diff),
        (".w_norm", Part::Norm),
        (".b_norm", Part::Norm),
        (".on_input", Part::Ia3),
        (".ia3_l", Part::Ia3),
        (".ia3_l.default", Part::Ia3),
        (".oft_blocks", Part::Oft),
        (".oft_diag", Part::Oft),
        (".oft_R.weight", Part::Oft),
        (".oft_r", Part::Oft),
        (".boft_R", Part::Boft),
        (".boft_s", Part::Boft),
        (".a1.weight", Part::Glora),
        (".a2.weight", Part::Glora),
        (".b1.weight", Part::Glora),
        (".b2.weight", Part::Glora),
    ];
    for (suffix, part) in SUFFIXES {
        if let Some(module) = name.strip_suffix(suffix) {
            // `.down.weight` alone is too common a spelling to trust outside LoRA names.
            if matches!(*suffix, ".down.weight" | ".up.weight")
                && !module.to_ascii_lowercase().contains("lora")
            {
                continue;
            }
            return Some((module, *part));
        }
    }
    let (module, last) = name.rsplit_once('.')?;
    let part = if last.starts_with("hada_") {
        Part::Loha
    } else if last.starts_with("lokr_") {
        Part::Lokr
    } else {
        return None;
    };
    Some((module, part))
}

/// Whether a module trains a text encoder (kohya `lora_te*`, diffusers `text_encoder*`).
pub(crate) fn is_text_encoder(module: &str) -> bool {
    module.starts_with("lora_te")
        || module.contains("text_encoder")
        || module.starts_with("te1")
        || module.starts_with("te2")
}
