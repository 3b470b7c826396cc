//! The weight health of pickle-based files, read after they are complete: a pickle names
//! its tensors as views (offset, element count) into storages (a zip archive's
//! `data/{key}` members; in a legacy `torch.save` file, the bytes after its pickles), so
//! nothing can be scanned before the pickle has been read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
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
            (_, views) = scan_pass(&mut file, views, &mut window, &mut out)?;
        }
    }
    Ok(out)
}

/// Scans every float tensor `tensors` names in the legacy (pre-1.6) `torch.save` file at
/// `path`: after its pickles, each storage in `keys` order is its element count (8 bytes,
/// little-endian) and its bytes, from `data_start`. A storage no tensor gives a dtype to
/// cannot be stepped over: the scan ends there, incomplete.
///
/// # Errors
///
/// [`InspectError::Io`] when reading fails.
pub(crate) fn scan_legacy_tensors(
    path: &Path,
    keys: &[String],
    data_start: u64,
    tensors: &[PickledTensor],
) -> Result<Scanned, InspectError> {
    let mut file = BufReader::new(File::open(path)?);
    file.seek(SeekFrom::Start(data_start))?;
    let mut out = Scanned {
        complete: true,
        ..Scanned::default()
    };
    out.skipped_tensors = tensors
        .iter()
        .filter(|t| !t.dtype.is_some_and(|d| d.is_float()))
        .count();
    let mut window = vec![0u64; WINDOW / 8];
    for key in keys {
        let on_key: Vec<&PickledTensor> =
            tensors.iter().filter(|t| &t.storage_key == key).collect();
        let Some(elem) = on_key.iter().find_map(|t| t.dtype).map(|d| d.bits() / 8) else {
            out.complete = false;
            break;
        };
        let mut count = [0u8; 8];
        if read_full(&mut file, &mut count)? < 8 {
            out.complete = false;
            break;
        }
        let storage_len = u64::from_le_bytes(count).saturating_mul(elem);
        let mut storage = (&mut file).take(storage_len);
        let mut views: Vec<&PickledTensor> = on_key
            .into_iter()
            .filter(|t| t.dtype.is_some_and(|d| d.is_float()))
            .collect();
        views.sort_by_key(|t| t.storage_offset);
        let (_, overlapping) = scan_pass(&mut storage, views, &mut window, &mut out)?;
        // The bytes are read once: a view over bytes already passed is not scanned.
        out.complete &= overlapping.is_empty();
        std::io::copy(&mut storage, &mut std::io::sink())?;
    }
    Ok(out)
}

/// Scans `views` (in offset order, every one a float tensor) from `reader`, which is at
/// the start of their storage; the bytes read, and the views that begin before bytes
/// already read (another pass needs them).
fn scan_pass<'t>(
    reader: &mut impl Read,
    views: Vec<&'t PickledTensor>,
    window: &mut [u64],
    out: &mut Scanned,
) -> Result<(u64, Vec<&'t PickledTensor>), InspectError> {
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
        at += std::io::copy(&mut reader.take(begin - at), &mut std::io::sink())?;
        let mut stats = WeightStats::default();
        let mut left = if at == begin { len } else { 0 };
        out.complete &= at == begin;
        while left > 0 {
            let bytes = bytemuck::cast_slice_mut::<u64, u8>(window);
            let want = usize::try_from(left).unwrap_or(WINDOW).min(WINDOW);
            let n = read_full(reader, &mut bytes[..want])?;
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
    Ok((at, rest))
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
