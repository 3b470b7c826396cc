//! Reading `name` and `filename` from a `Content-Disposition`: a form part's, or (an
//! install) a download's `attachment; filename=…`.
//!
//! actix's own parser treats every backslash in a quoted string as an escape, which turns
//! a Windows path such as `C:\a\x.pt` into `C:ax.pt` before the name rules can strip its
//! directories. Browsers, curl and Python's `multipart` only escape `"` and `\` itself, so
//! this parser does the same; it also decodes RFC 5987 `filename*=UTF-8''…`, which wins over
//! `filename` when both are present.

/// The parameters of a part's disposition that the upload form uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Disposition {
    pub name: Option<String>,
    pub filename: Option<String>,
}

pub(crate) fn parse(raw: &[u8]) -> Disposition {
    let text = String::from_utf8_lossy(raw);
    let mut chars = text.chars().peekable();
    // The disposition type (`form-data`) runs to the first ';'.
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    let mut out = Disposition::default();
    let mut extended_filename = None;
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ';').is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ';') {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let key = key.trim().to_ascii_lowercase();
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\')) => {
                            value.extend(chars.next());
                        }
                        c => value.push(c),
                    }
                }
                // Skip anything between the closing quote and the next ';'.
                while chars.next_if(|c| *c != ';').is_some() {}
            } else {
                while let Some(c) = chars.next_if(|c| *c != ';') {
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
        }
        match key.as_str() {
            "name" => out.name = Some(value),
            "filename" => out.filename = Some(value),
            "filename*" => extended_filename = decode_extended(&value),
            _ => {}
        }
    }
    if extended_filename.is_some() {
        out.filename = extended_filename;
    }
    out
}

/// `UTF-8''%E2%82%AC.pt` → `€.pt` (RFC 5987); `None` for other charsets or bad escapes.
fn decode_extended(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_decode(encoded)
}

/// `%E2%82%AC.pt` → `€.pt`; `None` for a bad escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filename(raw: &str) -> Option<String> {
        parse(raw.as_bytes()).filename
    }

    #[test]
    fn a_download_attachment_names_its_file_and_the_encoded_form_wins() {
        assert_eq!(
            filename("attachment; filename=\"ink.safetensors\"").as_deref(),
            Some("ink.safetensors")
        );
        assert_eq!(
            filename(
                "attachment; filename=\"x.safetensors\"; filename*=UTF-8''%C3%A9t%C3%A9.safetensors"
            )
            .as_deref(),
            Some("été.safetensors")
        );
        assert_eq!(filename("inline"), None);
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a%2"), None);
    }

    #[test]
    fn plain_and_quoted_parameters() {
        let d = parse(br#"form-data; name="file"; filename="my lora.safetensors""#);
        assert_eq!(d.name.as_deref(), Some("file"));
        assert_eq!(d.filename.as_deref(), Some("my lora.safetensors"));
        let d = parse(b"form-data; name=entity_type");
        assert_eq!(d.name.as_deref(), Some("entity_type"));
        assert_eq!(d.filename, None);
    }

    #[test]
    fn backslashes_stay_literal_except_before_quote_or_backslash() {
        assert_eq!(
            filename(r#"form-data; name="file"; filename="C:\a\x.pt""#).as_deref(),
            Some(r"C:\a\x.pt")
        );
        assert_eq!(
            filename(r#"form-data; name="file"; filename="a\"b.pt""#).as_deref(),
            Some(r#"a"b.pt"#)
        );
        assert_eq!(
            filename(r#"form-data; name="file"; filename="a\\b.pt""#).as_deref(),
            Some(r"a\b.pt")
        );
    }

    #[test]
    fn semicolons_inside_quotes_and_empty_values() {
        assert_eq!(
            filename(r#"form-data; filename="a;b.pt"; name="file""#).as_deref(),
            Some("a;b.pt")
        );
        assert_eq!(
            filename(r#"form-data; name="file"; filename="""#).as_deref(),
            Some("")
        );
    }

    #[test]
    fn extended_filename_wins() {
        let raw =
            "form-data; name=\"file\"; filename=\"x.pt\"; filename*=UTF-8''%E2%82%AC%20rate.pt";
        assert_eq!(filename(raw).as_deref(), Some("€ rate.pt"));
        let bad = "form-data; name=\"file\"; filename=\"x.pt\"; filename*=UTF-8''%ZZ";
        assert_eq!(filename(bad).as_deref(), Some("x.pt"));
    }

    #[test]
    fn raw_utf8_names() {
        assert_eq!(
            filename("form-data; name=\"file\"; filename=\"Ünï.pt\"").as_deref(),
            Some("Ünï.pt")
        );
    }
}
