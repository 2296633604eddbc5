# lmz build.  `make` builds the lmz binary at the root, liblmz.a, liblmz.so and lmz.pc.
# `make test` builds and runs the test suite; `make test-asan` runs it under ASan+UBSan.
#
# Sources are discovered, not listed: every src/**/*.c except src/cli goes into liblmz,
# every tests/test_*.c becomes its own test program.  src/cli is the lmz program: its
# options, files and the model-building tools (doc/layout.md says where things are).
# Files named *_avx2.c / *_avx512.c are the only ones compiled with those ISA flags; the
# runtime dispatch in src/kernels picks a path, so the binary runs on any x86-64.
# The target architecture is the compiler's (`$(CC) -dumpmachine`): *_avx2.c / *_avx512.c
# are built only for x86-64, *_neon.c only for AArch64 (where NEON is baseline, no flag).
# Cross build for AArch64 into its own folder (tools/check_arm.sh, `make check-arm`):
#   make BUILD=build/aarch64 CC=aarch64-linux-gnu-gcc build/aarch64/lmz tests-build
#
# Determinism (doc/determinism.md): the whole library is built with -ffp-contract=off and
# never with -ffast-math, so the compiler cannot fuse or reorder floating-point operations.

VARIANT  ?= release
BUILD    := build/$(VARIANT)
CC       ?= cc
PREFIX   ?= /usr/local

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
# -fvisibility=hidden: liblmz.so exports only what include/lmz.h marks LMZ_API.
BASEFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -ffp-contract=off -fno-fast-math \
             -pthread -Iinclude -Isrc $(WARN)
ifeq ($(VARIANT),release)
  OPT := -O2 -g
else ifeq ($(VARIANT),asan)
  OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(VARIANT),debug)
  OPT := -O0 -g
else ifeq ($(VARIANT),coverage)
  OPT := -O0 -g --coverage
  # libgcov is linked into liblmz.so too: its globals stay inside (test exports)
  VARIANT_LDFLAGS := --coverage -Wl,--exclude-libs,libgcov.a
else
  $(error unknown VARIANT=$(VARIANT))
endif
CFLAGS_ALL := $(BASEFLAGS) $(OPT) $(CFLAGS)
LDLIBS_ALL := -lzstd -lxxhash -lm -pthread
LDFLAGS_ALL := $(filter -fsanitize%,$(OPT)) $(VARIANT_LDFLAGS) $(LDFLAGS)

TARGET_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(filter x86_64-% amd64-%,$(TARGET_MACHINE)),)
  ARCH_EXCLUDE := %_neon.c
else ifneq ($(filter aarch64-% arm64-%,$(TARGET_MACHINE)),)
  ARCH_EXCLUDE := %_avx2.c %_avx512.c
else
  ARCH_EXCLUDE := %_avx2.c %_avx512.c %_neon.c
endif

ISA_AVX2   := -mavx2 -mfma -mf16c
ISA_AVX512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

LIB_SRC  := $(filter-out $(ARCH_EXCLUDE),$(shell find src -name '*.c' -not -path 'src/cli/*' | sort))
CLI_SRC  := $(shell find src/cli -name '*.c' | sort)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)

ifeq ($(VARIANT),release)
all: lmz liblmz.a liblmz.so lmz.pc
else
all: $(BUILD)/lmz $(BUILD)/liblmz.a $(BUILD)/liblmz.so
endif

# Objects depend on the flags too: a changed flag (-fvisibility, a warning, a variant's
# options) rebuilds them, not only a changed source.
FLAGS_STAMP := $(BUILD)/flags.txt
FLAGS_NOW := $(CFLAGS_ALL) | $(ISA_AVX2) | $(ISA_AVX512) | $(LDFLAGS_ALL)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || \
    echo '$(FLAGS_NOW)' >$(FLAGS_STAMP); })
