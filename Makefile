# xent: libxent (lib/), the xentd daemon (server/), the HTTP contract (api/),
# tests (tests/) and the container (docker/). `make help` lists the targets.
#
#   make run     install what is missing, build, start xentd on 127.0.0.1:8080
#   make check   install what is missing, build, run the whole test suite

.DEFAULT_GOAL := all
SHELL := /bin/sh

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

BUILD ?= build
CC ?= cc
PYTHON ?= /usr/bin/python3

ifeq ($(V),1)
Q :=
else
Q := @
endif

# The single version, taken from the public header.
VERSION_MAJOR := $(shell sed -n 's/^\#define XENT_VERSION_MAJOR \([0-9]*\)/\1/p' lib/include/xent.h)
VERSION_MINOR := $(shell sed -n 's/^\#define XENT_VERSION_MINOR \([0-9]*\)/\1/p' lib/include/xent.h)
VERSION_PATCH := $(shell sed -n 's/^\#define XENT_VERSION_PATCH \([0-9]*\)/\1/p' lib/include/xent.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME := libxent.so.$(VERSION_MAJOR)

WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla -Werror
ifeq ($(SANITIZE),address)
SANFLAGS := -fsanitize=address -fno-omit-frame-pointer
endif
ifeq ($(SANITIZE),undefined)
SANFLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
ifeq ($(SANITIZE),thread)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
OPT ?= -O2
CFLAGS ?= $(OPT) -g
XCFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARNINGS) $(SANFLAGS)
LDFLAGS ?=
XLDFLAGS := $(SANFLAGS)


SLEEF_CFLAGS := $(shell pkg-config --cflags sleef 2>/dev/null)
SLEEF_LIBS := $(shell pkg-config --libs sleef 2>/dev/null || echo -lsleef)

