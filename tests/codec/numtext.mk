# tests/codec: number text (server/codec/numtext.c) and its table of powers
# of ten (see the root Makefile). Built from the module's sources directly,
# whatever state the rest of the server is in.
#
#   make BUILD=... check-numtext   Check tests: printer (sampled floats too)
#                                  and scanner against strtod, layout against
#                                  the old server/numfmt.c
#   make BUILD=... check-pow10     regenerate pow10.h (which also re-proves
#                                  the printer's error bound) and fail when
#                                  the checked-in file differs
#   make pow10-update              rewrite server/codec/pow10.h
#   make BUILD=... check-long      every float bit pattern, on both cores
#                                  (minutes; not part of `make check`)
#   make BUILD=... bench-numtext   ns per number: new against old, same run
#
# The old printer (server/numfmt.c) is compiled in with its functions
# renamed xs_old_*, for the byte-for-byte layout comparison and the bench.

NUMTEXT_SRC := server/codec/numtext.c
NUMTEXT_HDR := server/codec/numtext.h server/codec/pow10.h
NUMTEXT_TEST_HDR := tests/codec/numtext_testutil.h
NUMTEXT_GEN := server/codec/gen_pow10.py
NUMTEXT_OLD := server/numfmt.c
NUMTEXT_OLD_HDR := server/codec.h server/codec_priv.h server/numfmt_pow10.h \
                   lib/include/xent.h
NUMTEXT_DIR := $(BUILD)/tests/codec
NUMTEXT_OLD_OBJ := $(NUMTEXT_DIR)/old_numfmt.o
NUMTEXT_RENAME := -Dxs_format_double=xs_old_format_double \
                  -Dxs_format_float=xs_old_format_float \
                  -Dxs__format_int=xs_old_format_int
NUMTEXT_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
NUMTEXT_JANSSON := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
NUMTEXT_TESTS := $(NUMTEXT_DIR)/test_numtext
NUMTEXT_LONG := $(NUMTEXT_DIR)/test_numtext_long
NUMTEXT_BENCH := $(NUMTEXT_DIR)/bench_numtext

$(NUMTEXT_OLD_OBJ): $(NUMTEXT_OLD) $(NUMTEXT_OLD_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Iserver -Ilib/include $(NUMTEXT_RENAME) \
	    -c $< -o $@

$(NUMTEXT_TESTS) $(NUMTEXT_LONG): $(NUMTEXT_DIR)/%: tests/codec/%.c \
    $(NUMTEXT_SRC) $(NUMTEXT_HDR) $(NUMTEXT_TEST_HDR) $(NUMTEXT_OLD_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Iserver/codec -Itests/codec $< \
	    $(NUMTEXT_SRC) $(NUMTEXT_OLD_OBJ) -o $@ $(XLDFLAGS) $(LDFLAGS) $(NUMTEXT_CHECK_LIBS) \
	    $(NUMTEXT_JANSSON) -lpthread -lm

# The bench counts the scanner's strtod fallbacks (XS_NUMTEXT_COUNT_FALLBACKS
# adds one increment on that rare path only).
$(NUMTEXT_BENCH): tests/codec/bench_numtext.c $(NUMTEXT_SRC) $(NUMTEXT_HDR) \
    $(NUMTEXT_OLD_OBJ) server/numfmt_pow10.h
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -DXS_NUMTEXT_COUNT_FALLBACKS \
	    -Iserver/codec -Iserver $< $(NUMTEXT_SRC) $(NUMTEXT_OLD_OBJ) -o $@ \
	    $(XLDFLAGS) $(LDFLAGS) -lm

$(BUILD)/codec/pow10.h: $(NUMTEXT_GEN)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)$(PYTHON) $(NUMTEXT_GEN) > $@.tmp && mv $@.tmp $@

.PHONY: check-numtext check-pow10 pow10-update check-long bench-numtext
# Under valgrind (RUNNER), a quarter of the bulk tests' values (2 minutes).
check-numtext: $(NUMTEXT_TESTS)
	$(Q)NUMTEXT_SCALE=$(if $(RUNNER),4,1) \
	    tests/run-check $(BUILD)/results.txt check-numtext $(NUMTEXT_TESTS)

check-pow10: $(BUILD)/codec/pow10.h
	$(Q)if cmp -s $< server/codec/pow10.h; then \
	  echo "check-pow10: server/codec/pow10.h matches $(NUMTEXT_GEN)"; \
	  tests/record $(BUILD)/results.txt check-pow10 1 0; \
	else \
	  echo "check-pow10: server/codec/pow10.h differs from $(NUMTEXT_GEN);" \
	       "run 'make pow10-update'"; \
	  diff $< server/codec/pow10.h | head -20; \
	  tests/record $(BUILD)/results.txt check-pow10 0 1; exit 1; \
	fi

pow10-update:
	$(Q)$(PYTHON) $(NUMTEXT_GEN) > server/codec/pow10.h.tmp && \
	    mv server/codec/pow10.h.tmp server/codec/pow10.h
	@echo "  GEN     server/codec/pow10.h"

check-long: $(NUMTEXT_LONG)
	$(Q)tests/run-check $(BUILD)/results.txt check-long $(NUMTEXT_LONG)

bench-numtext: $(NUMTEXT_BENCH)
	$(Q)$(NUMTEXT_BENCH)

CHECK_STAGES += check-numtext check-pow10
SAN_STAGES += check-numtext
