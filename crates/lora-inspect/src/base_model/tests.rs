//! The decision, tested through `identify` and `family_of` on metadata and key layouts.

use super::*;

fn identify_with(metadata: &[(&str, &str)], names: &[(&str, &[u64])]) -> Identification {
    let metadata = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    identify(&metadata, names)
}

fn family_of(metadata: &[(&str, &str)], names: &[(&str, &[u64])]) -> BaseModel {
    identify_with(metadata, names).family
}

const FLUX_DOUBLE: (&str, &[u64]) = (
    "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
    &[4, 3072],
);
const FLUX_LAST_DOUBLE: (&str, &[u64]) = (
    "lora_unet_double_blocks_18_img_mlp_0.lora_down.weight",
    &[4, 3072],
);
const FLUX_LAST_SINGLE: (&str, &[u64]) = (
    "lora_unet_single_blocks_37_linear1.lora_down.weight",
    &[4, 3072],
);

#[test]
fn architecture_strings_are_read_as_tokens() {
    let arch = |a: &str| family_of(&[("modelspec.architecture", a)], &[]);
    assert_eq!(arch("stable-diffusion-v1/lora"), BaseModel::Sd1);
    assert_eq!(arch("stable-diffusion-v2-768-v/lora"), BaseModel::Sd2);
    assert_eq!(arch("stable-diffusion-xl-v1-base/lora"), BaseModel::Sdxl);
    assert_eq!(arch("stable-diffusion-v3-medium/lora"), BaseModel::Sd3);
    assert_eq!(arch("flux-1-dev/lora"), BaseModel::Flux);
    assert_eq!(
        arch("stable-cascade-v1-prior/lora"),
        BaseModel::StableCascade
    );
    assert_eq!(arch("hunyuan-video/lora"), BaseModel::HunyuanVideo);
    // Metadata and keys that disagree: never the family whose layout it shares.
    let sana = identify_with(
        &[("modelspec.architecture", "sana-1600m/lora")],
        &[FLUX_DOUBLE],
    );
    assert_eq!(sana.family, BaseModel::Unknown);
    assert!(sana.candidates.contains(&BaseModel::Sana));
    // An architecture this inspector does not know.
    let odd = identify_with(
        &[("modelspec.architecture", "wuerstchen-v2-prior/lora")],
        &[FLUX_DOUBLE],
    );
    assert_eq!((odd.family, odd.candidates.len()), (BaseModel::Unknown, 0));
    let kohya = |v: &str| family_of(&[("ss_base_model_version", v)], &[]);
    assert_eq!(kohya("sd_v1"), BaseModel::Sd1);
    assert_eq!(kohya("sd_v2_768_v"), BaseModel::Sd2);
    assert_eq!(kohya("sdxl_base_v1-0"), BaseModel::Sdxl);
    assert_eq!(kohya("sd3"), BaseModel::Sd3);
    assert_eq!(kohya("flux1"), BaseModel::Flux);
    assert_eq!(kohya("something-else"), BaseModel::Unknown);
}

#[test]
fn block_counts_tell_flux_from_hunyuan_video() {
    let flux = identify_with(&[], &[FLUX_DOUBLE, FLUX_LAST_DOUBLE, FLUX_LAST_SINGLE]);
    assert_eq!((flux.family, flux.source), (BaseModel::Flux, "keys"));
    // Block 19 does not exist in Flux; `img_mlp_fc1` is HunyuanVideo's spelling.
    let hunyuan = identify_with(
        &[],
        &[
            FLUX_DOUBLE,
            (
                "lora_unet_double_blocks_19_img_mlp_fc1.lora_down.weight",
                &[4, 3072],
            ),
            (
                "lora_unet_single_blocks_39_linear1.lora_down.weight",
                &[4, 3072],
            ),
        ],
    );
    assert_eq!(hunyuan.family, BaseModel::HunyuanVideo);
    // One attention module on block 0 fits both: no confident answer.
    let either = identify_with(&[], &[FLUX_DOUBLE]);
    assert_eq!(either.family, BaseModel::Unknown);
    assert_eq!(
        either.candidates,
        [
            BaseModel::Flux,
            BaseModel::Flux2,
            BaseModel::Chroma,
            BaseModel::HunyuanVideo,
            BaseModel::OvisImage
        ]
    );
}

