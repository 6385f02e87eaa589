//! Turning a requested file name into a path below a root, safely.
//!
//! This is the pure part: it works on the name alone and never touches the
//! file system. A server must still check that symbolic links do not lead
//! out of its root after joining (the `tftpd` daemon does).

use std::fmt;

/// Longest file name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest single path component accepted, in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;

/// Why a file name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Empty name, or a name that names the root itself.
    Empty,
    /// Longer than [`MAX_NAME_LEN`] or a component longer than [`MAX_COMPONENT_LEN`].
    TooLong,
    /// A control character (including NUL and DEL).
    ControlCharacter,
    /// A `..` component.
    ParentComponent,
    /// A DOS drive prefix such as `C:`.
    DrivePrefix,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "empty file name",
            PathError::TooLong => "file name too long",
            PathError::ControlCharacter => "control character in file name",
            PathError::ParentComponent => "'..' in file name",
            PathError::DrivePrefix => "drive prefix in file name",
        })
    }
}

impl std::error::Error for PathError {}

/// Splits a requested name into safe components relative to the root.
///
/// A leading `/` means "from the root" (PXE clients ask for `/pxelinux.0`),
/// `\` is a separator like `/` (Windows boot loaders ask for
/// `boot\x64\wdsnbp.com`), empty and `.` components are dropped, `..` is
/// refused anywhere, as are control characters and drive prefixes.
///
/// ```
/// use netboot_tftp::path::{components, PathError};
/// assert_eq!(components("/boot\\x64//./wdsnbp.com").unwrap(), ["boot", "x64", "wdsnbp.com"]);
/// assert_eq!(components("a/../../etc/passwd"), Err(PathError::ParentComponent));
/// ```
pub fn components(name: &str) -> Result<Vec<&str>, PathError> {
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::TooLong);
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(PathError::ControlCharacter);
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathError::DrivePrefix);
    }
    let mut out = Vec::new();
    for c in name.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." => return Err(PathError::ParentComponent),
            c if c.len() > MAX_COMPONENT_LEN => return Err(PathError::TooLong),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pxe_and_windows_names() {
        assert_eq!(components("pxelinux.0").unwrap(), ["pxelinux.0"]);
        assert_eq!(components("/pxelinux.0").unwrap(), ["pxelinux.0"]);
        assert_eq!(
            components("pxelinux.cfg/01-52-54-00-12-34-56").unwrap(),
            ["pxelinux.cfg", "01-52-54-00-12-34-56"]
        );
        assert_eq!(
            components("boot\\x64\\wdsnbp.com").unwrap(),
            ["boot", "x64", "wdsnbp.com"]
        );
        assert_eq!(components("...").unwrap(), ["..."]);
        assert_eq!(components("a..b").unwrap(), ["a..b"]);
        assert_eq!(components("ünï cödé.txt").unwrap(), ["ünï cödé.txt"]);
    }

    #[test]
    fn refuses_escapes() {
        let bad = [
            ("", PathError::Empty),
            ("/", PathError::Empty),
            ("./.", PathError::Empty),
            ("..", PathError::ParentComponent),
            ("../etc/passwd", PathError::ParentComponent),
            ("/../etc/passwd", PathError::ParentComponent),
            ("a/../../b", PathError::ParentComponent),
            ("..\\..\\windows", PathError::ParentComponent),
            ("a\\..\\b", PathError::ParentComponent),
            ("C:\\boot.ini", PathError::DrivePrefix),
            ("c:boot.ini", PathError::DrivePrefix),
            ("a\nb", PathError::ControlCharacter),
            ("a\u{7f}", PathError::ControlCharacter),
            ("a\u{1b}[2J", PathError::ControlCharacter),
            ("a\u{85}", PathError::ControlCharacter),
        ];
        for (name, err) in bad {
            assert_eq!(components(name), Err(err), "{name:?}");
        }
        assert_eq!(components(&"a".repeat(1025)), Err(PathError::TooLong));
        assert_eq!(components(&"a".repeat(256)), Err(PathError::TooLong));
    }
}
