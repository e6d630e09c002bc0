# api: build rules and test stages (see the root Makefile).
#
# The HTTP contract is data: api/openapi.yaml (OpenAPI 3.1) and one folder
# per case under api/examples/ (see api/examples/README.md), replayed against
# the daemon by the integration tests (check-examples).
#
#   check-api   the contract checks itself, without a daemon:
#               1. `redocly lint` of api/openapi.yaml (recommended-strict
#                  plus api/tools/redocly.yaml): one count;
#               2. api/tools/validate-examples.mjs (ajv, JSON Schema 2020-12):
#                  every example folder against the schemas of its method,
#                  path and status: one count per folder;
#               3. api/tools/make_expected.py --check: every 200 body equals
#                  what PyTorch float64 / timm's formulas give for its
#                  request: one count;
#               4. api/tools/check-fields.mjs: the request schemas against
#                  xentd's field table (xs-describe fields), and the schema
#                  MetricsState against the member table of a metrics state
#                  (xs-describe mstate): one count per field of each body,
#                  per state member, for the state's version and for the
#                  answer's state.
#               The npm tools come from api/tools/package-lock.json
#               (`npm ci --prefix api/tools` when node_modules is absent).
#   api-expected  rewrites the 200 bodies from PyTorch (after a new case).

API_TOOLS := api/tools
API_NODE := $(API_TOOLS)/node_modules
# Redocly would otherwise send usage data and look for updates on the network.
API_ENV := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
API_LOG := $(BUILD)/api

.PHONY: check-api api-tools api-expected
api-tools:
	$(Q)if [ ! -d $(API_NODE) ]; then \
	  echo "  NPM     npm ci --prefix $(API_TOOLS)"; \
	  npm ci --prefix $(API_TOOLS) --no-audit --no-fund --loglevel=error; \
	fi

check-api: api-tools $(XS_DESCRIBE)
	@mkdir -p $(API_LOG)
	$(Q)pass=0; fail=0; \
	if $(API_ENV) $(API_NODE)/.bin/redocly lint --format=stylish \
	    --config $(API_TOOLS)/redocly.yaml api/openapi.yaml \
	    > $(API_LOG)/lint.log 2>&1; then \
	  echo "check-api: redocly lint: api/openapi.yaml is valid"; pass=$$((pass + 1)); \
	else \
	  cat $(API_LOG)/lint.log; echo "check-api: redocly lint failed" >&2; \
	  fail=$$((fail + 1)); \
	fi; \
	node $(API_TOOLS)/validate-examples.mjs api/openapi.yaml api/examples \
	    > $(API_LOG)/validate.log 2>&1; rc=$$?; \
	grep -v '^validate-examples: ' $(API_LOG)/validate.log; \
	line=$$(grep -E '^validate-examples: [0-9]+ passed [0-9]+ failed$$' \
	    $(API_LOG)/validate.log | tail -n 1); \
	if [ -z "$$line" ]; then \
	  cat $(API_LOG)/validate.log; \
	  echo "check-api: validate-examples printed no summary (exit $$rc)" >&2; \
	  fail=$$((fail + 1)); \
	else \
	  echo "check-api: $$line"; set -- $$line; \
	  pass=$$((pass + $$2)); fail=$$((fail + $$4)); \
	  if [ "$$rc" -ne 0 ] && [ "$$4" -eq 0 ]; then fail=$$((fail + 1)); fi; \
	fi; \
	if $(PYTHON) $(API_TOOLS)/make_expected.py --check api/examples \
	    > $(API_LOG)/expected.log 2>&1; then \
	  echo "check-api: $$(tail -n 1 $(API_LOG)/expected.log)"; pass=$$((pass + 1)); \
	else \
	  cat $(API_LOG)/expected.log; \
	  echo "check-api: make_expected --check failed" >&2; fail=$$((fail + 1)); \
	fi; \
	$(XS_DESCRIBE) fields > $(API_LOG)/fields.json && \
	$(XS_DESCRIBE) mstate > $(API_LOG)/mstate.json && \
	node $(API_TOOLS)/check-fields.mjs api/openapi.yaml $(API_LOG)/fields.json \
	    $(API_LOG)/mstate.json > $(API_LOG)/fields.log 2>&1; rc=$$?; \
	grep -v '^check-fields: ' $(API_LOG)/fields.log; \
	line=$$(grep -E '^check-fields: [0-9]+ passed [0-9]+ failed$$' \
	    $(API_LOG)/fields.log | tail -n 1); \
	if [ -z "$$line" ]; then \
	  cat $(API_LOG)/fields.log; \
	  echo "check-api: check-fields printed no summary (exit $$rc)" >&2; \
	  fail=$$((fail + 1)); \
	else \
	  echo "check-api: $$line"; set -- $$line; \
	  pass=$$((pass + $$2)); fail=$$((fail + $$4)); \
	  if [ "$$rc" -ne 0 ] && [ "$$4" -eq 0 ]; then fail=$$((fail + 1)); fi; \
	fi; \
	tests/record $(BUILD)/results.txt check-api $$pass $$fail; \
	[ "$$fail" -eq 0 ]

api-expected:
	$(Q)$(PYTHON) $(API_TOOLS)/make_expected.py --write api/examples

CHECK_STAGES += check-api
