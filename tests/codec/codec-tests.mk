# tests/codec: unit tests and benches of the request codec (see the root
# Makefile). Every program links the codec library, $(CODEC_A).
#   make BUILD=... check-codec-units      Check tests of number text + codec
#   make BUILD=... bench-numfmt           ns per number of the number text
#   make BUILD=... bench-parse            ms to parse a 256 x 1000 body
#   make BUILD=... check-report           the metrics picture renders
#   make report-example-update            rewrite api/report-example.svg

CODECT_DIR := $(BUILD)/tests/codec
CODECT_CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
CODECT_JANSSON_LIBS = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
CODECT_BINS := $(CODECT_DIR)/test_numfmt $(CODECT_DIR)/test_codec \
               $(CODECT_DIR)/test_json \
               $(CODECT_DIR)/test_parser $(CODECT_DIR)/test_report
CODECT_BENCH := $(CODECT_DIR)/bench_parse $(CODECT_DIR)/bench_numfmt

# The jansson oracle of the parser's differential tests (and fuzzers).
CODECT_ORACLE := tests/codec/oracle.c tests/codec/oracle.h

$(CODECT_BINS) $(CODECT_BENCH): $(CODECT_DIR)/%: tests/codec/%.c $(CODEC_HDR) \
    $(CODEC_A) $(LIB_A) $(CODECT_ORACLE)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(CODEC_CFLAGS) -Itests/codec $< \
	    tests/codec/oracle.c -o $@ $(XLDFLAGS) \
	    $(LDFLAGS) $(CODEC_LIBS) $(CODECT_JANSSON_LIBS) $(CODECT_CHECK_LIBS)

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

.PHONY: check-codec-units bench-numfmt bench-parse
check-codec-units: $(CODECT_BINS)
	$(Q)tests/run-check $(BUILD)/results.txt check-codec-units $(CODECT_BINS)

bench-numfmt: $(CODECT_DIR)/bench_numfmt
	$(Q)$(CODECT_DIR)/bench_numfmt

bench-parse: $(CODECT_DIR)/bench_parse
	$(Q)$(CODECT_DIR)/bench_parse

CHECK_STAGES += check-codec-units
SAN_STAGES += check-codec-units

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
