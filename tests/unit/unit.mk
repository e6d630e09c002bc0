# tests/unit: build rules and test stages (see the root Makefile).
#
#   check-unit      every tests/unit/test_*.c, a Check binary each, through
#                   tests/run-check (also in SAN_STAGES: asan, ubsan, valgrind)
#   readme-example  the C example of the README's library tour, compiled
#                   against the static library; its output must equal the
#                   ```text block printed right after it in the README
#   exports         the shared library exports exactly the XENT_API functions
#                   of lib/include/xent.h

UNIT_DIR := $(BUILD)/tests/unit
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(UNIT_DIR)/%,$(UNIT_SRC))
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
UNIT_CFLAGS := -Ilib/include -Itests/unit $(CHECK_CFLAGS)

$(UNIT_BIN): $(UNIT_DIR)/%: tests/unit/%.c tests/unit/testutil.h \
    lib/include/xent.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(UNIT_CFLAGS) -o $@ $< \
	    $(XENT_LIBS) $(CHECK_LIBS) $(XLDFLAGS) $(LDFLAGS)

.PHONY: check-unit readme-example exports
check-unit: $(UNIT_BIN)
	$(Q)tests/run-check $(BUILD)/results.txt check-unit $(UNIT_BIN)

# The README's library tour: the first ```c block between the library-tour
# markers is the program, the first ```text block after it its output.
README_TOUR_C := $(UNIT_DIR)/readme_example.c
README_TOUR_OUT := $(UNIT_DIR)/readme_example.expected

$(README_TOUR_OUT): $(README_TOUR_C)
$(README_TOUR_C): README.md tests/unit/unit.mk
	@mkdir -p $(UNIT_DIR)
	$(Q)awk -v src=$(README_TOUR_C) -v txt=$(README_TOUR_OUT) ' \
	    /<!-- library-tour:begin -->/ { on = 1; next } \
	    /<!-- library-tour:end -->/ { on = 0; next } \
	    !on { next } \
	    mode == "c" && /^```$$/ { mode = ""; seen_c = 1; next } \
	    mode == "t" && /^```$$/ { mode = ""; seen_t = 1; next } \
	    mode == "c" { print > src; next } \
	    mode == "t" { print > txt; next } \
	    /^```c$$/ && !seen_c { mode = "c"; next } \
	    /^```text$$/ && seen_c && !seen_t { mode = "t"; next } \
	    END { if (!seen_c || !seen_t) { \
	            print "readme-example: no ```c block followed by a ```text" \
	                  " block in the library tour" > "/dev/stderr"; exit 1 } }' \
	    README.md

$(UNIT_DIR)/readme_example: $(README_TOUR_C) lib/include/xent.h $(LIB_A)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Ilib/include -o $@ $< $(XENT_LIBS) \
	    $(XLDFLAGS) $(LDFLAGS)

readme-example: $(UNIT_DIR)/readme_example $(README_TOUR_OUT)
	$(Q)if $(RUNNER) $(UNIT_DIR)/readme_example > $(UNIT_DIR)/readme_example.out \
	    && diff -u $(README_TOUR_OUT) $(UNIT_DIR)/readme_example.out; then \
	  echo "readme-example: output matches the README"; \
	  tests/record $(BUILD)/results.txt readme-example 1 0; \
	else \
	  echo "readme-example: output differs from the README (above)" >&2; \
	  tests/record $(BUILD)/results.txt readme-example 0 1; exit 1; \
	fi

# Every function declared with XENT_API in the header, and nothing else, is
# a defined dynamic symbol of the shared library.
exports: $(LIB_SO)
	@mkdir -p $(UNIT_DIR)
	$(Q)sed -n 's/^XENT_API [^(]*[ *]\(xent_[a-z0-9_]*\)(.*/\1/p' \
	    lib/include/xent.h | LC_ALL=C sort -u > $(UNIT_DIR)/exports.want
	$(Q)nm -D --defined-only $(LIB_SO) | awk '{ print $$NF }' \
	    | LC_ALL=C sort -u > $(UNIT_DIR)/exports.got
	$(Q)want=$$(wc -l < $(UNIT_DIR)/exports.want); \
	if [ "$$want" -gt 0 ] && diff -u $(UNIT_DIR)/exports.want \
	    $(UNIT_DIR)/exports.got; then \
	  echo "exports: the $$want XENT_API functions and nothing else"; \
	  tests/record $(BUILD)/results.txt exports 1 0; \
	else \
	  echo "exports: exported symbols differ from xent.h (above; - missing," \
	       "+ unexpected)" >&2; \
	  tests/record $(BUILD)/results.txt exports 0 1; exit 1; \
	fi

CHECK_STAGES += check-unit readme-example exports
SAN_STAGES += check-unit
