# Creekflow build. `make` builds bin/cfctl; `make test` builds and runs every test suite;
# `make run` runs the demo job. SANITIZER=address|undefined builds into build-<san>/.

SANITIZER ?=
# Builds use every core unless -j is given (test suites themselves run one at a time).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
BUILD := build$(if $(SANITIZER),-$(SANITIZER))
BIN := $(if $(SANITIZER),$(BUILD)/bin,bin)
CC ?= cc
FUZZ_SECONDS ?= 15

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -pthread -fno-common $(WARN) -MMD -MP -I.
# Generated protobuf-c code (proto/*.proto -> build/gen/proto/*.pb-c.[ch]), included as
# "proto/creekflow.pb-c.h". Shared by every build flavour: it does not depend on flags.
GEN_DIR := build/gen
CFLAGS += -I$(GEN_DIR)
LDLIBS := -lcjson -llmdb -lprotobuf-c -lgrpc -lgpr -levent_pthreads -levent -lcurl -lhiredis \
          -lrdkafka -lpthread -lm

ifeq ($(SANITIZER),address)
  CFLAGS += -fsanitize=address -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address
else ifeq ($(SANITIZER),undefined)
  CFLAGS += -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=undefined
else ifneq ($(SANITIZER),)
  $(error SANITIZER must be address or undefined)
endif

