# tests/bench: build rules and test stages (see the root Makefile).
#
# make bench          libxent against PyTorch's own CPU cross_entropy:
#                     forward + backward, ns per logit, one table; then
#                     every loss family at 256 x 1000 and (8, 21, 128, 128)
#                     against PyTorch float32 and float64, a second table.
# make bench-service  xentd against a FastAPI + PyTorch peer on 127.0.0.1:
#                     requests/s (8 x 10) and ms/request (256 x 1000).
# Neither is part of `make check`: timings are not pass/fail.
# BENCH_ARGS passes options to both library benchmarks (runs per round,
# --ms per run); BENCH_SERVICE_ARGS to bench_service.py (e.g. --duration 10).

BENCH_DIR := $(BUILD)/bench
BENCH_LIB := $(BENCH_DIR)/bench_lib
BENCH_ARGS ?= --runs 5
BENCH_ROUNDS ?= 3
BENCH_SERVICE_ARGS ?=

$(BENCH_LIB): tests/bench/bench_lib.c lib/include/xent.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Ilib/include $< -o $@ $(XENT_LIBS) \
	    $(XLDFLAGS) $(LDFLAGS)

.PHONY: bench bench-run bench-service bench-service-run

# Packages first, then a fresh make so that pkg-config sees them.
bench:
	$(Q).ci/install-deps bench
	$(Q)$(MAKE) --no-print-directory bench-run

# The two programs alternate BENCH_ROUNDS times, so that load from other
# processes falls on both alike; report.py pools the runs of all rounds.
bench-run: $(BENCH_LIB)
	$(Q)rm -f $(BENCH_DIR)/lib.tsv $(BENCH_DIR)/torch.tsv
	$(Q)r=0; while [ $$r -lt $(BENCH_ROUNDS) ]; do r=$$((r + 1)); \
	    echo "bench: round $$r of $(BENCH_ROUNDS): bench_lib, bench_torch.py" >&2; \
	    $(BENCH_LIB) --tsv $(BENCH_ARGS) >> $(BENCH_DIR)/lib.tsv || exit 1; \
	    $(PYTHON) tests/bench/bench_torch.py --tsv $(BENCH_ARGS) \
	        >> $(BENCH_DIR)/torch.tsv || exit 1; \
	done
	$(Q)$(PYTHON) tests/bench/report.py $(BENCH_DIR)/lib.tsv \
	    $(BENCH_DIR)/torch.tsv > $(BENCH_DIR)/bench.txt
	$(Q)cat $(BENCH_DIR)/bench.txt

bench-service:
	$(Q).ci/install-deps bench
	$(Q)$(MAKE) --no-print-directory bench-service-run

# No pipe into tee: the shell is sh, and a failure must fail the target.
bench-service-run: $(XENTD)
	@mkdir -p $(BENCH_DIR)
	$(Q)$(PYTHON) tests/bench/bench_service.py --xentd $(XENTD) \
	    --workdir $(BENCH_DIR)/service $(BENCH_SERVICE_ARGS) \
	    > $(BENCH_DIR)/service.txt
	$(Q)cat $(BENCH_DIR)/service.txt
