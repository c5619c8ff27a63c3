# threadlab — build, test, benchmark. See README.md.
#
#   make            the library, the driver (build/bin/threadlab), the tests
#   make test       install missing Debian packages (as root), build, run
#                   every test binary; non-zero exit on any failure
#   make compare    the main job: every email model side by side, into
#                   out/compare/ (COMPARE_ARGS=--quick for a short run)
#   make bench      every micro-benchmark, into out/bench/results.txt (a full
#                   run is published into docs/generated/micro/)
#   make slides     the talk as one self-contained HTML slide deck, cut out
#                   of the course: out/slides/threadlab-talk.html
#   make install PREFIX=/usr/local
#
# Everything built goes under build/; results under out/.

# Recipes run in bash with pipefail, so `prog | tee file` fails when prog does.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

ifeq ($(origin CC),default)
CC := gcc
endif
AR ?= ar
BUILD  ?= build
OUT    ?= out
PREFIX ?= /usr/local
ARCH   := $(shell uname -m)

# The linker. rt/ compiles task code with -fsplit-stack, and when
# split-stack code calls code that was not compiled so (libc), the linker
# must rewrite the call to request a big stack segment first. Only gold and
# lld do that; GNU ld links such a program without a word and it crashes at
# run time. So every threadlab program is linked by gold (or, failing that,
# lld), and the build stops if neither works. Override: make LINKER=lld.
LINKER ?= $(shell scripts/linker.sh '$(CC)' 2>/dev/null)

CPPFLAGS := -D_GNU_SOURCE -I.
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -MMD -MP
LDFLAGS  := -fuse-ld=$(LINKER)
# Static programs: pull in glibc's per-thread cleanup, which a raw thread
# calls at exit when it is linked (syscalls/tls.c); the static libc exports
# it, the shared one does not.
STATIC_LDFLAGS := -static -Wl,-u,__libc_thread_freeres

LIB := $(BUILD)/lib/libthreadlab.a

# Library sources, layer by layer (a layer includes only those below it).
SYS_SRCS := $(wildcard syscalls/*.c) $(wildcard syscalls/arch/$(ARCH)/*.S)
NUMA_SRCS := $(wildcard numa/*.c)
RT_SRCS  := $(wildcard rt/*.c) $(wildcard rt/arch/$(ARCH)/*.S)
LIB_SRCS := $(SYS_SRCS) $(NUMA_SRCS) $(RT_SRCS)
# What every program linked with the library needs besides it: numa/ uses
# libnuma (Debian ships it static and shared). Linking it statically prints
# "Using 'getaddrinfo' in statically linked applications ...": libnuma.o
# always pulls in affinity.o, whose "netdev:" node strings resolve
# addresses; threadlab never parses such strings, so the warning is
# harmless. rt/io.c uses liburing (Debian's liburing-dev has both too).
LIB_LIBS := -lnuma -luring

# rt/ runs on task stacks, and so do the tests of rt/: both are compiled
# with -fsplit-stack (segmented stacks, rt/stack.c). `private` keeps the
# flag from spreading to prerequisites (the library's other objects).
# A build without split stacks (sanitizers, valgrind): make SPLIT_CFLAGS=
# — rt/ then offers mapped stacks only.
SPLIT_CFLAGS ?= -fsplit-stack
RT_CFLAGS := $(SPLIT_CFLAGS) $(if $(SPLIT_CFLAGS),-DRT_SPLIT_STACK)
LIB_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(LIB_SRCS))

# The driver: bench/ sources, linked statically.
BENCH_SRCS := $(wildcard bench/*.c) $(wildcard bench/micro/*.c) \
	      $(wildcard bench/email/*.c)
BENCH_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(BENCH_SRCS))
DRIVER := $(BUILD)/bin/threadlab

# Tests: tests/<layer>/test_<unit>.c, one cmocka binary each (dynamic:
# Debian ships cmocka only as a shared library). Files named *_static.c
# are plain programs linked statically, run by the tests that need them.
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_STATIC_SRCS := $(wildcard tests/*/*_static.c)
TEST_STATIC_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_STATIC_SRCS))
# Tests written as shell scripts, tests/<layer>/test_<unit>.sh, are
# installed as $(BUILD)/tests/<layer>/test_<unit>, beside the binaries,
# so that run-tests.sh runs them alike; each prints cmocka's summary lines.
TEST_SH_SRCS := $(wildcard tests/*/test_*.sh)
TEST_SH_BINS := $(patsubst tests/%.sh,$(BUILD)/tests/%,$(TEST_SH_SRCS))
# Code shared by the test programs of a layer: tests/<layer>/lib_*.c; and
# by the test programs of every layer: tests/common/lib_*.c (tl_ helpers),
# which test_libs adds to every test binary, the *_static ones included.
# tests/common is no layer: it holds no test_*.c, so it makes no binaries.
# The rules name the test's own source last: gcc -MMD writes every source's
# dependencies of one command to the same .d file, and the last one stays.
TEST_LIB_SRCS := $(wildcard tests/*/lib_*.c)
test_libs = $(wildcard tests/common/lib_*.c) \
	    $(wildcard tests/$(firstword $(subst /, ,$(1)))/lib_*.c)

