//! The opcode machine: walks a pickle to its `STOP` without executing anything, keeps
//! every global it would import, and rebuilds just enough of the object graph (dicts,
//! lists, tuples, calls, persistent ids) to find tensors in it.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::rc::Rc;

use super::input::{Input, MAX_KEPT_STRING, bad};
use super::opcode as op;
use crate::error::InspectError;

/// Caps that keep hostile input from using unbounded memory.
const MAX_NODES: usize = 20_000_000;
const MAX_STACK: usize = 1_000_000;
const MAX_MEMO: usize = 10_000_000;

/// A value on the machine's stack, as far as the gate needs to know it.
#[derive(Clone)]
pub(super) enum V {
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
    input: Input<R>,
    stack: Vec<V>,
    memo: HashMap<u64, V>,
    globals: BTreeSet<(String, String)>,
    unresolved: usize,
    nodes: usize,
}

/// What a walk leaves: the root object and every global the pickle imports.
pub(super) struct Walk {
    pub root: V,
    pub globals: BTreeSet<(String, String)>,
    /// `STACK_GLOBAL`s whose module or name was not a plain string.
    pub unresolved: usize,
    /// Bytes consumed, up to and including `STOP`.
    pub len: u64,
}

impl Walk {
    /// The root object, if it is a small integer (legacy torch files start with a magic
    /// number).
    pub fn root_int(&self) -> Option<i128> {
        match self.root {
            V::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The root object's strings, if it is a list of strings (the storage keys a legacy
    /// torch file lists after its object, in the order their bytes follow).
    pub fn root_strings(&self) -> Vec<String> {
        match &self.root {
            V::List(items) => items
                .borrow()
                .iter()
                .filter_map(|v| match v {
                    V::Str(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Walks the pickle at the current position of `src`, of which at most `len` bytes may
/// be read.
pub(super) fn walk(src: impl BufRead, len: u64) -> Result<Walk, InspectError> {
    let mut m = Machine {
        input: Input::new(src, len),
        stack: Vec::new(),
        memo: HashMap::new(),
        globals: BTreeSet::new(),
        unresolved: 0,
        nodes: 0,
    };
    let root = m.run()?;
    Ok(Walk {
        root,
        globals: m.globals,
        unresolved: m.unresolved,
        len: m.input.pos(),
    })
}

impl<R: BufRead> Machine<R> {
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

    #[allow(clippy::too_many_lines)]
    fn run(&mut self) -> Result<V, InspectError> {
        loop {
            let code = self.input.u8()?;
            match code {
                op::PROTO => {
                    let proto = self.input.u8()?;
                    if proto > 5 {
                        return Err(bad(format!("unsupported protocol {proto}")));
                    }
                }
                op::FRAME => {
                    self.input.le(8)?;
                }
                op::MARK => self.push(V::Mark)?,
                op::STOP => {
                    let root = self.pop()?;
                    return Ok(root);
                }
                op::POP => {
                    self.pop()?;
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                op::FLOAT => {
                    self.input.line()?;
                    self.push(V::Other)?;
                }
                op::INT | op::LONG => {
                    let line = self.input.line()?;
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
                op::BININT => {
                    let v = self.input.le(4)? as u32 as i32;
                    self.push(V::Int(i128::from(v)))?;
                }
                op::BININT1 => {
                    let v = self.input.u8()?;
                    self.push(V::Int(i128::from(v)))?;
                }
                op::BININT2 => {
                    let v = self.input.le(2)?;
                    self.push(V::Int(i128::from(v)))?;
                }
                op::LONG1 | op::LONG4 => {
                    let n = if code == op::LONG1 {
                        u64::from(self.input.u8()?)
                    } else {
                        self.input.signed_len()?
                    };
                    let v = match self.input.take(n)? {
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
                op::STRING => {
                    let line = self.input.line()?;
                    let trimmed = line
                        .strip_prefix(b"'")
                        .and_then(|l| l.strip_suffix(b"'"))
                        .or_else(|| line.strip_prefix(b"\"").and_then(|l| l.strip_suffix(b"\"")))
                        .ok_or_else(|| bad("STRING argument is not quoted"))?
                        .to_vec();
                    self.string(Some(trimmed))?;
                }
                op::UNICODE => {
                    let line = self.input.line()?;
                    self.string(Some(line))?;
                }
                op::BINSTRING
                | op::BINUNICODE
                | op::SHORT_BINSTRING
                | op::SHORT_BINUNICODE
                | op::BINUNICODE8 => {
                    let n = match code {
                        op::BINSTRING => self.input.signed_len()?,
                        op::BINUNICODE => self.input.le(4)?,
                        op::BINUNICODE8 => self.input.le(8)?,
                        _ => u64::from(self.input.u8()?),
                    };
                    let bytes = self.input.take(n)?;
                    self.string(bytes)?;
                }
                op::BINBYTES | op::SHORT_BINBYTES | op::BINBYTES8 | op::BYTEARRAY8 => {
                    let n = match code {
                        op::BINBYTES => self.input.le(4)?,
                        op::SHORT_BINBYTES => u64::from(self.input.u8()?),
                        _ => self.input.le(8)?,
                    };
                    self.input.take(n)?;
                    self.push(V::Other)?;
                }
                op::NONE | op::NEWTRUE | op::NEWFALSE => self.push(V::Other)?,
                op::BINFLOAT => {
                    self.input.take(8)?;
                    self.push(V::Other)?;
                }
                op::EMPTY_LIST => self.push(V::List(Rc::default()))?,
                op::EMPTY_TUPLE => self.push(V::Tuple(Rc::default()))?,
                op::EMPTY_DICT => self.push(V::Dict(Rc::default()))?,
                op::EMPTY_SET => self.push(V::Other)?,
                op::APPEND => {
                    let v = self.pop()?;
                    self.nodes += 1;
                    if let V::List(list) = self.top()? {
                        list.borrow_mut().push(v);
                    }
                }
                op::APPENDS => {
                    let items = self.pop_mark()?;
                    self.nodes += items.len();
                    if let V::List(list) = self.top()? {
                        list.borrow_mut().extend(items);
                    }
                }
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.push(V::List(Rc::new(RefCell::new(items))))?;
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.push(V::Tuple(Rc::new(items)))?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(code - op::TUPLE1) + 1;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(V::Tuple(Rc::new(items)))?;
                }
                op::DICT => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push(V::Dict(Rc::new(RefCell::new(pairs))))?;
                }
                op::SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.nodes += 1;
                    if let V::Dict(dict) = self.top()? {
                        dict.borrow_mut().push((key, value));
                    }
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    self.nodes += items.len();
                    let new = pairs(items)?;
                    if let V::Dict(dict) = self.top()? {
                        dict.borrow_mut().extend(new);
                    }
                }
                op::ADDITEMS => {
                    self.pop_mark()?;
                }
                op::FROZENSET => {
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                op::GLOBAL => {
                    let (module, name) = self.input.text_global()?;
                    self.global(module, name)?;
                }
                op::STACK_GLOBAL => {
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
                op::INST => {
                    let (module, name) = self.input.text_global()?;
                    self.globals.insert((module, name));
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                op::OBJ => {
                    self.pop_mark()?;
                    self.push(V::Other)?;
                }
                op::REDUCE => {
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
                op::NEWOBJ => {
                    self.pop()?;
                    self.pop()?;
                    self.push(V::Other)?;
                }
                op::NEWOBJ_EX => {
                    self.pop()?;
                    self.pop()?;
                    self.pop()?;
                    self.push(V::Other)?;
                }
                op::BUILD => {
                    self.pop()?;
                    self.top()?;
                }
                op::PERSID => {
                    let line = self.input.line()?;
                    self.string(Some(line))?;
                    let pid = self.pop()?;
                    self.push(V::PersId(Rc::new(pid)))?;
                }
                op::BINPERSID => {
                    let pid = self.pop()?;
                    self.push(V::PersId(Rc::new(pid)))?;
                }
                op::PUT => {
                    let key = self.input.text_int()?;
                    self.memo_put(key)?;
                }
                op::BINPUT => {
                    let key = u64::from(self.input.u8()?);
                    self.memo_put(key)?;
                }
                op::LONG_BINPUT => {
                    let key = self.input.le(4)?;
                    self.memo_put(key)?;
                }
                op::MEMOIZE => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                op::GET => {
                    let key = self.input.text_int()?;
                    self.memo_get(key)?;
                }
                op::BINGET => {
                    let key = u64::from(self.input.u8()?);
                    self.memo_get(key)?;
                }
                op::LONG_BINGET => {
                    let key = self.input.le(4)?;
                    self.memo_get(key)?;
                }
                op::EXT1 | op::EXT2 | op::EXT4 => {
                    let index = match code {
                        op::EXT1 => u64::from(self.input.u8()?),
                        op::EXT2 => self.input.le(2)?,
                        _ => self.input.le(4)?,
                    };
                    self.globals
                        .insert(("copyreg extension".into(), index.to_string()));
                    self.push(V::Other)?;
                }
                op::NEXT_BUFFER => self.push(V::Other)?,
                op::READONLY_BUFFER => {
                    self.top()?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown opcode 0x{other:02x} at byte {}",
                        self.input.pos() - 1
                    )));
                }
            }
        }
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
