/* fuzz_job.c — job files: the input is the text of a job file, loaded with
 * require("moonbak.job").load(path) (read, compiled as text, run, validated)
 * in a Lua state made as src/main.c makes it (fuzz_lua.h).
 *
 * job.load must answer a job table (with its name and file) or nil and a
 * message; raising is a finding (the CLI would print an internal error).
 *
 * A job file is Lua code and is run: while item 12 of issue 10 (a restricted
 * load-time environment, with limits) is not done, the harness takes away
 * what could touch the machine (os.execute, os.remove, io.popen, writing
 * files, the engine's C modules: require gives stubs that refuse calls) and
 * fuzz_lua.h bounds instructions and memory.  The input goes through a file,
 * as job.load reads one: job.lua is not changed for the harness. */
#include <unistd.h>

#include "fuzz_lua.h"

static const char driver[] =
    "local job = require 'moonbak.job'\n"
    "local real_require, open, load = require, io.open, load\n"
    "local function refuse(what)\n"
    "  return function() error('fuzz: ' .. what .. ' is not allowed while loading a job', 0) end\n"
    "end\n"
    "for _, n in ipairs { 'execute', 'exit', 'remove', 'rename', 'tmpname' } do\n"
    "  os[n] = refuse('os.' .. n)\n"
    "end\n"
    "for _, n in ipairs { 'popen', 'read', 'write', 'lines', 'input', 'output', 'close' } do\n"
    "  io[n] = refuse('io.' .. n)\n"
    "end\n"
    "io.open = function(path, mode)\n"
    "  if mode ~= nil and mode ~= 'r' and mode ~= 'rb' then refuse('writing files')() end\n"
    "  return open(path, mode)\n"
    "end\n"
    "string.dump = refuse('string.dump')\n"
    "load = function(chunk, name) return load(chunk, name, 't') end\n"
    "debug, package, dofile, loadfile, print = nil, nil, nil, nil, function() end\n"
    "local pure = { ['moonbak.job'] = true, ['moonbak.ref'] = true, ['moonbak.crypto'] = true,\n"
    "               ['cjson'] = true, ['cjson.safe'] = true }\n"
    "require = function(name)\n"
    "  if pure[name] then return real_require(name) end\n"
    "  return setmetatable({}, { __index = function(_, k) return refuse(tostring(name) .. '.' .. tostring(k)) end })\n"
    "end\n"
    "local path = os.getenv('FUZZ_JOB_FILE')\n"
    "return function(text)\n"
    "  local f = assert(open(path, 'wb'))\n"
    "  assert(f:write(text))\n"
    "  f:close()\n"
    "  local j, err = job.load(path)\n"
    "  if j == nil then\n"
    "    if type(err) ~= 'string' or err == '' then\n"
    "      error('job.load failed without a message: ' .. tostring(err), 0)\n"
    "    end\n"
    "  elseif type(j) ~= 'table' or type(j.name) ~= 'string' or j.file ~= path then\n"
    "    error('job.load answered something that is not a loaded job: ' .. tostring(j), 0)\n"
    "  end\n"
    "end\n";

static lua_State *L;
static char dir[] = "/tmp/moonbak-fuzz-job-XXXXXX";
static char path[sizeof dir + 16];

static void remove_temp(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/job.lua", dir);
    atexit(remove_temp);
    setenv("FUZZ_JOB_FILE", path, 1);
    L = fuzz_lua_open(driver);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_lua_run(L, data, size);
    return 0;
}
