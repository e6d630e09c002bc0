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

# ------------------------------------------------ hostile clients, TLS, soak --
#   check-slow      deadlines that bytes do not restart, a crowd of slow
#                   connections beside normal requests, connection limits
#   check-framing   ambiguous or malformed lengths, oversized headers
#   check-shutdown  SIGTERM: uploads finish, --drain-delay, kept-alive
#                   connections told to leave, the listen backlog and
#                   connections not yet used served, under traffic
#   check-auth      bearer tokens on every route, reloaded on SIGHUP
#   check-tls       HTTPS with TLS 1.2 / 1.3 only, certificate reloaded on
#                   SIGHUP (Python, openssl and curl)
#   soak            SOAK_SECONDS (60 here, 600 by `make soak`) of mixed
#                   traffic; every answer checked; RSS held
# The C stages also run against a ThreadSanitizer xentd (`make tsan`).
HOSTILE_NAMES := test_slow test_framing test_shutdown test_auth
HOSTILE_BIN := $(addprefix $(INTEG_BIN)/,$(HOSTILE_NAMES))
HOSTILE_SRC := $(INTEG_DIR)/hostile.c $(INTEG_DIR)/daemon.c \
               $(INTEG_DIR)/http_util.c
HOSTILE_HDR := $(INTEG_DIR)/hostile.h $(INTEG_DIR)/daemon.h \
               $(INTEG_DIR)/http_util.h

$(HOSTILE_BIN): $(INTEG_BIN)/%: $(INTEG_DIR)/%.c $(HOSTILE_SRC) $(HOSTILE_HDR)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) -D_DEFAULT_SOURCE $(CURL_CFLAGS) \
	    $(INTEG_CHECK_CFLAGS) $< $(HOSTILE_SRC) -o $@ \
	    $(XLDFLAGS) $(LDFLAGS) $(CURL_LIBS) $(INTEG_CHECK_LIBS) \
	    $(INTEG_JANSSON_LIBS) -lz -pthread -lm

# test_shutdown's LD_PRELOAD shim (hold_accept.c): built without the
# sanitizers, it only passes accept(2) through, late.
HOLD_ACCEPT_SO := $(INTEG_BIN)/hold_accept.so
$(HOLD_ACCEPT_SO): $(INTEG_DIR)/hold_accept.c
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) -std=c11 $(WARNINGS) -fPIC -shared $< -o $@ -ldl

# The xentd the stages run: `make tsan` points it at the TSan build.
XENTD_UNDER_TEST ?= $(BUILD)/xentd

.PHONY: check-slow check-framing check-shutdown check-auth check-tls soak \
        check-soak
check-slow: $(INTEG_BIN)/test_slow $(XENTD_UNDER_TEST)
	$(Q)XENTD=$(XENTD_UNDER_TEST) CK_DEFAULT_TIMEOUT=120 \
	    tests/run-check $(BUILD)/results.txt slow $(INTEG_BIN)/test_slow
CHECK_STAGES += check-slow

check-framing: $(INTEG_BIN)/test_framing $(XENTD_UNDER_TEST)
	$(Q)XENTD=$(XENTD_UNDER_TEST) CK_DEFAULT_TIMEOUT=60 \
	    tests/run-check $(BUILD)/results.txt framing $(INTEG_BIN)/test_framing
CHECK_STAGES += check-framing

check-shutdown: $(INTEG_BIN)/test_shutdown $(XENTD_UNDER_TEST) \
                $(HOLD_ACCEPT_SO)
	$(Q)XENTD=$(XENTD_UNDER_TEST) CK_DEFAULT_TIMEOUT=180 \
	    XT_HOLD_ACCEPT_SO=$(abspath $(HOLD_ACCEPT_SO)) \
	    tests/run-check $(BUILD)/results.txt shutdown $(INTEG_BIN)/test_shutdown
CHECK_STAGES += check-shutdown

check-auth: $(INTEG_BIN)/test_auth $(XENTD_UNDER_TEST)
	$(Q)XENTD=$(XENTD_UNDER_TEST) CK_DEFAULT_TIMEOUT=60 \
	    tests/run-check $(BUILD)/results.txt auth $(INTEG_BIN)/test_auth
CHECK_STAGES += check-auth

check-tls: $(XENTD_UNDER_TEST)
	$(Q)$(INTEG_DIR)/run-py $(BUILD)/results.txt tls \
	    $(PYTHON) $(INTEG_DIR)/test_tls.py --xentd $(XENTD_UNDER_TEST)
CHECK_STAGES += check-tls

# `make check` soaks for a minute; `make soak` for SOAK_SECONDS (600).
SOAK_SECONDS ?= 600
check-soak: $(XENTD_UNDER_TEST)
	$(Q)SOAK_SECONDS=60 $(INTEG_DIR)/run-py $(BUILD)/results.txt soak \
	    $(PYTHON) $(INTEG_DIR)/soak.py --xentd $(XENTD_UNDER_TEST) \
	    --examples api/examples
CHECK_STAGES += check-soak

soak: deps-check
	$(Q)$(MAKE) --no-print-directory $(XENTD_UNDER_TEST)
	$(Q)rm -f $(BUILD)/soak-results.txt
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) $(INTEG_DIR)/run-py \
	    $(BUILD)/soak-results.txt soak $(PYTHON) $(INTEG_DIR)/soak.py \
	    --xentd $(XENTD_UNDER_TEST) --examples api/examples
	$(Q)tests/summary $(BUILD)/soak-results.txt soak
