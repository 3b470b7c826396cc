//! lora-inspect against generated fixtures: every safetensors rule, hostile and benign
//! pickles and torch zips, families and network types, and reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use lora_core::{Extension, Sha256};
use lora_inspect::fixtures::{
    PickleWriter, f16_bytes, kohya_lora, os_system_pickle, state_dict_pickle, torch_zip,
};
use lora_inspect::safetensors::{Header, build};
use lora_inspect::{
    BaseModel, FindingCode, Format, InspectError, NetworkType, Severity, Verdict, evaluate, pickle,
    validate,
};
use proptest::prelude::*;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write(name: &str, bytes: &[u8]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Fixture { _dir: dir, path }
}

fn simple() -> Vec<u8> {
    kohya_lora(
        &[("lora_unet_down_blocks_0_attentions_0_proj_in", 320, 320)],
        4,
        4.0,
        &[],
    )
}

/// A header written by hand, with `data` after it.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn invalid(bytes: &[u8]) -> String {
    let f = write("x.safetensors", bytes);
    match validate(&f.path, Extension::Safetensors) {
        Err(InspectError::Invalid {
            format: "safetensors",
            reason,
        }) => reason,
        other => panic!("expected invalid safetensors, got {other:?}"),
    }
}

#[test]
fn valid_safetensors_pass() {
    let f = write("ok.safetensors", &simple());
    let v = validate(&f.path, Extension::Safetensors).unwrap();
    assert_eq!(v.format, Format::Safetensors);
}

#[test]
fn every_safetensors_rule_is_checked() {
    let ok_data = [0u8; 8];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("short", vec![1, 2, 3]),
        ("huge header length", {
            let mut b = (100_000_001u64).to_le_bytes().to_vec();
            b.extend_from_slice(&[b' '; 16]);
            b
        }),
        ("header past end", {
            let mut b = (64u64).to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            b
        }),
        ("not utf8", {
            let mut b = (4u64).to_le_bytes().to_vec();
            b.extend_from_slice(&[b'{', 0xff, 0xfe, b'}']);
            b
        }),
        ("not json", raw_safetensors("{nope}", &[])),
        ("not object", raw_safetensors("[1, 2]", &[])),
        (
            "duplicate key",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &ok_data,
            ),
        ),
        (
            "metadata not strings",
            raw_safetensors(r#"{"__metadata__":{"k":1}}"#, &[]),
        ),
        (
            "metadata not object",
            raw_safetensors(r#"{"__metadata__":"x"}"#, &[]),
        ),
        (
            "unknown dtype",
            raw_safetensors(
                r#"{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}"#,
                &ok_data[..4],
            ),
        ),
        (
            "missing shape",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#,
                &ok_data[..4],
            ),
        ),
        (
            "negative shape",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                &ok_data[..4],
            ),
        ),
        (
            "wrong byte length",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &ok_data,
            ),
        ),
        (
            "overflowing shape",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                &ok_data,
            ),
        ),
        (
            "offsets reversed",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#,
                &ok_data[..4],
            ),
        ),
        (
            "past data end",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &ok_data[..4],
            ),
        ),
        (
            "overlap",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &ok_data,
            ),
        ),
        (
            "gap",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &ok_data,
            ),
        ),
        (
            "trailing bytes",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &ok_data,
            ),
        ),
        (
            "sub-byte not whole",
            raw_safetensors(
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
                &ok_data[..2],
            ),
        ),
    ];
    for (what, bytes) in cases {
        let reason = invalid(&bytes);
        assert!(!reason.is_empty(), "{what}");
    }
}

#[test]
fn special_dtypes_and_empty_tensors_are_valid() {
    let bytes = raw_safetensors(
        r#"{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F4","shape":[4],"data_offsets":[2,4]},"c":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]},"d":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[4,7]}}"#,
        &[0x38, 0x38, 0, 0, 0, 0, 0],
    );
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    assert_eq!(h.tensors.len(), 4);
}

