//! Tollgate core.
