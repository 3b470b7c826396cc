//! Families from names people and tools write: modelspec architectures
//! (`stable-diffusion-xl-v1-base/lora`), kohya versions (`sd_v2_768_v`), model files and
//! repositories (`ponyDiffusionV6XL.safetensors`, `Wan-AI/Wan2.1-T2V-1.3B`).
//!
//! A name is split into words (at punctuation and at lower-to-upper case changes) and
//! matched word by word, never searched for substrings: `stable-cascade-v1-prior` holds
//! "v1" but is no SD1, and `ltx-2` is not LTX-Video.

use super::family::BaseModel;

/// A family and, when the name tells it, a variant.
pub(crate) type Named = (BaseModel, Option<&'static str>);

/// The words of a name, lowercase.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

struct Words<'a>(&'a [String]);

impl Words<'_> {
    fn at(&self, i: usize) -> &str {
        self.0.get(i).map_or("", String::as_str)
    }

    fn has(&self, w: &str) -> bool {
        self.0.iter().any(|x| x == w)
    }

    /// `w` as one word or as up to three adjacent ones (`pix` `art`, `hunyuan` `di` `t`).
    fn word(&self, w: &str) -> bool {
        (1..=3).any(|n| self.0.windows(n).any(|p| p.concat() == w))
    }

    /// Where `a` is directly followed by `b`.
    fn pair(&self, a: &str, b: &str) -> bool {
        self.0.windows(2).any(|p| p[0] == a && p[1] == b)
    }

    /// The word after `a`.
    fn after(&self, a: &str) -> Option<&str> {
        let i = self.0.iter().position(|x| x == a)?;
        self.0.get(i + 1).map(String::as_str)
    }
}

/// kohya sd-scripts' and musubi-tuner's `ss_base_model_version` values that do not
/// spell their family (`library/sd3_utils.py`, `model_util.py`).
const KOHYA_VERSIONS: &[(&str, Named)] = &[
    ("medium", (BaseModel::Sd3, Some("sd3-medium"))),
    ("5-medium", (BaseModel::Sd3, Some("sd3.5-medium"))),
    ("5-large", (BaseModel::Sd3, Some("sd3.5-large"))),
    ("sd_v2", (BaseModel::Sd2, Some("512"))),
    ("sd_v2_v", (BaseModel::Sd2, Some("768-v"))),
    ("sd_v1_v", (BaseModel::Sd1, None)),
    ("flux_kontext", (BaseModel::Flux, Some("kontext"))),
];

/// The family a kohya / musubi `ss_base_model_version` names.
pub(crate) fn kohya_version(version: &str) -> Option<Named> {
    let v = version.trim().to_ascii_lowercase();
    KOHYA_VERSIONS
        .iter()
        .find(|(spelled, _)| *spelled == v)
        .map(|(_, named)| *named)
        .or_else(|| family(&v))
}

