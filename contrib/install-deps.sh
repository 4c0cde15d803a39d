#!/bin/sh
# install-deps.sh - install the Debian packages apisecfs builds, tests and
# benchmarks with (debhelper and lintian: the package test, tests/pkg);
# only what is missing, so it is quick the second time.
set -eu
PKGS="build-essential meson ninja-build pkg-config libfuse3-dev fuse3
libcurl4-openssl-dev libcjson-dev uthash-dev python3 python3-pytest
python3-docutils openssl jq rsync curl man-db clang libclang-rt-14-dev
clang-format
valgrind debhelper dpkg-dev lintian"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
