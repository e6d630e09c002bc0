# tests/unit: build rules and test stages (see the root Makefile).