#[test]
fn a_header_length_starting_like_pk_or_a_pickle_is_still_safetensors() {
    // The length is little-endian: 0x4B50 is written "PK", 0x0280 as a pickle's PROTO 2.
    for (n, prefix) in [(0x4B50u64, &b"PK"[..]), (0x0280, &[0x80, 0x02][..])] {
        // Pad the JSON to exactly `n` bytes so the file begins with `prefix`.
        let mut header = String::from(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
        while (header.len() as u64) < n {
            header.push(' ');
        }
        let bytes = raw_safetensors(&header, &[0; 4]);
        assert_eq!(&bytes[..2], prefix, "header length {n:#x}");
        let f = write("x.safetensors", &bytes);
        assert_eq!(
            validate(&f.path, Extension::Safetensors).unwrap().format,
            Format::Safetensors
        );
    }
}

#[test]
fn content_and_extension_must_agree() {
    let st = write("x.pt", &simple());
    assert!(matches!(
        validate(&st.path, Extension::Pt),
        Err(InspectError::FormatMismatch {
            found: "a safetensors file",
            ..
        })
    ));
    let zip = torch_zip(&state_dict_pickle(&[("w", &[2, 2])]), &[4], &[]);
    let z = write("x.safetensors", &zip);
    assert!(matches!(
        validate(&z.path, Extension::Safetensors),
        Err(InspectError::FormatMismatch {
            found: "a PyTorch zip archive",
            ..
        })
    ));
    let p = write("x.safetensors", &PickleWriter::new().int(1).stop());
    assert!(matches!(
        validate(&p.path, Extension::Safetensors),
        Err(InspectError::FormatMismatch {
            found: "a pickle",
            ..
        })
    ));
}

fn refused(bytes: &[u8], ext: Extension) -> Vec<String> {
    let f = write("x.bin", bytes);
    match validate(&f.path, ext) {
        Err(InspectError::UnsafePickle { globals }) => globals,
        other => panic!("expected an unsafe pickle, got {other:?}"),
    }
}

#[test]
fn malicious_pickles_are_refused_with_their_globals() {
    let os_system = os_system_pickle("echo pwned");
    assert_eq!(refused(&os_system, Extension::Pt), ["os.system"]);

    // STACK_GLOBAL with module and name pushed, memoized, popped, and fetched back.
    let mut w = PickleWriter::new();
    w.bytes = vec![0x80, 4];
    w.raw(b"\x8c\x08builtins\x94\x8c\x04eval\x94")
        .raw(b"0")
        .raw(b"0")
        .raw(b"h\x00h\x01\x93");
    let via_memo = w
        .string("__import__('os').system('id')")
        .raw(b"\x85")
        .reduce()
        .stop();
    assert_eq!(refused(&via_memo, Extension::Ckpt), ["builtins.eval"]);

    let inst = b"\x80\x02(S'id'\niposix\nsystem\n.".to_vec();
    assert_eq!(refused(&inst, Extension::Pth), ["posix.system"]);

    let getattr = PickleWriter::new()
        .global("builtins", "getattr")
        .mark()
        .global("collections", "OrderedDict")
        .string("__reduce__")
        .tuple()
        .reduce()
        .stop();
    assert_eq!(refused(&getattr, Extension::Bin), ["builtins.getattr"]);

    let runpy = PickleWriter::new()
        .global("runpy", "_run_code")
        .raw(b")")
        .reduce()
        .stop();
    assert_eq!(refused(&runpy, Extension::Bin), ["runpy._run_code"]);

    // A computed STACK_GLOBAL name cannot be checked: refused.
    let mut w = PickleWriter::new();
    w.bytes = vec![0x80, 4];
    let computed = w.raw(b"\x8c\x02os").int(7).raw(b"\x93").stop();
    assert_eq!(
        refused(&computed, Extension::Bin),
        ["<STACK_GLOBAL with a computed name>"]
    );

    let ext = PickleWriter::new().raw(b"\x82\x01").stop();
    assert_eq!(refused(&ext, Extension::Bin), ["copyreg extension.1"]);
}

#[test]
fn malicious_pickles_inside_a_zip_are_refused() {
    let evil = PickleWriter::new()
        .global("subprocess", "Popen")
        .mark()
        .string("id")
        .tuple()
        .reduce()
        .stop();
    let zip = torch_zip(&evil, &[], &[]);
    assert_eq!(refused(&zip, Extension::Pt), ["subprocess.Popen"]);
    // A second .pkl member is checked too.
    let benign = state_dict_pickle(&[("w", &[2])]);
    let zip = torch_zip(&benign, &[2], &[("archive/extra.pkl", &evil)]);
    assert_eq!(refused(&zip, Extension::Pt), ["subprocess.Popen"]);
}

#[test]
fn torch_zip_archive_rules() {
    let benign = state_dict_pickle(&[("w", &[2])]);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    zip.start_file("a/data.pkl", o).unwrap();
    std::io::Write::write_all(&mut zip, &benign).unwrap();
    zip.start_file("b/data/0", o).unwrap();
    let two_roots = zip.finish().unwrap().into_inner();
    let f = write("x.pt", &two_roots);
    assert!(matches!(
        validate(&f.path, Extension::Pt),
        Err(InspectError::Invalid {
            format: "pytorch_zip",
            ..
        })
    ));

    let no_pkl = torch_zip(b"", &[], &[]);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("archive/version", o).unwrap();
    let only_version = z.finish().unwrap().into_inner();
    for bytes in [only_version, no_pkl] {
        let f = write("x.pt", &bytes);
        assert!(validate(&f.path, Extension::Pt).is_err());
    }
}

#[test]
fn benign_torch_files_pass_and_name_their_tensors() {
    let tensors: &[(&str, &[u64])] = &[
        (
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight",
            &[4, 768],
        ),
        (
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight",
            &[320, 4],
        ),
    ];
    let pkl = state_dict_pickle(tensors);
    let zip = torch_zip(&pkl, &[4 * 768, 320 * 4], &[]);
    let f = write("x.pt", &zip);
    let v = validate(&f.path, Extension::Pt).unwrap();
    assert_eq!(v.format, Format::PytorchZip);
    assert_eq!(v.base_model, BaseModel::Sd1);
    assert!(v.globals.iter().all(|g| g.allowed));

    let raw = write("x.ckpt", &pkl);
    assert_eq!(
        validate(&raw.path, Extension::Ckpt).unwrap().format,
        Format::Pickle
    );

    let report = evaluate(&f.path).unwrap();
    assert_eq!(report.format, Some(Format::PytorchZip));
    assert_eq!(report.tensor_count, 2);
    assert_eq!(report.rank, Some(4));
    let listed = report.pickled_tensors.unwrap();
    assert_eq!(listed[0].dtype.as_deref(), Some("F16"));
    assert_eq!(listed[1].shape, [320, 4]);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::PickleFormat)
    );
    assert_eq!(report.verdict, Verdict::Warn);
}

