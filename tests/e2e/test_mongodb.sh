#!/usr/bin/env bash
# MongoDB: mongodump --archive / mongorestore --archive on a real mongod.
# Debian ships neither MongoDB nor its tools, so this test runs only where
# mongod, mongosh and the database tools are installed, CI included; it has
# not run on the project's own machines.
. "$(dirname "$0")/lib.sh"
for tool in mongod mongosh mongodump mongorestore; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        ok "MongoDB integration # SKIP $tool is not installed (Debian ships no MongoDB)"
        finish
    fi
done
port=${MONGOPORT_TEST:-17017}
mkdir -p "$T/mongo"
mongod --port "$port" --bind_ip 127.0.0.1 --dbpath "$T/mongo" --fork --logpath "$T/mongo.log" >/dev/null
trap 'mongosh --quiet --port '"$port"' admin --eval "db.shutdownServer()" >/dev/null 2>&1' EXIT
mongosh --quiet --port "$port" shop --eval '
  for (let i = 0; i < 3000; i++) db.orders.insertOne({ n: i, city: i % 2 ? "Zürich" : "東京", note: i % 5 ? null : "x" });
  db.orders.createIndex({ n: 1 })' >/dev/null
cd "$T"
cat > mongo.lua <<JOB
return { name = "mongo", source = { type = "mongodb", host = "127.0.0.1", port = $port, database = "shop" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run mongo.lua
check "mongodump --archive backs up" [ $? -eq 0 ]
mb restore mongo.lua --to shop_copy
check "mongorestore --archive restores into another database" [ $? -eq 0 ]
count() { mongosh --quiet --port "$port" "$1" --eval 'db.orders.countDocuments({ city: "東京" })'; }
check "...with the same documents" [ "$(count shop)" = "$(count shop_copy)" -a "$(count shop)" = 1500 ]
cat > down.lua <<JOB
return { name = "down", source = { type = "mongodb", host = "127.0.0.1", port = 1, database = "shop" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run down.lua
check "an unreachable server fails in initialize" bash -c "[ $? -eq 1 ] && grep -q 'initialize' '$T/err'"
finish