#[test]
fn the_issues_confident_wrong_answers_are_gone() {
    // LTX-Video-Trainer: cross-attention width 2048 is no SDXL.
    let ltx = identify_with(
        &[("format", "pt")],
        &[
            (
                "transformer.transformer_blocks.0.attn2.to_k.lora_A.weight",
                &[32, 2048],
            ),
            (
                "transformer.transformer_blocks.27.attn1.to_q.lora_A.weight",
                &[32, 2048],
            ),
        ],
    );
    assert_eq!((ltx.family, ltx.source), (BaseModel::Ltxv, "keys"));
    // musubi-tuner FramePack, no metadata: diffusers HunyuanVideo names past Flux's.
    let framepack = identify_with(
        &[],
        &[
            (
                "lora_unet_transformer_blocks_0_attn_to_q.lora_down.weight",
                &[4, 3072],
            ),
            (
                "lora_unet_transformer_blocks_19_attn_add_q_proj.lora_down.weight",
                &[4, 3072],
            ),
            (
                "lora_unet_single_transformer_blocks_39_proj_mlp.lora_down.weight",
                &[4, 3072],
            ),
        ],
    );
    assert_eq!(framepack.family, BaseModel::Framepack);
    // The same blocks under diffusers' own prefix fit HunyuanVideo and FramePack alike.
    let either = identify_with(
        &[],
        &[
            (
                "transformer.transformer_blocks.19.attn.to_q.lora_A.weight",
                &[4, 3072],
            ),
            (
                "transformer.single_transformer_blocks.39.attn.to_q.lora_A.weight",
                &[4, 3072],
            ),
        ],
    );
    assert_eq!(
        either.candidates,
        [BaseModel::HunyuanVideo, BaseModel::Framepack]
    );
    // diffusers' SD3 DreamBooth LoRA: attention only, width 1536, 24 blocks.
    let sd3 = identify_with(
        &[],
        &[
            (
                "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                &[4, 1536],
            ),
            (
                "transformer.transformer_blocks.23.attn.add_k_proj.lora_A.weight",
                &[4, 1536],
            ),
        ],
    );
    assert_eq!(sd3.family, BaseModel::Sd3);
    // Wan (DiffSynth-Studio, PEFT's `.default`), 1.3B by its width.
    let wan = identify_with(
        &[],
        &[("blocks.29.self_attn.q.lora_A.default.weight", &[4, 1536])],
    );
    assert_eq!(
        (wan.family, wan.variant),
        (BaseModel::Wan, Some("2.1-t2v-1.3b"))
    );
    // Qwen-Image (musubi), 60 blocks with img_mod.
    let qwen = identify_with(
        &[],
        &[
            (
                "lora_unet_transformer_blocks_59_img_mod_1.lora_down.weight",
                &[4, 3072],
            ),
            (
                "lora_unet_transformer_blocks_0_attn_to_q.lora_down.weight",
                &[4, 3072],
            ),
        ],
    );
    assert_eq!(qwen.family, BaseModel::QwenImage);
}

/// diffusers' Flux names: `attn.to_q` on the given double and single blocks.
fn diffusers_flux(double: std::ops::Range<u32>, single: std::ops::Range<u32>) -> Vec<String> {
    double
        .map(|n| format!("transformer.transformer_blocks.{n}.attn.to_q.lora_A.weight"))
        .chain(
            single.map(|n| {
                format!("transformer.single_transformer_blocks.{n}.attn.to_q.lora_A.weight")
            }),
        )
        .collect()
}

fn of_names(names: &[String], width: u64) -> Identification {
    let shape = [4, width];
    let pairs: Vec<(&str, &[u64])> = names.iter().map(|n| (n.as_str(), &shape[..])).collect();
    identify_with(&[], &pairs)
}

#[test]
fn every_block_covered_decides_but_partial_coverage_never_does() {
    // Exactly Flux's 19 + 38 blocks (HunyuanVideo and FramePack have 20 + 40).
    let every = of_names(&diffusers_flux(0..19, 0..38), 3072);
    assert_eq!((every.family, every.source), (BaseModel::Flux, "keys"));
    assert!(
        every
            .evidence
            .iter()
            .any(|e| e.signal.starts_with("keys: every block of")),
        "{:?}",
        every.evidence
    );
    // The double blocks alone, all of them: still exactly Flux's count.
    assert_eq!(
        of_names(&diffusers_flux(0..19, 0..0), 3072).family,
        BaseModel::Flux
    );
    // A partial LoRA (blocks skipped, or too few to say "every block") stays open.
    for partial in [
        diffusers_flux(0..10, 0..20),
        diffusers_flux(1..19, 0..38),
        diffusers_flux(0..5, 0..0),
    ] {
        let id = of_names(&partial, 3072);
        assert_eq!(id.family, BaseModel::Unknown, "{partial:?}");
        assert!(id.candidates.contains(&BaseModel::HunyuanVideo));
    }
    // Every HunyuanVideo block: past Flux's counts, HunyuanVideo and FramePack both fit.
    let hv = of_names(&diffusers_flux(0..20, 0..40), 3072);
    assert_eq!(
        hv.candidates,
        [BaseModel::HunyuanVideo, BaseModel::Framepack]
    );
    // Flux.2 klein 4B's 5 + 20 blocks at Flux.1's width.
    let klein = identify_with(
        &[],
        &(0..5)
            .map(|n| format!("diffusion_model.double_blocks.{n}.img_attn.qkv.lora_A.weight"))
            .chain(
                (0..20).map(|n| format!("diffusion_model.single_blocks.{n}.linear2.lora_A.weight")),
            )
            .collect::<Vec<_>>()
            .iter()
            .map(|n| (n.as_str(), &[4u64, 3072][..]))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        (klein.family, klein.variant),
        (BaseModel::Flux2, Some("klein-4b"))
    );
}

