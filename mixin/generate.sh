#!/usr/bin/env bash
# Renders the mixin (mixin/*.libsonnet) into the files the repository ships:
#   alerting-rules/rules/webhook-recording.yaml, alerting-rules/alerts/webhook-alerts.yaml,
#   grafana/dashboards/webhook-health.json (and its .lint), docs/dashboard-panels.md,
#   deploy/kubernetes/base/{prometheusrule,dashboards-configmap}.yaml (the same rules and dashboards)
# Those files are generated: edit mixin/ and run this script (`cargo test --test it -- mixin`
# fails while they differ from what it renders).
#
#   mixin/generate.sh                       # write them into the repository
#   mixin/generate.sh --out DIR             # write them under DIR instead (same relative paths)
#   mixin/generate.sh --config '{selector: "job=\"my-webhooks\"", alerts+: {rejectionRatio: 0.2}}'
#                                           # override _config (mixin/config.libsonnet) for this run
#
# Prints the paths it wrote. Needs `jsonnet` (Debian package jsonnet; scripts/install-test-deps.sh).
set -euo pipefail

mixin=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$mixin")
config='{}'
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    *) sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
done

if ! command -v jsonnet >/dev/null; then
  echo "generate.sh: jsonnet is not installed: run scripts/install-test-deps.sh (apt-get install jsonnet)" >&2
  exit 1
fi

# jsonnet -m writes into existing folders only: create the ones the rendered paths name.
jsonnet -S -J "$mixin" --tla-code "config=$config" \
  -e 'function(config) std.join("\n", std.objectFields((import "render.jsonnet")(config)))' |
  while IFS= read -r path; do mkdir -p "$out/$(dirname "$path")"; done
jsonnet -S -m "$out" --tla-code "config=$config" "$mixin/render.jsonnet"
