# tests/bench: build rules and test stages (see the root Makefile).
#
# make bench          libxent against PyTorch's own CPU cross_entropy:
#                     forward + backward, ns per logit, one table; then
#                     every loss family at 256 x 1000 and (8, 21, 128, 128)
#                     against PyTorch float32 and float64, a second table;
#                     then the whole-dataset metrics of 50,000 x 1,000
#                     logits against numpy + scikit-learn on the same array
#                     (bench-metrics).
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
	$(Q)$(MAKE) --no-print-directory bench-metrics-run

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

# Metrics: libxent (update + compute, one batch and batches of 1,000
# merged) against numpy + scikit-learn computing the same figures from the
# same 50,000 x 1,000 array in one process; BENCH_METRICS_ARGS passes
# options (--runs, --rows) to both.
BENCH_METRICS := $(BENCH_DIR)/bench_metrics
BENCH_METRICS_ARGS ?= --runs 3

$(BENCH_METRICS): tests/bench/bench_metrics.c lib/include/xent.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -Ilib/include $< -o $@ $(XENT_LIBS) \
	    $(XLDFLAGS) $(LDFLAGS)

.PHONY: bench-metrics-run bench-metrics-e2e
bench-metrics-run: $(BENCH_METRICS) bench-metrics-e2e
	@echo "bench: bench_metrics, bench_metrics_py.py" >&2
	$(Q)$(BENCH_METRICS) --tsv $(BENCH_METRICS_ARGS) \
	    > $(BENCH_DIR)/metrics_xent.tsv
	$(Q)$(PYTHON) tests/bench/bench_metrics_py.py --tsv $(BENCH_METRICS_ARGS) \
	    > $(BENCH_DIR)/metrics_py.tsv
	$(Q)$(PYTHON) tests/bench/bench_metrics_py.py --report \
	    $(BENCH_DIR)/metrics_xent.tsv $(BENCH_DIR)/metrics_py.tsv \
	    > $(BENCH_DIR)/bench_metrics.txt
	$(Q)cat $(BENCH_DIR)/bench_metrics.txt

# End to end: the same 50,000 x 1,000 array as 200 batches of binary
# tensors through xentd (classification_metrics) and one merge of their
# states, wall seconds against numpy + scikit-learn in one process.
bench-metrics-e2e: $(XENTD)
	@mkdir -p $(BENCH_DIR)
	$(Q)$(PYTHON) tests/bench/bench_metrics_e2e.py --xentd $(XENTD) \
	    > $(BENCH_DIR)/metrics_e2e.txt
	$(Q)cat $(BENCH_DIR)/metrics_e2e.txt

# Small requests beside big ones (issue 11: p99 at most 5x alone), and TLS
# against plain HTTP; each starts its own xentd.
.PHONY: bench-latency bench-tls
bench-latency: $(XENTD)
	$(Q)$(PYTHON) tests/bench/bench_latency.py --xentd $(XENTD)

bench-tls: $(XENTD)
	$(Q)$(PYTHON) tests/bench/bench_tls.py --xentd $(XENTD)
