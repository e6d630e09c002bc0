# tests/server: unit tests of the daemon's modules (see the root Makefile).