#[test]
fn legacy_torch_files_are_walked_pickle_by_pickle() {
    let magic = {
        let mut w = PickleWriter::new();
        w.raw(b"\x8a\x0a")
            .raw(&0x1950a86a20f9469cfc6cu128.to_le_bytes()[..10]);
        w.stop()
    };
    let version = PickleWriter::new().int(1001).stop();
    let sys_info = PickleWriter::new().raw(b"}").stop();
    let keys = PickleWriter::new().raw(b"]").stop();
    let evil = os_system_pickle("id");
    let good = state_dict_pickle(&[("w", &[2])]);
    let legacy =
        |main: &[u8]| [&magic[..], &version, &sys_info, main, &keys, &[0u8; 4][..]].concat();
    let f = write("x.pt", &legacy(&good));
    assert_eq!(
        validate(&f.path, Extension::Pt).unwrap().format,
        Format::Pickle
    );
    assert_eq!(refused(&legacy(&evil), Extension::Pt), ["os.system"]);

    // The storages follow the pickles, in the order the last pickle lists their keys:
    // an element count, then the bytes. A NaN there is found (read after arrival).
    let listed = PickleWriter::new()
        .raw(b"]")
        .mark()
        .string("0")
        .raw(b"e")
        .stop();
    let mut file = [&magic[..], &version, &sys_info, &good, &listed].concat();
    file.extend(2u64.to_le_bytes());
    file.extend(half::f16::from_f32(1.5).to_le_bytes());
    file.extend(half::f16::NAN.to_le_bytes());
    let f = write("nan.pt", &file);
    let checked = validate(&f.path, Extension::Pt).unwrap();
    let scanned = checked.scan_weights(&f.path).unwrap();
    assert!(scanned.complete);
    let bad = scanned.first_unhealthy().unwrap();
    assert_eq!((bad.name.as_str(), bad.nan_count), ("w", 1));
}

