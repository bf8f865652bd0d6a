//! Persistent storage in embedded SQLite: the only module with SQL.
