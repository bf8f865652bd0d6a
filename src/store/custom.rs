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

/// A dated price a team imported: a price file of one entry, kept so that
/// it outlives restarts. The catalogue checks its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPrice {
    pub team: String,
    pub price_id: String,
    /// YYYY-MM-DD.
    pub effective_date: String,
    /// Its path among the catalogue's files.
    pub path: String,
    pub text: String,
    /// Unix milliseconds, UTC; set by the store.
    pub created_at: i64,
}

/// The not-found error for an unknown custom entry.
pub fn custom_not_found(kind: &str, name: &str) -> crate::error::Error {
    crate::error::Error::NotFound(format!("no custom {kind} entry is named {name:?}"))
}
