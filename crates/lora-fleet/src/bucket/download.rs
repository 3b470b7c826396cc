//! Reading an object into a sink in order: one GET, or for a large object several ranged
//! GETs in flight.

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore};

use super::client::Bucket;

/// Objects larger than this are downloaded as ranges, several in flight (boto3's
/// `download_file` does the same with 8 MiB ranges and 10 threads): one stream from S3 is
/// slower than the network and the disk together.
const RANGED_FROM: u64 = 16 << 20;
/// The size of one ranged GET.
const RANGE: u64 = 8 << 20;
/// Ranged GETs in flight at once: about this × [`RANGE`] of memory, whatever the size.
const RANGES_IN_FLIGHT: usize = 8;

impl Bucket {
    /// Streams `key` into `sink` in order; `Ok(false)` when it does not exist. A large
    /// object comes as [`RANGE`]-sized ranged GETs, [`RANGES_IN_FLIGHT`] at once, each
    /// pinned to the ETag the first look saw (an object replaced midway fails the
    /// download instead of mixing two versions); the sink still sees the bytes in order, so
    /// hashing and writing stay one sequential pass.
    pub(crate) async fn download(
        &self,
        key: &Path,
        mut sink: impl FnMut(bytes::Bytes) -> Result<(), lora_store::StoreError>,
    ) -> Result<bool, DownloadError> {
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let meta = match self.store.get_opts(key, head).await {
            Ok(got) => got.meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(DownloadError::Bucket(e)),
        };
        let pinned = |range: Option<std::ops::Range<u64>>| GetOptions {
            if_match: meta.e_tag.clone(),
            range: range.map(Into::into),
            ..GetOptions::default()
        };
        let gone = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => Ok(false),
            e => Err(DownloadError::Bucket(e)),
        };
        if meta.size < RANGED_FROM {
            let got = match self.store.get_opts(key, pinned(None)).await {
                Ok(got) => got,
                Err(e) => return gone(e),
            };
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                sink(chunk.map_err(DownloadError::Bucket)?).map_err(DownloadError::Local)?;
            }
            return Ok(true);
        }
        let size = meta.size;
        let ranges = (0..size.div_ceil(RANGE)).map(|i| i * RANGE..((i + 1) * RANGE).min(size));
        let mut parts = futures_util::stream::iter(ranges)
            .map(|range| {
                let options = pinned(Some(range));
                async move { self.store.get_opts(key, options).await?.bytes().await }
            })
            .buffered(RANGES_IN_FLIGHT);
        while let Some(part) = parts.next().await {
            match part {
                Ok(bytes) => sink(bytes).map_err(DownloadError::Local)?,
                Err(e) => return gone(e),
            }
        }
        Ok(true)
    }
}

/// Why a download failed: the bucket or the local disk.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    #[error(transparent)]
    Bucket(object_store::Error),
    #[error(transparent)]
    Local(lora_store::StoreError),
}