#[test]
fn families_and_network_types_from_fixtures() {
    let cases: Vec<(Vec<u8>, BaseModel, NetworkType)> = vec![
        (
            kohya_lora(
                &[(
                    "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",
                    768,
                    640,
                )],
                8,
                4.0,
                &[],
            ),
            BaseModel::Sd1,
            NetworkType::Lora,
        ),
        (
            kohya_lora(
                &[(
                    "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",
                    1024,
                    640,
                )],
                8,
                4.0,
                &[],
            ),
            BaseModel::Sd2,
            NetworkType::Lora,
        ),
        (
            kohya_lora(
                &[(
                    "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k",
                    2048,
                    640,
                )],
                8,
                4.0,
                &[],
            ),
            BaseModel::Sdxl,
            NetworkType::Lora,
        ),
        (
            // Flux's last double and single blocks (19 + 38; HunyuanVideo has 20 + 40) and
            // its modulation (which Chroma lacks).
            kohya_lora(
                &[
                    ("lora_unet_double_blocks_18_img_mod_lin", 3072, 18432),
                    ("lora_unet_single_blocks_37_linear1", 3072, 21504),
                ],
                4,
                4.0,
                &[],
            ),
            BaseModel::Flux,
            NetworkType::Lora,
        ),
        (
            kohya_lora(
                &[("lora_unet_x", 64, 64)],
                4,
                4.0,
                &[("modelspec.architecture", "stable-diffusion-v3-medium/lora")],
            ),
            BaseModel::Sd3,
            NetworkType::Lora,
        ),
    ];
    for (i, (bytes, base, net)) in cases.into_iter().enumerate() {
        let f = write("x.safetensors", &bytes);
        let r = evaluate(&f.path).unwrap();
        assert_eq!((r.base_model, r.network_type), (base, net), "case {i}");
        assert!(r.rank.is_some());
    }
    // LoHa and LoCon (3×3 conv down).
    let loha = build(
        &[
            ("lora_unet_x.hada_w1_a", "F16", &[8, 4], &f16_bytes(32, 1)),
            ("lora_unet_x.hada_w1_b", "F16", &[4, 8], &f16_bytes(32, 2)),
        ],
        &[],
    );
    let f = write("x.safetensors", &loha);
    let r = evaluate(&f.path).unwrap();
    assert_eq!((r.network_type, r.rank), (NetworkType::Loha, Some(4)));
    let locon = build(
        &[
            (
                "lora_unet_conv.lora_down.weight",
                "F16",
                &[4, 8, 3, 3],
                &f16_bytes(4 * 8 * 9, 1),
            ),
            (
                "lora_unet_conv.lora_up.weight",
                "F16",
                &[8, 4, 1, 1],
                &f16_bytes(32, 2),
            ),
        ],
        &[],
    );
    let f = write("x.safetensors", &locon);
    assert_eq!(evaluate(&f.path).unwrap().network_type, NetworkType::Locon);
}

#[test]
fn nan_and_inf_fail_the_verdict() {
    let mut bad = f16_bytes(8, 1);
    bad[2..4].copy_from_slice(&half::f16::NAN.to_le_bytes());
    bad[6..8].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
    let bytes = build(
        &[
            ("m.lora_down.weight", "F16", &[2, 4], &bad),
            ("m.lora_up.weight", "F16", &[4, 2], &f16_bytes(8, 2)),
        ],
        &[],
    );
    let f = write("x.safetensors", &bytes);
    let r = evaluate(&f.path).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    let w = r.weights.unwrap();
    assert_eq!((w.nan_count, w.inf_count), (1, 1));
    assert_eq!(w.bad_tensors, ["m.lora_down.weight"]);
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == FindingCode::NanWeights && f.severity == Severity::Error)
    );
    assert!(r.findings.iter().any(|f| f.code == FindingCode::InfWeights));
}

