# server/codec: the request codec of xentd as one static library,
# $(CODEC_A), linked by xentd, the codec's tests and the fuzzers (which
# build the same sources with their own compiler and flags).
#
# The codec owns the one description of every request field, the streaming
# JSON parser it drives, number text both ways, the response writer and the
# one table of error kinds. It knows nothing of HTTP or sockets; it reaches
# libxent only through xent.h.

CODEC_DIR := server/codec
CODEC_SRC := $(wildcard $(CODEC_DIR)/*.c)
CODEC_HDR := $(wildcard $(CODEC_DIR)/*.h) lib/include/xent.h
CODEC_OBJ := $(patsubst $(CODEC_DIR)/%.c,$(BUILD)/codec/%.o,$(CODEC_SRC))
CODEC_A := $(BUILD)/libxscodec.a
CODEC_CFLAGS = -I$(CODEC_DIR) -Ilib/include \
    $(shell pkg-config --cflags jansson 2>/dev/null)
# What a program linking the codec needs after it.
CODEC_LIBS = $(CODEC_A) $(XENT_LIBS)

$(BUILD)/codec/%.o: $(CODEC_DIR)/%.c $(CODEC_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(CODEC_CFLAGS) -c $< -o $@

$(CODEC_A): $(CODEC_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^
