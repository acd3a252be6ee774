# moonbak — see README.md.  `make` builds ./moonbak; `make check` runs every test.
PKGS     := lua5.4 sqlite3 libcurl libssl libcrypto libzstd lua5.4-cjson jansson libedit
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror
CPPFLAGS += -std=c11 -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

BUILD    ?= build
BIN      ?= moonbak

CORE_SRC := $(wildcard src/*.c) $(wildcard adapters/*/*.c)
CORE_SRC := $(filter-out src/main.c,$(CORE_SRC))
LUA_SRC  := $(shell find lua -name '*.lua' | LC_ALL=C sort)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Fuzz harnesses (tests/fuzz/fuzz_NAME.c); the suite replays their corpus and
# regressions through build/tests/test_fuzz_NAME (see `make fuzz`).
FUZZ_NAMES  := age sidecar webdav s3 job cron
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)
# Harnesses include the file whose static parser they reach.
FUZZ_DEPS   := $(wildcard tests/fuzz/*.h src/*.h) src/main.c adapters/storage/webdav.c \
               adapters/storage/s3.c

# Where `make install` puts things (DESTDIR in front of each, for packages).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/moonbak
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# systemd reads units from /lib/systemd/system (Debian 12 packages put them
# there) and from /usr/local/lib/systemd/system
UNITDIR     ?= $(if $(filter /usr,$(PREFIX)),,$(PREFIX))/lib/systemd/system
MAN_PAGES   := $(BUILD)/man/moonbak.1 $(BUILD)/man/moonbak-job.5
COMPLETION  := completion/moonbak.bash
EXAMPLES    := $(wildcard examples/*.lua)
# `make deb` copies the tree there and leaves the .deb beside the copy
DEB_DIR     ?= $(BUILD)/deb

.PHONY: all deps demo check asan test test-fast unit fuzz bench bench-memory clean man \
        install uninstall deb

all: $(BIN) $(MAN_PAGES)

$(BIN): $(BUILD)/src/main.o $(BUILD)/lua_bundle.o $(CORE_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c src/*.h adapters/*/*.h Makefile
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/lua_bundle.c: $(LUA_SRC) scripts/embed-lua.sh
	@mkdir -p $(BUILD)
	@echo "  EMBED   $@"
	@scripts/embed-lua.sh lua > $@.tmp && mv $@.tmp $@

$(BUILD)/lua_bundle.o: $(BUILD)/lua_bundle.c
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)

# Everything but main.o, for programs that link only what they use (an
# archive member is linked only when needed, so a harness may define a
# symbol of its own, such as the adapter it includes).
$(BUILD)/libmoonbak.a: $(CORE_OBJ) $(BUILD)/lua_bundle.o
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS) $(BUILD)/libmoonbak.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) -DFUZZ_NAME='"$*"' $(CFLAGS) $(WARN) -o $@ tests/fuzz/fuzz_$*.c \
	    tests/fuzz/replay.c $(BUILD)/libmoonbak.a $(LDLIBS)

unit: $(UNIT_BIN) $(FUZZ_REPLAY)

# The man pages moonbak(1) and moonbak-job(5) are made by the binary from the
# tables its --help and job validation read (scripts/gen-man.lua; MAN_PAGES).
man: $(MAN_PAGES)

$(MAN_PAGES) &: $(BIN) scripts/gen-man.lua
	@echo "  MAN     $(BUILD)/man"
	@mkdir -p $(BUILD)/man
	@./$(BIN) script scripts/gen-man.lua $(BUILD)/man >/dev/null