# ---------------------------------------------------------------- libxent --
LIB_SRC := $(wildcard lib/src/*.c)
LIB_OBJ := $(patsubst lib/src/%.c,$(BUILD)/lib/%.o,$(LIB_SRC))
LIB_PIC := $(patsubst lib/src/%.c,$(BUILD)/lib/pic/%.o,$(LIB_SRC))
LIB_A := $(BUILD)/libxent.a
LIB_SO := $(BUILD)/libxent.so.$(VERSION)
SLEEF ?= 1
LIB_CFLAGS := -Ilib/include -Ilib/src -DXENT_BUILDING -fvisibility=hidden $(SLEEF_CFLAGS)
ifeq ($(SLEEF),1)
LIB_CFLAGS += -DXENT_HAVE_SLEEF
else
SLEEF_LIBS :=
endif
# What a program linking the static library needs.
XENT_LIBS := $(LIB_A) $(SLEEF_LIBS) -lm

# The vector kernels are compiled for their instruction set; they run only
# after the run-time check in kernels.c.
ISA_avx2 := -mavx2 -mfma
ISA_avx512 := -mavx512f
isa_flags = $(ISA_$(patsubst kernels_%,%,$(basename $(notdir $@))))

$(BUILD)/lib/%.o: lib/src/%.c lib/include/xent.h $(wildcard lib/src/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(LIB_CFLAGS) $(isa_flags) -c $< -o $@

$(BUILD)/lib/pic/%.o: lib/src/%.c lib/include/xent.h $(wildcard lib/src/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(LIB_CFLAGS) $(isa_flags) -fPIC -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_PIC)
	@echo "  LD      $@"
	$(Q)$(CC) $(XLDFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(SLEEF_LIBS) -lm
	$(Q)ln -sf libxent.so.$(VERSION) $(BUILD)/$(SONAME)
	$(Q)ln -sf libxent.so.$(VERSION) $(BUILD)/libxent.so

# xent.pc for the PREFIX given now; `make install` writes it again for its own.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' lib/xent.pc.in
$(BUILD)/xent.pc: lib/xent.pc.in lib/include/xent.h
	@mkdir -p $(dir $@)
	$(Q)$(PC_SED) > $@

.PHONY: all lib deps deps-check
lib: $(LIB_A) $(LIB_SO) $(BUILD)/xent.pc

# One install step for every target that needs Debian packages.
deps:
	$(Q).ci/install-deps build
deps-check:
	$(Q).ci/install-deps check

# ------------------------------------------------------------ fragments ----
# Each part of the tree adds its build rules and its test stages here.
# A test stage is a phony target appended to CHECK_STAGES; it records its
# counts with tests/record so that `make check` can end with one summary.
CHECK_STAGES :=
SAN_STAGES :=
include server/server.mk
include tests/codec/codec-tests.mk
include tests/unit/unit.mk
include tests/reference/reference.mk
include tests/integration/integration.mk
include tests/fuzz/fuzz.mk
include api/api.mk
include tests/bench/bench.mk
include docker/docker.mk

# Under ThreadSanitizer only xentd (and the libraries it links) is
# instrumented: the test clients are not what is under test.
ifeq ($(SANITIZE),thread)
$(INTEG_BIN)/test_http $(HOSTILE_BIN): XCFLAGS := -std=c11 \
    -D_POSIX_C_SOURCE=200809L $(WARNINGS)
$(INTEG_BIN)/test_http $(HOSTILE_BIN): XLDFLAGS :=
endif

# Stages of the root Makefile itself (rules below).
CHECK_STAGES += check-install format-check

all: lib $(ALL_TARGETS)

# ---------------------------------------------------------------- checks ---
.PHONY: check test-stages summary asan ubsan tsan valgrind format format-check
check: deps-check
	$(Q)$(MAKE) --no-print-directory all
	$(Q)rm -f $(BUILD)/results.txt
	$(Q)$(MAKE) --no-print-directory test-stages
	$(Q)tests/summary $(BUILD)/results.txt check

test-stages: $(CHECK_STAGES)

# The C tests (unit and integration) under each sanitizer, in their own
# build folders.
asan: deps-check
	$(Q)rm -f build-asan/results.txt
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address OPT=-O1 $(SAN_STAGES)
	$(Q)tests/summary build-asan/results.txt asan
ubsan: deps-check
	$(Q)rm -f build-ubsan/results.txt
	$(Q)$(MAKE) --no-print-directory BUILD=build-ubsan SANITIZE=undefined OPT=-O1 $(SAN_STAGES)
	$(Q)tests/summary build-ubsan/results.txt ubsan
# The integration stages against a ThreadSanitizer xentd (clang-14,
# build-tsan/). Reports go to build-tsan/tsan-report.PID; xentd exits 66
# after one (so the test that stopped it fails too), and any report file
# fails the stage tsan-reports. Nothing of xentd's own code is suppressed.
# ThreadSanitizer runs xentd 5 to 15 times slower: Check's per-test
# timeouts, which only catch a hang, are 4 times the plain build's: the
# four tests with a daemon of their own take 21 s in all under a quiet
# tsan, yet test_overloaded (ten 32 MB answers) ran past its 120 s on a
# machine running four other builds.
TSAN_STAGES := check-integration check-slow check-framing check-shutdown \
               check-auth check-tls
tsan: deps-check
	$(Q)rm -f build-tsan/results.txt build-tsan/tsan-report.*
	$(Q)mkdir -p build-tsan
	$(Q)TSAN_OPTIONS="log_path=$(abspath build-tsan)/tsan-report \
	    second_deadlock_stack=1 history_size=4" CK_TIMEOUT_MULTIPLIER=4 \
	    $(MAKE) --no-print-directory -k BUILD=build-tsan SANITIZE=thread \
	    CC=clang-14 OPT=-O1 $(TSAN_STAGES); \
	reports=$$(ls build-tsan/tsan-report.* 2>/dev/null | wc -l); \
	if [ "$$reports" -eq 0 ]; then \
	  echo "tsan: no ThreadSanitizer report"; \
	  tests/record build-tsan/results.txt tsan-reports 1 0; \
	else \
	  cat build-tsan/tsan-report.*; \
	  echo "tsan: $$reports process(es) wrote ThreadSanitizer reports"; \
	  tests/record build-tsan/results.txt tsan-reports 0 1; \
	fi
	$(Q)tests/summary build-tsan/results.txt tsan

valgrind: deps-check
	$(Q)rm -f build-valgrind/results.txt
	$(Q)$(MAKE) --no-print-directory BUILD=build-valgrind OPT=-O1 \
	    RUNNER="valgrind -q --error-exitcode=99 --leak-check=full" $(SAN_STAGES)
	$(Q)tests/summary build-valgrind/results.txt valgrind

# `make install` into a scratch DESTDIR, then a program built from the
# installed header, shared library and xent.pc alone.
INSTALL_TEST := $(BUILD)/install-test
.PHONY: check-install
check-install: lib
	$(Q)rm -rf $(INSTALL_TEST)
	$(Q)$(MAKE) --no-print-directory -s install PREFIX=/opt/xent DESTDIR=$(abspath $(INSTALL_TEST)) >/dev/null
	$(Q)pc="PKG_CONFIG_LIBDIR=$(INSTALL_TEST)/opt/xent/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(INSTALL_TEST)"; \
	flags=$$(env $$pc pkg-config --cflags --libs xent) && \
	$(CC) -std=c11 $(WARNINGS) tests/install/consumer.c $$flags -o $(INSTALL_TEST)/consumer && \
	got=$$(LD_LIBRARY_PATH=$(INSTALL_TEST)/opt/xent/lib $(INSTALL_TEST)/consumer) && \
	soname=$$(readelf -d $(INSTALL_TEST)/opt/xent/lib/libxent.so.$(VERSION) | sed -n 's/.*soname: \[\(.*\)\]/\1/p') && \
	want="$(VERSION) $(VERSION) 0.40760596444438"; \
	if [ "$$got" = "$$want" ] && [ "$$soname" = "$(SONAME)" ] && \
	   [ -x $(INSTALL_TEST)/opt/xent/bin/xentd ] && [ -f $(INSTALL_TEST)/opt/xent/lib/libxent.a ]; then \
	  echo "check-install: consumer printed '$$got', soname $$soname"; \
	  tests/record $(BUILD)/results.txt check-install 1 0; \
	else \
	  echo "check-install: got '$$got' soname '$$soname', want '$$want' $(SONAME)"; \
	  tests/record $(BUILD)/results.txt check-install 0 1; exit 1; \
	fi

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(Q)clang-format -i $(FORMAT_FILES)
format-check:
	$(Q)if clang-format --dry-run --Werror $(FORMAT_FILES); then \
	  echo "format-check: $(words $(FORMAT_FILES)) files clean"; \
	  [ -z "$(BUILD)" ] || tests/record $(BUILD)/results.txt format-check 1 0; \
	else tests/record $(BUILD)/results.txt format-check 0 1; exit 1; fi

# --------------------------------------------------------------- install ---
.PHONY: install uninstall clean help
install: lib $(INSTALL_TARGETS)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libxent.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libxent.so.$(VERSION)
	ln -sf libxent.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libxent.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libxent.so
	install -m 644 lib/include/xent.h $(DESTDIR)$(INCLUDEDIR)/xent.h
	$(PC_SED) > $(DESTDIR)$(PKGCONFIGDIR)/xent.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libxent.a $(DESTDIR)$(LIBDIR)/libxent.so* \
	    $(DESTDIR)$(INCLUDEDIR)/xent.h $(DESTDIR)$(PKGCONFIGDIR)/xent.pc

clean:
	rm -rf build build-asan build-ubsan build-tsan build-valgrind

help:
	@echo "xent $(VERSION) make targets:"
	@echo "  run           install missing packages, build, start xentd on 127.0.0.1:8080"
	@echo "  check         install missing packages, build, run the whole test suite"
	@echo "  check-long    every float32 bit pattern through the printer (tens of minutes)"
	@echo "  all           build libxent (static, shared, xent.pc) and xentd"
	@echo "  bench         libxent against PyTorch (cross_entropy, every loss family),"
	@echo "                the metrics against numpy + scikit-learn; same run"
	@echo "  bench-service xentd against a FastAPI + PyTorch service, same run"
	@echo "  bench-latency small requests' p99 alone and beside big ones; bench-tls: TLS vs plain"
	@echo "  bench-numtext number text (print, scan) against snprintf / strtod, same run"
	@echo "  asan / ubsan  the C tests under AddressSanitizer / UBSan (build-asan/, build-ubsan/)"
	@echo "  tsan          integration and hostile-client stages against a"
	@echo "                ThreadSanitizer xentd (clang-14, build-tsan/)"
	@echo "  valgrind      the C tests under valgrind memcheck"
	@echo "  soak          SOAK_SECONDS=600 of mixed traffic, answers and RSS"
	@echo "                checked (make check runs 60 s of it)"
	@echo "  install       PREFIX=$(PREFIX) DESTDIR=: library, header, xent.pc, xentd"
	@echo "  uninstall     remove what install wrote"
	@echo "  format        clang-format every C file; format-check checks only"
	@echo "  report-example-update  rewrite api/report-example.svg, the README's"
	@echo "                metrics picture (check-report compares it)"
	@echo "  docker-check  build the image, test the container and the compose stack"
	@echo "  clean         remove build folders"
	@echo "  V=1           show full commands"
