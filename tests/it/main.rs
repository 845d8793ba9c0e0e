//! Every integration test in one binary (issue #13): the harness in `support` and `api_support`
//! is compiled once, and the test build links one executable instead of one per file.
//!
//! One module per area; run one of them with e.g. `cargo test --test it -- collector_exactness`.

// First, so that `on_both_backends!` is in scope in every module below.
#[macro_use]
mod support;
mod api_support;
mod ingest_support;

mod admin_browser;
mod alert_rules;
mod alerts_e2e;
mod api_auth;
mod api_events;
mod api_race;
mod api_reprocess;
mod api_schemathesis;
mod api_sync_failures;
mod api_unaccounted;
mod collector_exactness;
mod counters_survive;
mod dashboard_queries;
mod dashboard_static;
mod demo;
mod edge_function;
mod edge_function_deno;
mod edge_function_hostile;
mod edge_function_partitioned;
mod exporter_hostile;
mod exporter_role;
mod failure_counting;
mod http_app;
mod http_router;
mod http_surface;
mod infrastructure_health;
mod kubernetes;
mod last_healthy_restart;
mod lifecycle_ingest;
mod lifecycle_mapping;
mod logging;
mod mixin;
mod never_stale;
mod out_of_order_commits;
mod partitioned_store;
mod pgmq_sync_failures;
mod simulated_sync;
mod store_healing;
mod store_outage;
mod sync_figures;
mod sync_service_role;
mod sync_worker;
mod web_config;
mod web_security;