#[test]
fn the_weight_scan_streams_any_layout_to_the_same_result() {
    // An odd-length header (so the data section starts unaligned), an odd-sized integer
    // tensor before the factors, and a 6 MiB non-factor tensor with a NaN near its end,
    // larger than one read of the scan: the same numbers as a padded, aligned layout.
    let mut big = vec![0u8; 6 << 20];
    let last = big.len() - 4;
    big[last..].copy_from_slice(&f32::NAN.to_le_bytes());
    big[8..12].copy_from_slice(&(-2.5f32).to_le_bytes());
    let down = f16_bytes(8 * 96, 3);
    let up = f16_bytes(80 * 8, 4);
    let tensors: [(&str, &str, &[u64], &[u8]); 5] = [
        ("counts", "U8", &[3], &[1, 2, 3]),
        (
            "lora_unet_m.alpha",
            "F16",
            &[],
            &half::f16::from_f32(4.0).to_le_bytes(),
        ),
        ("lora_unet_m.lora_down.weight", "F16", &[8, 96], &down),
        ("lora_unet_m.lora_up.weight", "F16", &[80, 8], &up),
        ("other.weight", "F32", &[(6 << 20) / 4], &big),
    ];
    let aligned = write("a.safetensors", &build(&tensors, &[]));
    let padded = std::fs::read(&aligned.path).unwrap();
    let json_len = u64::from_le_bytes(padded[..8].try_into().unwrap()) as usize;
    let mut json = std::str::from_utf8(&padded[8..8 + json_len])
        .unwrap()
        .trim_end()
        .to_owned();
    if json.len().is_multiple_of(2) {
        json.push(' ');
    }
    let odd = write(
        "b.safetensors",
        &raw_safetensors(&json, &padded[8 + json_len..]),
    );
    let (s1, w1, m1) = lora_inspect::scan_weights(&aligned.path).unwrap();
    let (s2, w2, m2) = lora_inspect::scan_weights(&odd.path).unwrap();
    assert_eq!((w1.nan_count, w1.inf_count, w1.max_abs), (1, 0, w1.max_abs));
    assert!(w1.max_abs >= 2.5);
    assert_eq!(w1.skipped_tensors, 1);
    assert_eq!(w1.bad_tensors, ["other.weight"]);
    assert_eq!(w1, w2);
    assert_eq!(m1, m2);
    assert_eq!(m1.len(), 1);
    assert_eq!((m1[0].rank, m1[0].alpha, m1[0].scale), (Some(8), 4.0, 0.5));
    assert!(m1[0].strength > 0.0);
    assert_eq!(s1.dominant_rank(), s2.dominant_rank());
}

