//! The OpenAPI document, generated from the handlers' annotations and the response types,
//! under the seed's schema names.

use lora_core::{EntityType, UploadRoute};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::{HttpError, HttpValidationError, LocItem, ValidationIssue};
use crate::routes::bin::{
    BinItem, BinListResponse, BinPurgeBeforeRequest, BinPurgeRequest, BinPurgeResponse,
    BinRestoreRequest, BinRestoreResponse,
};
use crate::routes::evaluation::{EvaluationBatch, EvaluationRequest};
use crate::routes::files::{LoRADeleteRequest, LoRADeleteResponse, LoRAFileItem, LoRAListResponse};
use crate::routes::health::{HealthResponse, HealthStatus, StorageStatus};
use crate::routes::upload::{AdminLoRAUploadResponse, LoRAUploadResponse};
use crate::routes::{bin, evaluation, files, health, upload};

/// `Body_upload_lora`: the user upload form.
#[derive(Debug, ToSchema)]
#[schema(as = Body_upload_lora)]
#[allow(dead_code)]
pub struct BodyUploadLora {
    /// The LoRA model file to upload (`.safetensors .ckpt .pt .pth .bin`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The entity type (clothes, identities, product, styles); missing or empty means
    /// `no_type_provided`. Trimmed and lower-cased before checking.
    #[schema(value_type = UserEntityType, required = false)]
    entity_type: Option<String>,
    /// Whether to enable automatic versioning for duplicate filenames (`name_v2.ext`, …);
    /// `false` makes a duplicate a 409.
    #[schema(value_type = bool, required = false, default = true)]
    use_safe_filename: Option<bool>,
}

/// `Body_admin_upload_lora`: the admin upload form.
#[derive(Debug, ToSchema)]
#[schema(as = Body_admin_upload_lora)]
#[allow(dead_code)]
pub struct BodyAdminUploadLora {
    /// The LoRA model file to upload (`.safetensors .ckpt .pt .pth .bin`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The entity type (clothes, faces, identities, product, styles); missing or empty
    /// means `no_type_provided`. Trimmed and lower-cased before checking.
    #[schema(value_type = AdminEntityType, required = false)]
    entity_type: Option<String>,
    /// Whether to enable automatic versioning for duplicate filenames (`name_v2.ext`, …);
    /// `false` makes a duplicate a 409.
    #[schema(value_type = bool, required = false, default = true)]
    use_safe_filename: Option<bool>,
}

/// The `entity_type` values an upload route accepts, as an OpenAPI enum.
///
/// Built from [`EntityType::allowed_on`], the rule the handler applies, so the document
/// cannot advertise a value the server refuses. (A missing or empty field also means
/// `no_type_provided`; an empty string is left out of the enum because it names nothing.)
fn entity_type_enum(route: UploadRoute, description: &str) -> RefOr<Schema> {
    let values: Vec<&str> = EntityType::ALL
        .into_iter()
        .filter(|e| e.allowed_on(route))
        .map(EntityType::as_str)
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// The entity types the user upload route accepts.
#[derive(Debug)]
struct UserEntityType;

impl PartialSchema for UserEntityType {
    fn schema() -> RefOr<Schema> {
        entity_type_enum(
            UploadRoute::User,
            "The entity types the user upload route accepts.",
        )
    }
}

impl ToSchema for UserEntityType {}

/// The entity types the admin upload route accepts.
#[derive(Debug)]
struct AdminEntityType;

impl PartialSchema for AdminEntityType {
    fn schema() -> RefOr<Schema> {
        entity_type_enum(
            UploadRoute::Admin,
            "The entity types the admin upload route accepts.",
        )
    }
}

impl ToSchema for AdminEntityType {}

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
        bin::list,
        bin::restore,
        bin::purge,
        bin::purge_before,
        upload::user_upload,
        evaluation::evaluate,
        health::health,
    ),
    components(schemas(
        BodyUploadLora,
        BodyAdminUploadLora,
        LoRAUploadResponse,
        AdminLoRAUploadResponse,
        LoRADeleteRequest,
        LoRADeleteResponse,
        LoRAFileItem,
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
        HealthResponse,
        HealthStatus,
        StorageStatus,
        HttpValidationError,
        ValidationIssue,
        LocItem,
        HttpError,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "admin", description = "LoRA management (admin token)"),
        (name = "lora", description = "LoRA upload (user or admin token)"),
        (name = "evaluation", description = "Model evaluation"),
    )
)]
pub struct ApiDoc;
