//! What a tensor's name says: the module it belongs to and which part of it it is.

/// Which part of a module a tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Down,
    Up,
    Mid,
    Alpha,
    Loha,
    Lokr,
    Dora,
    Diff,
    Oft,
    Boft,
    Glora,
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
        (".lora.down.weight", Part::Down),
        (".lora.up.weight", Part::Up),
        (".down.weight", Part::Down),
        (".up.weight", Part::Up),
        (".alpha", Part::Alpha),
        (".dora_scale", Part::Dora),
        (".diff", Part::Diff),
        (".diff_b", Part::Diff),
        (".on_input", Part::Ia3),
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
    } else if last.starts_with("boft_") {
        Part::Boft
    } else if last.starts_with("oft_") {
        Part::Oft
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
