#!/bin/sh
# install-deps.sh [--test|--fuzz] — installs the Debian packages moonbak
# needs to build and run (and, with --test, to run its test suite; with
# --fuzz, to build the libFuzzer harnesses of `make fuzz`).  Idempotent:
# installs only what is missing, and only when run as root.
set -eu

build="gcc make pkg-config liblua5.4-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev
       lua-cjson-dev libzstd-dev libjansson-dev libedit-dev"
runtime="sqlite3 zstd age"
# the servers and clients the tests run against; the S3 test runs s3rver
# (Node.js, from npm, into build/npm), checks signatures with Debian's
# botocore and reads back with the AWS CLI; the daemon's test speeds its
# clock with faketime; the notifiers' test sends mail to aiosmtpd and
# checks the metrics file with Prometheus' promtool; the help test reads the
# man pages with man-db's man (and groff); the package's test builds the
# Debian package, runs lintian on it and systemd-analyze verify on its unit
test_only="postgresql postgresql-client mariadb-server mariadb-client redis-server redis-tools
           openssh-server vsftpd nginx libnginx-mod-http-dav-ext
           nodejs npm python3-botocore awscli curl
           faketime python3-aiosmtpd prometheus tmux man-db groff-base
           dpkg-dev debhelper lintian fakeroot systemd"
# libFuzzer and the sanitizer runtimes come with Debian's clang
fuzz_only="clang libclang-rt-14-dev"
# A Node.js that brings its own npm (NodeSource's) conflicts with Debian's npm package.
command -v npm >/dev/null && test_only=$(echo "$test_only" | sed 's/ npm / /')

packages="$build $runtime"
[ "${1:-}" = "--test" ] && packages="$packages $test_only"
[ "${1:-}" = "--fuzz" ] && packages="$packages $fuzz_only"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    [ "${1:-}" = "--test" ] && exec "$(dirname "$0")/install-s3rver.sh"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "moonbak needs these Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
[ "${1:-}" = "--test" ] && exec "$(dirname "$0")/install-s3rver.sh"
exit 0
