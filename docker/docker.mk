# docker: build rules and test stages (see the root Makefile).
#
#   docker-check   the container image, a running container (integration
#                  tests against it with XENT_URL), the compose stack with 3
#                  replicas behind nginx, the Kubernetes manifests. Starts a
#                  private Docker engine when none answers (docker/engine.sh)
#                  and leaves nothing running. Counts go to
#                  $(BUILD)/docker-results.txt; the last line is
#                  "docker-check: N passed, M failed".
#   docker-image   only build the image xent:$(VERSION) (and xent:latest)
#
# Not part of CHECK_STAGES: .ci/run calls it after `make check`.

.PHONY: docker-check docker-image
docker-check:
	$(Q).ci/install-deps docker check
	$(Q)BUILD=$(BUILD) MAKE="$(MAKE)" PYTHON=$(PYTHON) VERSION=$(VERSION) \
	    docker/check.sh

docker-image:
	$(Q).ci/install-deps docker
	$(Q)docker/base-image.sh debian:bookworm-slim
	$(Q)docker build --force-rm -f docker/Dockerfile --build-arg VERSION=$(VERSION) \
	    -t xent:$(VERSION) -t xent:latest .
