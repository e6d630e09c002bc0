# tests/codec: number text (server/codec/numtext.c) and its table of powers
# of ten (see the root Makefile).
#
#   make BUILD=... check-pow10     regenerate pow10.h (which also re-proves
#                                  the printer's error bound) and fail when
#                                  the checked-in file differs
#   make pow10-update              rewrite server/codec/pow10.h

NUMTEXT_GEN := server/codec/gen_pow10.py

$(BUILD)/codec/pow10.h: $(NUMTEXT_GEN)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)$(PYTHON) $(NUMTEXT_GEN) > $@.tmp && mv $@.tmp $@

.PHONY: check-pow10 pow10-update
check-pow10: $(BUILD)/codec/pow10.h
	$(Q)if cmp -s $< server/codec/pow10.h; then \
	  echo "check-pow10: server/codec/pow10.h matches $(NUMTEXT_GEN)"; \
	  tests/record $(BUILD)/results.txt check-pow10 1 0; \
	else \
	  echo "check-pow10: server/codec/pow10.h differs from $(NUMTEXT_GEN);" \
	       "run 'make pow10-update'"; \
	  diff $< server/codec/pow10.h | head -20; \
	  tests/record $(BUILD)/results.txt check-pow10 0 1; exit 1; \
	fi

pow10-update:
	$(Q)$(PYTHON) $(NUMTEXT_GEN) > server/codec/pow10.h.tmp && \
	    mv server/codec/pow10.h.tmp server/codec/pow10.h
	@echo "  GEN     server/codec/pow10.h"

CHECK_STAGES += check-pow10
