#!/usr/bin/env bash
# test_package.sh — installing moonbak: `make install` / `make uninstall` into
# a DESTDIR, and the Debian package (`make deb`): lintian, dpkg -i, the moonbak
# user and /var/lib/moonbak, a SQLite job run by the installed binary as that
# user, the daemon as the unit starts it, `systemd-analyze verify` on the
# installed unit, and dpkg --purge leaving nothing behind but the user.
#
# It installs into /usr (so: root only) and purges the package when it ends,
# failed or not; the other tests use $MOONBAK, never /usr/bin/moonbak.  The
# package does not depend on the build under test, so it is built once per
# tests/run.sh (the sanitizer build's suite skips it).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.." || exit 1
unset MAKEFLAGS MAKELEVEL MFLAGS    # a nested `make check` must not pass its jobserver on

if [ "$(id -u)" != 0 ]; then
    ok "test_package.sh # SKIP needs root: it installs the package into /usr"
    finish
fi
once=${MOONBAK_TEST_ROOT:-}/package-tested
if [ -n "${MOONBAK_TEST_ROOT:-}" ] && [ -e "$once" ]; then
    ok "test_package.sh # SKIP ran once in this run already (the package is not built from \$MOONBAK)"
    finish
fi
[ -n "${MOONBAK_TEST_ROOT:-}" ] && : > "$once"
require_tools make dpkg-buildpackage dh lintian fakeroot systemd-analyze runuser setpriv sqlite3
if dpkg-query -W -f='${Status}' moonbak 2>/dev/null | grep -q installed || [ -e /usr/bin/moonbak ]; then
    if [ "${CI:-}" = true ]; then
        not_ok "a moonbak package or /usr/bin/moonbak is on this machine already: not replaced"
    else
        ok "test_package.sh # SKIP a moonbak package or /usr/bin/moonbak is installed: not replaced"
    fi
    finish
fi

# a directory the moonbak user can reach ($T, under a 0700 root directory, it cannot)
W=$(mktemp -d /tmp/moonbak-package-XXXXXX)
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
    dpkg-query -W -f='${Status}' moonbak 2>/dev/null | grep -q 'ok \(installed\|config-files\|half\|unpacked\)' &&
        dpkg --purge moonbak >/dev/null 2>&1
    rm -rf "$W"
}
trap cleanup EXIT

# --- make install / make uninstall ------------------------------------------

root=$T/root
installed() { (cd "$root" && find . ! -type d | LC_ALL=C sort); }
if make -s install DESTDIR="$root" PREFIX=/usr >"$T/make.log" 2>&1; then
    ok "make install DESTDIR PREFIX=/usr"
else
    not_ok "make install DESTDIR PREFIX=/usr"; sed 's/^/# /' "$T/make.log"
