//! The OpenAPI document, generated from the handlers' annotations and the response types,
//! under the seed's schema names.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{HttpError, HttpValidationError, LocItem, ValidationIssue};
use crate::routes::bin::{
    BinItem, BinListResponse, BinPurgeBeforeRequest, BinPurgeRequest, BinPurgeResponse,
    BinRestoreRequest, BinRestoreResponse,
};
use crate::routes::ensure::{EnsureRequest, EnsureResponse, EnsuredFile, PrefetchResponse};
use crate::routes::evaluation::{EvaluationBatch, EvaluationRequest};
use crate::routes::files::{LoRADeleteRequest, LoRADeleteResponse, LoRAFileItem, LoRAListResponse};
use crate::routes::health::{
    HealthResponse, HealthStatus, InstallsStatus, ReplicaStatus, StorageStatus, UploadsStatus,
};
use crate::routes::upload::{
    AdminLoRAUploadResponse, BodyAdminUploadLora, BodyUploadLora, LoRAUploadResponse,
};
use crate::routes::{bin, ensure, evaluation, events, files, health, install, meta, tus, upload};

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        http.description = Some(
            "A JWT (HS256, RS256, ES256 or EdDSA, as configured) with `sub` and `exp`; the claim \
             `role: \"admin\"` makes an admin, anything else a user."
                .into(),
        );
        components.add_security_scheme("HTTPBearer", SecurityScheme::Http(http));
    }
}

/// The service's OpenAPI document: `lora_http::ApiDoc::openapi()`.
///
/// Each operation lists every status its handler can answer (the contract suite's
/// `statuses.rs` provokes them and checks both ways): 503 on every route that touches the
/// store (a data directory that is read-only, unreadable or gone), 507 on every route that
/// writes (a full disk). Not listed: 405, which a path's fallback answers for a method it
/// has no operation for (OpenAPI describes operations; the `Allow` header names them).
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Custom API - Admin",
        version = "1.0.0",
        description = "This is a very custom OpenAPI schema. LoRA management and model evaluation \
                       for image-generation compute servers."
    ),
    paths(
        upload::admin_upload,
        files::list,
        files::delete,
        meta::patch,
        install::create,
        install::list,
        install::get,
        install::cancel,
        events::stream,
        bin::list,
        bin::restore,
        bin::purge,
        bin::purge_before,
        upload::user_upload,
        evaluation::evaluate,
        ensure::ensure,
        ensure::prefetch,
        health::health,
        tus::options,
        tus::create,
        tus::head,
        tus::patch,
        tus::delete,
        tus::get,
        tus::admin_options,
        tus::admin_create,
        tus::admin_head,
        tus::admin_patch,
        tus::admin_delete,
        tus::admin_get,
    ),
    components(schemas(
        BodyUploadLora,
        BodyAdminUploadLora,
        LoRAUploadResponse,
        AdminLoRAUploadResponse,
        LoRADeleteRequest,
        LoRADeleteResponse,
        LoRAFileItem,
        crate::routes::listing::CatalogueFacts,
        crate::routes::listing::LoRAMeta,
        crate::routes::meta::LoRAMetaRequest,
        crate::routes::meta::LoRAMetaResponse,
        crate::install::InstallRequest,
        crate::install::InstallJob,
        crate::install::InstallStatus,
        crate::install::HashSource,
        crate::routes::install::InstallListResponse,
        crate::events::Event,
        crate::events::EventKind,
        crate::events::ResetEvent,
        crate::events::StreamEvent,
        crate::events::SseFrame,
        LoRAListResponse,
        BinItem,
        BinListResponse,
        BinRestoreRequest,
        BinRestoreResponse,
        BinPurgeRequest,
        BinPurgeBeforeRequest,
        BinPurgeResponse,
        EvaluationRequest,
        EvaluationBatch,
        EnsureRequest,
        EnsureResponse,
        EnsuredFile,
        PrefetchResponse,
        HealthResponse,
        HealthStatus,
        StorageStatus,
        UploadsStatus,
        InstallsStatus,
        ReplicaStatus,
        HttpValidationError,
        ValidationIssue,
        LocItem,
        HttpError,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "admin", description = "LoRA management (admin token)"),
        (name = "lora", description = "LoRA upload, and files put on this node's disk for a pipeline (user or admin token)"),
        (name = "evaluation", description = "Model evaluation"),
        (name = "uploads", description = "Resumable uploads, tus 1.0.0 (docs/CLIENTS.md)"),
    )
)]
pub struct ApiDoc;
