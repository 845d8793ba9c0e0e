//! webhook-health-exporter: Prometheus metrics for a Dynamics portal -> Edge Function webhook
//! integration, read from its log store.
//!
//! Data flows one way: [`store`] -> [`collector`] -> [`snapshot`] -> [`metrics`] -> [`routes`];
//! [`probes`] write into [`health`], which the collector's snapshot reads.

pub mod access;
pub mod admin;
pub mod api;
pub mod app;
pub mod collector;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod failure_counters;
pub mod health;
pub mod ingest;
pub mod lifecycle_counters;
pub mod metrics;
pub mod parse;
pub mod probes;
pub mod process;
pub mod reprocess_counters;
pub mod routes;
pub mod serve;
pub mod simulate;
pub mod snapshot;
pub mod store;
pub mod web;
