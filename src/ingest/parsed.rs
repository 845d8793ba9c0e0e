//! What reading one received event gives: a row to write, or why it is not one.

use crate::store::IngestedLifecycleEvent;

/// One received event, read: a row to write, or why it is not one.
#[derive(Debug)]
pub enum Parsed {
    Lifecycle(IngestedLifecycleEvent),
    Ignored(&'static str),
}
