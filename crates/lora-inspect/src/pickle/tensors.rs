//! The tensors of a state dict, read off the object graph the machine rebuilt.

use super::machine::V;
use crate::dtype::DType;

/// A tensor found in a pickled state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// Dotted path of keys (`state_dict.lora_unet_x.lora_down.weight`).
    pub name: String,
    /// Element type, from the storage class.
    pub dtype: Option<DType>,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// The storage's key (its file under `data/` in a torch zip).
    pub storage_key: String,
    /// Element offset into the storage.
    pub storage_offset: u64,
}

/// Every tensor found under dict keys of `root`, named by its dotted path.
pub(super) fn collect(root: &V) -> Vec<PickledTensor> {
    let mut tensors = Vec::new();
    collect_tensors(root, String::new(), 0, &mut tensors);
    tensors
}

/// Finds `_rebuild_tensor*` calls under dict keys; depth-capped (graphs may be cyclic).
fn collect_tensors(v: &V, path: String, depth: usize, out: &mut Vec<PickledTensor>) {
    if depth > 32 || out.len() > 1_000_000 {
        return;
    }
    match v {
        V::Dict(d) => {
            for (k, v) in d.borrow().iter() {
                let key = match k {
                    V::Str(s) => s.to_string(),
                    V::Int(i) => i.to_string(),
                    _ => continue,
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                collect_tensors(v, child, depth + 1, out);
            }
        }
        V::Call(call) => {
            let (callable, args) = (&call.0, &call.1);
            let V::Global(g) = callable else { return };
            let V::Tuple(args) = args else { return };
            match (g.0.as_str(), g.1.as_str()) {
                ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state")
                | ("torch._tensor", "_rebuild_from_type_v2") => {
                    let inner = if g.1 == "_rebuild_from_type_v2" {
                        args.get(1)
                    } else {
                        args.first()
                    };
                    if let Some(inner) = inner {
                        collect_tensors(inner, path, depth + 1, out);
                    }
                }
                (
                    "torch._utils",
                    "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3",
                ) => {
                    if let Some(t) = tensor_from_args(&path, args) {
                        out.push(t);
                    }
                }
                _ => {}
            }
        }
        V::List(l) => {
            for (i, item) in l.borrow().iter().enumerate() {
                collect_tensors(item, format!("{path}.{i}"), depth + 1, out);
            }
        }
        V::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_tensors(item, format!("{path}.{i}"), depth + 1, out);
            }
        }
        _ => {}
    }
}

fn tensor_from_args(path: &str, args: &[V]) -> Option<PickledTensor> {
    let V::PersId(pid) = args.first()? else {
        return None;
    };
    let V::Tuple(pid) = pid.as_ref() else {
        return None;
    };
    // ('storage', storage_type, key, location, numel)
    let dtype = match pid.get(1)? {
        V::Global(g) => DType::from_torch_storage(&g.1),
        _ => None,
    };
    let storage_key = match pid.get(2)? {
        V::Str(s) => s.to_string(),
        V::Int(i) => i.to_string(),
        _ => return None,
    };
    let storage_offset = match args.get(1) {
        Some(V::Int(i)) => u64::try_from(*i).ok()?,
        _ => 0,
    };
    let shape = match args.get(2)? {
        V::Tuple(dims) => dims
            .iter()
            .map(|d| match d {
                V::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()?,
        _ => return None,
    };
    Some(PickledTensor {
        name: path.to_owned(),
        dtype,
        shape,
        storage_key,
        storage_offset,
    })
}
