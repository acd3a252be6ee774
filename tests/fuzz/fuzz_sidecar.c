/* fuzz_sidecar.c — sidecars (the NAME.meta.json beside each artifact, the
 * only description of a backup a storage holds): the input is a sidecar's
 * text, read as moonbak reads it, in a Lua state made as src/main.c makes
 * it (fuzz_lua.h).
 *
 * With require("moonbak.backups").decode_sidecar(text, where [, job])
 * present, that is the reader: it must answer a sidecar that names its job
 * and backup and carries both checksums as 64 hex digits, or nil and a
 * message; raising is a finding.  A sidecar it accepts must be accepted for
 * its own job and refused for any other.  Without it (older trees), the input goes through what reads
 * sidecars there, cjson.safe.decode, which must answer a value or nil and a
 * message, never raise. */
#include "fuzz_lua.h"

static const char driver[] =
    "local cjson = require 'cjson.safe'\n"
    "local decode = require('moonbak.backups').decode_sidecar\n"
    "local function hex64(v) return type(v) == 'string' and #v == 64 and not v:find('[^0-9a-fA-F]') end\n"
    "local function check(meta, err)\n"
    "  if meta == nil then\n"
    "    if type(err) ~= 'string' or err == '' then error('refused without a message', 0) end\n"
    "    return\n"
    "  end\n"
    "  if type(meta) ~= 'table' then error('a sidecar that is a ' .. type(meta), 0) end\n"
    "  if type(meta.job) ~= 'string' then error('accepted without a job', 0) end\n"
    "  if type(meta.backup_id) ~= 'string' or meta.backup_id == '' then\n"
    "    error('accepted without a backup id', 0)\n"
    "  end\n"
    "  if not hex64(meta.sha256) or not hex64(meta.plain_sha256) then\n"
    "    error('accepted without both checksums', 0)\n"
    "  end\n"
    "end\n"
    "local where = 'fuzz: sidecar job/20261202T022238Z.sql.zst.meta.json'\n"
    "return function(text)\n"
    "  if decode then\n"
    "    local meta, err = decode(text, where)\n"
    "    check(meta, err)\n"
    "    if meta then\n"
    "      -- the job the listing asks for decides, and only it\n"
    "      check(decode(text, where, meta.job))\n"
    "      if decode(text, where, meta.job) == nil then error('refused for its own job', 0) end\n"
    "      if decode(text, where, meta.job .. '-other') ~= nil then\n"
    "        error('accepted for another job', 0)\n"
    "      end\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local value, err = cjson.decode(text)\n"
    "  if value == nil and (type(err) ~= 'string' or err == '') then\n"
    "    error('cjson.safe.decode failed without a message', 0)\n"
    "  end\n"
    "end\n";

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = fuzz_lua_open(driver);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_lua_run(L, data, size);
    return 0;
}
