//! Multipart uploads: their parts, sent by the upload streams, and the whole-file upload of
//! a node's own copy (the way without a stream).

use lora_core::Sha256;
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, PutMultipartOptions, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::client::{Bucket, generic, sha_attribute};
use crate::stream::{PART, PARTS_IN_FLIGHT};

impl Bucket {
    /// Starts a multipart upload at `key`.
    pub(crate) async fn create_multipart(
        &self,
        key: &Path,
    ) -> Result<MultipartId, object_store::Error> {
        let id = self.parts.create_multipart(key).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(id)
    }

    /// Sends part `index` (from 0) of the multipart upload `id`.
    pub(crate) async fn put_part(
        &self,
        key: &Path,
        id: &MultipartId,
        index: usize,
        bytes: PutPayload,
    ) -> Result<PartId, object_store::Error> {
        self.parts.put_part(key, id, index, bytes).await
    }

    /// Completes the multipart upload `id` whatever is at `key` (a staging key: ours).
    pub(crate) async fn complete(
        &self,
        key: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<(), object_store::Error> {
        self.parts.complete_multipart(key, id, parts).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Abandons the multipart upload `id`: its parts are freed.
    pub(crate) async fn abort(
        &self,
        key: &Path,
        id: &MultipartId,
    ) -> Result<(), object_store::Error> {
        self.parts.abort_multipart(key, id).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Streams the file at `from` to `key` with a multipart upload, its SHA-256 as
    /// metadata. On failure the upload is aborted, leaving nothing.
    pub(crate) async fn upload_file(
        &self,
        from: &std::path::Path,
        key: &Path,
        sha256: Sha256,
    ) -> Result<(), object_store::Error> {
        let options = PutMultipartOptions {
            attributes: sha_attribute(sha256),
            ..PutMultipartOptions::default()
        };
        let upload = self.store.put_multipart_opts(key, options).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let result = async {
            let mut file = tokio::fs::File::open(from).await.map_err(generic)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(generic)?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
            Ok::<(), object_store::Error>(())
        }
        .await;
        match result {
            Ok(()) => writer.finish().await.map(|_| ()),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}
