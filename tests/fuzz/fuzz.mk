# tests/fuzz: libFuzzer targets for the request codec (see the root Makefile).
#
# fuzz_loss / fuzz_targets feed one input to server/codec/ as a request
# body (parse, run or print the error body) and abort on a broken
# invariant; fuzz_diff_loss / fuzz_diff_targets hold the streaming parser
# (whole and in pieces) to the jansson oracle of tests/codec/oracle.c, bit
# for bit; see fuzz_check.h.
# fuzz_metrics_state parses bytes as a serialized metrics state (libxent
# only; see its header comment); fuzz_metrics_body runs /v1/metrics, merge
# and report bodies whole and in two pieces (fuzz_check_metrics).
# Built with clang-14, libFuzzer, ASan (+ LeakSanitizer) and UBSan; the
# codec and library sources are compiled here with the same sanitizers and
# coverage, whatever CC and SANITIZE say.
#   make BUILD=... fuzz [FUZZ_SECONDS=60]   fuzz each target for FUZZ_SECONDS
#                                           on $(BUILD)/fuzz/work/<target>,
#                                           a corpus kept between runs
#   make BUILD=... check-fuzz               seeds + 20000 seeded runs each
# A crash leaves its input in $(BUILD)/fuzz/artifacts/; replay it with
#   $(BUILD)/fuzz/fuzz_loss FILE
# and keep it, minimised, in tests/fuzz/corpus/<target>/ as a regression.

FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_CHECK_RUNS ?= 20000
FUZZ_DIR := tests/fuzz
FUZZ_OUT := $(BUILD)/fuzz
FUZZ_TARGETS := fuzz_loss fuzz_targets fuzz_diff_loss fuzz_diff_targets \
                fuzz_metrics_state fuzz_v2 fuzz_metrics_body
FUZZ_BINS := $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))
FUZZ_DICT := $(FUZZ_DIR)/request.dict
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
FUZZ_FLAGS := -O1 -g -std=c11 -D_POSIX_C_SOURCE=200809L $(WARNINGS) \
              $(FUZZ_SAN) -fsanitize=fuzzer-no-link
# The codec library's own source list (server/codec/codec.mk), built here
# with the fuzzers' compiler and instrumentation.
FUZZ_CODEC_OBJ := $(patsubst $(CODEC_DIR)/%.c,$(FUZZ_OUT)/obj/codec/%.o,$(CODEC_SRC))
FUZZ_LIB_OBJ := $(patsubst lib/src/%.c,$(FUZZ_OUT)/obj/lib/%.o,$(LIB_SRC))
FUZZ_CHECK_OBJ := $(FUZZ_OUT)/obj/fuzz_check.o $(FUZZ_OUT)/obj/oracle.o
FUZZ_LIBS := $(SLEEF_LIBS) -lm \
             $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
# Every run is bounded: per-input timeout, memory, and the stage's time.
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
                  -dict=$(FUZZ_DICT) -print_final_stats=1

# isa_flags (root Makefile) reads kernels_<isa> from the object's name.
$(FUZZ_OUT)/obj/lib/%.o: lib/src/%.c lib/include/xent.h $(wildcard lib/src/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(LIB_CFLAGS) $(isa_flags) -c $< -o $@

$(FUZZ_OUT)/obj/codec/%.o: $(CODEC_DIR)/%.c $(CODEC_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CODEC_CFLAGS) -c $< -o $@

$(FUZZ_OUT)/obj/fuzz_check.o: $(FUZZ_DIR)/fuzz_check.c $(FUZZ_DIR)/fuzz_check.h \
    $(CODEC_HDR) tests/codec/oracle.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CODEC_CFLAGS) -Itests/codec -c $< -o $@

