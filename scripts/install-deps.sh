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
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${1:-}" = "--check" ]; then
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "missing packages: ${missing[*]}" >&2
    exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
