# cbd — top-level build.
#
#   make            libcbd (static + shared) and every tool in bin/
#   make check      install deps, build, run every test; ends "tests: N passed, N failed"
#   make demo       install deps, build, run the bundled investigation
#   make SAN=1 ...  the same with ASan+UBSan (objects under build-san/)
#   make install PREFIX=/usr/local
#
# Sources are found by wildcard: a new lib/**/*.c joins libcbd, a new
# bin/cbd-*.c becomes a tool, a new tests/unit/test_*.c a unit test.

PREFIX   ?= /usr/local
CC       ?= cc
SAN      ?= 0
CFLAGS   ?= -O2 -g
PYTHON   ?= /usr/bin/python3

ifeq ($(SAN),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif
# An absolute BUILD inside the tree (tests/cli/install.bats passes one) is
# made relative: the dependency files (-MMD) then always name the targets
# the rules build, so a header change (lib/nn/ops.def, nn_internal.h)
# rebuilds every object including it; with mixed spellings objects went
# stale under SAN.
override BUILD := $(patsubst $(CURDIR)/%,%,$(BUILD))

PKGS     := libcrypto libcjson libarchive libpng libcurl libmicrohttpd \
            cairo libprotobuf-c zlib sqlite3
# Recursive (=) so pkg-config runs only when compiling, after `make deps`.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -ldnnl -lm -lpthread

WARN     := -Wall -Wextra -Werror
# V=1 shows full command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif
ALL_CPPFLAGS = -Iinclude -I$(BUILD)/gen -D_GNU_SOURCE $(CPPFLAGS)
ALL_CFLAGS   = -std=c11 $(CFLAGS) $(SANFLAGS) $(WARN) -fPIC $(PKG_CFLAGS)
ALL_LDFLAGS  = $(SANFLAGS) $(LDFLAGS)

ONNX_PROTO := /usr/include/onnx/onnx.proto
GEN_C      := $(BUILD)/gen/onnx.pb-c.c
GEN_H      := $(BUILD)/gen/onnx.pb-c.h

LIB_SRC  := $(sort $(shell find lib -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
TOOL_SRC := $(sort $(wildcard bin/cbd-*.c))
TOOLS    := $(TOOL_SRC:bin/%.c=$(BUILD)/bin/%)
TOOL_COMMON_SRC := $(filter-out $(TOOL_SRC),$(wildcard bin/*.c))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPERS  := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/%)
# the C halves of make bench (tools/bench-*.sh): public API only, like bin/
BENCH_SRC := $(sort $(wildcard tools/bench/*.c))
BENCHES  := $(BENCH_SRC:tools/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps check test demo bench install clean golden fuzz
all: $(BUILD)/libcbd.a $(BUILD)/libcbd.so $(TOOLS)

deps:
	@sh tools/deps.sh

$(GEN_C): $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(BUILD)/gen $(ONNX_PROTO)

$(GEN_H): $(GEN_C)

$(BUILD)/obj/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(GEN_H) include/cbd.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libcbd.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	$(Q)ar rcs $@ $^

# the export list: exactly the functions cbd.h declares
$(BUILD)/libcbd.map: include/cbd.h tools/libcbd-map.sh
	@mkdir -p $(dir $@)
	$(Q)sh tools/libcbd-map.sh "$(CC)" include/cbd.h > $@.tmp && mv $@.tmp $@

$(BUILD)/libcbd.so: $(LIB_OBJ) $(BUILD)/libcbd.map
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libcbd.so.0 \
		-Wl,--version-script=$(BUILD)/libcbd.map $(ALL_LDFLAGS) -o $@ $(LIB_OBJ) $(PKG_LIBS)

$(BUILD)/bin/%: $(BUILD)/obj/bin/%.o $(TOOL_COMMON_OBJ) $(BUILD)/libcbd.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# every unit test links the shared fixtures (tests/unit/fixture.c)
$(BUILD)/tests/fixture.o: tests/unit/fixture.c $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) -Ilib $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/tests/fixture.o $(BUILD)/libcbd.a $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) -Ilib $(ALL_CFLAGS) -o $@ $< \
		$(BUILD)/tests/fixture.o $(BUILD)/libcbd.a \
		$(ALL_LDFLAGS) $(PKG_LIBS) -lcmocka

$(BUILD)/tests/%: tests/helpers/%.c $(BUILD)/libcbd.a $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) -Ilib $(ALL_CFLAGS) -o $@ $< $(BUILD)/libcbd.a \
		$(ALL_LDFLAGS) $(PKG_LIBS)

$(BUILD)/bench/%: tools/bench/%.c $(BUILD)/libcbd.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libcbd.a \
		$(ALL_LDFLAGS) $(PKG_LIBS)

# `make check` is the README's test command: it installs what it needs.
check: deps
	@$(MAKE) --no-print-directory all-tests
	@BUILD=$(BUILD) sh tests/run.sh

all-tests: all $(UNITS) $(HELPERS) $(BENCHES)

test: check

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tools/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all-tests bench-models
	@BUILD=$(BUILD) sh tools/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(BUILD)/libcbd.a $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(BUILD)/libcbd.so $(DESTDIR)$(PREFIX)/lib/libcbd.so.0
	ln -sf libcbd.so.0 $(DESTDIR)$(PREFIX)/lib/libcbd.so
	install -m 0644 include/cbd.h $(DESTDIR)$(PREFIX)/include
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define CBD_VERSION "\(.*\)"/\1/p' include/cbd.h)|' \
		-e 's|@PKGS@|$(PKGS)|' tools/cbd.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/cbd.pc
	for s in 1 5 7; do for f in man/man$$s/*.$$s; do [ -e "$$f" ] && \
		install -m 0644 "$$f" $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		done; done; true

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ------------------------------------------------------------------------
# Fuzzing and valgrind (tests/fuzz/, issue 8).  Kept apart from the rest.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="tensor ..."]
#       libcbd built again with clang, ASan+UBSan and -fsanitize=fuzzer-no-link
#       into build-fuzz/ (build/ and build-san/ are not touched); each
#       tests/fuzz/fuzz_<t>.c linked with -fsanitize=fuzzer and run for
#       FUZZ_SECONDS, one at a time, from its seeds in tests/fuzz/corpus/<t>/.
#   make valgrind
#       the CLI suite's main paths under valgrind (tests/fuzz/valgrind.sh).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined,fuzzer-no-link \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)

# Both steps need the same variables: the second rebuilds any library
# object whose source changed, and must not do it with the default CC.
FUZZ_VARS    = BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SANFLAGS="$(FUZZ_SAN)" \
               WARN="-Wall -Wextra"

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_VARS) $(FUZZ_BUILD)/libcbd.a
	@$(MAKE) --no-print-directory $(FUZZ_VARS) \
		$(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/fuzz_%)

$(FUZZ_BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h \
		$(FUZZ_BUILD)/libcbd.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $<"
	$(Q)$(FUZZ_CC) -std=c11 -O1 -g $(FUZZ_SAN:fuzzer-no-link=fuzzer) \
		-Iinclude -Ilib -I$(FUZZ_BUILD)/gen -D_GNU_SOURCE \
		$(PKG_CFLAGS) -o $@ $< $(FUZZ_BUILD)/libcbd.a $(PKG_LIBS)

fuzz: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
		sh tests/fuzz/run.sh $(FUZZ_TARGETS)

valgrind: deps
	@$(MAKE) --no-print-directory all-tests
	@BUILD=$(BUILD) sh tests/fuzz/valgrind.sh

.PHONY: fuzz-build valgrind

# --- nn engine (lib/nn): test models and reference outputs ---------------
# `make golden` re-exports nothing: it reruns ONNX Runtime (npm
# onnxruntime-node, installed --ignore-scripts into build/ort) on the
# committed test models and rewrites models/test/*-golden.npy.
# tools/make_test_models.py rebuilds the test models themselves (torch).
golden:
	@sh tools/golden.sh

# Full-size torchvision classifiers (random weights) for tools/bench-nn.sh:
# ResNet-18, MobileNetV2/V3, EfficientNet-B0, ConvNeXt-T, Swin-T, a ViT-S/16
# and RegNetY-400MF; one run writes them all, the last one stands for it.
bench-models: models/bench/regnet_y_400mf.onnx

models/bench/regnet_y_400mf.onnx: tools/make_test_models.py
	@sh tools/deps.sh python3-torchvision
	$(PYTHON) tools/make_test_models.py --bench models/bench
