#!/bin/sh
# install-s3rver.sh — puts s3rver (an S3-protocol server on Node.js, from
# npm) into build/npm for tests/e2e/test_s3.sh.  Idempotent; needs the
# Debian packages nodejs and npm (scripts/install-deps.sh --test).
set -eu
cd "$(dirname "$0")/.."
version=3.7.1
dir=build/npm
bin=$dir/node_modules/.bin/s3rver
if [ -x "$bin" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/s3rver/package.json"; then
    exit 0
fi
command -v npm >/dev/null || { echo "install-s3rver: npm is missing" >&2; exit 1; }
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "s3rver@$version" >/dev/null
