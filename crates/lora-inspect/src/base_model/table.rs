//! The key layouts of the transformer families, one per family and naming convention: a
//! data table, read by `layout`. Each row cites where its names and numbers come from in
//! docs/FAMILIES.md.

use super::family::BaseModel;
use super::parts::*;

/// One naming convention of one family's denoiser.
pub(super) struct Layout {
    pub(super) family: BaseModel,
    /// The variant a file fitting this layout (and no other of its family) is.
    pub(super) variant: Option<&'static str>,
    /// Block containers and how many blocks each holds.
    pub(super) blocks: &'static [(&'static str, u32)],
    /// Hidden sizes (the input width of the attention's query projection).
    pub(super) widths: &'static [u64],
    /// What a block holds: the leading words of a module's name after its index.
    pub(super) parts: &'static [&'static str],
    /// Parts whose input width is not the hidden size (an audio stream, cross-attention
    /// from a narrower text encoder): every module of such a part must have one of these.
    pub(super) part_widths: &'static [(&'static str, &'static [u64])],
    /// Output widths of modules (named whole, after the block index) that tell models of
    /// one hidden width apart: the MLP's first projection, Flux's fused `linear1`.
    pub(super) outs: &'static [(&'static str, u64)],
}

/// The fields most rows leave empty.
const ROW: Layout = Layout {
    family: BaseModel::Unknown,
    variant: None,
    blocks: &[],
    widths: &[],
    parts: &[],
    part_widths: &[],
    outs: &[],
};

