//! The weights-only allowlist: the globals a state dict may import.

/// Whether a weights-only state dict may import `module.name`: the idea of PyTorch's
/// weights-only unpickler, as a fixed list.
pub fn is_allowed(module: &str, name: &str) -> bool {
    match module {
        "collections" => name == "OrderedDict",
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor"
                | "_rebuild_tensor_v2"
                | "_rebuild_tensor_v3"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
                | "_rebuild_qtensor"
                | "_rebuild_sparse_tensor"
                | "_rebuild_nested_tensor"
                | "_rebuild_meta_tensor_no_storage"
                | "_rebuild_device_tensor_from_cpu_tensor"
        ),
        "torch" => {
            name.ends_with("Storage") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || matches!(
                    name,
                    "Size"
                        | "Tensor"
                        | "device"
                        | "dtype"
                        | "float16"
                        | "bfloat16"
                        | "float32"
                        | "float64"
                        | "half"
                        | "float"
                        | "double"
                        | "int8"
                        | "uint8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "bool"
                        | "float8_e4m3fn"
                        | "float8_e5m2"
                        | "strided"
                        | "sparse_coo"
                        | "sparse_csr"
                        | "per_tensor_affine"
                        | "per_channel_affine"
                )
        }
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage" | "_load_from_bytes"),
        "torch.nn.parameter" => name == "Parameter",
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "_codecs" => name == "encode",
        "builtins" | "__builtin__" => matches!(name, "set" | "frozenset" | "bytearray" | "complex"),
        _ => false,
    }
}
