# tests/reference: build rules and test stages (see the root Makefile).
#
#   check-reference  libxent (the shared library, through ctypes) against
#                    PyTorch float64 and timm's formulas: random seeded cases
#                    over every mode and every kernel the CPU supports, then
#                    300 per loss family and K-dimensional cross-entropy
#                    (families.py: torch BCE, torchvision's sigmoid focal
#                    loss, torch ops for softmax focal and poly-1).
#                    REF_SEED=S, REF_CASES=N and REF_FAMILY_CASES=M override
#                    the defaults; the output is kept in
#                    $(BUILD)/tests/reference/reference.log.
#                    Python stage: not in SAN_STAGES.

REF_DIR := $(BUILD)/tests/reference
REF_ARGS := $(if $(REF_SEED),--seed $(REF_SEED)) $(if $(REF_CASES),--cases $(REF_CASES)) \
    $(if $(REF_FAMILY_CASES),--family-cases $(REF_FAMILY_CASES))

.PHONY: check-reference
check-reference: $(LIB_SO)
	@mkdir -p $(REF_DIR)
	@echo "  REF     tests/reference/test_reference.py"
	$(Q)$(PYTHON) tests/reference/test_reference.py $(LIB_SO) $(REF_ARGS) \
	    > $(REF_DIR)/reference.log 2>&1; rc=$$?; \
	cat $(REF_DIR)/reference.log; \
	line=$$(grep -E '^reference: [0-9]+ passed, [0-9]+ failed$$' \
	    $(REF_DIR)/reference.log | tail -n 1); \
	if [ -z "$$line" ]; then \
	  echo "check-reference: no closing line (exit $$rc)" >&2; \
	  tests/record $(BUILD)/results.txt check-reference 0 1; exit 1; \
	fi; \
	set -- $$line; pass=$$2; fail=$$4; \
	if [ "$$rc" -ne 0 ] && [ "$$fail" -eq 0 ]; then \
	  echo "check-reference: exit $$rc with no failed case" >&2; fail=1; \
	fi; \
	tests/record $(BUILD)/results.txt check-reference $$pass $$fail; \
	[ "$$rc" -eq 0 ] && [ "$$fail" -eq 0 ]

CHECK_STAGES += check-reference

# check-metrics-reference  the whole-dataset metrics (xent_metrics_*, through
#                    ctypes) against scikit-learn and numpy/math.fsum
#                    formulas: random seeded datasets, every option, batches
#                    merged in random order. MREF_SEED=S and MREF_CASES=N
#                    override the defaults; the output is kept in
#                    $(BUILD)/tests/reference/metrics-reference.log.
MREF_ARGS := $(if $(MREF_SEED),--seed $(MREF_SEED)) $(if $(MREF_CASES),--cases $(MREF_CASES))

.PHONY: check-metrics-reference
check-metrics-reference: $(LIB_SO)
	@mkdir -p $(REF_DIR)
	@echo "  REF     tests/reference/test_metrics_reference.py"
	$(Q)$(PYTHON) tests/reference/test_metrics_reference.py $(LIB_SO) \
	    $(MREF_ARGS) > $(REF_DIR)/metrics-reference.log 2>&1; rc=$$?; \
	tail -n 40 $(REF_DIR)/metrics-reference.log; \
	line=$$(grep -E '^metrics-reference: [0-9]+ passed, [0-9]+ failed$$' \
	    $(REF_DIR)/metrics-reference.log | tail -n 1); \
	if [ -z "$$line" ]; then \
	  echo "check-metrics-reference: no closing line (exit $$rc)" >&2; \
	  tests/record $(BUILD)/results.txt check-metrics-reference 0 1; exit 1; \
	fi; \
	set -- $$line; pass=$$2; fail=$$4; \
	if [ "$$rc" -ne 0 ] && [ "$$fail" -eq 0 ]; then \
	  echo "check-metrics-reference: exit $$rc with no failed case" >&2; \
	  fail=1; \
	fi; \
	tests/record $(BUILD)/results.txt check-metrics-reference $$pass $$fail; \
	[ "$$rc" -eq 0 ] && [ "$$fail" -eq 0 ]

CHECK_STAGES += check-metrics-reference
