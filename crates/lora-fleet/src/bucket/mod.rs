//! The bucket's operations, as fleet mode uses them, over `object_store`.
//!
//! Every write that gives an object its final name is conditional (`If-None-Match: *`),
//! so none can overwrite: a conditional copy ([`Bucket::create_copy`]) from a staging key
//! or from the bin, a conditional put of a small upload ([`Bucket::create`]), and a
//! conditional completion of a multipart upload streamed to its name
//! ([`Bucket::complete_new`], one of the two requests `object_store` cannot send: they are
//! presigned by `object_store` and sent here). Deletes and the service's own small objects
//! (sums, records, leases) are the only other writes.
//!
//! `client` holds the bucket and how it is reached; `objects` whole objects; `multipart`
//! multipart uploads; `presigned` the requests sent by hand; `download` ranged reads.

mod client;
mod download;
mod multipart;
mod objects;
mod presigned;

pub(crate) use client::{Bucket, Listed};
pub(crate) use download::DownloadError;
#[cfg(test)]
pub(crate) use presigned::parse_open_multiparts;
pub(crate) use presigned::{Completion, OpenMultipart};