# The binary carries the Lua library (scripts/embed-lua.sh): nothing else to
# install for it.  The unit's ExecStart names BINDIR.
install: all
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(UNITDIR)' '$(DESTDIR)$(DOCDIR)/examples'
	install -m 0755 $(BIN) '$(DESTDIR)$(BINDIR)/moonbak'
	sed 's|/usr/bin/moonbak|$(BINDIR)/moonbak|' systemd/moonbak.service > '$(DESTDIR)$(UNITDIR)/moonbak.service'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/moonbak.service'
	install -m 0644 $(EXAMPLES) '$(DESTDIR)$(DOCDIR)/examples'
	install -d '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(MANDIR)/man5'
	install -m 0644 $(BUILD)/man/moonbak.1 '$(DESTDIR)$(MANDIR)/man1/moonbak.1'
	install -m 0644 $(BUILD)/man/moonbak-job.5 '$(DESTDIR)$(MANDIR)/man5/moonbak-job.5'
	install -d '$(DESTDIR)$(BASHCOMPDIR)'
	install -m 0644 $(COMPLETION) '$(DESTDIR)$(BASHCOMPDIR)/moonbak'

# Exactly what install puts, and the directories that are moonbak's own.
uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/moonbak' '$(DESTDIR)$(UNITDIR)/moonbak.service' \
	    '$(DESTDIR)$(MANDIR)/man1/moonbak.1' '$(DESTDIR)$(MANDIR)/man5/moonbak-job.5' \
	    '$(DESTDIR)$(BASHCOMPDIR)/moonbak' \
	    $(EXAMPLES:examples/%='$(DESTDIR)$(DOCDIR)/examples/%')
	rmdir '$(DESTDIR)$(DOCDIR)/examples' '$(DESTDIR)$(DOCDIR)' 2>/dev/null || true

# The Debian package (debian/), built from a copy of the tree so that its
# `make clean` leaves this one's build alone.
deb:
	@command -v dh >/dev/null || { echo "make deb needs dpkg-dev and debhelper" \
	    "(scripts/install-deps.sh --test installs them)" >&2; exit 1; }
	rm -rf '$(DEB_DIR)' && mkdir -p '$(DEB_DIR)/src'
	tar -c --exclude-vcs --exclude=./build --exclude=./build-asan --exclude=./build-fuzz \
	    --exclude=./$(BIN) . | tar -x -C '$(DEB_DIR)/src'
	cd '$(DEB_DIR)/src' && dpkg-buildpackage -us -uc -b
	rm -rf '$(DEB_DIR)/src'
	@ls '$(DEB_DIR)'/*.deb

# Installs what is missing (as root), once; idempotent.
deps:
	@scripts/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh ./$(BIN)

SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# The same code built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/moonbak CFLAGS="$(SANITIZE)" \
	    build-asan/moonbak unit

# One run of the whole suite, on the plain build and on the sanitizer build,
# ending with a single "N passed, N failed" line.
test: $(BIN) $(UNIT_BIN) $(FUZZ_REPLAY) asan
	@ASAN_OPTIONS=detect_leaks=1 tests/run.sh $(BUILD) ./$(BIN) build-asan build-asan/moonbak

# The plain build only, for a quick run while developing.
test-fast: $(BIN) $(UNIT_BIN) $(FUZZ_REPLAY)
	@tests/run.sh $(BUILD) ./$(BIN)

check:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory test

# libFuzzer (clang): each harness of FUZZ_NAMES (or FUZZ=name) runs for
# FUZZ_SECONDS from its seeds and what earlier runs found (build-fuzz/corpus);
# a crash stops it, and its input is left in build-fuzz/crashes/NAME/.
FUZZ_SECONDS ?= 60
FUZZ         ?= $(FUZZ_NAMES)
FUZZ_CFLAGS  := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all

fuzz:
	@scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" \
	    $(FUZZ:%=build-fuzz/fuzz/fuzz_%)
	@for n in $(FUZZ); do scripts/fuzz.sh $$n $(FUZZ_SECONDS) || exit 1; done

build-fuzz/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) build-fuzz/libmoonbak.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ tests/fuzz/fuzz_$*.c \
	    build-fuzz/libmoonbak.a $(LDLIBS)

# Benchmarks: moonbak beside the standard tools, same input, ratios printed.
bench: deps all
	@bench/run.sh ./$(BIN)

# Peak memory for a 1 GiB and a 4 GiB dump.
bench-memory: deps all
	@bench/run.sh ./$(BIN) --memory

clean:
	rm -rf build build-asan build-fuzz $(BIN)
