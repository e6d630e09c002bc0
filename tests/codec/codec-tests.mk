# tests/codec: unit tests and benches of the request codec (see the root
# Makefile). Every program links the codec library, $(CODEC_A), except
# bench_numtext (below).
#   make BUILD=... check-codec-units      Check tests of the codec
#   make BUILD=... check-numtext          Check tests of number text: printer
#                                         (every 257th float too) and scanner
#                                         against strtod, layout against "%.*e"
#   make BUILD=... check-pow10            regenerate pow10.h (which also
#                                         re-proves the printer's error bound)
#                                         and fail when the checked-in differs
#   make pow10-update                     rewrite server/codec/pow10.h
#   make BUILD=... check-long             every float bit pattern, both cores
#                                         (tens of minutes; not in `make check`)
#   make BUILD=... bench-numtext          ns per number of the number text,
#                                         against snprintf / strtod, same run
#   make BUILD=... bench-numtext-before   the same, with the printer of
#                                         NUMTEXT_BEFORE (git; default the
#                                         last revision before server/codec/)
#                                         timed beside it
#   make BUILD=... bench-parse            ms to parse a 256 x 1000 body
#   make BUILD=... check-report           the metrics picture renders
#   make report-example-update            rewrite api/report-example.svg

CODECT_DIR := $(BUILD)/tests/codec
CODECT_CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
CODECT_JANSSON_LIBS = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
CODECT_BINS := $(CODECT_DIR)/test_codec $(CODECT_DIR)/test_json \
               $(CODECT_DIR)/test_parser $(CODECT_DIR)/test_report
CODECT_NUMTEXT := $(CODECT_DIR)/test_numtext
CODECT_LONG := $(CODECT_DIR)/test_numtext_long
CODECT_BENCH := $(CODECT_DIR)/bench_parse

# The jansson oracle of the parser's differential tests (and fuzzers).
CODECT_ORACLE := tests/codec/oracle.c tests/codec/oracle.h

# The number text tests' own helpers.
CODECT_NUMTEXT_HDR := tests/codec/numtext_testutil.h
# check-long runs two threads.
$(CODECT_LONG): CODECT_EXTRA_LIBS := -pthread

$(CODECT_BINS) $(CODECT_BENCH) $(CODECT_NUMTEXT) $(CODECT_LONG): \
    $(CODECT_DIR)/%: tests/codec/%.c $(CODEC_HDR) $(CODEC_A) $(LIB_A) \
    $(CODECT_ORACLE) $(CODECT_NUMTEXT_HDR)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(CODEC_CFLAGS) -Itests/codec $< \
	    tests/codec/oracle.c -o $@ $(XLDFLAGS) \
	    $(LDFLAGS) $(CODEC_LIBS) $(CODECT_JANSSON_LIBS) $(CODECT_CHECK_LIBS) \
	    $(CODECT_EXTRA_LIBS)

# bench_numtext builds numtext.c itself, with XS_NUMTEXT_COUNT_FALLBACKS:
# one increment on the scanner's strtod path, so that it can count them.
CODECT_NUMTEXT_BENCH := $(CODECT_DIR)/bench_numtext
$(CODECT_NUMTEXT_BENCH): tests/codec/bench_numtext.c $(CODEC_DIR)/numtext.c \
    $(CODEC_DIR)/numtext.h $(CODEC_DIR)/pow10.h
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -DXS_NUMTEXT_COUNT_FALLBACKS \
	    -I$(CODEC_DIR) $< $(CODEC_DIR)/numtext.c -o $@ $(XLDFLAGS) \
	    $(LDFLAGS) -lm

# pow10.h as gen_pow10.py writes it now.
CODECT_POW10 := $(BUILD)/codec/gen/pow10.h
$(CODECT_POW10): $(CODEC_DIR)/gen_pow10.py
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)$(PYTHON) $< > $@.tmp && mv $@.tmp $@

