//! The parts, output widths and block counts the rows of `table` share: what a block
//! holds and the widths that tell models of one hidden width apart, per family and
//! naming convention (sources in docs/FAMILIES.md).

pub(super) const FLUX_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_0",
    "img_mlp_2",
    "img_mod_lin",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_0",
    "txt_mlp_2",
    "txt_mod_lin",
    "linear1",
    "linear2",
    "modulation_lin",
];
/// Chroma is Flux without the modulation layers (a distilled guidance layer instead).
pub(super) const CHROMA_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_0",
    "img_mlp_2",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_0",
    "txt_mlp_2",
    "linear1",
    "linear2",
];
/// Flux.2 has no per-block modulation (one shared modulation per stream).
pub(super) const FLUX2_BFL_PARTS: &[&str] = CHROMA_BFL_PARTS;
pub(super) const HUNYUAN_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_fc1",
    "img_mlp_fc2",
    "img_mod_linear",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_fc1",
    "txt_mlp_fc2",
    "txt_mod_linear",
    "linear1",
    "linear2",
    "modulation_linear",
];
/// HunyuanVideo 1.5's own names (musubi-tuner): separate q, k, v; no single blocks.
pub(super) const HUNYUAN15_PARTS: &[&str] = &[
    "img_attn_q",
    "img_attn_k",
    "img_attn_v",
    "img_attn_proj",
    "img_mlp_fc1",
    "img_mlp_fc2",
    "img_mod_linear",
    "txt_attn_q",
    "txt_attn_k",
    "txt_attn_v",
    "txt_attn_proj",
    "txt_mlp_fc1",
    "txt_mlp_fc2",
    "txt_mod_linear",
];
/// Ovis-Image in ComfyUI's names: Flux's blocks with a gated MLP.
pub(super) const OVIS_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_gate_proj",
    "img_mlp_up_proj",
    "img_mlp_down_proj",
    "img_mod_lin",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_gate_proj",
    "txt_mlp_up_proj",
    "txt_mlp_down_proj",
    "txt_mod_lin",
    "linear1",
    "linear2",
    "modulation_lin",
];
/// diffusers' MMDiT double blocks plus single blocks (Flux, HunyuanVideo, FramePack).
pub(super) const MMDIT_PARTS: &[&str] = &[
    "attn",
    "ff",
    "ff_context",
    "norm1",
    "norm1_context",
    "norm",
    "proj_mlp",
    "proj_out",
];
pub(super) const CHROMA_PARTS: &[&str] = &["attn", "ff", "ff_context", "proj_mlp", "proj_out"];
/// diffusers' Flux.2: `ff.linear_in`, single blocks' `attn.to_qkv_mlp_proj`.
pub(super) const FLUX2_PARTS: &[&str] = &["attn", "ff", "ff_context"];
pub(super) const SD3_PARTS: &[&str] = &[
    "attn",
    "attn2",
    "ff",
    "ff_context",
    "norm1",
    "norm1_context",
];
pub(super) const SD3_SAI_PARTS: &[&str] = &["x_block", "context_block"];
pub(super) const KANDINSKY_PARTS: &[&str] = &[
    "self_attention",
    "cross_attention",
    "feed_forward",
    "visual_modulation",
    "text_modulation",
];
pub(super) const LTX2_PARTS: &[&str] = &[
    "attn1",
    "attn2",
    "ff",
    "audio_attn1",
    "audio_attn2",
    "audio_to_video_attn",
    "video_to_audio_attn",
    "audio_ff",
];
/// Flux.1's MLP and fused `linear1` (3 × 3072 + 4 × 3072), BFL and diffusers names.
pub(super) const FLUX_OUTS: &[(&str, u64)] = &[
    ("img_mlp_0", 12288),
    ("txt_mlp_0", 12288),
    ("linear1", 21504),
    ("ff_net_0_proj", 12288),
    ("ff_context_net_0_proj", 12288),
    ("proj_mlp", 12288),
];
/// Flux.2's gated MLP (2 × 3 × width) and `linear1` (3 × width + 2 × 3 × width).
pub(super) const fn flux2_outs(width: u64) -> [(&'static str, u64); 6] {
    [
        ("img_mlp_0", 6 * width),
        ("txt_mlp_0", 6 * width),
        ("linear1", 9 * width),
        ("ff_linear_in", 6 * width),
        ("ff_context_linear_in", 6 * width),
        ("attn_to_qkv_mlp_proj", 9 * width),
    ]
}
pub(super) const FLUX2_DEV_OUTS: [(&str, u64); 6] = flux2_outs(6144);
pub(super) const FLUX2_KLEIN9_OUTS: [(&str, u64); 6] = flux2_outs(4096);
pub(super) const FLUX2_KLEIN4_OUTS: [(&str, u64); 6] = flux2_outs(3072);
/// HunyuanVideo's MLP is Flux's (ratio 4), under its own BFL spelling too.
pub(super) const HUNYUAN_OUTS: &[(&str, u64)] = &[
    ("img_mlp_fc1", 12288),
    ("txt_mlp_fc1", 12288),
    ("linear1", 21504),
    ("ff_net_0_proj", 12288),
    ("ff_context_net_0_proj", 12288),
    ("proj_mlp", 12288),
];
/// HunyuanVideo 1.5's MLP (2048 → 8192), in each of its three spellings.
pub(super) const HUNYUAN15_OUTS: &[(&str, u64)] = &[
    ("img_mlp_fc1", 8192),
    ("txt_mlp_fc1", 8192),
    ("img_mlp_0", 8192),
    ("txt_mlp_0", 8192),
    ("ff_net_0_proj", 8192),
    ("ff_context_net_0_proj", 8192),
];
/// HunyuanImage 2.1's MLP (3584 → 14336) and fused `linear1` (3 × 3584 + 14336).
pub(super) const HUNYUAN_IMAGE_OUTS: &[(&str, u64)] = &[
    ("img_mlp_fc1", 14336),
    ("txt_mlp_fc1", 14336),
    ("img_mlp_0", 14336),
    ("txt_mlp_0", 14336),
    ("linear1", 25088),
    ("ff_net_0_proj", 14336),
    ("ff_context_net_0_proj", 14336),
    ("proj_mlp", 14336),
];
pub(super) const FLUX_BFL: &[(&str, u32)] = &[("double_blocks", 19), ("single_blocks", 38)];
pub(super) const FLUX_DIFFUSERS: &[(&str, u32)] = &[
    ("transformer_blocks", 19),
    ("single_transformer_blocks", 38),
];
