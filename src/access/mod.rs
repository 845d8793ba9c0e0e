//! Access to the exporter's authenticated endpoints, shared by the reprocessing API (`api/`) and
//! lifecycle ingestion (`ingest/`), which both sit on top of it: configured token hashes and
//! JWT settings, the authenticator, the logged and counted refusal, and the JSON error answer.

pub mod auth;
pub mod error;
pub mod jwt;
pub mod refusal;
pub mod tokens;

pub use error::{no_store, ApiError};
