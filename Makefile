# cdagent: one hand-written Makefile (git/skarnet style).
#
#   make            static musl release binary build/cdagent
#   make dev        glibc debug build build/dev/cdagent
#   make asan       ASan+UBSan build build/asan/cdagent and its unit tests
#   make check      unit tests (under valgrind) + end-to-end tests
#   make demo       deploy the example bundle locally into build/demo/
#   make bench      benchmarks (figures, never pass/fail on timing)
#   make deps       third-party libraries from Debian source packages
#   make lint       warnings as errors + banned-function check
#
# Every top-level target installs missing Debian build packages (as root)
# and builds the dependency prefixes first when they are missing.

PLATFORM ?= linux
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

GITREV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

SRCS := $(wildcard agent/*.c) $(wildcard platform/$(PLATFORM)/*.c)
LIB_SRCS := $(filter-out agent/main.c,$(SRCS))
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_NAMES := $(patsubst tests/unit/%.c,%,$(TEST_SRCS))

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wconversion
CPPFLAGS_ALL := -std=c11 -D_GNU_SOURCE -Iagent -Iplatform -MMD -MP \
	-DCDAGENT_GITREV='"$(GITREV)"'
DEPLIBS := -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lyaml -larchive \
	-lzstd -llzma -lbz2 -lz -ljansson -lpthread

DEPS_DIR := build/deps
TOOLS := scripts/ensure-tools.sh

# flavour: name, compiler, CFLAGS, LDFLAGS, deps prefix
musl_CC := musl-gcc
musl_CFLAGS := -Os -ffunction-sections -fdata-sections $(WARN)
musl_LDFLAGS := -static -Wl,--gc-sections -s
musl_DEPS := musl

dev_CC := gcc
dev_CFLAGS := -g -O1 $(WARN)
dev_LDFLAGS :=
dev_DEPS := glibc

asan_CC := gcc
asan_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined $(WARN)
asan_LDFLAGS := -fsanitize=address,undefined
asan_DEPS := glibc

.PHONY: all static dev asan deps tools check-tools unit unit-asan e2e check \
	demo bench lint clean distclean deb msi install

all: static

.SECONDARY:

tools:
	$(Q)sh $(TOOLS) build
check-tools:
	$(Q)sh $(TOOLS) check

$(DEPS_DIR)/src/.stamp: | tools
	$(Q)sh scripts/deps.sh src
$(DEPS_DIR)/%/.stamp: $(DEPS_DIR)/src/.stamp
	$(Q)sh scripts/deps.sh $*

deps: $(DEPS_DIR)/musl/.stamp $(DEPS_DIR)/glibc/.stamp

define FLAVOUR
$(1)_OBJS := $$(patsubst %.c,build/obj/$(1)/%.o,$$(SRCS))
$(1)_LIBOBJS := $$(patsubst %.c,build/obj/$(1)/%.o,$$(LIB_SRCS))
$(1)_INC := -I$(DEPS_DIR)/$$($(1)_DEPS)/include
$(1)_LIB := -L$(DEPS_DIR)/$$($(1)_DEPS)/lib

build/obj/$(1)/%.o: %.c $(DEPS_DIR)/$$($(1)_DEPS)/.stamp
	@mkdir -p $$(@D)
	@echo "  CC [$(1)] $$<"
	$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) $$($(1)_INC) $$($(1)_CFLAGS) $$(EXTRA_CFLAGS) -c $$< -o $$@

build/obj/$(1)/libagent.a: $$($(1)_LIBOBJS)
	$(Q)rm -f $$@ && ar rcs $$@ $$^

build/obj/$(1)/tests/%.o: tests/unit/%.c $(DEPS_DIR)/$$($(1)_DEPS)/.stamp
	@mkdir -p $$(@D)
	@echo "  CC [$(1)] $$<"
	$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) -DUNIT_TESTS $$($(1)_INC) -Itests/unit $$(filter-out -Wconversion,$$($(1)_CFLAGS)) -c $$< -o $$@

build/$(1)/tests/%: build/obj/$(1)/tests/%.o build/obj/$(1)/libagent.a
	@mkdir -p $$(@D)
	$(Q)$$($(1)_CC) $$($(1)_LDFLAGS) -o $$@ $$< build/obj/$(1)/libagent.a $$($(1)_LIB) $$(DEPLIBS) -lcmocka

-include $$($(1)_OBJS:.o=.d) $$(patsubst tests/unit/%.c,build/obj/$(1)/tests/%.d,$$(TEST_SRCS))
endef
$(foreach f,musl dev asan,$(eval $(call FLAVOUR,$(f))))

build/cdagent: $(musl_OBJS) | tools
	@echo "  LD [musl] $@"
	$(Q)$(musl_CC) $(musl_LDFLAGS) -o $@ $(musl_OBJS) $(musl_LIB) $(DEPLIBS)
	@printf '%s: %s bytes, %s\n' $@ "$$(stat -c %s $@)" "$$(ldd $@ 2>&1 | sed 's/^[[:space:]]*//')"

build/dev/cdagent: $(dev_OBJS)
	@mkdir -p $(@D)
	@echo "  LD [dev] $@"
	$(Q)$(dev_CC) $(dev_LDFLAGS) -o $@ $(dev_OBJS) $(dev_LIB) $(DEPLIBS)

build/asan/cdagent: $(asan_OBJS)
	@mkdir -p $(@D)
	@echo "  LD [asan] $@"
	$(Q)$(asan_CC) $(asan_LDFLAGS) -o $@ $(asan_OBJS) $(asan_LIB) $(DEPLIBS)

static: tools build/cdagent
dev: tools build/dev/cdagent
asan: tools check-tools build/asan/cdagent $(addprefix build/asan/tests/,$(TEST_NAMES))
	$(Q)sh tests/run.sh unit-asan $(addprefix build/asan/tests/,$(TEST_NAMES))

UNIT_BINS := $(addprefix build/dev/tests/,$(TEST_NAMES))

unit: check-tools $(UNIT_BINS)
	$(Q)sh tests/run.sh unit $(UNIT_BINS)

e2e: check-tools build/cdagent build/dev/cdagent
	$(Q)sh tests/run.sh e2e

check: check-tools build/cdagent build/dev/cdagent build/asan/cdagent $(UNIT_BINS)
	$(Q)sh tests/run.sh all $(UNIT_BINS)

demo: tools build/cdagent
	$(Q)sh scripts/demo.sh

deb: tools build/cdagent
	$(Q)sh scripts/ensure-tools.sh deb
	$(Q)sh packaging/deb/build.sh

bench: check-tools build/cdagent
	$(Q)sh tests/bench/run.sh

lint:
	$(Q)$(MAKE) --no-print-directory -B build/dev/cdagent EXTRA_CFLAGS=-Werror
	$(Q)sh scripts/lint.sh

clean:
	rm -rf build/obj build/dev build/asan build/cdagent build/demo build/test

distclean:
	rm -rf build
