//! Names and network modules, tested word by word.

use super::*;

#[test]
fn kohya_and_musubi_versions() {
    assert_eq!(
        kohya_version("5-large"),
        Some((BaseModel::Sd3, Some("sd3.5-large")))
    );
    assert_eq!(
        kohya_version("sd_v2_v"),
        Some((BaseModel::Sd2, Some("768-v")))
    );
    assert_eq!(
        kohya_version("flux_kontext"),
        Some((BaseModel::Flux, Some("kontext")))
    );
    assert_eq!(
        kohya_version("flux_2_klein_9b"),
        Some((BaseModel::Flux2, Some("klein-9b")))
    );
    assert_eq!(
        kohya_version("hunyuan_video"),
        Some((BaseModel::HunyuanVideo, None))
    );
    assert_eq!(
        kohya_version("hunyuan_video_1_5"),
        Some((BaseModel::HunyuanVideo15, None))
    );
    assert_eq!(
        kohya_version("qwen_image_edit"),
        Some((BaseModel::QwenImage, Some("edit")))
    );
    assert_eq!(kohya_version("wan"), Some((BaseModel::Wan, None)));
    assert_eq!(kohya_version("anima"), Some((BaseModel::Anima, None)));
}

#[test]
fn names_split_into_lowercase_words() {
    assert_eq!(
        words("ponyDiffusionV6XL_v6"),
        ["pony", "diffusion", "v6xl", "v6"]
    );
    assert_eq!(words("FLUX.1-Kontext-dev"), ["flux", "1", "kontext", "dev"]);
    assert_eq!(words("Wan2.1-T2V-1.3B"), ["wan2", "1", "t2v", "1", "3b"]);
}

