# tests/integration: build rules and test stages (see the root Makefile).
#
# Every stage talks to a real xentd over sockets. Each starts its own daemon
# on an ephemeral port, unless XENT_URL is set (the container stage runs the
# same tests against a container that way).
#   check-integration  Check + libcurl: routes, statuses, keep-alive, load,
#                      graceful shutdown, idle timeout (also under asan,
#                      ubsan, valgrind)
#   check-examples     replays every api/examples/<case>/ folder
#   check-readme       runs README.md's curl examples, compares the output
#   check-crosslang    Python client vs PyTorch float64 / timm formulas
#   check-memory       peak RSS of xentd under the bodies that used to swell
#                      it, held to the request path's budget
#   check-metrics-http /v1/metrics and its merge against libxent (bit for
#                      bit) and scikit-learn; merges exact whatever the split
#   check-v2           the Open Inference Protocol routes: statuses, datatypes,
#                      outputs, binary framing, compression, draining
#   check-v2-clients   tritonclient's and KServe's requests byte for byte,
#                      their answers parsed as those clients do
#   check-v2-crosslang 400 random /v2 requests vs PyTorch float64 / timm
#   check-v2-regressions  eight /v2 bugs of xentd, one test each

INTEG_DIR := tests/integration
INTEG_BIN := $(BUILD)/tests/integration
CURL_CFLAGS = $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS = $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
INTEG_CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
INTEG_CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
INTEG_JANSSON_LIBS = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
INTEG_SRC := $(INTEG_DIR)/test_http.c $(INTEG_DIR)/daemon.c $(INTEG_DIR)/http_util.c
INTEG_HDR := $(INTEG_DIR)/daemon.h $(INTEG_DIR)/http_util.h lib/include/xent.h

$(INTEG_BIN)/test_http: $(INTEG_SRC) $(INTEG_HDR)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -D_DEFAULT_SOURCE -Ilib/include \
	    $(CURL_CFLAGS) $(INTEG_CHECK_CFLAGS) $(INTEG_SRC) -o $@ \
	    $(XLDFLAGS) $(LDFLAGS) $(CURL_LIBS) $(INTEG_CHECK_LIBS) \
	    $(INTEG_JANSSON_LIBS) -pthread -lm

.PHONY: check-integration check-examples check-readme check-crosslang \
        check-memory check-metrics-http
check-integration: $(INTEG_BIN)/test_http $(BUILD)/xentd
	$(Q)XENTD=$(BUILD)/xentd CK_DEFAULT_TIMEOUT=60 \
	    tests/run-check $(BUILD)/results.txt integration $(INTEG_BIN)/test_http

check-examples: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt examples \
	    $(PYTHON) $(INTEG_DIR)/test_examples.py --xentd $(BUILD)/xentd \
	    --examples api/examples

check-readme: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt readme \
	    $(PYTHON) $(INTEG_DIR)/test_readme.py --xentd $(BUILD)/xentd \
	    --readme README.md

check-crosslang: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt crosslang \
	    $(PYTHON) $(INTEG_DIR)/test_crosslang.py --xentd $(BUILD)/xentd

check-metrics-http: $(BUILD)/xentd $(LIB_SO)
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt metrics-http \
	    $(PYTHON) $(INTEG_DIR)/test_metrics.py --xentd $(BUILD)/xentd \
	    --lib $(LIB_SO)
check-memory: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt memory \
	    $(PYTHON) $(INTEG_DIR)/test_memory.py --xentd $(BUILD)/xentd

.PHONY: check-v2 check-v2-clients
check-v2: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt v2 \
	    $(PYTHON) $(INTEG_DIR)/test_v2.py --xentd $(BUILD)/xentd

check-v2-clients: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt v2-clients \
	    $(PYTHON) $(INTEG_DIR)/test_v2_clients.py --xentd $(BUILD)/xentd

.PHONY: check-v2-crosslang check-v2-regressions
check-v2-crosslang: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt v2-crosslang \
	    $(PYTHON) $(INTEG_DIR)/test_v2_crosslang.py --xentd $(BUILD)/xentd

check-v2-regressions: $(BUILD)/xentd
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt v2-regressions \
	    $(PYTHON) $(INTEG_DIR)/test_v2_regressions.py --xentd $(BUILD)/xentd

CHECK_STAGES += check-integration check-examples check-readme check-crosslang \
                check-memory check-metrics-http check-v2 check-v2-clients \
                check-v2-crosslang check-v2-regressions
SAN_STAGES += check-integration