$(LIB_OBJ) $(CLI_OBJ) $(TEST_SUPPORT_OBJ): $(FLAGS_STAMP)

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_AVX2) -MMD -MP -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_AVX512) -MMD -MP -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The built-in models (src/lib/builtin_models.c): each is embedded when its file exists.
BUILTIN_S2 := $(wildcard models/lmz-s2.gguf)
BUILTIN_M1 := $(wildcard models/lmz-m1.gguf)
BUILTIN_T1 := $(wildcard models/lmz-t1.gguf)
$(BUILD)/src/lib/builtin_models.o: $(BUILTIN_S2) $(BUILTIN_M1) $(BUILTIN_T1)
ifneq ($(BUILTIN_S2),)
$(BUILD)/src/lib/builtin_models.o: CFLAGS_ALL += -DLMZ_BUILTIN_S2_PATH='"$(abspath $(BUILTIN_S2))"'
endif
ifneq ($(BUILTIN_M1),)
$(BUILD)/src/lib/builtin_models.o: CFLAGS_ALL += -DLMZ_BUILTIN_M1_PATH='"$(abspath $(BUILTIN_M1))"'
endif
ifneq ($(BUILTIN_T1),)
$(BUILD)/src/lib/builtin_models.o: CFLAGS_ALL += -DLMZ_BUILTIN_T1_PATH='"$(abspath $(BUILTIN_T1))"'
endif

$(BUILD)/liblmz.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/liblmz.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,liblmz.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/lmz: $(CLI_OBJ) $(BUILD)/liblmz.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/liblmz.a $(LDLIBS_ALL)

lmz: $(BUILD)/lmz
	cp $< $@
liblmz.a: $(BUILD)/liblmz.a
	cp $< $@
liblmz.so: $(BUILD)/liblmz.so
	cp $< $@
lmz.pc: lmz.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' $< > $@

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/liblmz.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests $(LDFLAGS_ALL) -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/liblmz.a -lcmocka $(LDLIBS_ALL)

# test_alloc_fail fails the library's allocations one by one: linked with --wrap, every
# reference from liblmz.a (and the test) to these functions goes to the test's __wrap_X
# (xxhash and zstd allocate inside their .so, so their allocating calls are wrapped whole).
$(BUILD)/tests/test_alloc_fail: private LDFLAGS_ALL += -Wl,--wrap=malloc,--wrap=calloc \
    -Wl,--wrap=realloc,--wrap=aligned_alloc,--wrap=posix_memalign,--wrap=strdup \
    -Wl,--wrap=strndup,--wrap=XXH3_createState,--wrap=ZSTD_compress,--wrap=ZSTD_decompress

tests-build: $(TEST_BIN) $(BUILD)/lmz $(BUILD)/liblmz.so

$(BUILD)/bench/%: bench/%.c $(BUILD)/liblmz.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/liblmz.a $(LDLIBS_ALL)
bench-build: $(BENCH_BIN)

# The README's test command.  Quick suite under the release build, then the same suite
# under ASan+UBSan.  The runner's last line is "N passed, N failed".
test:
	$(MAKE) --no-print-directory VARIANT=release all tests-build
	$(MAKE) --no-print-directory VARIANT=asan tests-build
	bash tests/run.sh build/release build/asan

test-release: all tests-build
	bash tests/run.sh build/release

test-asan:
	$(MAKE) --no-print-directory VARIANT=asan tests-build
	bash tests/run.sh build/asan

bench: all bench-build
	bash bench/bench.sh

# Cross-build for AArch64, run its tests under qemu-user and check that x86-64 and AArch64
# write the same .lmz bytes (slow: emulation).  Not part of `make test`.
check-arm:
	bash tools/check_arm.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 lmz $(DESTDIR)$(PREFIX)/bin/
	ln -sf lmz $(DESTDIR)$(PREFIX)/bin/unlmz
	ln -sf lmz $(DESTDIR)$(PREFIX)/bin/lmzcat
	install -m 644 liblmz.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 liblmz.so $(DESTDIR)$(PREFIX)/lib/liblmz.so.0
	ln -sf liblmz.so.0 $(DESTDIR)$(PREFIX)/lib/liblmz.so
	install -m 644 include/lmz.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 lmz.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 doc/lmz.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# The compression-compute frontier: every level and the classical compressors on a
# sample of ../shared/data, drawn by gnuplot into bench/out/frontier.png.
frontier: all bench-build
	bash bench/frontier.sh

# lmz's tokens/s beside llama.cpp's (node-llama-cpp from ../shared/reference) on the same
# GGUF models: compression against prompt processing, decompression against decoding.
bench-vs-llamacpp: all
	bash bench/vs_llamacpp.sh

