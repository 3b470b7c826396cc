//! Whole objects: conditional creates and copies, the service's own small objects (with
//! their ETags, for leases), heads, deletes and listings.

use futures_util::StreamExt;
use lora_core::Sha256;
use object_store::path::Path;
use object_store::{Attribute, GetOptions, ObjectStoreExt, PutPayload};

use super::client::{Bucket, Listed, SHA256, sha_attribute};

impl Bucket {
    /// Creates the object at `key` only if `key` is free (`If-None-Match: *`), with its
    /// SHA-256 as metadata when given: its ETag, or `None` when the name is taken.
    pub(crate) async fn create(
        &self,
        key: &Path,
        bytes: PutPayload,
        sha256: Option<Sha256>,
    ) -> Result<Option<String>, object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            attributes: sha256.map(sha_attribute).unwrap_or_default(),
            ..object_store::PutOptions::default()
        };
        match self.store.put_opts(key, bytes, options).await {
            Ok(put) => self.etag_of(key, put.e_tag).await.map(Some),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Copies `from` to `to` only if `to` does not exist: `Ok(false)` when it does.
    pub(crate) async fn create_copy(
        &self,
        from: &Path,
        to: &Path,
    ) -> Result<bool, object_store::Error> {
        match self.store.copy_if_not_exists(from, to).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A small object with its ETag; `None` when it does not exist.
    pub(crate) async fn get_tagged(
        &self,
        key: &Path,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, object_store::Error> {
        match self.store.get(key).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                Ok(Some((got.bytes().await?.to_vec(), etag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the small object at `key` only if it is still the version `etag`: the new
    /// ETag, or `None` when it changed or went.
    pub(crate) async fn replace_tagged(
        &self,
        key: &Path,
        bytes: Vec<u8>,
        etag: &str,
    ) -> Result<Option<String>, object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Update(object_store::UpdateVersion {
                e_tag: Some(etag.to_owned()),
                version: None,
            }),
            ..object_store::PutOptions::default()
        };
        match self.store.put_opts(key, bytes.into(), options).await {
            Ok(put) => self.etag_of(key, put.e_tag).await.map(Some),
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ETag a write answered, or (a store that answers none) the one a look finds.
    async fn etag_of(
        &self,
        key: &Path,
        answered: Option<String>,
    ) -> Result<String, object_store::Error> {
        if let Some(etag) = answered {
            return Ok(etag);
        }
        Ok(self
            .head(key)
            .await?
            .and_then(|(listed, _)| listed.etag)
            .unwrap_or_default())
    }

    /// Deletes `key` if it is still the version `etag` (a look, then the delete: what only
    /// its holder renews cannot change in between).
    pub(crate) async fn delete_tagged(
        &self,
        key: &Path,
        etag: &str,
    ) -> Result<(), object_store::Error> {
        match self.get_tagged(key).await? {
            Some((_, Some(current))) if current == etag => self.delete(key).await,
            _ => Ok(()),
        }
    }

    /// Writes a small object of this service's own (a sum), replacing what was there.
    pub(crate) async fn put_small(
        &self,
        key: &Path,
        bytes: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        self.store.put(key, bytes.into()).await.map(|_| ())
    }

    /// Deletes `key`; a missing key is not an error.
    pub(crate) async fn delete(&self, key: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The object's size, time and SHA-256 metadata; `None` when it does not exist.
    pub(crate) async fn head(
        &self,
        key: &Path,
    ) -> Result<Option<(Listed, Option<Sha256>)>, object_store::Error> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(key, options).await {
            Ok(got) => {
                let sha = got
                    .attributes
                    .get(&Attribute::Metadata(SHA256.into()))
                    .and_then(|v| Sha256::parse_hex(v.as_ref()).ok());
                Ok(Some((Listed::from(got.meta), sha)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The whole of a small object; `None` when it does not exist.
    pub(crate) async fn get_small(
        &self,
        key: &Path,
    ) -> Result<Option<Vec<u8>>, object_store::Error> {
        Ok(self.get_tagged(key).await?.map(|(bytes, _)| bytes))
    }

    /// Every object under `prefix`.
    pub(crate) async fn list(&self, prefix: &Path) -> Result<Vec<Listed>, object_store::Error> {
        let mut out = Vec::new();
        let mut stream = self.store.list(Some(prefix));
        while let Some(meta) = stream.next().await {
            out.push(Listed::from(meta?));
        }
        Ok(out)
    }
}
