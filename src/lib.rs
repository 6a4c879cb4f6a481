//! Tollgate: decides, before any AI work is paid for, whether a user of an AI
//! chat platform may do what they ask, and says why not — in Persian first.
//!
//! This crate is the functional core: no I/O, no clock (`now` is always a
//! parameter). The Worker (`worker/`) and the npm package (`pkg/`, feature
//! `wasm`) are thin shells over [`engine::Engine`]. See DESIGN.md.

pub mod action;
pub mod api;
pub mod calendar;
pub mod case;
pub mod config;
pub mod credits;
pub mod decision;
pub mod discount;
pub mod django;
#[cfg(test)]
mod edits;
pub mod engine;
pub mod events;
mod fields;
pub mod files;
pub mod glob;
pub mod headers;
pub mod holds;
pub mod idem;
pub mod import;
pub mod json;
pub mod ledger;
pub mod limit;
pub mod media;
pub mod messages;
#[cfg(feature = "gateway")]
pub mod openai;
pub mod order;
pub mod replay;
pub mod seed;
pub mod snapshot;
pub mod stored;
pub mod strmap;
pub mod subscription;
pub mod time;
#[cfg(feature = "wasm")]
pub mod wasm;
pub mod window;
pub mod zone;

pub use action::Action;
pub use config::Config;
pub use decision::{Code, Decision};
pub use engine::{Engine, Options, Usage};
pub use ledger::Ledger;
pub use snapshot::Snapshot;
pub use subscription::Subscription;
