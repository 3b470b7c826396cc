//! One module of an adapter (the tensors that change one layer of the base model): what
//! its tensor names and shapes tell, and from that its network type, rank and scale.

use super::network::NetworkType;
use crate::names::Part;

/// One module's tensors, as far as the header tells.
#[derive(Debug, Clone, Default)]
pub(crate) struct Module {
    pub down: Option<Vec<u64>>,
    pub up: Option<Vec<u64>>,
    pub mid: bool,
    /// Rows of `hada_w1_b`, when the module is LoHa.
    pub loha_rank: Option<u64>,
    pub loha: bool,
    pub lokr: bool,
    /// Rows of `lokr_w1_b` / `lokr_w2_b` (absent: that factor is whole).
    pub lokr_w1_rank: Option<u64>,
    pub lokr_w2_rank: Option<u64>,
    /// OFT / BOFT block size.
    pub oft_block: Option<u64>,
    pub oft: bool,
    pub boft: bool,
    pub glora_rank: Option<u64>,
    pub glora: bool,
    pub ia3: bool,
    pub diff: bool,
    pub norm: bool,
    pub dora: bool,
    pub alpha: Option<f64>,
}

impl Module {
    /// Notes what the tensor `name`, this module's `part`, tells from its `shape`. An
    /// `alpha` tensor tells nothing here: its value is read in the weight pass, and that
    /// the file has one is the whole structure's to note.
    pub(super) fn record(&mut self, name: &str, part: Part, shape: &[u64]) {
        let rows = shape.first().copied();
        let tail = name.rsplit('.').next().unwrap_or_default();
        match part {
            Part::Down => self.down = Some(shape.to_vec()),
            Part::Up => self.up = Some(shape.to_vec()),
            Part::Mid => self.mid = true,
            Part::Alpha => {}
            Part::Loha => {
                self.loha = true;
                if tail == "hada_w1_b" {
                    self.loha_rank = rows;
                }
            }
            Part::Lokr => {
                self.lokr = true;
                match tail {
                    "lokr_w1_b" => self.lokr_w1_rank = rows,
                    "lokr_w2_b" => self.lokr_w2_rank = rows,
                    _ => {}
                }
            }
            Part::Dora => self.dora = true,
            Part::Diff => self.diff = true,
            Part::Norm => self.norm = true,
            // LyCORIS keeps BOFT in `oft_blocks` too, one dimension more.
            Part::Oft if tail == "oft_blocks" && shape.len() == 4 => {
                self.boft = true;
                self.oft_block = shape.get(2).copied();
            }
            Part::Oft => {
                self.oft = true;
                if tail == "oft_blocks" || tail == "oft_diag" {
                    self.oft_block = shape.get(1).copied();
                }
            }
            Part::Boft => {
                self.boft = true;
                if tail == "boft_R" {
                    self.oft_block = shape.last().copied();
                }
            }
            Part::Glora => {
                self.glora = true;
                if name.ends_with(".a2.weight") {
                    self.glora_rank = rows;
                }
            }
            Part::Ia3 => self.ia3 = true,
        }
    }

    /// The module's type, in LyCORIS' order of detection (`modules/__init__.py`).
    pub(crate) fn network_type(&self) -> Option<NetworkType> {
        Some(if self.down.is_some() || self.up.is_some() {
            if self.is_conv() {
                NetworkType::Locon
            } else {
                NetworkType::Lora
            }
        } else if self.loha {
            NetworkType::Loha
        } else if self.ia3 {
            NetworkType::Ia3
        } else if self.lokr {
            NetworkType::Lokr
        } else if self.diff || self.norm {
            NetworkType::Full
        } else if self.oft {
            NetworkType::Oft
        } else if self.boft {
            NetworkType::Boft
        } else if self.glora {
            NetworkType::Glora
        } else {
            return None;
        })
    }

    /// The rank: rows of the down factor (LoRA), of `hada_w1_b` (LoHa), of `lokr_w2_b`
    /// else `lokr_w1_b` (LoKr, as A1111 and ComfyUI read it), of GLoRA's `a2`.
    pub(crate) fn rank(&self) -> Option<u64> {
        self.down
            .as_ref()
            .and_then(|s| s.first().copied())
            .or_else(|| self.up.as_ref().and_then(|s| s.get(1).copied()))
            .or(self.loha_rank)
            .or(self.lokr_w2_rank)
            .or(self.lokr_w1_rank)
            .or(self.glora_rank)
    }

    /// A LoKr module whose factors are both whole: no rank, and a scale of 1 whatever
    /// its alpha (LyCORIS saves alpha = the network dim then).
    pub(crate) fn is_full_rank(&self) -> bool {
        self.lokr && self.lokr_w1_rank.is_none() && self.lokr_w2_rank.is_none()
    }

    /// alpha / rank, where the type has one (LoRA, LoCon, LoHa, LoKr, GLoRA); a missing
    /// alpha means 1 (alpha = rank), as every loader reads it.
    pub(crate) fn scale(&self) -> Option<f64> {
        match self.network_type()? {
            NetworkType::Lokr if self.is_full_rank() => Some(1.0),
            NetworkType::Lora
            | NetworkType::Locon
            | NetworkType::Loha
            | NetworkType::Lokr
            | NetworkType::Glora => {
                let rank = self.rank()? as f64;
                Some(self.alpha.unwrap_or(rank) / rank)
            }
            _ => None,
        }
    }

    /// Whether alpha sets this module's scale (LoRA, LoCon, LoHa, LoKr, GLoRA).
    pub(super) fn takes_alpha(&self) -> bool {
        matches!(
            self.network_type(),
            Some(
                NetworkType::Lora
                    | NetworkType::Locon
                    | NetworkType::Loha
                    | NetworkType::Lokr
                    | NetworkType::Glora
            )
        )
    }

    fn is_conv(&self) -> bool {
        self.down
            .as_ref()
            .is_some_and(|s| s.len() == 4 && (s[2] > 1 || s[3] > 1))
            || self.mid
    }
}
