# ingestd build.  `make run` builds and runs the daemon on its embedded
# default config; `make test` builds the sanitizer build and runs every test.
# Both install missing Debian packages first (scripts/install-deps).

CC       ?= cc
CXX      ?= c++
BUILD    := build
PREFIX   ?= /usr/local

DRAGONBOX_INC := $(firstword $(wildcard /usr/include/dragonbox-*))

WARN     := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
# -ffp-contract=off: a declared field's `raw * scale + add` must round each
# operation on its own, as JavaScript does, never as one fused multiply-add.
CSTD     := -std=c11 -D_GNU_SOURCE -ffp-contract=off
# Versions of the libraries that have no version call (daemon/version.h).
VERSION_DEFS := -DINGESTD_INIH_VERSION='"$(shell pkg-config --modversion inih 2>/dev/null || echo unknown)"' \
                -DINGESTD_DRAGONBOX_VERSION='"$(patsubst dragonbox-%,%,$(notdir $(DRAGONBOX_INC)))"' 
DEPFLAGS  = -MMD -MP
INC      := -Idaemon -I$(BUILD)/gen
CFLAGS_REL := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fno-plt
CFLAGS_SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all -DINGESTD_TESTING
# ThreadSanitizer: the modules that threads share, tested with several
# threads at once (build/tsan/test_*; tests/run runs them).
CFLAGS_TSAN := -O1 -g -fno-omit-frame-pointer -fsanitize=thread -DINGESTD_TESTING
LDFLAGS_TSAN := -fsanitize=thread
LDFLAGS_REL := -Wl,-z,relro,-z,now
LDFLAGS_SAN := -fsanitize=address,undefined
CXXFLAGS_COMMON := -std=c++17 -fno-exceptions -fno-rtti -isystem $(DRAGONBOX_INC)
LIBS     := -lev $(shell pkg-config --libs inih jansson zlib libssl libcrypto rdkafka 2>/dev/null || echo -linih -ljansson -lz -lssl -lcrypto -lrdkafka) -lm -lpthread

