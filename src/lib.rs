//! Tollgate core.
pub mod files;