.PHONY: all lib driver tests test bench compare install clean check-linker deps test-numa-vm memcheck examples slides
.DEFAULT_GOAL := all

all: lib driver tests

check-linker:
	@if [ -z "$(LINKER)" ]; then \
	  echo "error: neither ld.gold nor ld.lld works with $(CC)." >&2; \
	  echo "  rt/ uses -fsplit-stack, and GNU ld links split-stack code" >&2; \
	  echo "  silently wrong (the program crashes when it calls libc)." >&2; \
	  echo "  Install one: apt-get install -y binutils   (gold)  or  apt-get install -y lld" >&2; \
	  exit 1; fi

lib: check-linker $(LIB)
driver: check-linker $(DRIVER)
tests: check-linker $(TEST_BINS) $(TEST_STATIC_BINS) $(TEST_SH_BINS)

$(BUILD)/obj/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# tls.c reaches glibc's private data through the GOT (-fPIC), so a dynamic
# program never gets copy-relocated snapshots of variables libc writes.
$(BUILD)/obj/syscalls/tls.c.o: CFLAGS += -fPIC

$(BUILD)/obj/rt/%.c.o: private CFLAGS += $(RT_CFLAGS)
# The rt micro-benchmarks are task code too, and so are the rt sender
# and the sink (bench/email).
$(BUILD)/obj/bench/micro/rt.c.o: private CFLAGS += $(RT_CFLAGS)
$(BUILD)/obj/bench/email/send_rt.c.o: private CFLAGS += $(RT_CFLAGS)
$(BUILD)/obj/bench/email/sink.c.o: private CFLAGS += $(RT_CFLAGS)
$(BUILD)/obj/bench/micro/vocab.c.o: private CFLAGS += $(RT_CFLAGS)
$(BUILD)/obj/bench/micro/rt_runner.c.o: private CFLAGS += $(RT_CFLAGS)
$(BUILD)/tests/rt/%: private CFLAGS += $(RT_CFLAGS)
# One rt test binary is built with the stack protector: its canary
# (%fs:0x28) must survive tasks moving between worker threads.
$(BUILD)/tests/rt/test_stackprot: private CFLAGS += -fstack-protector-strong

