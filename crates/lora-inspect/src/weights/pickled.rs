//! The weight health of a PyTorch zip archive, read after it is complete: a pickle names
//! its tensors as views (offset, element count) into storages, each a `data/{key}` member,
//! so nothing can be scanned before the pickle at the archive's end has been read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::health::WeightStats;
use super::health::health;
use super::incoming::{Scanned, TensorHealth};
use crate::error::InspectError;
use crate::pickle::PickledTensor;

/// Bytes read at a time (a multiple of 8: whole elements of any dtype).
const WINDOW: usize = 1 << 20;

/// Scans every float tensor `tensors` names in the torch zip at `path`, whose members live
/// under `archive`. A view is taken as contiguous (`torch.save` of a state dict writes
/// them so); one that runs past its storage is scanned as far as the storage goes.
///
/// # Errors
///
/// [`InspectError::Invalid`] for a member that cannot be read, [`InspectError::Io`] when
/// reading fails.
pub(crate) fn scan_zip_tensors(
    path: &Path,
    archive: &str,
    tensors: &[PickledTensor],
) -> Result<Scanned, InspectError> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(path)?))
        .map_err(|e| InspectError::invalid("pytorch_zip", e.to_string()))?;
    let mut by_storage: BTreeMap<&str, Vec<&PickledTensor>> = BTreeMap::new();
    let mut out = Scanned {
        complete: true,
        ..Scanned::default()
    };
    for t in tensors {
        match t.dtype {
            Some(d) if d.is_float() => by_storage.entry(&t.storage_key).or_default().push(t),
            _ => out.skipped_tensors += 1,
        }
    }
    let mut window = vec![0u64; WINDOW / 8];
    for (key, mut views) in by_storage {
        views.sort_by_key(|t| t.storage_offset);
        let member = format!("{archive}/data/{key}");
        // Views in offset order share one pass over the member; an overlapping view
        // starts another pass.
        while !views.is_empty() {
            let mut file = zip
                .by_name(&member)
                .map_err(|e| InspectError::invalid("pytorch_zip", format!("{member}: {e}")))?;
            let mut at = 0u64;
            let mut rest = Vec::new();
            for view in views {
                let Some(dtype) = view.dtype else { continue };
                let elem = dtype.bits() / 8;
                let begin = view.storage_offset.saturating_mul(elem);
                if begin < at {
                    rest.push(view);
                    continue;
                }
                let len = view
                    .shape
                    .iter()
                    .fold(1u64, |n, d| n.saturating_mul(*d))
                    .saturating_mul(elem);
                at += std::io::copy(&mut (&mut file).take(begin - at), &mut std::io::sink())?;
                let mut stats = WeightStats::default();
                let mut left = if at == begin { len } else { 0 };
                out.complete &= at == begin;
                while left > 0 {
                    let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut window);
                    let want = usize::try_from(left).unwrap_or(WINDOW).min(WINDOW);
                    let n = read_full(&mut file, &mut bytes[..want])?;
                    health(dtype, &bytes[..n - n % elem as usize], &mut stats);
                    at += n as u64;
                    left -= n as u64;
                    if n < want {
                        out.complete = false;
                        break;
                    }
                }
                out.tensors.push(TensorHealth {
                    name: view.name.clone(),
                    nan_count: stats.nan_count,
                    inf_count: stats.inf_count,
                    max_abs: stats.max_abs,
                });
            }
            views = rest;
        }
    }
    Ok(out)
}

/// Reads until `buf` is full or the reader ends; how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, InspectError> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
