#!/usr/bin/env bash
# Installs every build and test dependency of Creekflow with apt-get.
# Idempotent: prints nothing and exits 0 when everything is already present.
# Usage: scripts/install-deps.sh [--check]   (--check: exit 1 if something is missing)
set -euo pipefail

# Debian packages the build and tests need. Keep this list the single source of truth.
PKGS=(
    build-essential pkg-config clang libclang-rt-14-dev clang-format
    libcjson-dev liblmdb-dev libcmocka-dev
    libevent-dev libcurl4-openssl-dev
    librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libgrpc-dev
    libhiredis-dev
    python3 jq time bc
    kcat redis-server
)

# npm packages the tests start as real peers (DESIGN.md section 9), pinned, installed into
# .tools/npm (gitignored) so nothing is installed globally. Binaries: .tools/npm/node_modules/.bin
NPM_PKGS=(
    @20minutes/s3rver@5.0.0
)
NPM_DIR="$(cd "$(dirname "$0")/.." && pwd)/.tools/npm"

npm_missing() {
    local p name
    for p in "${NPM_PKGS[@]}"; do
        name="${p%@*}"
        [ -f "$NPM_DIR/node_modules/$name/package.json" ] || return 0
    done
    return 1
}

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${1:-}" = "--check" ]; then
    rc=0
    [ ${#missing[@]} -eq 0 ] || { echo "missing packages: ${missing[*]}" >&2; rc=1; }
    if npm_missing; then echo "missing npm packages in $NPM_DIR" >&2; rc=1; fi
    exit $rc
fi

install_npm() {
    npm_missing || return 0
    echo "install-deps: installing npm packages ${NPM_PKGS[*]} into $NPM_DIR" >&2
    mkdir -p "$NPM_DIR"
    [ -f "$NPM_DIR/package.json" ] || echo '{"name":"creekflow-test-tools","private":true}' > "$NPM_DIR/package.json"
    (cd "$NPM_DIR" && npm install --silent --no-audit --no-fund --loglevel=error "${NPM_PKGS[@]}" >/dev/null)
}

if [ ${#missing[@]} -eq 0 ]; then
    install_npm
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm
echo "install-deps: done" >&2
