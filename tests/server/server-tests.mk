# tests/server: unit tests of the daemon's modules (see the root Makefile).
#
# The codec's tests compile the codec sources directly (not server.mk's
# object list), so they build whatever state the HTTP layer is in.
#   make BUILD=... check-server-units     Check tests of number text + codec
#   make BUILD=... bench-numfmt           ns per number of the number text
#   make BUILD=... bench-parse            ms to parse a 256 x 1000 body, jansson
#                                         path against the fast path

SRVT_CODEC_SRC := server/buf.c server/errors.c server/numfmt.c \
                  server/request.c server/response.c server/fastjson.c
SRVT_CODEC_HDR := server/codec.h server/codec_priv.h server/numfmt_pow10.h \
                  lib/include/xent.h
SRVT_CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
SRVT_BINS := $(BUILD)/tests/server/test_numfmt $(BUILD)/tests/server/test_codec \
             $(BUILD)/tests/server/test_fastjson

$(SRVT_BINS) $(BUILD)/tests/server/bench_parse: \
    $(BUILD)/tests/server/%: tests/server/%.c $(SRVT_CODEC_SRC) \
    $(SRVT_CODEC_HDR) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Ilib/include -Iserver $< \
	    $(SRVT_CODEC_SRC) -o $@ $(XLDFLAGS) $(LDFLAGS) $(XENT_LIBS) \
	    -ljansson $(SRVT_CHECK_LIBS)

$(BUILD)/tests/server/bench_numfmt: tests/server/bench_numfmt.c \
    server/numfmt.c $(SRVT_CODEC_HDR)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Ilib/include -Iserver $< server/numfmt.c \
	    -o $@ $(XLDFLAGS) $(LDFLAGS) -lm

.PHONY: check-server-units bench-numfmt bench-parse
check-server-units: $(SRVT_BINS)
	$(Q)tests/run-check $(BUILD)/results.txt check-server-units $(SRVT_BINS)

bench-numfmt: $(BUILD)/tests/server/bench_numfmt
	$(Q)$(BUILD)/tests/server/bench_numfmt

bench-parse: $(BUILD)/tests/server/bench_parse
	$(Q)$(BUILD)/tests/server/bench_parse

CHECK_STAGES += check-server-units
SAN_STAGES += check-server-units
