use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::escape;
use crate::{CoreError, EntityType, SafeFileName};

/// `{entity_type}/{filename}`: how clients name a stored file, relative to the LoRA folder.
///
/// A `PartialPath` has exactly two parts: a known entity type and a single file name that
/// is not empty, not `.` or `..`, holds no `/`, `\` or NUL, and fits in 255 bytes. It can
/// therefore never name anything outside its entity folder. (Whether the file exists, is a
/// regular file, or is a symlink leading elsewhere is for the store to find out.)
///
/// The file name is not held to [`SafeFileName`]'s rules: files placed in the folders by
/// other means keep whatever names they were given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartialPath {
    entity: EntityType,
    name: String,
}

impl PartialPath {
    /// The path of a file stored under a safe name.
    pub fn new(entity: EntityType, name: SafeFileName) -> Self {
        Self {
            entity,
            name: name.to_string(),
        }
    }

    /// The path of `name` in `entity`'s folder, for a name read from disk.
    ///
    /// # Errors
    ///
    /// [`CoreError::BadPartialPath`] when `name` is not a single plain file name.
    pub fn from_parts(entity: EntityType, name: &str) -> Result<Self, CoreError> {
        check_name(name).map_err(|reason| bad(&format!("{entity}/{name}"), reason))?;
        Ok(Self {
            entity,
            name: name.to_owned(),
        })
    }

    /// Parses a client's `partial_path`.
    ///
    /// # Errors
    ///
    /// [`CoreError::BadPartialPath`] for an absolute path, a backslash, a NUL, empty parts,
    /// `.` or `..` parts, an unknown entity type, or anything but exactly two parts.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        if raw.is_empty() {
            return Err(bad(raw, "it is empty"));
        }
        if raw.starts_with('/') {
            return Err(bad(
                raw,
                "it must be relative, like 'identities/name.safetensors'",
            ));
        }
        if raw.contains('\0') {
            return Err(bad(raw, "it contains a NUL character"));
        }
        if raw.contains('\\') {
            return Err(bad(raw, "it contains a backslash"));
        }
        let parts: Vec<&str> = raw.split('/').collect();
        if parts.contains(&"..") {
            return Err(bad(raw, "'..' is not allowed"));
        }
        if parts.iter().any(|p| p.is_empty() || *p == ".") {
            return Err(bad(raw, "it has an empty or '.' part"));
        }
        let [entity, name] = parts[..] else {
            return Err(bad(raw, "it must be '{entity_type}/{filename}'"));
        };
        let entity: EntityType = entity
            .parse()
            .map_err(|_| bad(raw, "the first part is not a known entity type"))?;
        Self::from_parts(entity, name).map_err(|_| bad(raw, "the file name is not valid"))
    }

    /// The entity folder.
    pub fn entity(&self) -> EntityType {
        self.entity
    }

    /// The file name inside the entity folder.
    pub fn file_name(&self) -> &str {
        &self.name
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("the file name is empty, '.' or '..'");
    }
    if name.contains(['/', '\\', '\0']) {
        return Err("the file name contains '/', '\\' or NUL");
    }
    if name.len() > 255 {
        return Err("the file name is longer than 255 bytes");
    }
    Ok(())
}

fn bad(raw: &str, reason: &'static str) -> CoreError {
    let mut given = escape(raw);
    if given.len() > 300 {
        let mut end = 300;
        while !given.is_char_boundary(end) {
            end -= 1;
        }
        given.truncate(end);
        given.push('…');
    }
    CoreError::BadPartialPath { given, reason }
}

impl fmt::Display for PartialPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.entity, self.name)
    }
}

impl TryFrom<String> for PartialPath {
    type Error = CoreError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PartialPath> for String {
    fn from(value: PartialPath) -> Self {
        value.to_string()
    }
}

/// The longest partial path the schema advertises: an entity folder, `/`, and a 255-byte
/// name; [`PartialPath::parse`] enforces the name's length, this bound just tells clients.
#[cfg(feature = "openapi")]
const MAX_PARTIAL_PATH_LEN: usize = 16 + 1 + 255;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for PartialPath {
    /// The same rules as [`PartialPath::parse`], as a pattern: a known entity folder, then
    /// one file name that is not `.` or `..` and holds no `/`, `\` or NUL.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let entities = EntityType::ALL.map(EntityType::as_str).join("|");
        let plain = r"[^/\\\u0000]";
        let pattern = format!(r"^({entities})/{plain}*[^./\\\u0000]{plain}*$");
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .max_length(Some(MAX_PARTIAL_PATH_LEN))
            .description(Some(
                "`{entity_type}/{filename}`, relative to the LoRA folder (as returned by upload).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for PartialPath {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_paths_round_trip() {
        let p = PartialPath::parse("identities/Sh0ot1f1_01.safetensors").unwrap();
        assert_eq!(p.entity(), EntityType::Identities);
        assert_eq!(p.file_name(), "Sh0ot1f1_01.safetensors");
        assert_eq!(p.to_string(), "identities/Sh0ot1f1_01.safetensors");
    }

    #[test]
    fn hostile_paths_are_refused() {
        for raw in [
            "",
            "/data/models/loras/identities/x.pt",
            "identities/../x.pt",
            "../identities/x.pt",
            "identities/..",
            "identities//x.pt",
            "identities/./x.pt",
            "./identities/x.pt",
            "identities/x.pt/",
            "identities\\x.pt",
            "identities/x\0.pt",
            "identities",
            "identities/sub/x.pt",
            "unknown/x.pt",
            "Identities/x.pt",
        ] {
            assert!(
                matches!(
                    PartialPath::parse(raw),
                    Err(CoreError::BadPartialPath { .. })
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let ok: PartialPath = serde_json::from_str("\"styles/a.pt\"").unwrap();
        assert_eq!(ok.to_string(), "styles/a.pt");
        assert!(serde_json::from_str::<PartialPath>("\"styles/../a.pt\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"styles/a.pt\"");
    }

    proptest! {
        #[test]
        fn parsed_paths_never_escape_their_entity_folder(raw in "(([a-z_.]{0,12}|\\.\\.|\\.)(/|\\\\)?){0,4}", noise in any::<String>()) {
            for candidate in [raw.clone(), format!("{raw}{noise}"), format!("identities/{noise}")] {
                if let Ok(p) = PartialPath::parse(&candidate) {
                    let name = p.file_name();
                    prop_assert!(!name.is_empty() && name != "." && name != "..");
                    prop_assert!(!name.contains(['/', '\\', '\0']));
                    prop_assert_eq!(p.to_string(), candidate);
                }
            }
        }
    }
}
