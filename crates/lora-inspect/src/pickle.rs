//! A pickle gate: walks a pickle's opcodes without executing anything, records every
//! global it would import, and rebuilds just enough of the object graph to name the
//! tensors of a state dict.
//!
//! Every opcode of protocols 0–5 is understood. Globals come from `GLOBAL`, `INST`,
//! `STACK_GLOBAL` (its module and name resolved through the stack and the memo; anything
//! it cannot resolve counts as an unknown, refused global) and the `EXT*` extension
//! registry (always refused). `REDUCE`, `OBJ`, `NEWOBJ` and `BUILD` only ever call what a
//! global brought in, so gating the globals gates them.
//!
//! It is bounded: each opcode consumes input, lengths are checked against what is left
//! before anything is allocated, and the stack, memo and object graph have caps.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use crate::{DType, InspectError};

const FORMAT: &str = "pickle";
/// Caps that keep hostile input from using unbounded memory.
const MAX_NODES: usize = 20_000_000;
const MAX_STACK: usize = 1_000_000;
const MAX_MEMO: usize = 10_000_000;
/// Strings longer than this are kept only as "some string" (names are short).
const MAX_KEPT_STRING: usize = 4096;
/// Longest text argument (protocol 0 lines).
const MAX_LINE: u64 = 64 * 1024;

/// A global a pickle imports, and whether a weights-only load may import it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GlobalRef {
    /// `module.name`.
    pub name: String,
    /// Whether it is on the weights-only allowlist.
    pub allowed: bool,
}

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

/// What walking one pickle found.
#[derive(Debug, Clone)]
pub struct PickleScan {
    /// Every distinct global, sorted.
    pub globals: Vec<GlobalRef>,
    /// Tensors found in dicts of the unpickled object.
    pub tensors: Vec<PickledTensor>,
    /// Bytes consumed, up to and including `STOP`.
    pub len: u64,
    /// The root object, if it is a small integer (legacy torch files start with a magic number).
    pub root_int: Option<i128>,
}

impl PickleScan {
    /// The globals that are not allowed.
    pub fn refused(&self) -> Vec<String> {
        self.globals
            .iter()
            .filter(|g| !g.allowed)
            .map(|g| g.name.clone())
            .collect()
    }
}

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

#[derive(Clone)]
enum V {
    Mark,
    Str(Rc<str>),
    Int(i128),
    Other,
    Tuple(Rc<Vec<V>>),
    List(Rc<RefCell<Vec<V>>>),
    Dict(Rc<RefCell<Vec<(V, V)>>>),
    Global(Rc<(String, String)>),
    Call(Rc<(V, V)>),
    PersId(Rc<V>),
}

struct Machine<R> {
    src: R,
    /// Bytes consumed so far, and how many the source holds.
    pos: u64,
    len: u64,
    stack: Vec<V>,
    memo: HashMap<u64, V>,
    globals: BTreeSet<(String, String)>,
    unresolved: usize,
    nodes: usize,
}

/// Walks the pickle at the start of `data` to its `STOP`.
///
/// # Errors
///
/// [`InspectError::Invalid`] for truncated or malformed pickles and for input past the caps.
/// Refused globals are *not* an error here: see [`PickleScan::refused`].
pub fn scan(data: &[u8]) -> Result<PickleScan, InspectError> {
    scan_reader(data, data.len() as u64)
}

/// Walks the pickle at the current position of `src`, of which at most `len` bytes may
/// be read, streaming: large byte strings are skipped, never held.
///
/// # Errors
///
/// As [`scan`], plus [`InspectError::Io`] when reading fails.
pub fn scan_reader(src: impl BufRead, len: u64) -> Result<PickleScan, InspectError> {
    let mut m = Machine {
        src,
        pos: 0,
        len,
        stack: Vec::new(),
        memo: HashMap::new(),
        globals: BTreeSet::new(),
        unresolved: 0,
        nodes: 0,
    };
    let root = m.run()?;
    let mut globals: Vec<GlobalRef> = m
        .globals
        .iter()
        .map(|(module, name)| GlobalRef {
            name: format!("{module}.{name}"),
            allowed: is_allowed(module, name),
        })
        .collect();
    if m.unresolved > 0 {
        globals.push(GlobalRef {
            name: "<STACK_GLOBAL with a computed name>".into(),
            allowed: false,
        });
    }
    let mut tensors = Vec::new();
    collect_tensors(&root, String::new(), 0, &mut tensors);
    let root_int = match root {
        V::Int(i) => Some(i),
        _ => None,
    };
    Ok(PickleScan {
        globals,
        tensors,
        len: m.pos,
        root_int,
    })
}

fn bad(reason: impl Into<String>) -> InspectError {
    InspectError::invalid(FORMAT, reason)
}

