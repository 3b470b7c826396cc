use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The folder a LoRA file belongs to, under `DATA/models/loras/`.
///
/// `NoTypeProvided` is where an upload that names no entity type goes: the original
/// service documents `no_type_provided` as the default of the optional form field, and
/// refusing such uploads would make the optional field mandatory for existing clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntityType {
    /// Garments.
    Clothes,
    /// Face LoRAs; admin uploads only.
    Faces,
    /// People.
    Identities,
    /// The folder for uploads that name no entity type.
    NoTypeProvided,
    /// Products.
    Product,
    /// Styles.
    Styles,
}

/// Which upload route a request came through; it decides the allowed entity types.
///
/// Serialized as `user` or `admin` (a resumable upload remembers the rules it was created
/// under).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadRoute {
    /// `POST /api/v1/lora/upload`: users and admins.
    User,
    /// `POST /api/v1/admin/lora/upload`: admins only, may also upload `faces`.
    Admin,
}

impl EntityType {
    /// Every entity type, sorted by name (the order listings use).
    pub const ALL: [EntityType; 6] = [
        EntityType::Clothes,
        EntityType::Faces,
        EntityType::Identities,
        EntityType::NoTypeProvided,
        EntityType::Product,
        EntityType::Styles,
    ];

    /// The folder name, as used in paths and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityType::Clothes => "clothes",
            EntityType::Faces => "faces",
            EntityType::Identities => "identities",
            EntityType::NoTypeProvided => "no_type_provided",
            EntityType::Product => "product",
            EntityType::Styles => "styles",
        }
    }

    /// Whether uploads through `route` may use this entity type.
    pub const fn allowed_on(self, route: UploadRoute) -> bool {
        !matches!((self, route), (EntityType::Faces, UploadRoute::User))
    }

    /// Parses the `entity_type` form field of an upload.
    ///
    /// The value is trimmed and lower-cased; a missing or empty value means
    /// [`EntityType::NoTypeProvided`].
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownEntityType`] for a value that is no entity type, and
    /// [`CoreError::EntityTypeNotAllowed`] for one the route does not accept.
    pub fn parse_form(raw: Option<&str>, route: UploadRoute) -> Result<Self, CoreError> {
        let given = raw.map(str::trim).unwrap_or_default().to_lowercase();
        if given.is_empty() {
            return Ok(EntityType::NoTypeProvided);
        }
        let allowed = || Self::allowed_list(route);
        let entity = given
            .parse::<EntityType>()
            .map_err(|_| CoreError::UnknownEntityType {
                given: given.clone(),
                allowed: allowed(),
            })?;
        if entity.allowed_on(route) {
            Ok(entity)
        } else {
            Err(CoreError::EntityTypeNotAllowed {
                given,
                allowed: allowed(),
            })
        }
    }

    /// The entity types a client may name on `route`, for messages and documentation.
    /// `no_type_provided` is left out: it is what *not* naming one means.
    pub fn allowed_list(route: UploadRoute) -> String {
        Self::ALL
            .iter()
            .filter(|e| e.allowed_on(route) && **e != EntityType::NoTypeProvided)
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for EntityType {
    type Err = CoreError;

    /// Exact folder name, as it appears in a partial path (no trimming, no case folding).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| CoreError::UnknownEntityType {
                given: s.to_owned(),
                allowed: Self::ALL.map(EntityType::as_str).join(", "),
            })
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_trimmed_and_lower_cased() {
        assert_eq!(
            EntityType::parse_form(Some("  IdEntities\t"), UploadRoute::User),
            Ok(EntityType::Identities)
        );
    }

    #[test]
    fn missing_or_blank_means_no_type_provided() {
        for raw in [None, Some(""), Some("   ")] {
            assert_eq!(
                EntityType::parse_form(raw, UploadRoute::User),
                Ok(EntityType::NoTypeProvided)
            );
        }
    }

    #[test]
    fn faces_is_admin_only() {
        assert!(matches!(
            EntityType::parse_form(Some("faces"), UploadRoute::User),
            Err(CoreError::EntityTypeNotAllowed { .. })
        ));
        assert_eq!(
            EntityType::parse_form(Some("faces"), UploadRoute::Admin),
            Ok(EntityType::Faces)
        );
    }

    #[test]
    fn unknown_values_are_refused_with_the_allowed_list() {
        let err = EntityType::parse_form(Some("../etc"), UploadRoute::User).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid entity_type '../etc'. Allowed values: clothes, identities, product, styles"
        );
    }

    #[test]
    fn serde_uses_folder_names() {
        let json = serde_json::to_string(&EntityType::NoTypeProvided).unwrap();
        assert_eq!(json, "\"no_type_provided\"");
        for e in EntityType::ALL {
            assert_eq!(e.as_str().parse::<EntityType>(), Ok(e));
        }
    }

    #[test]
    fn all_is_sorted_by_name() {
        let names = EntityType::ALL.map(EntityType::as_str);
        let mut sorted = names;
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }
}
