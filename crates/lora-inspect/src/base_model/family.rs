//! The families, as stable identifiers, and sets of them.

use serde::{Deserialize, Serialize};

/// The model family a file was made for (docs/FAMILIES.md). The spellings are a
/// contract: clients and `LORA_ACCEPT_BASE_MODELS` use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BaseModel {
    Sd1,
    Sd2,
    Sdxl,
    Sd3,
    Flux,
    Flux2,
    Chroma,
    HunyuanVideo,
    Framepack,
    Wan,
    Ltxv,
    StableCascade,
    Pixart,
    Auraflow,
    Lumina2,
    Hidream,
    QwenImage,
    Kolors,
    HunyuanDit,
    Cogvideox,
    Mochi,
    ZImage,
    #[serde(rename = "hunyuan_video_1_5")]
    HunyuanVideo15,
    HunyuanImage,
    Sana,
    Ltx2,
    Kandinsky5,
    OvisImage,
    Anima,
    Unknown,
}

impl BaseModel {
    /// Every family, then `unknown`.
    pub const ALL: [BaseModel; 30] = [
        BaseModel::Sd1,
        BaseModel::Sd2,
        BaseModel::Sdxl,
        BaseModel::Sd3,
        BaseModel::Flux,
        BaseModel::Flux2,
        BaseModel::Chroma,
        BaseModel::HunyuanVideo,
        BaseModel::Framepack,
        BaseModel::Wan,
        BaseModel::Ltxv,
        BaseModel::StableCascade,
        BaseModel::Pixart,
        BaseModel::Auraflow,
        BaseModel::Lumina2,
        BaseModel::Hidream,
        BaseModel::QwenImage,
        BaseModel::Kolors,
        BaseModel::HunyuanDit,
        BaseModel::Cogvideox,
        BaseModel::Mochi,
        BaseModel::ZImage,
        BaseModel::HunyuanVideo15,
        BaseModel::HunyuanImage,
        BaseModel::Sana,
        BaseModel::Ltx2,
        BaseModel::Kandinsky5,
        BaseModel::OvisImage,
        BaseModel::Anima,
        BaseModel::Unknown,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BaseModel::Sd1 => "sd1",
            BaseModel::Sd2 => "sd2",
            BaseModel::Sdxl => "sdxl",
            BaseModel::Sd3 => "sd3",
            BaseModel::Flux => "flux",
            BaseModel::Flux2 => "flux2",
            BaseModel::Chroma => "chroma",
            BaseModel::HunyuanVideo => "hunyuan_video",
            BaseModel::Framepack => "framepack",
            BaseModel::Wan => "wan",
            BaseModel::Ltxv => "ltxv",
            BaseModel::StableCascade => "stable_cascade",
            BaseModel::Pixart => "pixart",
            BaseModel::Auraflow => "auraflow",
            BaseModel::Lumina2 => "lumina2",
            BaseModel::Hidream => "hidream",
            BaseModel::QwenImage => "qwen_image",
            BaseModel::Kolors => "kolors",
            BaseModel::HunyuanDit => "hunyuan_dit",
            BaseModel::Cogvideox => "cogvideox",
            BaseModel::Mochi => "mochi",
            BaseModel::ZImage => "z_image",
            BaseModel::HunyuanVideo15 => "hunyuan_video_1_5",
            BaseModel::HunyuanImage => "hunyuan_image",
            BaseModel::Sana => "sana",
            BaseModel::Ltx2 => "ltx2",
            BaseModel::Kandinsky5 => "kandinsky5",
            BaseModel::OvisImage => "ovis_image",
            BaseModel::Anima => "anima",
            BaseModel::Unknown => "unknown",
        }
    }

    /// Parses the API spelling (case and surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl std::fmt::Display for BaseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of families: what one piece of evidence is consistent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Families(u32);

impl Families {
    pub(crate) const NONE: Families = Families(0);

    pub(crate) fn of(families: &[BaseModel]) -> Self {
        Families(
            families
                .iter()
                .filter(|f| **f != BaseModel::Unknown)
                .fold(0, |set, f| set | f.bit()),
        )
    }

    pub(crate) fn one(family: BaseModel) -> Self {
        Self::of(&[family])
    }

    pub(crate) fn and(self, other: Families) -> Families {
        Families(self.0 & other.0)
    }

    pub(crate) fn or(self, other: Families) -> Families {
        Families(self.0 | other.0)
    }

    pub(crate) fn contains(self, family: BaseModel) -> bool {
        family != BaseModel::Unknown && self.0 & family.bit() != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The family, when the set holds exactly one.
    pub(crate) fn single(self) -> Option<BaseModel> {
        (self.0.count_ones() == 1)
            .then(|| self.iter().next())
            .flatten()
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = BaseModel> {
        BaseModel::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }

    pub(crate) fn to_vec(self) -> Vec<BaseModel> {
        self.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_sets_hold_what_they_are_given() {
        for family in BaseModel::ALL {
            assert_eq!(BaseModel::parse(family.as_str()), Some(family));
            assert_eq!(
                serde_json::to_value(family).unwrap(),
                family.as_str(),
                "serde and as_str agree"
            );
        }
        assert_eq!(
            BaseModel::parse(" Hunyuan_Video "),
            Some(BaseModel::HunyuanVideo)
        );
        assert_eq!(BaseModel::parse("sd9"), None);
        let set = Families::of(&[BaseModel::Flux, BaseModel::Chroma, BaseModel::Unknown]);
        assert_eq!(set.to_vec(), [BaseModel::Flux, BaseModel::Chroma]);
        assert_eq!(
            set.and(Families::one(BaseModel::Chroma)).single(),
            Some(BaseModel::Chroma)
        );
        assert!(set.and(Families::one(BaseModel::Sd1)).is_empty());
        assert_eq!(set.single(), None);
    }
}