$(FUZZ_OUT)/obj/oracle.o: tests/codec/oracle.c tests/codec/oracle.h $(CODEC_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(CODEC_CFLAGS) -c $< -o $@

# fuzz_v2 (an Open Inference Protocol body: its first 2 bytes are the model
# and the header length) includes the codec's own headers.
$(FUZZ_OUT)/fuzz_v2: FUZZ_FLAGS += $(CODEC_CFLAGS)
$(FUZZ_OUT)/fuzz_v2: $(CODEC_HDR)

$(FUZZ_BINS): $(FUZZ_OUT)/%: $(FUZZ_DIR)/%.c $(FUZZ_DIR)/fuzz_check.h \
    $(FUZZ_CHECK_OBJ) $(FUZZ_CODEC_OBJ) $(FUZZ_LIB_OBJ)
	@echo "  CCLD    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -Ilib/include -fsanitize=fuzzer $< \
	    $(FUZZ_CHECK_OBJ) $(FUZZ_CODEC_OBJ) $(FUZZ_LIB_OBJ) -o $@ $(FUZZ_LIBS)

# Seeds (the diff targets share them): every api/examples body (request.json and the deliberately broken
# request.txt) for the endpoint its folder names, plus the committed
# hand-written seeds of tests/fuzz/corpus/<target>/. Rebuilt every time.
.PHONY: fuzz-build fuzz-corpus fuzz check-fuzz
fuzz-build: $(FUZZ_BINS)

fuzz-corpus:
	$(Q)rm -rf $(FUZZ_OUT)/corpus
	$(Q)mkdir -p $(FUZZ_OUT)/corpus/fuzz_loss $(FUZZ_OUT)/corpus/fuzz_targets
	$(Q)for d in api/examples/*/; do \
	  case=$$(basename $$d); \
	  t=fuzz_loss; grep -qs '^/v1/targets' $$d/path && t=fuzz_targets; \
	  grep -qsv '^/v1/' $$d/path && continue; \
	  grep -qs '^/v1/metrics' $$d/path && continue; \
	  for f in $$d/request.json $$d/request.txt; do \
	    [ -f $$f ] && cp $$f $(FUZZ_OUT)/corpus/$$t/example-$$case; \
	  done; \
	done; true
	$(Q)cp $(FUZZ_DIR)/corpus/loss/* $(FUZZ_OUT)/corpus/fuzz_loss/
	$(Q)cp $(FUZZ_DIR)/corpus/targets/* $(FUZZ_OUT)/corpus/fuzz_targets/
	$(Q)cp -r $(FUZZ_OUT)/corpus/fuzz_loss $(FUZZ_OUT)/corpus/fuzz_diff_loss
	$(Q)cp -r $(FUZZ_OUT)/corpus/fuzz_targets $(FUZZ_OUT)/corpus/fuzz_diff_targets
	$(Q)mkdir -p $(FUZZ_OUT)/corpus/fuzz_metrics_state
	$(Q)cp $(FUZZ_DIR)/corpus/metrics_state/* $(FUZZ_OUT)/corpus/fuzz_metrics_state/
	$(Q)mkdir -p $(FUZZ_OUT)/corpus/fuzz_metrics_body
	$(Q)cp $(FUZZ_DIR)/corpus/metrics_body/* $(FUZZ_OUT)/corpus/fuzz_metrics_body/
	$(Q)for d in api/examples/*/; do \
	  case $$(cat $$d/path 2>/dev/null) in \
	    /v1/metrics) b='\000' ;; /v1/metrics/merge) b='\001' ;; \
	    /v1/metrics/report) b='\002' ;; *) continue ;; esac; \
	  for f in $$d/request.json $$d/request.txt; do \
	    [ -f $$f ] && { printf "$$b\007"; cat $$f; } \
	      > $(FUZZ_OUT)/corpus/fuzz_metrics_body/example-$$(basename $$d); \
	  done; \
	done; true
	$(Q)mkdir -p $(FUZZ_OUT)/corpus/fuzz_v2
	$(Q)cp $(FUZZ_DIR)/corpus/v2/* $(FUZZ_OUT)/corpus/fuzz_v2/
	@echo "fuzz-corpus: $$(ls $(FUZZ_OUT)/corpus/fuzz_loss | wc -l) loss seeds," \
	    "$$(ls $(FUZZ_OUT)/corpus/fuzz_targets | wc -l) targets seeds"

# Coverage-guided fuzzing, FUZZ_SECONDS per target, on a working copy of the
# seeds that grows from run to run. Not part of `make check`.
fuzz: $(FUZZ_BINS) fuzz-corpus
	$(Q)mkdir -p $(FUZZ_OUT)/artifacts; status=0; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_OUT)/work/$$t; \
	  cp $(FUZZ_OUT)/corpus/$$t/* $(FUZZ_OUT)/work/$$t/; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log $(FUZZ_OUT)/$$t.log)"; \
	  $(FUZZ_OUT)/$$t $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	      -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- \
	      $(FUZZ_OUT)/work/$$t > $(FUZZ_OUT)/$$t.log 2>&1 || status=1; \
	  $(FUZZ_DIR)/summary $$t $(FUZZ_OUT)/$$t.log; \
	done; \
	[ $$status -eq 0 ] || echo "fuzz: a target failed: inputs in $(FUZZ_OUT)/artifacts/"; \
	exit $$status

# The check stage: every seed, then FUZZ_CHECK_RUNS mutations with a fixed
# seed per target (new inputs go to a scratch folder, not the seeds). One
# pass per target that finishes without a crash, leak or broken invariant.
check-fuzz: $(FUZZ_BINS) fuzz-corpus
	$(Q)mkdir -p $(FUZZ_OUT)/artifacts; pass=0; fail=0; \
	for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_OUT)/check/$$t; mkdir -p $(FUZZ_OUT)/check/$$t; \
	  if timeout 300 $(FUZZ_OUT)/$$t $(FUZZ_RUN_FLAGS) -seed=1 \
	      -runs=$(FUZZ_CHECK_RUNS) -max_total_time=120 \
	      -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- \
	      $(FUZZ_OUT)/check/$$t $(FUZZ_OUT)/corpus/$$t \
	      > $(FUZZ_OUT)/check-$$t.log 2>&1; then \
	    pass=$$((pass + 1)); \
	  else \
	    fail=$$((fail + 1)); tail -n 40 $(FUZZ_OUT)/check-$$t.log; \
	  fi; \
	  $(FUZZ_DIR)/summary $$t $(FUZZ_OUT)/check-$$t.log; \
	done; \
	tests/record $(BUILD)/results.txt check-fuzz $$pass $$fail; \
	[ $$fail -eq 0 ]

CHECK_STAGES += check-fuzz
