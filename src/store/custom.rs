//! Custom catalogue entries: data files a team adds through the API, kept
//! so they outlive restarts. The store keeps their text; the catalogue
//! checks it.

/// Longest custom entry, in bytes.
pub const MAX_CUSTOM_BYTES: usize = 64 * 1024;

/// A kept custom entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomEntry {
    /// The data directory it belongs to: "hardware", "models" or "prices".
    pub kind: String,
    pub name: String,
    pub team: String,
    pub text: String,
    pub revision: u32,
    /// Unix milliseconds, UTC.
    pub created_at: i64,
    pub updated_at: i64,
}

/// The not-found error for an unknown custom entry.
pub fn custom_not_found(kind: &str, name: &str) -> crate::error::Error {
    crate::error::Error::NotFound(format!("no custom {kind} entry is named {name:?}"))
}