#[test]
fn strengths_alphas_and_hashes() {
    let bytes = kohya_lora(
        &[("lora_unet_a", 64, 64), ("lora_unet_b", 64, 64)],
        8,
        4.0,
        &[("ss_network_dim", "8")],
    );
    let f = write("x.safetensors", &bytes);
    let r = evaluate(&f.path).unwrap();
    assert_eq!((r.rank, r.alpha), (Some(8), Some(4.0)));
    assert_eq!(r.modules.len(), 2);
    assert!(r.modules.iter().all(|m| m.scale == 0.5 && m.strength > 0.0));
    assert_eq!(r.hashes.autov2, r.sha256.to_hex()[..10]);
    assert!(r.hashes.tensor_sha256.is_some());
    assert_ne!(r.hashes.tensor_sha256, Some(r.sha256));
    // Spelled as 64 lower-case hex digits in the JSON, as before the type.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["sha256"], r.sha256.to_hex());
    assert_eq!(json["hashes"]["sha256"], r.sha256.to_hex());
    assert_eq!(
        json["hashes"]["tensor_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(r.metadata["ss_network_dim"], "8");
}

#[test]
fn a_known_sha256_is_used_and_the_tensor_hash_is_optional() {
    let f = write("x.safetensors", &simple());
    let full = evaluate(&f.path).unwrap();
    let lean = lora_inspect::evaluate_with(
        &f.path,
        &lora_inspect::Hashing {
            known_sha256: Some(full.sha256),
            tensor_sha256: false,
        },
    )
    .unwrap();
    assert_eq!(lean.sha256, full.sha256);
    assert_eq!(lean.hashes.autov2, full.hashes.autov2);
    assert_eq!(lean.hashes.tensor_sha256, None);
    assert_eq!((lean.rank, lean.verdict), (full.rank, full.verdict));
    // Trusted as given: the caller vouches for it (a store that hashed the upload).
    let given = Sha256::parse_hex(&"ab".repeat(32)).unwrap();
    let trusted = lora_inspect::evaluate_with(
        &f.path,
        &lora_inspect::Hashing {
            known_sha256: Some(given),
            tensor_sha256: true,
        },
    )
    .unwrap();
    assert_eq!(
        (trusted.sha256, trusted.hashes.autov2.as_str()),
        (given, "ababababab")
    );
    assert_eq!(trusted.hashes.tensor_sha256, full.hashes.tensor_sha256);
}

#[test]
fn invalid_files_are_reported_not_errors() {
    let f = write("x.safetensors", b"definitely not a lora");
    let r = evaluate(&f.path).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.findings[0].code, FindingCode::InvalidSafetensors);
    let evil = os_system_pickle("id");
    let f = write("x.pt", &evil);
    let r = evaluate(&f.path).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.pickle
            .unwrap()
            .globals
            .iter()
            .any(|g| g.name == "os.system" && !g.allowed)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = pickle::scan(&bytes);
        let _ = Header::parse(&bytes, bytes.len() as u64);
        let _ = lora_inspect::torch::scan_raw(&bytes[..], bytes.len() as u64);
        let _ = lora_inspect::torch::scan_zip(std::io::Cursor::new(&bytes));
    }

    #[test]
    fn mutated_valid_files_never_panic(flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..8), which in 0usize..3) {
        let mut bytes = match which {
            0 => simple(),
            1 => state_dict_pickle(&[("a.lora_down.weight", &[4, 8]), ("a.lora_up.weight", &[8, 4])]),
            _ => torch_zip(&state_dict_pickle(&[("w", &[2])]), &[2], &[]),
        };
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let f = write(if which == 0 { "x.safetensors" } else { "x.pt" }, &bytes);
        let ext = if which == 0 { Extension::Safetensors } else { Extension::Pt };
        let _ = validate(&f.path, ext);
        let _ = evaluate(&f.path);
    }
}

/// A pickle declares whatever shapes it likes: counting them never overflows (a panic in a
/// debug build, a wrong count in release), it saturates.
#[test]
fn absurd_pickled_shapes_saturate_the_parameter_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.pt");
    let big = i32::MAX as u64; // the fixture pickles ints as 4 bytes
    let bytes = state_dict_pickle(&[("a", &[big, big, big]), ("b", &[big, 2])]);
    std::fs::write(&path, bytes).unwrap();
    let report = lora_inspect::evaluate(&path).unwrap();
    assert_eq!(report.tensor_count, 2, "{report:?}");
    assert_eq!(report.parameter_count, u64::MAX);
}

/// f16 bytes of `n` deterministic values scaled by `by`.
fn scaled(n: usize, seed: u32, by: f32) -> Vec<u8> {
    f16_bytes(n, seed)
        .chunks_exact(2)
        .flat_map(|c| {
            half::f16::from_f32(half::f16::from_le_bytes([c[0], c[1]]).to_f32() * by).to_le_bytes()
        })
        .collect()
}

