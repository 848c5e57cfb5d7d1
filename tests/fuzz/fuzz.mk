# libFuzzer targets for ingestd's pure modules (framer, schema, record,
# config, decode).  Included from the main Makefile (`include tests/fuzz/fuzz.mk`);
# also usable alone: `make -f tests/fuzz/fuzz.mk fuzz-smoke`.
#
#   make fuzz-build    build build/fuzz/fuzz_{framer,schema,record,config,decode,access,proxy,
#                      identity}
#   make fuzz-smoke    each target for FUZZ_SMOKE_SECONDS (20); fails on any finding
#   make fuzz          each target for FUZZ_SECONDS (300); prints runs per target
#   make fuzz FUZZ_TARGETS=fuzz_config FUZZ_SECONDS=60    one target
#
# The daemon's modules are compiled again here with clang and
# -fsanitize=fuzzer-no-link,address,undefined (libFuzzer needs clang's
# coverage instrumentation; the main build may use gcc).  Working corpora
# live in build/fuzz/corpus/TARGET, seeded from tests/fuzz/corpus/TARGET;
# findings go to build/fuzz/artifacts/TARGET/, logs to build/fuzz/logs/.
# A regression input kept in tests/fuzz/corpus/TARGET/ (e.g. crash-*.bin)
# runs first on every smoke run.  tests/fuzz/gen-seeds.py rewrites the
# seeds; never point a fuzzer at tests/fuzz/corpus as its *first* corpus
# directory, or it writes new inputs there.

# Keep the including Makefile's default goal (`all`), wherever this is included.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

# Alone (not included from the main Makefile): its settings, and the rule
# for the embedded default config that config.c includes.
ifndef CSTD
BUILD    ?= build
CSTD     := -std=c11 -D_GNU_SOURCE
DEPFLAGS  = -MMD -MP
INC      := -Idaemon -I$(BUILD)/gen
$(BUILD)/gen/default_config.h: config/ingestd.ini scripts/embed-text
	@mkdir -p $(@D)
	scripts/embed-text $< default_config_text > $@.tmp && mv $@.tmp $@
endif

FUZZ_CC      ?= clang
FUZZ_CXX     ?= clang++
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS ?= fuzz_framer fuzz_schema fuzz_record fuzz_config fuzz_decode fuzz_access fuzz_proxy \
                fuzz_identity fuzz_http

FUZZ_DRAGONBOX_INC := $(or $(DRAGONBOX_INC),$(firstword $(wildcard /usr/include/dragonbox-*)),/usr/include/dragonbox-1.1.3)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -DINGESTD_TESTING
FUZZ_WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wformat=2 \
                -Wno-format-nonliteral
FUZZ_LIBS    := -ljansson -linih -lz -lm

# Only the pure modules the targets exercise (no libev): framer, schema,
# record + jsnum (+ the Dragonbox shim), config + log (log_level_parse) + stats (its counters),
# schema + checksum (declared schemas), decode (fuzz_decode).
FUZZ_MODULES := framer schema checksum decode record jsnum config log stats access proxy \
                identity
FUZZ_MOD_OBJS := $(FUZZ_MODULES:%=$(FUZZ_BUILD)/obj/daemon/%.o) \
                 $(FUZZ_BUILD)/obj/daemon/jsnum_dragonbox.o
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

# Per-target libFuzzer options.  Framer streams long enough to fill small
# slabs and retain partial frames; raw records up to the TLV maximum;
# config lines past the 8192-character limit; schema inputs room for a [schema] text body.
FUZZ_OPTS_fuzz_framer := -max_len=20000
FUZZ_OPTS_fuzz_schema := -max_len=256
FUZZ_OPTS_fuzz_record := -max_len=66000
FUZZ_OPTS_fuzz_config := -max_len=20000 -dict=tests/fuzz/config.dict
# access: allow/deny lists, a few hundred bytes; proxy: headers and a little more.
FUZZ_OPTS_fuzz_access := -max_len=1024
FUZZ_OPTS_fuzz_proxy := -max_len=1200
# identity: a certificate CN (at most 256 bytes in the daemon) and a frame.
FUZZ_OPTS_fuzz_identity := -max_len=300
# decode: streams of many frames, resyncs past their max_resync.
FUZZ_OPTS_fuzz_decode := -max_len=8192

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean

fuzz-build: $(FUZZ_BINS)

# Objects reached only through pattern rules would be deleted as intermediates.
.SECONDARY: $(FUZZ_MOD_OBJS) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/obj/%.o) \
            $(FUZZ_BUILD)/obj/daemon/http.o

$(FUZZ_BUILD)/obj/daemon/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CSTD) $(FUZZ_WARN) $(FUZZ_CFLAGS) $(DEPFLAGS) $(INC) -c $< -o $@
$(FUZZ_BUILD)/obj/daemon/%.o: daemon/%.cc
	@mkdir -p $(@D)
	$(FUZZ_CXX) -std=c++17 -fno-exceptions -fno-rtti -isystem $(FUZZ_DRAGONBOX_INC) \
		$(FUZZ_CFLAGS) $(DEPFLAGS) $(INC) -c $< -o $@
$(FUZZ_BUILD)/obj/daemon/config.o: $(BUILD)/gen/default_config.h

$(FUZZ_BUILD)/obj/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CSTD) $(FUZZ_WARN) $(FUZZ_CFLAGS) $(DEPFLAGS) $(INC) -Itests/fuzz -c $< -o $@

# Targets that need a module beyond FUZZ_MODULES name it here: fuzz_http,
# the metrics listener's request parser (/metrics, /healthz, the status page).
$(FUZZ_BUILD)/fuzz_http: $(FUZZ_BUILD)/obj/daemon/http.o
FUZZ_OPTS_fuzz_http := -max_len=8192

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz_%.o $(FUZZ_MOD_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_LIBS)

# One line per target; every target runs even after a failure, then the
# recipe fails if any did.
fuzz-run = FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run-fuzz $(1) $(FUZZ_BUILD)/$(2) $(3) $(FUZZ_OPTS_$(2)) || fail=1;

fuzz-smoke: $(FUZZ_BINS)
	@fail=0; $(foreach t,$(FUZZ_TARGETS),$(call fuzz-run,fuzz-smoke,$(t),$(FUZZ_SMOKE_SECONDS))) exit $$fail

fuzz: $(FUZZ_BINS)
	@fail=0; $(foreach t,$(FUZZ_TARGETS),$(call fuzz-run,fuzz,$(t),$(FUZZ_SECONDS))) exit $$fail

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(wildcard $(FUZZ_BUILD)/obj/*.d $(FUZZ_BUILD)/obj/daemon/*.d)

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