LIB_SRCS := $(sort $(wildcard common/*/*.c) $(filter-out %/main.c,$(wildcard worker/*.c)) \
                   $(wildcard operators/*.c) \
                   $(wildcard connectors/*.c) $(filter-out %/main.c,$(wildcard coordinator/*.c)))
PROTOS := $(sort $(wildcard proto/*.proto))
GEN_SRCS := $(PROTOS:%.proto=$(GEN_DIR)/%.pb-c.c)
GEN_HDRS := $(PROTOS:%.proto=$(GEN_DIR)/%.pb-c.h)
GEN_OBJS := $(GEN_SRCS:$(GEN_DIR)/%.c=$(BUILD)/obj/gen/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(GEN_OBJS)
LIB := $(BUILD)/libcreekflow.a
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
DEPS_STAMP := build/.deps-ok

.PHONY: all deps test unit pipeline integration fuzz run run-pipelines clean style style-check symbols-check

all: $(BIN)/cfctl $(BIN)/cf-coordinator $(BIN)/cf-worker $(BIN)/cf-kafka-mock

# Installs missing system packages once per checkout (and again when the script changes).
$(DEPS_STAMP): scripts/install-deps.sh
	@mkdir -p $(dir $@)
	@scripts/install-deps.sh
	@touch $@

deps: $(DEPS_STAMP)

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# protoc-c writes the .c and the .h in one run (a pattern rule with two targets is one
# recipe, so make -j runs it once). The sed gives the C names the prefix protobuf-c's
# c_package="cf" option would (Creekflow__X -> Cf__X, creekflow__x -> cf__x): only cf_
# symbols may leave the library (symbols-check), and that option needs descriptor.proto,
# which protobuf-c's Debian packages do not ship. Wire names ("creekflow.Heartbeat...",
# method paths) are untouched: they are strings with a dot, never "creekflow__".
# Written to a temporary directory and renamed, so an interrupted run leaves no half file.
$(GEN_DIR)/%.pb-c.c $(GEN_DIR)/%.pb-c.h: %.proto | $(DEPS_STAMP)
	@echo "protoc-c $< -> $(GEN_DIR)/$*.pb-c.[ch]"
	@set -e; tmp=$(GEN_DIR)/tmp.$$$$; trap 'rm -rf $$tmp' EXIT; \
	 mkdir -p $$tmp $(dir $(GEN_DIR)/$*); \
	 protoc-c -I. --c_out=$$tmp $<; \
	 for f in $*.pb-c.c $*.pb-c.h; do \
	   sed -e 's/creekflow__/cf__/g' -e 's/Creekflow__/Cf__/g' -e 's/CREEKFLOW__/CF__/g' \
	       $$tmp/$$f > $$tmp/$$f.sed; \
	   mv $$tmp/$$f.sed $(GEN_DIR)/$$f; \
	 done

# Kept between runs (not intermediate files make would delete).
.SECONDARY: $(GEN_SRCS) $(GEN_HDRS)

# Generated code follows protoc-c's style, not ours: warnings stay visible, never fatal.
$(GEN_OBJS): $(BUILD)/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror,$(CFLAGS)) -c -o $@ $<

# Any object may include a generated header: on a clean build (no .d files yet) the
# headers must exist before anything compiles; afterwards the .d files track them.
$(LIB_OBJS) $(CLI_OBJS): | $(GEN_HDRS)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/cfctl: $(CLI_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BIN)/cf-coordinator: $(BUILD)/obj/coordinator/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BIN)/cf-worker: $(BUILD)/obj/worker/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Dev/test tool: librdkafka's mock Kafka cluster on a fixed port (DESIGN.md section 9).
$(BIN)/cf-kafka-mock: $(BUILD)/obj/connectors/kafka_mock/main.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -lrdkafka

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Unit tests (cmocka), one binary per module.
unit: $(UNIT_BINS)
	@tests/run-tests.sh unit $(UNIT_BINS)

# Whole jobs through bin/cfctl, compared row by row with independent computations.
pipeline: $(BIN)/cfctl $(BIN)/cf-kafka-mock
	@CFCTL=$(abspath $(BIN)/cfctl) tests/run-tests.sh pipeline $(sort $(wildcard tests/pipeline/[0-9]*.sh))

# Real cf-coordinator / cf-worker processes on 127.0.0.1 with ephemeral ports.
integration: $(BIN)/cf-coordinator $(BIN)/cf-worker
	@CF_BIN=$(abspath $(BIN)) tests/run-tests.sh integration $(sort $(wildcard tests/integration/[0-9]*.sh))

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its seed corpus. The library is
# compiled once with coverage instrumentation (fuzzer-no-link) and linked into every target.
FUZZ_SAN := address,undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread -I. -I$(GEN_DIR) -g -O1 -MMD -MP
FUZZ_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o) $(GEN_SRCS:$(GEN_DIR)/%.c=build-fuzz/obj/gen/%.o)
FUZZ_LIB := build-fuzz/libcreekflow-fuzz.a
build-fuzz/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<
build-fuzz/obj/%.o: %.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_LIB) $(LDLIBS)
-include $(FUZZ_OBJS:.o=.d)

fuzz: $(FUZZ_BINS)
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# Everything CI runs: build, unit tests, pipelines, the same under ASan and UBSan, fuzzers,
# exported-symbol and style checks. Prints one "N passed, N failed" line at the end.
# Every suite runs even when an earlier one fails; the summary decides the exit status.
test: all
	@rm -f build/test-results
	-@$(MAKE) --no-print-directory unit
	-@$(MAKE) --no-print-directory pipeline
	-@$(MAKE) --no-print-directory integration
	-@$(MAKE) --no-print-directory SANITIZER=address unit
	-@$(MAKE) --no-print-directory SANITIZER=address pipeline
	-@$(MAKE) --no-print-directory SANITIZER=address integration
	-@$(MAKE) --no-print-directory SANITIZER=undefined unit
	-@$(MAKE) --no-print-directory SANITIZER=undefined pipeline
	-@$(MAKE) --no-print-directory fuzz
	-@$(MAKE) --no-print-directory symbols-check
	-@$(MAKE) --no-print-directory style-check
	@tests/summary.sh

# Only cf_-prefixed symbols may be exported from the library.
symbols-check: $(LIB)
	@bad=$$(nm -g --defined-only $(LIB) | awk 'NF==3 && $$2 ~ /[TDBR]/ {print $$3}' | grep -v '^cf_' || true); \
	 if [ -n "$$bad" ]; then echo "symbols-check: non-cf_ exported symbols:"; echo "$$bad"; \
	   echo "symbols: 0 passed, 1 failed" >> build/test-results; exit 1; fi; \
	 echo "symbols-check: ok"; echo "symbols: 1 passed, 0 failed" >> build/test-results

STYLE_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
style:
	clang-format -i $(STYLE_FILES)

style-check:
	@if clang-format --dry-run --Werror $(STYLE_FILES) 2>build/style.log; then \
	   echo "style-check: ok"; echo "style: 1 passed, 0 failed" >> build/test-results; \
	 else cat build/style.log | head -40; echo "style: 0 passed, 1 failed" >> build/test-results; \
	   exit 1; fi

run: all
	@scripts/run-demo.sh

# The pipelines with Kafka, S3 and Redis, on throwaway local peers (examples/lakehouse).
run-pipelines: all
	@examples/lakehouse/run.sh

# Benchmarks next to the hand-written baseline (bench/run.sh); prints a table and writes
# bench/results/latest.json.
bench: all
	@bench/run.sh

clean:
	rm -rf build build-address build-undefined build-fuzz bin

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(BUILD)/obj/connectors/kafka_mock/main.d