/// The family a name spells, if it spells one.
pub(crate) fn family(name: &str) -> Option<Named> {
    let words = words(name);
    let w = Words(&words);
    let found = |f: BaseModel| Some((f, None));
    if w.word("framepack") {
        return found(BaseModel::Framepack);
    }
    if w.word("hunyuandit") {
        return found(BaseModel::HunyuanDit);
    }
    if w.word("hunyuanvideo") || w.has("hyvideo") {
        // HunyuanVideo 1.5 (musubi `hunyuan_video_1_5`, `hunyuan-video-1.5/lora`) is
        // another architecture (hidden 2048, 54 double blocks).
        let later = w.pair("video", "1") || w.has("15") || w.pair("1", "5");
        return found(if later {
            BaseModel::HunyuanVideo15
        } else {
            BaseModel::HunyuanVideo
        });
    }
    // HunyuanImage 2.1 (sd-scripts `hunyuan-image-2.1`).
    if w.word("hunyuanimage") {
        return found(BaseModel::HunyuanImage);
    }
    if w.word("zimage") {
        // SimpleTuner's flavours (`z_image-turbo/lora`, `z_image-base/lora`) are the only
        // metadata that says which; a de-distilled Turbo is neither.
        let variant = if w.pair("de", "turbo") {
            None
        } else if w.has("turbo") {
            Some("turbo")
        } else if w.has("base") {
            Some("base")
        } else {
            None
        };
        return Some((BaseModel::ZImage, variant));
    }
    if w.word("kandinsky5") || w.pair("kandinsky", "5") {
        let variant = if w.has("pro") {
            Some("pro-video")
        } else if w.has("t2i") || w.has("i2i") || w.has("image") {
            Some("lite-image")
        } else if w.has("lite") || w.has("t2v") || w.has("i2v") || w.has("video") {
            Some("lite-video")
        } else {
            None
        };
        return Some((BaseModel::Kandinsky5, variant));
    }
    if w.has("ovis") {
        return found(BaseModel::OvisImage);
    }
    if w.has("anima") {
        return found(BaseModel::Anima);
    }
    if let Some(sana) = sana(&w) {
        return Some(sana);
    }
    // LTX-2 (`ltx2`, `LTX-2`, SimpleTuner's `ltxvideo2`) is an audio-video architecture.
    if w.0
        .iter()
        .any(|x| x == "ltx2" || x.starts_with("ltxvideo2"))
        || w.pair("ltx", "2")
    {
        return found(BaseModel::Ltx2);
    }
    if w.word("stablecascade") || w.has("cascade") {
        return found(BaseModel::StableCascade);
    }
    if w.word("qwenimage") {
        // musubi `Qwen-Image-Edit-Plus` (2509) and `Qwen-Image-Edit-2511`; SimpleTuner
        // `edit-v1`, `edit-v2` / `edit-v2+` (2509), `edit-v3` (2511).
        let variant = if w.has("edit") {
            if w.has("2511") || w.has("v3") {
                Some("edit-2511")
            } else if w.has("2509") || w.has("plus") || w.has("v2") {
                Some("edit-2509")
            } else {
                Some("edit")
            }
        } else if w.has("layered") {
            Some("layered")
        } else {
            None
        };
        return Some((BaseModel::QwenImage, variant));
    }
    for (spelled, f) in [
        ("pixart", BaseModel::Pixart),
        ("auraflow", BaseModel::Auraflow),
        ("hidream", BaseModel::Hidream),
        ("kolors", BaseModel::Kolors),
        ("cogvideox", BaseModel::Cogvideox),
        ("mochi", BaseModel::Mochi),
        ("lumina2", BaseModel::Lumina2),
        ("ltxv", BaseModel::Ltxv),
        ("ltxvideo", BaseModel::Ltxv),
    ] {
        if w.word(spelled) {
            return found(f);
        }
    }
    // `Chroma1/lora` (OneTrainer), `chroma-unlocked-v37`.
    if w.0.iter().any(|x| {
        x.strip_prefix("chroma")
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
    }) {
        // ai-toolkit `chroma_radiance`, `Chroma1-Radiance`: the pixel-space model.
        return Some((BaseModel::Chroma, w.has("radiance").then_some("radiance")));
    }
    if w.has("lumina") {
        // Lumina-Image-2.0 / lumina-2; Lumina-Next and older are another architecture.
        return w
            .0
            .iter()
            .any(|x| x == "2")
            .then_some((BaseModel::Lumina2, None));
    }
    if w.has("ltx") {
        return found(BaseModel::Ltxv);
    }
    if let Some(wan) = wan(&w) {
        return Some(wan);
    }
    if w.has("flux2") || w.pair("flux", "2") {
        let variant = if w.has("klein") {
            if w.has("4b") {
                Some("klein-4b")
            } else if w.has("9b") {
                Some("klein-9b")
            } else {
                None
            }
        } else if w.has("dev") {
            Some("dev")
        } else {
            None
        };
        return Some((BaseModel::Flux2, variant));
    }
    if w.has("flux") || w.has("flux1") {
        let variant = if w.has("kontext") {
            Some("kontext")
        } else if w.has("schnell") {
            Some("schnell")
        } else if w.has("dev") {
            Some("dev")
        } else {
            None
        };
        return Some((BaseModel::Flux, variant));
    }
    stable_diffusion(&w)
}

