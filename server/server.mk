# server: build rules and test stages (see the root Makefile).
#
# xentd is the daemon's own files (server/*.c: main, configuration, log)
# and its HTTP layer (server/http/*.c), linked with the codec library
# (server/codec/codec.mk), the static libxent, libmicrohttpd and jansson.

include server/codec/codec.mk

XENTD := $(BUILD)/xentd
XENTD_SRC := $(wildcard server/*.c server/http/*.c)
XENTD_OBJ := $(patsubst server/%.c,$(BUILD)/server/%.o,$(XENTD_SRC))
XENTD_HDR := $(wildcard server/*.h server/http/*.h) $(CODEC_HDR)
XENTD_PKGS := libmicrohttpd jansson zlib gnutls
# Deferred (=): pkg-config runs in the recipes, after `.ci/install-deps`.
XENTD_CFLAGS = -Iserver -Iserver/http -I$(CODEC_DIR) -Ilib/include \
    $(shell pkg-config --cflags $(XENTD_PKGS))
XENTD_LDLIBS = $(shell pkg-config --libs $(XENTD_PKGS)) -lpthread
# Arguments of `make run`, e.g. make run XENTD_ARGS='--threads 4'.
XENTD_ARGS ?=

ALL_TARGETS += $(XENTD)
INSTALL_TARGETS += install-xentd

$(BUILD)/server/%.o: server/%.c $(XENTD_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(XCFLAGS) $(XENTD_CFLAGS) -c $< -o $@

$(XENTD): $(XENTD_OBJ) $(CODEC_A) $(LIB_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(XLDFLAGS) $(LDFLAGS) -o $@ $(XENTD_OBJ) $(CODEC_LIBS) \
	    $(XENTD_LDLIBS)

.PHONY: xentd run install-xentd config-table config-table-update
xentd: $(XENTD)

# Installs what is missing, builds, then runs xentd in the foreground on
# its defaults, 127.0.0.1:8080 (XENTD_* variables and XENTD_ARGS apply).
run:
	$(Q).ci/install-deps build
	$(Q)$(MAKE) --no-print-directory $(XENTD)
	exec $(XENTD) $(XENTD_ARGS)

install-xentd: $(XENTD)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(XENTD) $(DESTDIR)$(BINDIR)/xentd

# README.md's configuration section is `xentd --help`, verbatim: the stage
# fails when they differ; config-table-update rewrites the section.
CHECK_STAGES += config-table
config-table: $(XENTD)
	$(Q)tests/readme-section check config-table README.md $(BUILD)/results.txt \
	    server/config-section.sh $(XENTD)

config-table-update: $(XENTD)
	$(Q)tests/readme-section write config-table README.md "" \
	    server/config-section.sh $(XENTD)
