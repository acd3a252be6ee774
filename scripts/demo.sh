#!/bin/sh
# demo.sh MOONBAK — the README's first command, end to end: make a SQLite
# database with real rows, back it up with examples/sqlite-local.lua, list,
# verify and restore it, and show that the restored copy holds the same rows.
set -eu
moonbak=$1
job=examples/sqlite-local.lua
demo=/tmp/moonbak-demo
export MOONBAK_STATE=$demo/state
rm -rf "$demo"
mkdir -p "$demo"

step() { printf '\n==> %s\n' "$*"; }

# One line per table: name, row count, and a checksum of every row's content.
fingerprint() {
    for table in customers orders; do
        printf '%s: %s rows, content sha256 %s\n' "$table" \
            "$(sqlite3 "$1" "SELECT count(*) FROM $table")" \
            "$(sqlite3 "$1" "SELECT * FROM $table ORDER BY id" | sha256sum | cut -c1-16)"
    done
}

step "creating $demo/shop.db with real rows"
sqlite3 "$demo/shop.db" <<'SQL'
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id),
                     total_cents INTEGER NOT NULL, placed_at TEXT NOT NULL);
CREATE INDEX orders_by_customer ON orders (customer_id);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers (name, city)
  SELECT 'customer ' || i,
         CASE i % 4 WHEN 0 THEN 'Berlin' WHEN 1 THEN 'Zürich' WHEN 2 THEN 'Kraków' ELSE NULL END
  FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders (customer_id, total_cents, placed_at)
  SELECT 1 + abs(random()) % 500, abs(random()) % 100000,
         datetime('2026-01-01', '+' || (i * 97 % 31536000) || ' seconds')
  FROM n;
SQL
fingerprint "$demo/shop.db"

step "moonbak run $job"
"$moonbak" run "$job"

step "moonbak backups $job"
"$moonbak" backups "$job"

step "moonbak verify $job"
"$moonbak" verify "$job"

step "moonbak restore $job --output $demo/restored.db"
"$moonbak" restore "$job" --output "$demo/restored.db"

step "comparing the original and the restored database"
fingerprint "$demo/shop.db" > "$demo/original.txt"
fingerprint "$demo/restored.db" > "$demo/restored.txt"
cat "$demo/restored.txt"
echo "integrity_check: $(sqlite3 "$demo/restored.db" 'PRAGMA integrity_check')"
if cmp -s "$demo/original.txt" "$demo/restored.txt"; then
    echo "the restored database holds the same rows as the original"
else
    echo "MISMATCH between the original and the restored database" >&2
    exit 1
fi

step "moonbak history"
"$moonbak" history
