//! The network types an adapter's modules are built as, and the one type a file is
//! reported as when its modules mix them.

use std::collections::BTreeMap;

use serde::Serialize;

/// How the weight update is built. A file whose modules are of several of these (other
/// than full deltas beside another type) is `mixed`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NetworkType {
    /// Low-rank `up · down` on linear layers.
    Lora,
    /// LoRA that also factors convolutions (3×3 down, or a Tucker `lora_mid`).
    Locon,
    /// LyCORIS Hadamard product of two low-rank products.
    Loha,
    /// LyCORIS Kronecker product.
    Lokr,
    /// Orthogonal fine-tuning (block-diagonal rotations).
    Oft,
    /// Butterfly OFT.
    Boft,
    /// Generalised LoRA.
    Glora,
    /// (IA)³: learned rescaling vectors.
    Ia3,
    /// Whole-weight (`diff`) and norm/bias deltas only.
    Full,
    /// Modules of more than one of the above.
    Mixed,
    Unknown,
}

impl NetworkType {
    /// Every type.
    pub const ALL: [NetworkType; 11] = [
        NetworkType::Lora,
        NetworkType::Locon,
        NetworkType::Loha,
        NetworkType::Lokr,
        NetworkType::Oft,
        NetworkType::Boft,
        NetworkType::Glora,
        NetworkType::Ia3,
        NetworkType::Full,
        NetworkType::Mixed,
        NetworkType::Unknown,
    ];

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Lora => "lora",
            NetworkType::Locon => "locon",
            NetworkType::Loha => "loha",
            NetworkType::Lokr => "lokr",
            NetworkType::Oft => "oft",
            NetworkType::Boft => "boft",
            NetworkType::Glora => "glora",
            NetworkType::Ia3 => "ia3",
            NetworkType::Full => "full",
            NetworkType::Mixed => "mixed",
            NetworkType::Unknown => "unknown",
        }
    }
}

/// One type for the file: LoRA with some LoCon modules is LoCon; full deltas beside
/// another type are a variant of it; anything else mixed is `mixed`.
pub(super) fn overall_type(counts: &BTreeMap<NetworkType, usize>) -> NetworkType {
    let mut main: Vec<NetworkType> = counts
        .keys()
        .copied()
        .filter(|t| *t != NetworkType::Full)
        .collect();
    if main == [NetworkType::Lora, NetworkType::Locon] {
        main = vec![NetworkType::Locon];
    }
    match main.as_slice() {
        [] if counts.contains_key(&NetworkType::Full) => NetworkType::Full,
        [] => NetworkType::Unknown,
        [one] => *one,
        _ => NetworkType::Mixed,
    }
}
