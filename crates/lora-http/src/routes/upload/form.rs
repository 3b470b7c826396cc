//! The upload forms' schemas (`Body_upload_lora`, `Body_admin_upload_lora`). The multipart
//! body is parsed by streaming (see `receive`), so these types only describe it; their
//! `entity_type` enums are built from the rule `receive` applies.

use lora_core::{EntityType, UploadRoute};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

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
    /// When the same bytes are already live (same SHA-256): `store` them anyway (the
    /// default), `reuse` the live file (200 with it, nothing stored), or `refuse` (409
    /// naming it). Every answer lists such files in `duplicate_of`.
    #[schema(value_type = lora_core::IfDuplicate, required = false, default = "store")]
    if_duplicate: Option<String>,
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
    /// When the same bytes are already live (same SHA-256): `store` them anyway (the
    /// default), `reuse` the live file (200 with it, nothing stored), or `refuse` (409
    /// naming it). Every answer lists such files in `duplicate_of`.
    #[schema(value_type = lora_core::IfDuplicate, required = false, default = "store")]
    if_duplicate: Option<String>,
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