# LoRA adapters (lmz --train, -A) against the base model and zstd --train dictionaries
# on the Mixtral split and a C split of ../shared/data (bench/adapt.py; ~30 min).
bench-adapt: all
	python3 bench/adapt.py --out bench/out/adapt.md

# ThreadSanitizer (clang): the library, the tests and lmz rebuilt in build/tsan, then the
# tests that run threads: contexts in several pthreads (threads), worker pools (lib,
# model, adapter), failure paths in worker threads (alloc_fail), the CLI with its default
# thread count (cli).  Not part of `make test`.
test-tsan:
	$(MAKE) --no-print-directory BUILD=build/tsan VARIANT=debug CC=clang \
	    CFLAGS='-O1 -fsanitize=thread' LDFLAGS='-fsanitize=thread' tests-build
	TSAN_OPTIONS=halt_on_error=1 TESTS='threads lib model adapter alloc_fail cli' bash tests/run.sh build/tsan

# Large inputs (tests/large/run.sh): 1 GiB through pipes and in place, > 4 GiB, peak RSS.
# A few minutes and ~6 GB of temporary disk.  Not part of `make test`.
test-large: all
	bash tests/large/run.sh

# The PyTorch trainer (tools/gpu) against the C inference; needs Debian's python3-torch,
# which tools/setup-debian.sh does not install (too heavy for every CI run).
check-torch: all
	sh tools/gpu/check_torch_vs_c.sh

# Line, function and branch coverage of src/ (gcov + lcov; lcov is not in
# tools/setup-debian.sh: `apt-get install lcov`).  The library, lmz and the tests rebuilt
# with --coverage at -O0 in build/coverage, the suite run there except COVERAGE_SKIP
# (fuzz_smoke: its harnesses are clang builds of their own, not this build), then
# tools/coverage.sh writes build/coverage/coverage.info (src/ only), prints lcov's summary
# and a table per folder of src/ (tools/coverage_table.py), and build/coverage/html/.
# Slower than `make test`; not part of it.
COVERAGE_SKIP ?= fuzz_smoke
coverage:
	@command -v lcov >/dev/null 2>&1 || { echo "make coverage needs lcov: apt-get install lcov" >&2; exit 1; }
	$(MAKE) --no-print-directory VARIANT=coverage tests-build
	COVERAGE_SKIP='$(COVERAGE_SKIP)' bash tools/coverage.sh build/coverage

clean:
	rm -rf build lmz liblmz.a liblmz.so lmz.pc

.PHONY: all test test-release test-asan test-tsan test-large tests-build bench bench-build \
        frontier bench-vs-llamacpp bench-adapt check-arm check-torch coverage install clean
-include $(shell find build -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- fuzzing (fuzz/README.md)
# libFuzzer harnesses fuzz/fuzz_*.c, built with clang under ASan+UBSan into build/fuzz/
# (the library again, with coverage instrumentation).  `make fuzz` replays
# fuzz/regressions/ and runs each harness for FUZZ_SECONDS on a copy of its seeds
# (build/fuzz/corpus/NAME; FUZZ_JOBS at once); `make fuzz-smoke` is the short pass of
# `make test` (tests/test_fuzz_smoke.sh).  No -fno-sanitize-recover: with it clang 14
# needs minutes for the AVX-512 kernels; fuzz/run.sh makes UBSan halt on errors instead.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 1
FUZZ_DIR     := build/fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -ffp-contract=off \
                -fno-fast-math -pthread -Iinclude -Isrc $(WARN) -fsanitize=address,undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

$(FUZZ_DIR)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(ISA_AVX2) -MMD -MP -c $< -o $@
$(FUZZ_DIR)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(ISA_AVX512) -MMD -MP -c $< -o $@
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_DIR)/liblmz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
# the option parser is linked alone, without the rest of the CLI
$(FUZZ_DIR)/fuzz_options: $(FUZZ_DIR)/obj/src/cli/options.o $(FUZZ_DIR)/obj/src/cli/args.o
$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_DIR)/liblmz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(filter %.o,$^) \
	    $(FUZZ_DIR)/liblmz.a $(LDLIBS_ALL)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
fuzz: fuzz-build
	bash fuzz/run.sh -t $(FUZZ_SECONDS) -j $(FUZZ_JOBS)
fuzz-smoke: fuzz-build
	BUILD=$(BUILD) bash tests/test_fuzz_smoke.sh

.PHONY: fuzz fuzz-build fuzz-smoke
