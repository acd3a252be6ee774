#!/usr/bin/env bash
# bench/gen-data.sh DATA_DIR SIZE_MB — makes (once) the synthetic SQL dump the
# benchmark reads, and prints its path.
#
# gen-sql.c is compiled with cc into DATA_DIR and writes SIZE_MB * 10^6 bytes of
# a pg_dump-shaped dump (see the comment at its top).  The file name carries a
# hash of gen-sql.c, so changing the generator makes a new dump; an existing one
# is reused, and dumps from older generators are deleted.
set -euo pipefail

[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || { echo "usage: $0 DATA_DIR SIZE_MB" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(mkdir -p "$1" && cd "$1" && pwd)
MB=$2
SRC=$HERE/gen-sql.c

hash=$(sha256sum "$SRC" | cut -c1-8)
dump=$DATA/dump-${MB}MB-$hash.sql

if [[ ! -s $dump ]]; then
    echo "gen-data: writing $dump ($MB MB)" >&2
    cc -O2 -o "$DATA/gen-sql" "$SRC"
    "$DATA/gen-sql" "$MB" >"$dump.tmp" 2>/dev/null
    mv "$dump.tmp" "$dump"
    # dumps made by an older gen-sql.c
    find "$DATA" -maxdepth 1 -name 'dump-*MB-*.sql' ! -name "dump-*MB-$hash.sql" -delete
fi
echo "$dump"