#[test]
fn loha_and_lokr_modules_have_strengths_so_outliers_show() {
    // Nine LoHa modules (rank 4, 32 × 32); the last one's first factor is 100× larger.
    let mut owned: Vec<(String, Vec<u64>, Vec<u8>)> = Vec::new();
    for m in 0..9u32 {
        let by = if m == 8 { 100.0 } else { 1.0 };
        for (part, shape, seed) in [
            ("hada_w1_a", vec![32u64, 4], 1),
            ("hada_w1_b", vec![4, 32], 2),
            ("hada_w2_a", vec![32, 4], 3),
            ("hada_w2_b", vec![4, 32], 4),
        ] {
            let factor = if part == "hada_w1_a" { by } else { 1.0 };
            owned.push((
                format!("lora_unet_m{m}.{part}"),
                shape,
                scaled(128, m * 10 + seed, factor),
            ));
        }
        owned.push((
            format!("lora_unet_m{m}.alpha"),
            vec![],
            half::f16::from_f32(2.0).to_le_bytes().to_vec(),
        ));
    }
    let tensors: Vec<(&str, &str, &[u64], &[u8])> = owned
        .iter()
        .map(|(n, s, b)| (n.as_str(), "F16", s.as_slice(), b.as_slice()))
        .collect();
    let f = write("loha.safetensors", &build(&tensors, &[]));
    let r = evaluate(&f.path).unwrap();
    assert_eq!(r.modules.len(), 9);
    assert!(
        r.modules
            .iter()
            .all(|m| m.scale == 0.5 && m.rank == Some(4))
    );
    let strong: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::StrongModule)
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        strong.len() == 1 && strong[0].contains("lora_unet_m8"),
        "{strong:?}"
    );

    // LoKr: whole w1, decomposed w2 (rank 2); strength = scale·‖w1‖·‖w2_a·w2_b‖.
    let lokr = build(
        &[
            ("lora_unet_k.lokr_w1", "F16", &[4, 4], &f16_bytes(16, 1)),
            ("lora_unet_k.lokr_w2_a", "F16", &[8, 2], &f16_bytes(16, 2)),
            ("lora_unet_k.lokr_w2_b", "F16", &[2, 8], &f16_bytes(16, 3)),
            (
                "lora_unet_k.alpha",
                "F16",
                &[],
                &half::f16::from_f32(1.0).to_le_bytes(),
            ),
        ],
        &[],
    );
    let f = write("lokr.safetensors", &lokr);
    let r = evaluate(&f.path).unwrap();
    assert_eq!((r.network_type, r.rank), (NetworkType::Lokr, Some(2)));
    let m = &r.modules[0];
    assert_eq!((m.rank, m.scale), (Some(2), 0.5));
    assert!(m.strength > 0.0);
}

#[test]
fn a_burned_alpha_is_overscaled_and_alphas_are_not_weights() {
    // alpha = 100 × rank: every module scales its update by 100.
    let modules: Vec<(String, u64, u64)> = (0..8)
        .map(|i| {
            (
                format!("lora_unet_down_blocks_1_attentions_0_m{i}"),
                640,
                640,
            )
        })
        .collect();
    let refs: Vec<(&str, u64, u64)> = modules
        .iter()
        .map(|(n, i, o)| (n.as_str(), *i, *o))
        .collect();
    let burned = kohya_lora(&refs, 4, 400.0, &[("ss_network_alpha", "400.0")]);
    let f = write("burned.safetensors", &burned);
    let r = evaluate(&f.path).unwrap();
    let w = r.weights.as_ref().unwrap();
    assert!(w.max_abs <= 0.05, "max |w| {} counts the alpha", w.max_abs);
    assert_eq!((r.alpha, r.alpha_source), (Some(400.0), Some("tensors")));
    let codes: Vec<FindingCode> = r.findings.iter().map(|f| f.code).collect();
    assert!(codes.contains(&FindingCode::Overscaled), "{codes:?}");
    assert_eq!(r.verdict, Verdict::Warn);
    // The same file with alpha = rank / 2 is not.
    let normal = kohya_lora(&refs, 4, 2.0, &[("ss_network_alpha", "2.0")]);
    let f = write("normal.safetensors", &normal);
    let r = evaluate(&f.path).unwrap();
    assert!(!r.findings.iter().any(|f| f.code == FindingCode::Overscaled));
}