#[test]
fn output_widths_tell_models_of_one_width_apart() {
    let up = |name: &str, out: u64| (name.to_owned(), vec![out, 4]);
    let klein_mlp = [
        (
            "diffusion_model.double_blocks.0.img_mlp.0.lora_A.weight".to_owned(),
            vec![4, 3072],
        ),
        up(
            "diffusion_model.double_blocks.0.img_mlp.0.lora_B.weight",
            18432,
        ),
    ];
    let pairs: Vec<(&str, &[u64])> = klein_mlp
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let id = identify_with(&[], &pairs);
    assert_eq!(
        (id.family, id.variant),
        (BaseModel::Flux2, Some("klein-4b"))
    );
    // The same module with Flux.1's MLP width is no klein.
    let flux_mlp = [
        (
            "diffusion_model.double_blocks.0.img_mlp.0.lora_A.weight".to_owned(),
            vec![4, 3072],
        ),
        up(
            "diffusion_model.double_blocks.0.img_mlp.0.lora_B.weight",
            12288,
        ),
    ];
    let pairs: Vec<(&str, &[u64])> = flux_mlp
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    assert!(
        !identify_with(&[], &pairs)
            .candidates
            .contains(&BaseModel::Flux2)
    );
}

#[test]
fn releases_only_metadata_tells_apart_say_so() {
    let qwen = identify_with(
        &[],
        &[
            (
                "transformer.transformer_blocks.59.img_mod.1.lora_A.weight",
                &[4, 3072],
            ),
            (
                "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                &[4, 3072],
            ),
        ],
    );
    assert_eq!((qwen.family, qwen.variant), (BaseModel::QwenImage, None));
    assert!(
        qwen.evidence
            .iter()
            .any(|e| e.signal.contains("only metadata tells them apart"))
    );
    let named = identify_with(
        &[
            ("ss_base_model_version", "qwen_image_edit"),
            ("modelspec.architecture", "Qwen-Image-Edit-Plus/lora"),
        ],
        &[(
            "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
            &[4, 3072],
        )],
    );
    assert_eq!(named.variant, Some("edit-2509"), "the finer of the two");
    assert!(
        !named
            .evidence
            .iter()
            .any(|e| e.signal.contains("only metadata"))
    );
}

#[test]
fn metadata_and_keys_that_disagree_are_not_trusted() {
    let both = identify_with(
        &[("ss_base_model_version", "sdxl_base_v1-0")],
        &[FLUX_DOUBLE, FLUX_LAST_DOUBLE, FLUX_LAST_SINGLE],
    );
    assert_eq!(both.family, BaseModel::Unknown);
    assert_eq!(
        both.candidates,
        [BaseModel::Sdxl, BaseModel::Flux, BaseModel::Chroma]
    );
    // Keys that are merely silent (no block names) leave the metadata's answer.
    let silent = identify_with(
        &[("modelspec.architecture", "stable-diffusion-v3-medium/lora")],
        &[("lora_unet_x.lora_down.weight", &[4, 64])],
    );
    assert_eq!(
        (silent.family, silent.variant),
        (BaseModel::Sd3, Some("sd3-medium"))
    );
}

#[test]
fn sd1_and_sd2_by_widths_but_sdxl_by_structure_too() {
    let k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight";
    assert_eq!(family_of(&[], &[(k, &[8, 768])]), BaseModel::Sd1);
    assert_eq!(family_of(&[], &[(k, &[8, 1024])]), BaseModel::Sd2);
    // SD1's outermost level with SDXL's context width: nothing fits.
    let odd = identify_with(&[], &[(k, &[8, 2048])]);
    assert_eq!(odd.family, BaseModel::Unknown);
    let xl = "lora_unet_input_blocks_7_1_transformer_blocks_3_attn2_to_k.lora_down.weight";
    let sdxl = identify_with(&[], &[(xl, &[8, 2048])]);
    assert_eq!((sdxl.family, sdxl.source), (BaseModel::Sdxl, "keys"));
}

#[test]
fn text_encoders_alone_narrow_but_rarely_decide() {
    let te = "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
    assert_eq!(family_of(&[], &[(te, &[8, 1024])]), BaseModel::Sd2);
    assert_eq!(family_of(&[], &[(te, &[8, 768])]), BaseModel::Sd1);
    let te1 = "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
    assert_eq!(family_of(&[], &[(te1, &[8, 768])]), BaseModel::Unknown);
    assert_eq!(family_of(&[], &[("x.weight", &[3])]), BaseModel::Unknown);
}