#[test]
fn families_and_variants_from_names() {
    let cases: &[(&str, Option<Named>)] = &[
        ("stable-diffusion-v1/lora", Some((BaseModel::Sd1, None))),
        (
            "stable-diffusion-v2-768-v/lora",
            Some((BaseModel::Sd2, Some("768-v"))),
        ),
        (
            "stable-diffusion-v2-512",
            Some((BaseModel::Sd2, Some("512"))),
        ),
        (
            "stable-diffusion-xl-v1-base/lora",
            Some((BaseModel::Sdxl, None)),
        ),
        (
            "stable-diffusion-3-medium",
            Some((BaseModel::Sd3, Some("sd3-medium"))),
        ),
        (
            "stable-diffusion-3.5-large/lora",
            Some((BaseModel::Sd3, Some("sd3.5-large"))),
        ),
        ("sd_v1", Some((BaseModel::Sd1, None))),
        ("sd_v2_768_v", Some((BaseModel::Sd2, Some("768-v")))),
        ("sdxl_base_v1-0", Some((BaseModel::Sdxl, None))),
        ("sd3", Some((BaseModel::Sd3, None))),
        ("flux1", Some((BaseModel::Flux, None))),
        ("flux-1-dev/lora", Some((BaseModel::Flux, Some("dev")))),
        (
            "black-forest-labs/FLUX.1-schnell",
            Some((BaseModel::Flux, Some("schnell"))),
        ),
        (
            "flux1-kontext-dev.safetensors",
            Some((BaseModel::Flux, Some("kontext"))),
        ),
        (
            "black-forest-labs/FLUX.2-dev",
            Some((BaseModel::Flux2, Some("dev"))),
        ),
        (
            "ponyDiffusionV6XL_v6StartWithThisOne.safetensors",
            Some((BaseModel::Sdxl, Some("pony"))),
        ),
        (
            "illustriousXL_v01.safetensors",
            Some((BaseModel::Sdxl, Some("illustrious"))),
        ),
        (
            "NoobAI-XL-Vpred-v1.0",
            Some((BaseModel::Sdxl, Some("noobai"))),
        ),
        (
            "v1-5-pruned-emaonly.safetensors",
            Some((BaseModel::Sd1, None)),
        ),
        (
            "stable-cascade-v1-prior/lora",
            Some((BaseModel::StableCascade, None)),
        ),
        ("hunyuan-video/lora", Some((BaseModel::HunyuanVideo, None))),
        (
            "tencent/HunyuanVideo",
            Some((BaseModel::HunyuanVideo, None)),
        ),
        (
            "lllyasviel/FramePackI2V_HY",
            Some((BaseModel::Framepack, None)),
        ),
        (
            "Wan-AI/Wan2.1-T2V-1.3B",
            Some((BaseModel::Wan, Some("2.1-t2v-1.3b"))),
        ),
        (
            "wan2.1_i2v_480p_14B_bf16",
            Some((BaseModel::Wan, Some("2.1-14b"))),
        ),
        ("Wan2.2-T2V-A14B", Some((BaseModel::Wan, Some("2.2")))),
        ("wan2.1/lora", Some((BaseModel::Wan, Some("2.1")))),
        (
            "hunyuan-video-1.5/lora",
            Some((BaseModel::HunyuanVideo15, None)),
        ),
        (
            "hunyuan-image-2.1/lora",
            Some((BaseModel::HunyuanImage, None)),
        ),
        ("Flux.1-dev/lora", Some((BaseModel::Flux, Some("dev")))),
        (
            "Flux.2-klein-4b/lora",
            Some((BaseModel::Flux2, Some("klein-4b"))),
        ),
        (
            "Qwen-Image-Edit/lora",
            Some((BaseModel::QwenImage, Some("edit"))),
        ),
        ("framepack/lora", Some((BaseModel::Framepack, None))),
        ("chroma/lora", Some((BaseModel::Chroma, None))),
        ("lumina-2/lora", Some((BaseModel::Lumina2, None))),
        ("Z-Image/lora", Some((BaseModel::ZImage, None))),
        (
            "z_image-turbo/lora",
            Some((BaseModel::ZImage, Some("turbo"))),
        ),
        (
            "z_image-ostris-de-turbo/lora",
            Some((BaseModel::ZImage, None)),
        ),
        (
            "stable-diffusion-3-5-medium/lora",
            Some((BaseModel::Sd3, Some("sd3.5-medium"))),
        ),
        ("Lightricks/LTX-Video", Some((BaseModel::Ltxv, None))),
        ("Lightricks/LTX-2", Some((BaseModel::Ltx2, None))),
        ("ltx2", Some((BaseModel::Ltx2, None))),
        (
            "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
            Some((BaseModel::Pixart, None)),
        ),
        ("Qwen/Qwen-Image", Some((BaseModel::QwenImage, None))),
        (
            "Alpha-VLLM/Lumina-Image-2.0",
            Some((BaseModel::Lumina2, None)),
        ),
        ("lodestones/Chroma", Some((BaseModel::Chroma, None))),
        (
            "Kwai-Kolors/Kolors-diffusers",
            Some((BaseModel::Kolors, None)),
        ),
        (
            "Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers",
            Some((BaseModel::HunyuanDit, None)),
        ),
        ("my_favourite_mix_v2.safetensors", None),
        ("anima-preview/lora", Some((BaseModel::Anima, None))),
        ("animagineXL_v3", None),
        ("Chroma1/lora", Some((BaseModel::Chroma, None))),
        ("wuerstchen-v2-prior/lora", None),
        (
            "wan-t2v-480p-14b-2.1/lora",
            Some((BaseModel::Wan, Some("2.1-14b"))),
        ),
        ("sd1x/lora", Some((BaseModel::Sd1, None))),
        ("ltxvideo2/lora", Some((BaseModel::Ltx2, None))),
        ("sana1.5-4.8b-1024", Some((BaseModel::Sana, Some("4800m")))),
        ("Sana_1600M_1024px", Some((BaseModel::Sana, Some("1600m")))),
        (
            "kandinsky5-image-t2i-lite-sft/lora",
            Some((BaseModel::Kandinsky5, Some("lite-image"))),
        ),
        (
            "kandinsky5-video-t2v-pro-sft-5s-hd/lora",
            Some((BaseModel::Kandinsky5, Some("pro-video"))),
        ),
        ("Kandinsky-5/lora", Some((BaseModel::Kandinsky5, None))),
        ("AIDC-AI/Ovis-Image-7B", Some((BaseModel::OvisImage, None))),
        (
            "Qwen-Image-Edit-Plus/lora",
            Some((BaseModel::QwenImage, Some("edit-2509"))),
        ),
        (
            "Qwen-Image-Edit-2511/lora",
            Some((BaseModel::QwenImage, Some("edit-2511"))),
        ),
        (
            "qwen_image-edit-v3/lora",
            Some((BaseModel::QwenImage, Some("edit-2511"))),
        ),
        (
            "chroma_radiance",
            Some((BaseModel::Chroma, Some("radiance"))),
        ),
        ("flux2_klein_9b", Some((BaseModel::Flux2, Some("klein-9b")))),
        ("flux.1_kontext", Some((BaseModel::Flux, Some("kontext")))),
        ("sd_1.5", Some((BaseModel::Sd1, None))),
        ("wan_2.2_5b", Some((BaseModel::Wan, Some("2.2-ti2v-5b")))),
        ("juggernautXL_v9", None),
    ];
    for (name, expected) in cases {
        assert_eq!(family(name), *expected, "{name}");
    }
}
