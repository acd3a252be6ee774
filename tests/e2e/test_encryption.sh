#!/usr/bin/env bash
# Encrypted backups: age recipients and passphrases, keys, secrets, and the
# standard tools reading what moonbak writes.
. "$(dirname "$0")/lib.sh"

cd "$T"
sqlite3 data.db "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('ünïcödé'), (NULL), ('plain');"

mb keygen --output key.txt
check "keygen writes an identity file" grep -q '^AGE-SECRET-KEY-1' key.txt
check "...readable by its owner only" [ "$(stat -c %a key.txt)" = 600 ]
check "...and prints the public key" grep -q '^Public key: age1' "$T/err"
cp key.txt key.copy
mb keygen --output key.txt
check "keygen never overwrites an identity file" bash -c "[ $? -ne 0 ] && cmp -s key.txt key.copy"
check "the standard age-keygen agrees on the public key" \
    [ "$(age-keygen -y key.txt)" = "$(sed -n 's/^# public key: //p' key.txt)" ]
pub=$(age-keygen -y key.txt)
age-keygen -o other.txt 2>/dev/null

cat > enc.lua <<JOB
return { name = "enc", source = { type = "sqlite", path = "$T/data.db" },
         encryption = { type = "age", recipients = { "$pub" } },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run enc.lua
check "a job encrypted to a recipient runs" [ $? -eq 0 ]
artifact=$(ls store/enc/*.sqlite3.zst.age)
check "the artifact's name says zst.age" [ -f "$artifact" ]
check "the sidecar names the recipient and holds no secret key" \
    bash -c "grep -q '$pub' '$artifact.meta.json' && ! grep -q AGE-SECRET-KEY '$artifact.meta.json'"
check "age -d -i key.txt | zstd -d restores the database without moonbak" \
    bash -c "age -d -i key.txt '$artifact' | zstd -d > plain.db && [ \"\$(sqlite3 plain.db 'SELECT count(*) FROM t')\" = 3 ]"

mb verify enc.lua
check "verify without a key checks the stored bytes and says the dump was not checked" \
    bash -c "[ $? -eq 0 ] && grep -q 'pass --identity' '$T/out'"
mb verify enc.lua --identity key.txt
check "verify with the identity checks the dump too" bash -c "[ $? -eq 0 ] && grep -q 'dump, sha256' '$T/out'"
mb restore enc.lua --output restored.db
check "restore without a key fails and says what is needed" bash -c "[ $? -eq 1 ] && grep -q 'identity' '$T/err'"
mb restore enc.lua --identity other.txt --output restored.db
check "restore with the wrong identity fails" [ $? -eq 1 ]
check "...and writes nothing" [ ! -e restored.db ]
mb restore enc.lua --identity key.txt --output restored.db
check "restore with the identity gives back the same database" cmp -s restored.db plain.db

# Tampering with the encrypted artifact: one flipped byte in the payload.
cp "$artifact" orig.age
size=$(stat -c %s "$artifact")
flip_byte "$artifact" $((size - 20))
mb restore enc.lua --identity key.txt --output tampered.db
check "a tampered artifact fails restore and writes nothing" bash -c "[ $? -eq 1 ] && [ ! -e tampered.db ]"
head -c 200 orig.age > "$artifact"
mb verify enc.lua --identity key.txt
check "a truncated artifact fails verify" [ $? -eq 1 ]
cp orig.age "$artifact"

# A passphrase from the sealed secret store.
printf 'correct horse battery staple\n' | "$MOONBAK" secret set backup-pass >/dev/null 2>&1
mb secret list
check "secret list shows the name" grep -q '^backup-pass' "$T/out"
check "secret list never shows the value" bash -c "! grep -rq 'battery staple' '$T/out' '$T/err'"
check "the value is sealed in the state database, not stored in clear" \
    bash -c "! grep -rqa 'battery staple' '$MOONBAK_STATE'"
check "the master key file is readable by its owner only" [ "$(stat -c %a "$MOONBAK_STATE/master.key")" = 600 ]
cat > pass.lua <<JOB
return { name = "pass", source = { type = "sqlite", path = "$T/data.db" },
         encryption = { type = "age", passphrase = secret "backup-pass" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run pass.lua
check "a job encrypted with a passphrase secret runs" [ $? -eq 0 ]
check "the passphrase appears in no sidecar and no log" \
    bash -c "! grep -rqa 'battery staple' store '$MOONBAK_STATE' '$T/out' '$T/err'"
mb restore pass.lua --output pass.db
check "restore uses the job's passphrase" cmp -s pass.db plain.db
"$MOONBAK" secret rm backup-pass
mb run pass.lua
check "a missing secret fails the run in initialize, naming the secret" \
    bash -c "[ $? -eq 1 ] && grep -q 'initialize.*secret \"backup-pass\"' '$T/err'"

# The other direction: a file made by the standard tools, opened by moonbak's Lua API.
seq 1 200000 > numbers.txt
zstd -q -3 < numbers.txt | age -r "$pub" > numbers.txt.zst.age
cat > open.lua <<'LUA'
local mb = require "moonbak"
local input, identity_file, output = arg[1], arg[2], arg[3]
local src <close> = assert(mb.source.open { type = "file", path = input })
local ids = assert(mb.artifact.read_identities(identity_file))
local writer <close> = assert(mb.storage.file_writer(output))
local s = mb.stream.new(src, { assert(mb.transform.unage { identities = ids }), mb.transform.unzstd() })
assert(s:pump({ writer }))
LUA
mb script open.lua numbers.txt.zst.age key.txt numbers.out
check "a file made by zstd | age -r restores through moonbak" cmp -s numbers.out numbers.txt

# A dump of several MiB is compressed as several zstd frames (one per 2 MiB
# chunk, on moonbak's worker threads); the standard tools read them as one.
seq 1 1500000 > big.txt
cat > big.lua <<JOB
return { name = "big", source = { type = "file", path = "$T/big.txt" },
         compression = { type = "zstd", level = 3, workers = 3 },
         encryption = { type = "age", recipients = { "$pub" } },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run big.lua
big=$(ls store/big/*.zst.age 2>/dev/null)
age -d -i key.txt "$big" > big.zst 2>/dev/null
check "a 10 MiB dump is stored as several zstd frames" \
    bash -c "zstd -lv big.zst 2>/dev/null | grep -Eq 'Zstandard Frames: ([3-9]|[1-9][0-9])'"
check "...which age -d -i key.txt | zstd -d restores byte for byte" \
    bash -c "age -d -i key.txt '$big' | zstd -dq | cmp -s - big.txt"

cat > bad.lua <<'JOB'
return { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } },
         encryption = { type = "age", recipients = { "age1notakey" } } }
JOB
mb run bad.lua
check "a malformed recipient is refused when the job is loaded (exit 2)" \
    bash -c "[ $? -eq 2 ] && grep -q 'encryption.recipients\[1\]' '$T/err'"

finish