fi
expected="./lib/systemd/system/moonbak.service
./usr/bin/moonbak"
[ -e scripts/gen-man.lua ] && expected="$expected
./usr/share/man/man1/moonbak.1
./usr/share/man/man5/moonbak-job.5"
[ -e completion/moonbak.bash ] && expected="$expected
./usr/share/bash-completion/completions/moonbak"
for f in examples/*.lua; do expected="$expected
./usr/share/doc/moonbak/$f"; done
expected=$(echo "$expected" | LC_ALL=C sort)
check "make install puts the binary, the unit, the examples (and man pages, completion when built) under PREFIX" \
    test "$(installed)" = "$expected" || diff <(echo "$expected") <(installed) | sed 's/^/# /'
check "the installed binary runs" test -n "$("$root/usr/bin/moonbak" version)"
check "the unit starts the installed binary (PREFIX=/usr)" \
    grep -qx 'ExecStart=/usr/bin/moonbak .* daemon .*' "$root/lib/systemd/system/moonbak.service"
check "the examples are not executable" \
    test -d "$root/usr/share/doc/moonbak" -a -z "$(find "$root/usr/share/doc/moonbak" -type f -perm /111)"

make -s install DESTDIR="$root" >>"$T/make.log" 2>&1   # the default PREFIX beside it
check "PREFIX=/usr/local: the unit under /usr/local/lib/systemd/system starts /usr/local/bin/moonbak" \
    grep -qx 'ExecStart=/usr/local/bin/moonbak .* daemon .*' \
        "$root/usr/local/lib/systemd/system/moonbak.service"
before=$(installed | wc -l)
make -s uninstall DESTDIR="$root" PREFIX=/usr >>"$T/make.log" 2>&1
make -s uninstall DESTDIR="$root" >>"$T/make.log" 2>&1
check "make uninstall removes every file it installed ($before)" test "$before" -gt 0 -a -z "$(installed)" ||
    installed | sed 's/^/# left: /'
check "make uninstall removes the directories that are moonbak's own" \
    test ! -e "$root/usr/share/doc/moonbak" -a ! -e "$root/usr/local/share/doc/moonbak"

# --- the Debian package -----------------------------------------------------

if make -s deb DEB_DIR="$T/deb" >"$T/deb.log" 2>&1; then
    ok "make deb builds the package"
else
    not_ok "make deb builds the package"; tail -40 "$T/deb.log" | sed 's/^/# /'
    finish
fi
deb=$(ls "$T"/deb/moonbak_*.deb)
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
check "the package is version $version (debian/changelog)" test "$(dpkg-deb -f "$deb" Version)" = "$version"
check "its dependencies come from dpkg-shlibdeps (libsqlite3, libcurl, liblua5.4)" \
    bash -c "dpkg-deb -f '$deb' Depends | grep -q libsqlite3 &&
             dpkg-deb -f '$deb' Depends | grep -q libcurl &&
             dpkg-deb -f '$deb' Depends | grep -q liblua5.4"

lintian --tag-display-limit 0 "$deb" >"$T/lintian.log" 2>&1
sed 's/^/# lintian: /' "$T/lintian.log"
check "lintian reports no error" test -z "$(grep '^E:' "$T/lintian.log")"

if dpkg -i "$deb" >"$T/dpkg.log" 2>&1; then
    ok "dpkg -i installs it"
else
    not_ok "dpkg -i installs it"; sed 's/^/# /' "$T/dpkg.log"
    finish
fi
dpkg -L moonbak | LC_ALL=C sort > "$T/files"
packaged="/usr/bin/moonbak /lib/systemd/system/moonbak.service /etc/moonbak/jobs/README
          /usr/share/doc/moonbak/copyright /usr/share/doc/moonbak/examples/sqlite-local.lua"
[ -e scripts/gen-man.lua ] &&
    packaged="$packaged /usr/share/man/man1/moonbak.1.gz /usr/share/man/man5/moonbak-job.5.gz"
[ -e completion/moonbak.bash ] && packaged="$packaged /usr/share/bash-completion/completions/moonbak"
for f in $packaged; do
    check "the package holds $f" grep -qx "$f" "$T/files"
done
check "/usr/bin/moonbak is the version packaged" test "$(/usr/bin/moonbak version | head -n 1)" = "moonbak $upstream"
check "a system user moonbak, group moonbak, home /var/lib/moonbak, no login shell" \
    bash -c 'IFS=: read -r _ _ uid _ _ home shell < <(getent passwd moonbak) &&
             [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/moonbak ] && [ "$shell" = /usr/sbin/nologin ] &&
             [ "$(id -gn moonbak)" = moonbak ]'
check "/var/lib/moonbak is moonbak's, mode 0700" \
    test "$(stat -c '%a %U %G' /var/lib/moonbak)" = "700 moonbak moonbak"
check "the service is not enabled" \
    test -z "$(find /etc/systemd/system -name moonbak.service 2>/dev/null)"

systemd-analyze verify --man=no /lib/systemd/system/moonbak.service >"$T/verify.log" 2>&1
status=$?
check "systemd-analyze verify accepts the installed unit, without a word" \
    test "$status" = 0 -a ! -s "$T/verify.log" || sed 's/^/# /' "$T/verify.log"

# a SQLite job, run by the installed binary as the moonbak user
mkdir -p "$W/jobs" "$W/backups"
sqlite3 "$W/shop.db" "CREATE TABLE t(x); INSERT INTO t VALUES ('packaged'), (42);"
cat > "$W/jobs/shop.lua" <<EOF
return {
  source = { type = "sqlite", path = "$W/shop.db" },
  storage = { { type = "local", path = "$W/backups" } },
}
EOF
chown -R moonbak:moonbak "$W"
chmod 0755 "$W"
# as_moonbak ARGS... : the installed moonbak as the moonbak user, as mb() keeps its output
as_moonbak() {
    runuser -u moonbak -- env -i PATH=/usr/bin:/bin HOME=/var/lib/moonbak \
        /usr/bin/moonbak --state /var/lib/moonbak --jobs "$W/jobs" "$@" >"$T/out" 2>"$T/err"
}
check "the moonbak user runs a job with the installed binary" as_moonbak run shop || show_err
check "its state is in /var/lib/moonbak, 0600 and moonbak's" \
    test "$(stat -c '%a %U' /var/lib/moonbak/moonbak.db 2>&1)" = "600 moonbak"
as_moonbak restore shop --output "$W/restored.db"
check "the backup restores" \
    test "$(sqlite3 "$W/restored.db" 'SELECT group_concat(x) FROM t' 2>&1)" = "packaged,42" || show_err

# the daemon as the unit starts it (its ExecStart, user, home), until SIGTERM
execstart=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/moonbak.service)
# shellcheck disable=SC2086
setpriv --reuid=moonbak --regid=moonbak --init-groups -- \
    env -i PATH=/usr/bin:/bin HOME=/var/lib/moonbak $execstart 2>"$W/daemon.log" &
daemon_pid=$!
for _ in $(seq 600); do
    grep -q 'scheduled job(s)' "$W/daemon.log" && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
check "the daemon starts as moonbak on /var/lib/moonbak and /etc/moonbak/jobs" \
    grep -q 'started: .*state /var/lib/moonbak, jobs /etc/moonbak/jobs' "$W/daemon.log" ||
    sed 's/^/# /' "$W/daemon.log"
kill -TERM "$daemon_pid" 2>/dev/null
wait "$daemon_pid"
status=$?
daemon_pid=""
check "and stops on SIGTERM, exit 0" test "$status" = 0

# --- dpkg --purge -----------------------------------------------------------

if dpkg --purge moonbak >"$T/dpkg.log" 2>&1; then
    ok "dpkg --purge removes it"
else
    not_ok "dpkg --purge removes it"; sed 's/^/# /' "$T/dpkg.log"
fi
left=""
while read -r p; do
    [ -e "$p" ] || [ -L "$p" ] || continue
    # a directory (/lib too, a link to one) another package owns, or that
    # holds other things, stays
    if [ -d "$p" ]; then
        dpkg -S "$p" >/dev/null 2>&1 && continue
        [ -n "$(ls -A "$p")" ] && continue
    fi
    left="$left $p"
done < "$T/files"
check "every path the package installed is gone" test -z "$left" || echo "# left:$left"
check "/var/lib/moonbak (state, master key) is gone" test ! -e /var/lib/moonbak
check "/etc/moonbak is gone" test ! -e /etc/moonbak
check "no systemd link or helper state of the unit is left" \
    test -z "$(find /etc/systemd /var/lib/systemd -name '*moonbak*' 2>/dev/null)"
check "the moonbak user stays (Debian policy: system users are not removed)" \
    test -n "$(getent passwd moonbak)"

finish