impl<R: BufRead> Machine<R> {
    /// Makes sure `n` more bytes exist before anything is read or allocated for them.
    fn reserve(&mut self, n: u64) -> Result<(), InspectError> {
        if self.pos.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(bad("truncated pickle"));
        }
        self.pos += n;
        Ok(())
    }

    fn read_io(&mut self, buf: &mut [u8]) -> Result<(), InspectError> {
        self.src.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("truncated pickle"),
            _ => InspectError::Io(e),
        })
    }

    /// Reads `n` bytes, or skips them (returning `None`) when they are too long to keep.
    fn take(&mut self, n: u64) -> Result<Option<Vec<u8>>, InspectError> {
        self.reserve(n)?;
        if n as usize > MAX_KEPT_STRING {
            let copied = io::copy(&mut (&mut self.src).take(n), &mut io::sink())?;
            if copied != n {
                return Err(bad("truncated pickle"));
            }
            return Ok(None);
        }
        let mut buf = vec![0u8; n as usize];
        self.read_io(&mut buf)?;
        Ok(Some(buf))
    }

    fn u8(&mut self) -> Result<u8, InspectError> {
        self.reserve(1)?;
        let mut b = [0u8; 1];
        self.read_io(&mut b)?;
        Ok(b[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, InspectError> {
        self.reserve(n as u64)?;
        let mut b = [0u8; 8];
        self.read_io(&mut b[..n])?;
        Ok(u64::from_le_bytes(b))
    }

    fn line(&mut self) -> Result<Vec<u8>, InspectError> {
        let mut out = Vec::new();
        let cap = (self.len - self.pos).min(MAX_LINE);
        let n = (&mut self.src).take(cap).read_until(b'\n', &mut out)?;
        if out.last() != Some(&b'\n') {
            return Err(bad("unterminated text argument"));
        }
        self.pos += n as u64;
        out.pop();
        Ok(out)
    }

    fn push(&mut self, v: V) -> Result<(), InspectError> {
        self.nodes += 1;
        if self.stack.len() >= MAX_STACK || self.nodes > MAX_NODES {
            return Err(bad("pickle too large or too deeply nested to check"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<V, InspectError> {
        match self.stack.pop() {
            Some(V::Mark) | None => Err(bad("stack underflow")),
            Some(v) => Ok(v),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<V>, InspectError> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, V::Mark))
            .ok_or_else(|| bad("no MARK on the stack"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&self) -> Result<&V, InspectError> {
        match self.stack.last() {
            Some(V::Mark) | None => Err(bad("empty stack")),
            Some(v) => Ok(v),
        }
    }

    fn string(&mut self, bytes: Option<Vec<u8>>) -> Result<(), InspectError> {
        let v = match bytes {
            Some(b) if b.len() <= MAX_KEPT_STRING => {
                V::Str(Rc::from(String::from_utf8_lossy(&b).as_ref()))
            }
            _ => V::Other,
        };
        self.push(v)
    }

    fn global(&mut self, module: String, name: String) -> Result<(), InspectError> {
        self.globals.insert((module.clone(), name.clone()));
        self.push(V::Global(Rc::new((module, name))))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), InspectError> {
        if self.memo.len() >= MAX_MEMO {
            return Err(bad("memo too large"));
        }
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), InspectError> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| bad(format!("memo key {key} is not set")))?;
        self.push(v)
    }

    fn text_int(&mut self) -> Result<u64, InspectError> {
        let line = self.line()?;
        std::str::from_utf8(&line)
            .ok()
            .and_then(|s| s.trim().trim_end_matches('L').parse().ok())
            .ok_or_else(|| bad("bad text integer"))
    }

    fn text_global(&mut self) -> Result<(String, String), InspectError> {
        let module = String::from_utf8_lossy(&self.line()?).into_owned();
        let name = String::from_utf8_lossy(&self.line()?).into_owned();
        Ok((module, name))
    }

    #[allow(clippy::too_many_lines)]
    fn run(&mut self) -> Result<V, InspectError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(bad(format!("unsupported protocol {proto}")));
                    }
                }
                0x95 => {
                    self.le(8)?;
                }
                b'(' => self.push(V::Mark)?,
                b'.' => {
                    let root = self.pop()?;
                    return Ok(root);
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'F' => {
                    self.line()?;
                    self.push(V::Other)?;
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let v = std::str::from_utf8(&line)
                        .ok()
                        .map(|s| s.trim().trim_end_matches('L'))
                        .and_then(|s| match s {
                            "00" => Some(0),
                            "01" => Some(1),
                            s => s.parse::<i128>().ok(),
                        })
                        .map_or(V::Other, V::Int);
                    self.push(v)?;
                }
                b'J' => {
                    let v = self.le(4)? as u32 as i32;
                    self.push(V::Int(i128::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(V::Int(i128::from(v)))?;
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.push(V::Int(i128::from(v)))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        self.signed_len()?
                    };
                    let v = match self.take(n)? {
                        Some(bytes) if bytes.len() <= 16 => {
                            let mut buf = [if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                                0xff
                            } else {
                                0
                            }; 16];
                            buf[..bytes.len()].copy_from_slice(&bytes);
                            V::Int(i128::from_le_bytes(buf))
                        }
                        _ => V::Other,
                    };
                    self.push(v)?;
                }
                b'S' => {
                    let line = self.line()?;
                    let trimmed = line
                        .strip_prefix(b"'")
                        .and_then(|l| l.strip_suffix(b"'"))
                        .or_else(|| line.strip_prefix(b"\"").and_then(|l| l.strip_suffix(b"\"")))
                        .ok_or_else(|| bad("STRING argument is not quoted"))?
                        .to_vec();
                    self.string(Some(trimmed))?;
                }
                b'V' => {
                    let line = self.line()?;
                    self.string(Some(line))?;
                }
                b'T' | b'X' | b'U' | 0x8c | 0x8d => {
                    let n = match op {
                        b'T' => self.signed_len()?,
                        b'X' => self.le(4)?,
                        0x8d => self.le(8)?,
                        _ => u64::from(self.u8()?),
                    };
                    let bytes = self.take(n)?;
                    self.string(bytes)?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.le(4)?,
                        b'C' => u64::from(self.u8()?),
                        _ => self.le(8)?,
                    };
                    self.take(n)?;
                    self.push(V::Other)?;
                }
                b'N' | 0x88 | 0x89 => self.push(V::Other)?,
                b'G' => {
                    self.take(8)?;
                    self.push(V::Other)?;
                }
                b']' => self.push(V::List(Rc::default()))?,
                b')' => self.push(V::Tuple(Rc::default()))?,
                b'}' => self.push(V::Dict(Rc::default()))?,
                0x8f => self.push(V::Other)?,
                b'a' => {
                    let v = self.pop()?;
                    self.nodes += 1;
                    if let V::List(list) = self.top()? {
                        list.borrow_mut().push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.nodes += items.len();
                    if let V::List(list) = self.top()? {
                        list.borrow_mut().extend(items);
                    }
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(V::List(Rc::new(RefCell::new(items))))?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(V::Tuple(Rc::new(items)))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(V::Tuple(Rc::new(items)))?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push(V::Dict(Rc::new(RefCell::new(pairs))))?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.nodes += 1;
                    if let V::Dict(dict) = self.top()? {
                        dict.borrow_mut().push((key, value));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.nodes += items.len();
                    let new = pairs(items)?;
                    if let V::Dict(dict) = self.top()? {
                        dict.borrow_mut().extend(new);
                    }
                }
                0x90 => {
                    self.pop_mark()?;
                }
                0x91 => {
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                b'c' => {
                    let (module, name) = self.text_global()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (V::Str(m), V::Str(n)) => self.global(m.to_string(), n.to_string())?,
                        _ => {
                            self.unresolved += 1;
                            self.push(V::Other)?;
                        }
                    }
                }
                b'i' => {
                    let (module, name) = self.text_global()?;
                    self.globals.insert((module, name));
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                b'o' => {
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = match &callable {
                        V::Global(g) if g.0 == "collections" && g.1 == "OrderedDict" => {
                            V::Dict(Rc::default())
                        }
                        _ => V::Call(Rc::new((callable, args))),
                    };
                    self.push(v)?;
                }
                0x81 => {
                    self.pop()?;
                    self.pop()?;
                    self.push(V::Other)?;
                }
                0x92 => {
                    self.pop()?;
                    self.pop()?;
                    self.pop()?;
                    self.push(V::Other)?;
                }
                b'b' => {
                    self.pop()?;
                    self.top()?;
                }
                b'P' => {
                    let line = self.line()?;
                    self.string(Some(line))?;
                    let pid = self.pop()?;
                    self.push(V::PersId(Rc::new(pid)))?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(V::PersId(Rc::new(pid)))?;
                }
                b'p' => {
                    let key = self.text_int()?;
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = u64::from(self.u8()?);
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.le(4)?;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                b'g' => {
                    let key = self.text_int()?;
                    self.memo_get(key)?;
                }
                b'h' => {
                    let key = u64::from(self.u8()?);
                    self.memo_get(key)?;
                }
                b'j' => {
                    let key = self.le(4)?;
                    self.memo_get(key)?;
                }
                0x82..=0x84 => {
                    let code = match op {
                        0x82 => u64::from(self.u8()?),
                        0x83 => self.le(2)?,
                        _ => self.le(4)?,
                    };
                    self.globals
                        .insert(("copyreg extension".into(), code.to_string()));
                    self.push(V::Other)?;
                }
                0x97 => self.push(V::Other)?,
                0x98 => {
                    self.top()?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown opcode 0x{other:02x} at byte {}",
                        self.pos - 1
                    )));
                }
            }
        }
    }

    fn signed_len(&mut self) -> Result<u64, InspectError> {
        let n = self.le(4)? as u32 as i32;
        u64::try_from(n).map_err(|_| bad("negative length"))
    }
}

fn pairs(items: Vec<V>) -> Result<Vec<(V, V)>, InspectError> {
    if !items.len().is_multiple_of(2) {
        return Err(bad("odd number of items for a dict"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
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