$(BUILD)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(DRIVER): $(BENCH_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(STATIC_LDFLAGS) $(BENCH_OBJS) $(LIB) $(LIB_LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_LIB_SRCS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(call test_libs,$*) $< $(LIB) $(LIB_LIBS) -lcmocka -o $@

# The email tests also link the SMTP state machines they test (the
# library holds only syscalls/ and numa/); the shorter stem wins.
EMAIL_TEST_OBJS := $(BUILD)/obj/bench/email/smtp.c.o
$(BUILD)/tests/email/%: tests/email/%.c $(TEST_LIB_SRCS) $(EMAIL_TEST_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(call test_libs,email/$*) $< $(EMAIL_TEST_OBJS) $(LIB) $(LIB_LIBS) -lcmocka -lpthread -o $@

$(BUILD)/tests/%: tests/%.sh
	@mkdir -p $(dir $@)
	install -m 755 $< $@

$(BUILD)/tests/%_static: tests/%_static.c $(TEST_LIB_SRCS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(STATIC_LDFLAGS) $(call test_libs,$*) $< $(LIB) $(LIB_LIBS) -o $@

# Go by Example in C (docs/examples/*.c): task code, so compiled with
# -fsplit-stack and linked by gold/lld like the rt tests. tests/rt's
# test_examples runs them, so building it builds them (order-only).
EXAMPLE_SRCS := $(wildcard docs/examples/*.c)
EXAMPLE_BINS := $(patsubst docs/examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))
examples: check-linker $(EXAMPLE_BINS)

$(BUILD)/examples/%: docs/examples/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(RT_CFLAGS) $(LDFLAGS) $< $(LIB) $(LIB_LIBS) -o $@

$(BUILD)/tests/rt/test_examples: | $(EXAMPLE_BINS)

# The two commands of the README. Each first makes sure the Debian
# packages it needs are there (scripts/packages.txt is the only list), then
# builds in a fresh make so that what was just installed is seen.
test:
	@scripts/deps.sh build test
	@$(MAKE) --no-print-directory all
	@scripts/run-tests.sh $(BUILD)/tests

# The numa tests on a real two-node kernel: a QEMU guest with two NUMA
# nodes (scripts/numa-vm.sh). `make test` runs it too, as
# tests/numa/test_vm, which reports itself skipped where the `vm` packages
# are missing; this target installs them first.
test-numa-vm:
	@scripts/deps.sh build test vm
	@$(MAKE) --no-print-directory all
	@scripts/numa-vm.sh $(BUILD)

# A full run (no BENCH_ARGS given) is published: scripts/publish-micro.sh
# copies it to docs/generated/micro/ with its medians and ratios, which
# the course pages quote.
BENCH_DEFAULT_ARGS := --count 5
bench:
	@scripts/deps.sh build bench
	@$(MAKE) --no-print-directory driver
	@mkdir -p $(OUT)/bench
	$(DRIVER) micro $(or $(BENCH_ARGS),$(BENCH_DEFAULT_ARGS)) | tee $(OUT)/bench/results.txt
	@if [ -z "$(BENCH_ARGS)" ]; then scripts/publish-micro.sh $(OUT)/bench/results.txt; \
	else echo "make bench: BENCH_ARGS given, so out/bench/results.txt is not published into docs/"; fi

# The main job (bench/compare.c): every email model — threadlab send's
# clone, pthread and rt, and the Go, PHP and Python peers — side by side,
# into $(OUT)/compare (results.txt, report.md, SVG plots). As root it first
# installs what the models need (the bench group) and postfix's smtp-sink
# (the test group: the server until the embedded sink is built); without
# them it goes on, and the models that cannot run are reported as skipped.
# COMPARE_ARGS: more flags, e.g. make compare COMPARE_ARGS=--quick
compare:
	@scripts/deps.sh build
	@scripts/deps.sh bench test || echo "make compare: going on without them: what needs them is reported as skipped" >&2
	@$(MAKE) --no-print-directory driver
	@if command -v go >/dev/null 2>&1; then \
	  if [ -z "$$HOME$$GOCACHE$$XDG_CACHE_HOME" ]; then export GOCACHE=$(abspath $(BUILD))/gocache; fi; \
	  echo "(cd bench/email/go && go build -o $(abspath $(BUILD))/bin/email-go .)"; \
	  cd bench/email/go && go build -o $(abspath $(BUILD))/bin/email-go .; \
	else echo "make compare: no go: the go model is reported as skipped" >&2; fi
	$(DRIVER) compare --out $(OUT)/compare $(COMPARE_ARGS)
	@# A full comparison (no COMPARE_ARGS) becomes the docs' table and plots.
	@if [ -z "$(COMPARE_ARGS)" ]; then scripts/publish-compare.sh $(OUT)/compare; fi

# make slides: the talk as one self-contained HTML slide deck (pandoc's
# dzslides, images and style inline), cut out of the slide blocks of the
# course pages, one group per `## ` section of docs/README.md; the
# convention is at the top of scripts/slides.sh. The assembled markdown
# stays in $(BUILD)/slides/talk.md, to be read.
slides:
	@scripts/deps.sh build docs
	scripts/slides.sh --out $(OUT)/slides/threadlab-talk.html --md $(BUILD)/slides/talk.md

# make memcheck: the rt tests under valgrind's memcheck. memcheck cannot
# follow split-stack code (it takes every segment switch for a wild stack
# move), so the tests are rebuilt without -fsplit-stack, in
# $(BUILD)/memcheck, and run with THREADLAB_STACK=mapped; rt/ registers
# each mapped stack and each worker's stack with valgrind. Cases that
# need segmented stacks report themselves skipped.
RT_TEST_BINS := $(filter $(BUILD)/tests/rt/%,$(TEST_BINS))
memcheck:
	@command -v valgrind >/dev/null || { echo "make memcheck: valgrind is not installed (apt-get install -y valgrind)" >&2; exit 1; }
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/memcheck SPLIT_CFLAGS= \
		$(patsubst $(BUILD)/%,$(BUILD)/memcheck/%,$(RT_TEST_BINS))
	@fail=0; for t in $(patsubst $(BUILD)/%,$(BUILD)/memcheck/%,$(RT_TEST_BINS)); do \
		echo "== valgrind $$t"; \
		THREADLAB_STACK=mapped valgrind -q --error-exitcode=99 \
			--leak-check=no $$t > $$t.memcheck.log 2>&1; rc=$$?; \
		tail -n 3 $$t.memcheck.log; \
		if [ $$rc -ne 0 ]; then fail=1; echo "FAIL (exit $$rc): $$t.memcheck.log"; \
			grep -m 40 '^==' $$t.memcheck.log; fi; \
	done; exit $$fail

deps:
	@scripts/deps.sh build test bench

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/threadlab/syscalls/arch/$(ARCH)
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 syscalls/sys.h $(DESTDIR)$(PREFIX)/include/threadlab/syscalls/
	install -d $(DESTDIR)$(PREFIX)/include/threadlab/numa
	install -m 644 numa/topo.h $(DESTDIR)$(PREFIX)/include/threadlab/numa/
	install -d $(DESTDIR)$(PREFIX)/include/threadlab/rt
	install -m 644 rt/rt.h $(DESTDIR)$(PREFIX)/include/threadlab/rt/
	install -m 644 syscalls/arch/$(ARCH)/*.h $(DESTDIR)$(PREFIX)/include/threadlab/syscalls/arch/$(ARCH)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LINKER@|$(LINKER)|g' threadlab.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/threadlab.pc

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
