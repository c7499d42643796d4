//! File names that are safe in the transfer directory: one path component,
//! no hidden files (the folder's own bookkeeping starts with a dot), and a
//! ` (1)`, ` (2)` … suffix when the name is taken, as a desktop's file
//! manager does.

/// The longest name in bytes (the common file system limit).
pub const MAX_NAME_BYTES: usize = 255;
/// How many numbered variants of a taken name are tried.
pub const MAX_SUFFIX: u32 = 999;

/// 1..=255 bytes, no `/`, `\`, NUL or other control characters, not `.` or `..`, no leading dot.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.starts_with('.')
        && !name.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The `n`-th variant of `name`: `report (n).txt`, the suffix before the last
/// extension; the stem is shortened (at a character boundary) when the result
/// would be over the length limit. `n = 0` is the name itself.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    let suffix = format!(" ({n})");
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0b", ".hidden", "tab\there", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        assert!(!is_safe_name(&"a".repeat(256)));
        for good in ["a.txt", "Report 2024 (final).pdf", "ü€漢字.md", "x..y", "trailing.", &"a".repeat(255)] {
            assert!(is_safe_name(good), "{good:?}");
        }
    }

    #[test]
    fn numbered_variants_keep_the_extension_and_the_length_limit() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered("README", 3), "README (3)");
        let long = format!("{}.txt", "é".repeat(125)); // 254 bytes
        let n = numbered(&long, 12);
        assert!(n.len() <= MAX_NAME_BYTES && n.ends_with(" (12).txt") && is_safe_name(&n), "{n}");
    }
}