pub(super) const LAYOUTS: &[Layout] = &[
    Layout {
        family: BaseModel::Flux,
        blocks: FLUX_BFL,
        widths: &[3072],
        parts: FLUX_BFL_PARTS,
        outs: FLUX_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux,
        blocks: FLUX_DIFFUSERS,
        widths: &[3072],
        parts: MMDIT_PARTS,
        outs: FLUX_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Chroma,
        blocks: FLUX_BFL,
        widths: &[3072],
        parts: CHROMA_BFL_PARTS,
        outs: FLUX_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Chroma,
        blocks: FLUX_DIFFUSERS,
        widths: &[3072],
        parts: CHROMA_PARTS,
        outs: FLUX_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("dev"),
        blocks: &[("double_blocks", 8), ("single_blocks", 48)],
        widths: &[6144],
        parts: FLUX2_BFL_PARTS,
        outs: &FLUX2_DEV_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("dev"),
        blocks: &[("transformer_blocks", 8), ("single_transformer_blocks", 48)],
        widths: &[6144],
        parts: FLUX2_PARTS,
        outs: &FLUX2_DEV_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("klein-9b"),
        blocks: &[("double_blocks", 8), ("single_blocks", 24)],
        widths: &[4096],
        parts: FLUX2_BFL_PARTS,
        outs: &FLUX2_KLEIN9_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("klein-9b"),
        blocks: &[("transformer_blocks", 8), ("single_transformer_blocks", 24)],
        widths: &[4096],
        parts: FLUX2_PARTS,
        outs: &FLUX2_KLEIN9_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("klein-4b"),
        blocks: &[("double_blocks", 5), ("single_blocks", 20)],
        widths: &[3072],
        parts: FLUX2_BFL_PARTS,
        outs: &FLUX2_KLEIN4_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Flux2,
        variant: Some("klein-4b"),
        blocks: &[("transformer_blocks", 5), ("single_transformer_blocks", 20)],
        widths: &[3072],
        parts: FLUX2_PARTS,
        outs: &FLUX2_KLEIN4_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanVideo,
        blocks: &[("double_blocks", 20), ("single_blocks", 40)],
        widths: &[3072],
        parts: HUNYUAN_BFL_PARTS,
        outs: HUNYUAN_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanVideo,
        blocks: &[
            ("transformer_blocks", 20),
            ("single_transformer_blocks", 40),
        ],
        widths: &[3072],
        parts: MMDIT_PARTS,
        outs: HUNYUAN_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Framepack,
        blocks: &[
            ("transformer_blocks", 20),
            ("single_transformer_blocks", 40),
        ],
        widths: &[3072],
        parts: MMDIT_PARTS,
        outs: HUNYUAN_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanVideo15,
        blocks: &[("double_blocks", 54)],
        widths: &[2048],
        parts: HUNYUAN15_PARTS,
        outs: HUNYUAN15_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanVideo15,
        blocks: &[("double_blocks", 54)],
        widths: &[2048],
        parts: FLUX_BFL_PARTS,
        outs: HUNYUAN15_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanVideo15,
        blocks: &[("transformer_blocks", 54)],
        widths: &[2048],
        parts: MMDIT_PARTS,
        outs: HUNYUAN15_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanImage,
        blocks: &[("double_blocks", 20), ("single_blocks", 40)],
        widths: &[3584],
        parts: HUNYUAN_BFL_PARTS,
        outs: HUNYUAN_IMAGE_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanImage,
        blocks: &[("double_blocks", 20), ("single_blocks", 40)],
        widths: &[3584],
        parts: FLUX_BFL_PARTS,
        outs: HUNYUAN_IMAGE_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanImage,
        blocks: &[
            ("transformer_blocks", 20),
            ("single_transformer_blocks", 40),
        ],
        widths: &[3584],
        parts: MMDIT_PARTS,
        outs: HUNYUAN_IMAGE_OUTS,
        ..ROW
    },
    Layout {
        family: BaseModel::OvisImage,
        blocks: &[("double_blocks", 6), ("single_blocks", 27)],
        widths: &[3072],
        parts: OVIS_BFL_PARTS,
        outs: &[("linear1", 33792)],
        ..ROW
    },
    Layout {
        family: BaseModel::OvisImage,
        blocks: &[("transformer_blocks", 6), ("single_transformer_blocks", 27)],
        widths: &[3072],
        parts: MMDIT_PARTS,
        outs: &[
            ("ff_net_0_proj", 24576),
            ("ff_context_net_0_proj", 24576),
            ("proj_mlp", 24576),
        ],
        ..ROW
    },
    Layout {
        family: BaseModel::Sd3,
        blocks: &[("joint_blocks", 38)],
        widths: &[1536, 2432],
        parts: SD3_SAI_PARTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Sd3,
        blocks: &[("transformer_blocks", 38)],
        widths: &[1536, 2432],
        parts: SD3_PARTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Auraflow,
        blocks: &[
            ("joint_transformer_blocks", 4),
            ("single_transformer_blocks", 32),
        ],
        widths: &[3072],
        parts: &["attn", "ff", "ff_context", "norm1", "norm1_context"],
        ..ROW
    },
    Layout {
        family: BaseModel::QwenImage,
        blocks: &[("transformer_blocks", 60)],
        widths: &[3072],
        parts: &["attn", "img_mlp", "txt_mlp", "img_mod", "txt_mod"],
        ..ROW
    },
    Layout {
        family: BaseModel::Mochi,
        blocks: &[("transformer_blocks", 48)],
        widths: &[3072],
        parts: &["attn1", "ff", "ff_context", "norm1", "norm1_context"],
        ..ROW
    },
    // genmo's own fine-tuner: `blocks.N.attn.qkv_x` (video, 3072) and `qkv_y` (text,
    // 1536); `proj_y` writes back to the 1536-wide text stream.
    Layout {
        family: BaseModel::Mochi,
        blocks: &[("blocks", 48)],
        widths: &[3072],
        parts: &["attn"],
        part_widths: &[("attn_qkv_y", &[1536])],
        ..ROW
    },
    Layout {
        family: BaseModel::Cogvideox,
        blocks: &[("transformer_blocks", 42)],
        widths: &[1920, 3072],
        parts: &["attn1", "ff", "norm1", "norm2"],
        ..ROW
    },
    Layout {
        family: BaseModel::Ltxv,
        blocks: &[("transformer_blocks", 48)],
        widths: &[2048, 4096],
        parts: &["attn1", "attn2", "ff"],
        part_widths: &[("attn2_to_k", &[2048, 4096]), ("attn2_to_v", &[2048, 4096])],
        ..ROW
    },
    // LTX-2: LTX-Video 13B's video stream (4096) beside an audio stream (2048).
    Layout {
        family: BaseModel::Ltx2,
        blocks: &[("transformer_blocks", 48)],
        widths: &[4096],
        parts: LTX2_PARTS,
        part_widths: &[
            ("audio_attn1", &[2048]),
            ("audio_attn2", &[2048]),
            ("audio_ff", &[2048]),
            ("video_to_audio_attn_to_q", &[2048]),
            ("audio_to_video_attn_to_k", &[2048]),
            ("audio_to_video_attn_to_v", &[2048]),
            ("attn2_to_k", &[4096]),
            ("attn2_to_v", &[4096]),
        ],
        ..ROW
    },
    Layout {
        family: BaseModel::Pixart,
        blocks: &[("transformer_blocks", 28)],
        widths: &[1152],
        parts: &["attn1", "attn2", "ff_net"],
        ..ROW
    },
    // Sana: PixArt's attention, a GLUMBConv feed-forward (`ff.conv_*`).
    Layout {
        family: BaseModel::Sana,
        variant: Some("600m"),
        blocks: &[("transformer_blocks", 28)],
        widths: &[1152],
        parts: &["attn1", "attn2", "ff_conv"],
        ..ROW
    },
    Layout {
        family: BaseModel::Sana,
        blocks: &[("transformer_blocks", 60)],
        widths: &[2240],
        parts: &["attn1", "attn2", "ff_conv"],
        ..ROW
    },
    Layout {
        family: BaseModel::Lumina2,
        blocks: &[("layers", 26), ("noise_refiner", 2), ("context_refiner", 2)],
        widths: &[2304],
        parts: &[
            "attention",
            "attn",
            "feed_forward",
            "adaln_modulation",
            "norm1",
        ],
        ..ROW
    },
    // Z-Image: Lumina 2's blocks at 3840.
    Layout {
        family: BaseModel::ZImage,
        blocks: &[
            ("layers", 30),
            ("noise_refiner", 2),
            ("context_refiner", 2),
            ("siglip_refiner", 2),
        ],
        widths: &[3840],
        parts: &["attention", "feed_forward", "adaln_modulation"],
        ..ROW
    },
    Layout {
        family: BaseModel::Hidream,
        blocks: &[("double_stream_blocks", 16), ("single_stream_blocks", 32)],
        widths: &[2560],
        parts: &["block"],
        ..ROW
    },
    Layout {
        family: BaseModel::Wan,
        blocks: &[("blocks", 40)],
        widths: &[1536, 3072, 5120],
        parts: &["self_attn", "cross_attn", "ffn", "attn1", "attn2"],
        ..ROW
    },
    Layout {
        family: BaseModel::HunyuanDit,
        blocks: &[("blocks", 40)],
        widths: &[1408],
        parts: &["attn1", "attn2", "ff", "norm1", "norm2", "skip_linear"],
        ..ROW
    },
    // Anima (Cosmos-Predict2 2B's DiT): cross-attention from a 1024-wide adapter.
    Layout {
        family: BaseModel::Anima,
        blocks: &[("blocks", 28)],
        widths: &[2048],
        parts: &["self_attn", "cross_attn", "mlp", "adaln_modulation"],
        part_widths: &[
            ("cross_attn_k_proj", &[1024]),
            ("cross_attn_v_proj", &[1024]),
        ],
        ..ROW
    },
    Layout {
        family: BaseModel::Anima,
        blocks: &[("transformer_blocks", 28)],
        widths: &[2048],
        parts: &["attn1", "attn2", "ff", "norm1", "norm2", "norm3"],
        part_widths: &[("attn2_to_k", &[1024]), ("attn2_to_v", &[1024])],
        ..ROW
    },
    Layout {
        family: BaseModel::Kandinsky5,
        variant: Some("lite-video"),
        blocks: &[
            ("visual_transformer_blocks", 32),
            ("text_transformer_blocks", 2),
        ],
        widths: &[1792],
        parts: KANDINSKY_PARTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Kandinsky5,
        variant: Some("lite-image"),
        blocks: &[
            ("visual_transformer_blocks", 50),
            ("text_transformer_blocks", 2),
        ],
        widths: &[2560],
        parts: KANDINSKY_PARTS,
        ..ROW
    },
    Layout {
        family: BaseModel::Kandinsky5,
        variant: Some("pro-video"),
        blocks: &[
            ("visual_transformer_blocks", 60),
            ("text_transformer_blocks", 4),
        ],
        widths: &[4096],
        parts: KANDINSKY_PARTS,
        ..ROW
    },
];
