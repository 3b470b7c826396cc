use std::fmt;

use sanitize_filename::Options;

use crate::CoreError;

/// The file formats a LoRA may be uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// `.safetensors`
    Safetensors,
    /// `.ckpt`
    Ckpt,
    /// `.pt`
    Pt,
    /// `.pth`
    Pth,
    /// `.bin`
    Bin,
}

impl Extension {
    /// Every accepted extension.
    pub const ALL: [Extension; 5] = [
        Extension::Safetensors,
        Extension::Ckpt,
        Extension::Pt,
        Extension::Pth,
        Extension::Bin,
    ];

    /// The extension without its dot, lower case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Extension::Safetensors => "safetensors",
            Extension::Ckpt => "ckpt",
            Extension::Pt => "pt",
            Extension::Pth => "pth",
            Extension::Bin => "bin",
        }
    }

    /// The extension (without its dot) in any case, or `None` when it is not accepted.
    pub fn parse(ext: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(ext))
    }

    /// The accepted extension that ends `file_name` (any case), if there is one.
    pub fn of_file_name(file_name: &str) -> Option<Self> {
        file_name
            .rsplit_once('.')
            .and_then(|(_, ext)| Self::parse(ext))
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A filename that is safe to create inside an entity folder.
///
/// Built from a client's filename by [`SafeFileName::from_client`]: directory parts are
/// stripped (both `/` and `\`), characters that are unsafe on Linux or Windows are replaced
/// by `_`, leading dots and surrounding blanks are removed, the stem is capped so that any
/// version suffix still fits a 255-byte name, and the extension is lower-cased (pipelines
/// match `.safetensors` case-sensitively).
///
/// [`SafeFileName::version`] gives `stem_v2.ext`, `stem_v3.ext`, …, the names tried in
/// turn when the name is already taken.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafeFileName {
    stem: String,
    extension: Extension,
    version: u32,
    full: String,
}

/// Longest stem kept, in bytes: 200 + `_v4294967295` (12) + `.safetensors` (12) < 255.
const MAX_STEM_BYTES: usize = 200;

impl SafeFileName {
    /// Reduces a client's filename to a safe name.
    ///
    /// # Errors
    ///
    /// [`CoreError::BadExtension`] when the name does not end in an accepted extension,
    /// checked first; [`CoreError::EmptyName`] when nothing is left of the stem.
    pub fn from_client(raw: &str) -> Result<Self, CoreError> {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
        let Some(extension) = Extension::parse(ext) else {
            return Err(CoreError::BadExtension {
                given: if base.contains('.') {
                    format!(".{}", escape(ext))
                } else {
                    String::new()
                },
            });
        };
        let stem = sanitize_stem(stem);
        if stem.is_empty() {
            return Err(CoreError::EmptyName { given: escape(raw) });
        }
        Ok(Self::build(stem, extension, 1))
    }

    /// The same name with a version suffix: `version(1)` is the name itself, `version(n)`
    /// for `n >= 2` is `stem_v{n}.ext`.
    #[must_use]
    pub fn version(&self, n: u32) -> Self {
        Self::build(self.stem.clone(), self.extension, n.max(1))
    }

    /// The versions to try in turn when this name is taken: `stem.ext`, `stem_v2.ext`, …
    pub fn versions(&self) -> impl Iterator<Item = SafeFileName> + '_ {
        (1..=u32::MAX).map(|n| self.version(n))
    }

    /// The stored filename.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The name without its version suffix and extension (`my_lora` for
    /// `my_lora_v3.safetensors`): what every version of it starts with.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// The accepted extension the name ends in.
    pub fn extension(&self) -> Extension {
        self.extension
    }

    /// The version number: 1 for the plain name, `n` for `stem_v{n}.ext`.
    pub fn version_number(&self) -> u32 {
        self.version
    }

    fn build(stem: String, extension: Extension, version: u32) -> Self {
        let full = versioned_file_name(&format!("{stem}.{extension}"), version);
        Self {
            stem,
            extension,
            version,
            full,
        }
    }
}

