/* fuzz_job.c — job files: the input is the text of a job file, loaded with
 * require("moonbak.job").load(path) (read, compiled as text, run,
 * validated) in a Lua state made as src/main.c makes it (fuzz_lua.h).
 *
 * job.load must answer a job table (with its name and file) or nil and a
 * message; raising is a finding (the CLI would print an internal error).
 *
 * A job file is Lua code and is run, as in the binary: job.load runs it in
 * moonbak.sandbox (instruction and memory limits) with its restricted
 * environment (no os.execute, no writing files, engine modules that refuse
 * calls, no __gc finalizers that would run later), so the harness adds no
 * restrictions of its own; a file that hits a limit is a broken file,
 * which job.load reports.  The input goes through a file, as job.load
 * reads one: job.lua is not changed for the harness. */
#include <unistd.h>

#include "fuzz_lua.h"

static const char driver[] =
    "local job = require 'moonbak.job'\n"
    "local path = os.getenv('FUZZ_JOB_FILE')\n"
    "return function(text)\n"
    "  local f = assert(io.open(path, 'wb'))\n"
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

static pid_t owner; /* replay.c's children exit with _exit, but only the owner removes */

static void remove_temp(void)
{
    if (getpid() != owner)
        return;
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
    owner = getpid();
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
