#!/bin/sh
# docker/base-image.sh [IMAGE]: make sure the base image debian:bookworm-slim
# exists in the Docker engine that DOCKER_HOST (or the default socket) names.
#
#   1. already there (docker image inspect): nothing to do;
#   2. a registry answers: docker pull, bounded by XENT_PULL_TIMEOUT seconds
#      (default 20);
#   3. otherwise: debootstrap --variant=minbase bookworm from the Debian
#      mirror this machine's apt uses, trimmed like the official slim image
#      (no docs, man pages or locales), then docker import.
#
# Needs root for debootstrap (sudo is used when not root).
set -eu

image=${1:-debian:bookworm-slim}
suite=bookworm

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base-image: $image is present"
  exit 0
fi

if timeout "${XENT_PULL_TIMEOUT:-20}" docker pull -q "$image" >/dev/null 2>&1; then
  echo "base-image: pulled $image"
  exit 0
fi
echo "base-image: no registry answered; building $image with debootstrap"

# The first Debian archive URI apt is configured with (deb822 .sources files
# or one-line .list files); security and nodesource repositories are skipped.
mirror=${XENT_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list 2>/dev/null \
    | sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
    | tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n 1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=$(printf '%s' "$mirror" | sed 's|/debian$|/debian-security|')
echo "base-image: mirror $mirror"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
command -v debootstrap >/dev/null || {
  echo "base-image: debootstrap is missing (.ci/install-deps docker)" >&2
  exit 1
}

rootfs=$(mktemp -d /var/tmp/xent-rootfs.XXXXXX)
trap '$sudo rm -rf "$rootfs"' EXIT INT TERM

start=$(date +%s)
if ! $sudo debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" \
    > "$rootfs.log" 2>&1; then
  tail -n 20 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  echo "base-image: debootstrap failed" >&2
  exit 1
fi
rm -f "$rootfs.log"

# What the official slim image does: keep apt lean and never install docs.
$sudo sh -c "
  printf '%s\n' \
    'deb $mirror $suite main' \
    'deb $mirror $suite-updates main' \
    'deb $security $suite-security main' > '$rootfs/etc/apt/sources.list'
  printf '%s\n' \
    'path-exclude /usr/share/doc/*' \
    'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' \
    'path-exclude /usr/share/lintian/*' > '$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim'
  printf '%s\n' 'APT::Install-Recommends \"false\";' \
    'APT::Install-Suggests \"false\";' > '$rootfs/etc/apt/apt.conf.d/docker-no-recommends'
  printf '%s\n' 'Acquire::Languages \"none\";' > '$rootfs/etc/apt/apt.conf.d/docker-no-languages'
  find '$rootfs/usr/share/doc' -mindepth 2 ! -name copyright ! -type d -delete
  find '$rootfs/usr/share/doc' -mindepth 1 -type d -empty -delete
  rm -rf '$rootfs/usr/share/man/'* '$rootfs/usr/share/info/'* \
    '$rootfs/usr/share/locale/'* '$rootfs/var/lib/apt/lists/'* \
    '$rootfs/var/cache/apt/'*.bin '$rootfs/var/cache/apt/archives/'*.deb \
    '$rootfs/var/log/'*.log '$rootfs/tmp/'* '$rootfs/etc/hostname'
  : > '$rootfs/etc/resolv.conf'
"

$sudo tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "debootstrap --variant=minbase $suite $mirror" - "$image" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$image")
echo "base-image: built $image in $(( $(date +%s) - start )) s, $size bytes"