impl fmt::Display for SafeFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl AsRef<str> for SafeFileName {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

/// Version `n` of any file name: `n <= 1` is the name itself, otherwise `_v{n}` goes before
/// the last extension (`a.b.pt` → `a.b_v2.pt`; `README` → `README_v2`). The stem is
/// shortened on a character boundary when the result would pass 255 bytes, so the result is
/// always a valid file name when `name` is.
///
/// ```
/// assert_eq!(lora_core::versioned_file_name("x.safetensors", 3), "x_v3.safetensors");
/// assert_eq!(lora_core::versioned_file_name("x.safetensors", 1), "x.safetensors");
/// ```
pub fn versioned_file_name(name: &str, n: u32) -> String {
    if n <= 1 {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    let suffix = format!("_v{n}");
    let ext_len = ext.map_or(0, |e| e.len() + 1);
    let mut keep = stem
        .len()
        .min(255usize.saturating_sub(suffix.len() + ext_len));
    while !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    match ext {
        Some(ext) => format!("{}{suffix}.{ext}", &stem[..keep]),
        None => format!("{}{suffix}", &stem[..keep]),
    }
}

fn sanitize_stem(stem: &str) -> String {
    let options = Options {
        windows: true,
        truncate: false,
        replacement: "_",
    };
    // Trim first: sanitize-filename would turn trailing dots and blanks (invalid on
    // Windows) into `_`, and a leading dot would hide the file; then trim what it left.
    let cleaned = sanitize_filename::sanitize_with_options(trim_ends(stem), options);
    let cleaned = trim_ends(&cleaned);
    let mut end = cleaned.len().min(MAX_STEM_BYTES);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    cleaned[..end].trim_end().to_owned()
}

fn trim_ends(s: &str) -> &str {
    s.trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Escapes control characters so a name can be quoted in a message or a log line.
pub(crate) fn escape(raw: &str) -> String {
    raw.chars()
        .flat_map(char::escape_default)
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn safe(raw: &str) -> String {
        SafeFileName::from_client(raw).unwrap().to_string()
    }

    #[test]
    fn directory_parts_are_stripped() {
        assert_eq!(safe("../../x.pt"), "x.pt");
        assert_eq!(safe("C:\\a\\x.pt"), "x.pt");
        assert_eq!(safe("/etc/cron.d/x.safetensors"), "x.safetensors");
    }

    #[test]
    fn leading_dots_and_blanks_are_removed() {
        assert_eq!(safe("...hidden.ckpt"), "hidden.ckpt");
        assert_eq!(safe("  . spaced .bin"), "spaced.bin");
    }

    #[test]
    fn unsafe_characters_are_replaced() {
        assert_eq!(safe("a:b*c?.pt"), "a_b_c_.pt");
        assert_eq!(safe("nul\0byte.pt"), "nul_byte.pt");
    }

    #[test]
    fn extension_is_checked_case_insensitively_and_lower_cased() {
        assert_eq!(safe("Model.SAFETENSORS"), "Model.safetensors");
        assert_eq!(safe("x.tar.Pth"), "x.tar.pth");
    }

    #[test]
    fn bad_extensions_are_refused_before_the_name() {
        for (raw, given) in [
            ("x.txt", ".txt"),
            ("x", ""),
            ("x.pt.exe", ".exe"),
            ("", ""),
            ("..", "."),
        ] {
            assert_eq!(
                SafeFileName::from_client(raw),
                Err(CoreError::BadExtension {
                    given: given.to_owned()
                }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn names_that_end_empty_are_refused() {
        for raw in [".pt", "../.safetensors", "....ckpt", " .bin", "dir/ ..pt"] {
            assert!(
                matches!(
                    SafeFileName::from_client(raw),
                    Err(CoreError::EmptyName { .. })
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn versions_append_a_suffix_to_the_stem() {
        let name = SafeFileName::from_client("lora.pt").unwrap();
        let names: Vec<_> = name.versions().take(3).map(|n| n.to_string()).collect();
        assert_eq!(names, ["lora.pt", "lora_v2.pt", "lora_v3.pt"]);
        assert_eq!(name.version(7).version(3).as_str(), "lora_v3.pt");
    }

    #[test]
    fn long_stems_are_capped_on_a_char_boundary() {
        let raw = format!("{}.safetensors", "é".repeat(300));
        let name = SafeFileName::from_client(&raw).unwrap();
        assert!(name.version(u32::MAX).as_str().len() <= 255);
    }

    #[test]
    fn any_name_can_be_versioned_within_255_bytes() {
        assert_eq!(versioned_file_name("README", 2), "README_v2");
        assert_eq!(versioned_file_name(".hidden", 2), ".hidden_v2");
        let long = format!("{}.bin", "a".repeat(251));
        let v = versioned_file_name(&long, 12);
        assert_eq!(v.len(), 255);
        assert!(v.ends_with("_v12.bin"));
    }

    proptest! {
        #[test]
        fn safe_names_never_hold_a_separator_or_start_with_a_dot(raw in any::<String>(), n in 1u32..) {
            if let Ok(name) = SafeFileName::from_client(&raw) {
                for candidate in [name.clone(), name.version(n)] {
                    let s = candidate.as_str();
                    prop_assert!(!s.contains(['/', '\\', '\0']));
                    prop_assert!(!s.starts_with('.'));
                    prop_assert!(s != "." && s != "..");
                    prop_assert!(s.len() <= 255);
                    prop_assert_eq!(Extension::of_file_name(s), Some(candidate.extension()));
                }
            }
        }

        #[test]
        fn versions_are_all_distinct(raw in "[a-z_]{1,12}(_v[0-9]{1,3})?\\.(pt|bin)", a in 1u32..5000, b in 1u32..5000) {
            let name = SafeFileName::from_client(&raw).unwrap();
            prop_assert_eq!(a == b, name.version(a) == name.version(b));
            prop_assert_eq!(a == b, name.version(a).as_str() == name.version(b).as_str());
        }
    }
}
