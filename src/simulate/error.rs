//! Why a simulation stops.

use super::lifecycle::SendError;
use crate::store::StoreError;

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] SendError),
}