# The codec's tables as the documents' checks read them.
XS_DESCRIBE := $(CODECT_DIR)/xs-describe
$(XS_DESCRIBE): tests/codec/xs_describe.c $(CODEC_HDR) $(CODEC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(CODEC_CFLAGS) $< -o $@ $(XLDFLAGS) \
	    $(LDFLAGS) $(CODEC_LIBS)

# README.md's table of errors is what errors.h says (xs-describe errors).
CHECK_STAGES += errors-table
.PHONY: errors-table errors-table-update
errors-table: $(XS_DESCRIBE)
	$(Q)tests/readme-section check errors-table README.md $(BUILD)/results.txt \
	    $(XS_DESCRIBE) errors
errors-table-update: $(XS_DESCRIBE)
	$(Q)tests/readme-section write errors-table README.md "" $(XS_DESCRIBE) errors

.PHONY: check-codec-units check-numtext check-pow10 pow10-update check-long \
        bench-numtext bench-parse
check-codec-units: $(CODECT_BINS)
	$(Q)tests/run-check $(BUILD)/results.txt check-codec-units $(CODECT_BINS)

# Under valgrind (RUNNER), a quarter of the bulk tests' values.
check-numtext: $(CODECT_NUMTEXT)
	$(Q)NUMTEXT_SCALE=$(if $(RUNNER),4,1) \
	    tests/run-check $(BUILD)/results.txt check-numtext $(CODECT_NUMTEXT)

check-pow10: $(CODECT_POW10)
	$(Q)if cmp -s $< $(CODEC_DIR)/pow10.h; then \
	  echo "check-pow10: $(CODEC_DIR)/pow10.h matches gen_pow10.py"; \
	  tests/record $(BUILD)/results.txt check-pow10 1 0; \
	else \
	  echo "check-pow10: $(CODEC_DIR)/pow10.h differs from gen_pow10.py;" \
	       "run 'make pow10-update'"; \
	  diff $< $(CODEC_DIR)/pow10.h | head -20; \
	  tests/record $(BUILD)/results.txt check-pow10 0 1; exit 1; \
	fi

pow10-update:
	$(Q)$(PYTHON) $(CODEC_DIR)/gen_pow10.py > $(CODEC_DIR)/pow10.h.tmp && \
	    mv $(CODEC_DIR)/pow10.h.tmp $(CODEC_DIR)/pow10.h
	@echo "  GEN     $(CODEC_DIR)/pow10.h"

check-long: $(CODECT_LONG)
	$(Q)tests/run-check $(BUILD)/results.txt check-long $(CODECT_LONG)

bench-numtext: $(CODECT_NUMTEXT_BENCH)
	$(Q)$(CODECT_NUMTEXT_BENCH)

# The printer before server/codec/ (server/numfmt.c and its table, with the
# headers of its revision), its functions renamed, linked beside this one.
NUMTEXT_BEFORE ?= c860b55^
CODECT_BEFORE := $(CODECT_DIR)/before
.PHONY: bench-numtext-before
bench-numtext-before: tests/codec/bench_numtext.c $(CODEC_DIR)/numtext.c     $(CODEC_DIR)/numtext.h $(CODEC_DIR)/pow10.h
	$(Q)rm -rf $(CODECT_BEFORE) && mkdir -p $(CODECT_BEFORE)
	$(Q)for f in numfmt.c numfmt_pow10.h codec.h codec_priv.h; do \
	    git show '$(NUMTEXT_BEFORE):server/'$$f > $(CODECT_BEFORE)/$$f || exit 1; \
	done
	$(Q)$(CC) $(CFLAGS) -D_DEFAULT_SOURCE -Ilib/include \
	    -Dxs_format_double=before_format_double \
	    -Dxs_format_float=before_format_float \
	    -Dxs__format_int=before_format_int \
	    -c $(CODECT_BEFORE)/numfmt.c -o $(CODECT_BEFORE)/numfmt.o
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -I$(CODEC_DIR) \
	    -DXS_NUMTEXT_COUNT_FALLBACKS \
	    '-DXS_BENCH_BEFORE="numfmt.c $(NUMTEXT_BEFORE)"' \
	    tests/codec/bench_numtext.c $(CODEC_DIR)/numtext.c \
	    $(CODECT_BEFORE)/numfmt.o -o $(CODECT_BEFORE)/bench_numtext \
	    $(XLDFLAGS) $(LDFLAGS) -lm
	$(Q)$(CODECT_BEFORE)/bench_numtext

bench-parse: $(CODECT_DIR)/bench_parse
	$(Q)$(CODECT_DIR)/bench_parse

CHECK_STAGES += check-codec-units check-numtext check-pow10
SAN_STAGES += check-codec-units check-numtext

# The SVG picture of whole-dataset metrics (report.h), from a fixed seed.
REPORT_SAMPLE := $(CODECT_DIR)/report_sample
REPORT_EXAMPLE := api/report-example.svg
$(REPORT_SAMPLE): tests/codec/report_sample.c $(CODEC_HDR) $(CODEC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(CODEC_CFLAGS) $< -o $@ $(XLDFLAGS) \
	    $(LDFLAGS) $(CODEC_LIBS)

# check-report: the sample picture, one with no counted rows and one with
# 10000 bins are well-formed SVG, render with rsvg-convert (librsvg2-bin)
# to PNGs that are not blank; the sample equals $(REPORT_EXAMPLE), the
# README's picture, byte for byte. Python stage: not in SAN_STAGES.
.PHONY: check-report report-example-update
check-report: $(REPORT_SAMPLE)
	$(Q)tests/integration/run-py $(BUILD)/results.txt check-report \
	    $(PYTHON) tests/codec/check_report.py --sample $(REPORT_SAMPLE) \
	    --example $(REPORT_EXAMPLE) --work $(CODECT_DIR)/report

report-example-update: $(REPORT_SAMPLE)
	$(Q)$(REPORT_SAMPLE) > $(REPORT_EXAMPLE).tmp && \
	    mv $(REPORT_EXAMPLE).tmp $(REPORT_EXAMPLE)
	@echo "  WROTE   $(REPORT_EXAMPLE)"

CHECK_STAGES += check-report
