# relay: plain Makefile. Targets: all check check-asan bench install uninstall clean run deps.
# Objects and binaries go under $(BUILD) (build/ by default, build-asan/ for the sanitizer build).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

PKGS    := libmicrohttpd libcurl libcjson sqlite3 openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?=
CFLAGS  += -std=c17 -D_GNU_SOURCE -DRELAY_VERSION=\"$(VERSION)\" -Wall -Wextra -Werror -Wno-format-zero-length \
           -g $(OPT) -pthread -Icommon -I$(BUILD)/gen $(PKG_CFLAGS)
LDFLAGS ?=
LDLIBS  += $(PKG_LIBS) -pthread -lm
# gwtui alone links curses (wide-character ncurses when available)
CURSES_CFLAGS := $(shell pkg-config --cflags ncursesw 2>/dev/null || pkg-config --cflags ncurses 2>/dev/null)
CURSES_LIBS   := $(shell pkg-config --libs ncursesw 2>/dev/null || pkg-config --libs ncurses 2>/dev/null || echo -lncurses)

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

COMMON_SRC := $(wildcard common/*.c)
RELAYD_SRC := $(wildcard relayd/*.c)
GWCTL_SRC  := $(wildcard gwctl/*.c)
GWTUI_SRC  := $(wildcard gwtui/*.c)
MOCK_SRC   := tests/mock_upstream.c
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
SQL_FILES  := $(sort $(wildcard sql/sqlite/*.sql))

GEN_SCHEMA := $(BUILD)/gen/schema_sql.c
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o
RELAYD_OBJ := $(RELAYD_SRC:%.c=$(BUILD)/%.o)
GWCTL_OBJ  := $(GWCTL_SRC:%.c=$(BUILD)/%.o)
GWTUI_OBJ  := $(GWTUI_SRC:%.c=$(BUILD)/%.o)
# relayd objects that unit tests may link (everything but main)
RELAYD_LIB_OBJ := $(filter-out $(BUILD)/relayd/main.o,$(RELAYD_OBJ))

BIN := $(BUILD)/bin
PROGRAMS := $(BIN)/relayd $(BIN)/gwctl $(BIN)/gwtui $(BIN)/mock-upstream
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BIN)/unit/%)

.PHONY: all check check-asan bench install uninstall clean run deps unit
all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(GEN_SCHEMA): $(SQL_FILES) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-sql.sh sqlite $(SQL_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_sql.o: $(GEN_SCHEMA)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/relayd: $(RELAYD_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/gwctl: $(GWCTL_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# only gwtui/screen.c includes curses.h
$(BUILD)/gwtui/screen.o: CFLAGS += $(CURSES_CFLAGS)

$(BIN)/gwtui: $(GWTUI_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CURSES_LIBS)

$(BIN)/mock-upstream: $(BUILD)/tests/mock_upstream.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/unit/%: $(BUILD)/tests/unit/%.o $(RELAYD_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)

# Load generators of make bench (bench/LOADGEN.md).
.PHONY: bench-tools
bench-tools: $(BIN)/sse-load $(BIN)/writer-bench

$(BIN)/sse-load: $(BUILD)/bench/sse_load.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/writer-bench: $(BUILD)/bench/writer_bench.o $(RELAYD_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The README's test command: installs what tests need, builds, runs every test, prints
# "N passed, N failed" last.
check:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory all unit
	@BUILD=$(BUILD) sh tests/run.sh

check-asan:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all unit
	@BUILD=build-asan RELAY_ASAN=1 sh tests/run.sh

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh bench/run.sh

# The README's first command: starts relayd on SQLite in ./data/.
run:
	@sh scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	exec $(BIN)/relayd --listen 127.0.0.1:8080 --db sqlite:data/relay.db --admin-socket data/admin.sock

deps:
	@sh scripts/deps.sh build

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(BIN)/relayd $(BIN)/gwctl $(BIN)/gwtui $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/relayd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/gwctl.1 man/gwtui.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 completions/gwctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/gwctl

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/relayd $(DESTDIR)$(PREFIX)/bin/gwctl $(DESTDIR)$(PREFIX)/bin/gwtui \
	  $(DESTDIR)$(PREFIX)/share/man/man8/relayd.8 $(DESTDIR)$(PREFIX)/share/man/man1/gwctl.1 \
	  $(DESTDIR)$(PREFIX)/share/man/man1/gwtui.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/gwctl

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