# Every module but main.c goes into a static library the tests link.
SRCS     := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CXXSRCS  := $(wildcard daemon/*.cc)
REL_OBJS := $(SRCS:daemon/%.c=$(BUILD)/rel/%.o) $(CXXSRCS:daemon/%.cc=$(BUILD)/rel/%.o)
SAN_OBJS := $(SRCS:daemon/%.c=$(BUILD)/san/%.o) $(CXXSRCS:daemon/%.cc=$(BUILD)/san/%.o)
TSAN_OBJS := $(SRCS:daemon/%.c=$(BUILD)/tsan/%.o) $(CXXSRCS:daemon/%.cc=$(BUILD)/tsan/%.o)
# Unit tests whose subject is threads; they also run under ThreadSanitizer.
TSAN_UNIT_BINS := $(BUILD)/tsan/test_stats $(BUILD)/tsan/test_relay
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/san/%)
TOOL_SRCS := $(wildcard scripts/*.c)
TOOL_BINS := $(TOOL_SRCS:scripts/%.c=$(BUILD)/tools/%) \
             $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))

.PHONY: all run test unit deps deps-test deps-bench bench soak mutants clean check-config tools deb

all: $(BUILD)/ingestd

deps:
	@scripts/install-deps
deps-test:
	@scripts/install-deps --test
deps-bench:
	@scripts/install-deps --bench

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/ingestd
	exec $(BUILD)/ingestd

# The embedded default config is config/ingestd.ini itself, so the
# documented example and the default cannot drift.
$(BUILD)/gen/default_config.h: config/ingestd.ini scripts/embed-text
	@mkdir -p $(@D)
	scripts/embed-text $< default_config_text > $@.tmp && mv $@.tmp $@

$(BUILD)/rel/config.o $(BUILD)/san/config.o $(BUILD)/tsan/config.o: $(BUILD)/gen/default_config.h

# The status page (GET / on the metrics listener), compiled in the same way.
$(BUILD)/gen/status_page.h: daemon/status.html scripts/embed-text
	@mkdir -p $(@D)
	scripts/embed-text $< status_page_text > $@.tmp && mv $@.tmp $@

$(BUILD)/rel/status.o $(BUILD)/san/status.o $(BUILD)/tsan/status.o: $(BUILD)/gen/status_page.h
$(BUILD)/rel/version.o $(BUILD)/san/version.o $(BUILD)/tsan/version.o: CFLAGS += $(VERSION_DEFS)

$(BUILD)/rel/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS_REL) $(CFLAGS) $(DEPFLAGS) $(INC) -c $< -o $@
$(BUILD)/san/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS_SAN) $(CFLAGS) $(DEPFLAGS) $(INC) -c $< -o $@
$(BUILD)/tsan/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS_TSAN) $(CFLAGS) $(DEPFLAGS) $(INC) -c $< -o $@
$(BUILD)/tsan/%.o: daemon/%.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_COMMON) $(CFLAGS_TSAN) $(DEPFLAGS) $(INC) -c $< -o $@
$(BUILD)/rel/%.o: daemon/%.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_COMMON) -O2 -g $(DEPFLAGS) $(INC) -c $< -o $@
$(BUILD)/san/%.o: daemon/%.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_COMMON) $(CFLAGS_SAN) $(DEPFLAGS) $(INC) -c $< -o $@

$(BUILD)/rel/libingestd.a: $(REL_OBJS)
	ar rcs $@ $^
$(BUILD)/san/libingestd.a: $(SAN_OBJS)
	ar rcs $@ $^
$(BUILD)/tsan/libingestd.a: $(TSAN_OBJS)
	ar rcs $@ $^

$(BUILD)/ingestd: $(BUILD)/rel/main.o $(BUILD)/rel/libingestd.a
	$(CC) $(LDFLAGS_REL) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/san/ingestd: $(BUILD)/san/main.o $(BUILD)/san/libingestd.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $^ $(LIBS)
# The daemon under ThreadSanitizer: the multi-worker integration tests
# (test_workers) run it.
$(BUILD)/tsan/ingestd: $(BUILD)/tsan/main.o $(BUILD)/tsan/libingestd.a
	$(CC) $(LDFLAGS_TSAN) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/san/test_%: tests/unit/test_%.c $(BUILD)/san/libingestd.a
	$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes $(CFLAGS_SAN) $(INC) -Itests/unit -o $@ $< \
		$(BUILD)/san/libingestd.a $(LDFLAGS_SAN) -lcmocka $(LIBS)

$(BUILD)/tools/%: scripts/%.c scripts/tool_util.h scripts/loadgen_packets.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes -O2 -g $(INC) -o $@ $< $(LIBS)

# Helpers the integration tests run (tests/tools: the Kafka mock cluster).
$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes -O2 -g -o $@ $< $(LIBS)

$(BUILD)/tsan/test_%: tests/unit/test_%.c $(BUILD)/tsan/libingestd.a
	$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes $(CFLAGS_TSAN) $(INC) -Itests/unit -o $@ $< \
		$(BUILD)/tsan/libingestd.a $(LDFLAGS_TSAN) -lcmocka $(LIBS)

tools: $(TOOL_BINS)

unit: $(UNIT_BINS) $(TSAN_UNIT_BINS)

check-config: $(BUILD)/ingestd
	$(BUILD)/ingestd --check-config -c config/ingestd.ini

# The Debian package, $(BUILD)/ingestd_VERSION_ARCH.deb: what `make install`
# installs, with Debian's paths and maintainer scripts (scripts/mkdeb).
deb: $(BUILD)/ingestd
	@scripts/mkdeb $(BUILD)

test: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/san/ingestd $(BUILD)/tsan/ingestd $(BUILD)/ingestd \
		unit tools
	@tests/run

bench: deps-bench
	@$(MAKE) --no-print-directory $(BUILD)/ingestd tools
	@scripts/bench

# Connection churn beside steady traffic; SOAK_SECONDS (default 600).
SOAK_SECONDS ?= 600
soak: deps-bench
	@$(MAKE) --no-print-directory $(BUILD)/ingestd tools
	@scripts/soak --seconds $(SOAK_SECONDS)

# One-line bugs the tests must catch (scripts/mutants; minutes, not part of make test).
mutants: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/san/ingestd $(BUILD)/ingestd unit tools
	@scripts/mutants

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*/*.d)

include systemd/install.mk
include tests/fuzz/fuzz.mk