/// `wan2.1`, `Wan2.1-T2V-1.3B`, `wan2.2_t2v_14b`, `wan21`: the family and its release.
fn wan(w: &Words<'_>) -> Option<Named> {
    // `Wan-AI/Wan2.1-…`: the word with the release wins over the organisation's.
    let numbered = |x: &String| {
        x.strip_prefix("wan")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    let at =
        w.0.iter()
            .position(numbered)
            .or_else(|| w.0.iter().position(|x| x == "wan"))?;
    let head = w.at(at).trim_start_matches("wan");
    let version = match (head, w.at(at + 1)) {
        ("2", "1") | ("21", _) => "2.1",
        ("2", "2") | ("22", _) => "2.2",
        ("", "2") if w.at(at + 2) == "1" => "2.1",
        ("", "2") if w.at(at + 2) == "2" => "2.2",
        // SimpleTuner's `wan-t2v-480p-14b-2.1`: the release last.
        _ if w.pair("2", "1") => "2.1",
        _ if w.pair("2", "2") => "2.2",
        _ => return Some((BaseModel::Wan, None)),
    };
    let small = w.pair("1", "3b") || w.has("1b3") || w.has("1_3b");
    let large = w.has("14b");
    let variant = match (version, small, large) {
        ("2.1", true, _) => Some("2.1-t2v-1.3b"),
        ("2.1", _, true) => Some("2.1-14b"),
        // The release alone; the shapes may tell the size (`2.1-14b`).
        ("2.1", _, _) => Some("2.1"),
        // ai-toolkit `wan_2.2_5b`, SimpleTuner `ti2v-5b-2.2`.
        ("2.2", _, _) if w.has("5b") || w.has("ti2v") => Some("2.2-ti2v-5b"),
        ("2.2", _, _) => Some("2.2"),
        _ => None,
    };
    Some((BaseModel::Wan, variant))
}

/// `sana`, `Sana_1600M`, SimpleTuner's `sana1.5-4.8b-1024`: the family and its size.
fn sana(w: &Words<'_>) -> Option<Named> {
    let named = w.0.iter().any(|x| {
        x.strip_prefix("sana")
            .is_some_and(|v| v == "ms" || v.bytes().all(|b| b.is_ascii_digit()))
    });
    if !named {
        return None;
    }
    let variant = if w.has("4800m") || w.pair("4", "8b") {
        Some("4800m")
    } else if w.has("1600m") || w.pair("1", "6b") {
        Some("1600m")
    } else if w.has("600m") || w.pair("0", "6b") {
        Some("600m")
    } else {
        None
    };
    Some((BaseModel::Sana, variant))
}

/// SD1, SD2, SDXL (and its Pony / Illustrious / NoobAI lines) and SD3.
fn stable_diffusion(w: &Words<'_>) -> Option<Named> {
    let sdxl_line = if w.word("pony") {
        Some("pony")
    } else if w.has("illustrious") {
        Some("illustrious")
    } else if w.word("noobai") {
        Some("noobai")
    } else {
        None
    };
    if let Some(line) = sdxl_line {
        return Some((BaseModel::Sdxl, Some(line)));
    }
    // The version after `sd` or `stable diffusion`: `sd_v1`, `sd3`, `stable-diffusion-xl`.
    let version: Option<(&str, &str)> = if let Some(after) = w
        .after("diffusion")
        .filter(|_| w.pair("stable", "diffusion"))
    {
        Some((after, w.after(after).unwrap_or("")))
    } else if let Some(after) = w.after("sd") {
        Some((after, w.after(after).unwrap_or("")))
    } else {
        w.0.iter()
            .find_map(|x| x.strip_prefix("sd").filter(|v| !v.is_empty()))
            .map(|v| (v, ""))
    };
    let (major, next) = match version {
        Some(v) => v,
        // `v1-5-pruned-emaonly`, `v2-1_768-ema-pruned`: the release checkpoints' names.
        None if w.at(0) == "v1" && matches!(w.at(1), "4" | "5") => ("1", ""),
        None if w.at(0) == "v2" && matches!(w.at(1), "0" | "1") => ("2", ""),
        None => return None,
    };
    let three_five = major == "35" || next == "5" || w.pair("3", "5");
    match major.trim_start_matches('v') {
        "xl" => Some((BaseModel::Sdxl, None)),
        "1" | "14" | "15" | "1x" => Some((BaseModel::Sd1, None)),
        "2" | "20" | "21" => {
            let variant = if w.has("768") {
                Some("768-v")
            } else if w.has("512") {
                Some("512")
            } else {
                None
            };
            Some((BaseModel::Sd2, variant))
        }
        "3" | "35" => {
            let variant = match (three_five, w.has("large"), w.has("medium")) {
                (true, true, _) => Some("sd3.5-large"),
                (true, _, true) => Some("sd3.5-medium"),
                (false, _, true) => Some("sd3-medium"),
                _ => None,
            };
            Some((BaseModel::Sd3, variant))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
