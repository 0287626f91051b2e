# Sourced by tests/run.sh and examples/demo.sh: the Debian 12 packages
# libshard needs to build, test and demo, installed when missing (as root),
# and the Node package's koffi from npm. POSIX sh; defines
# install_packages and install_node_modules.

# clang-format (14 on Debian 12, the version .clang-format is checked with)
# and cppcheck: tests/check/format.sh and tests/check/analyze.sh. clang and
# libclang-rt-14-dev (libFuzzer and clang's sanitizer runtimes):
# tests/fuzz/run.sh, which tests/run.sh runs, so the fuzzing never skips.
packages="build-essential meson ninja-build pkg-config libhiredis-dev
libmemcached-dev libcriterion-dev libyaml-dev libevent-dev libuv1-dev
libev-dev redis-server redis-tools redis-sentinel memcached nutcracker clang
libclang-rt-14-dev python3 binutils clang-format cppcheck libjansson-dev
libedit-dev python3-pytest python3-pip cmake"
services="redis-server redis-sentinel memcached nutcracker"

# --- packages ---------------------------------------------------------------
# libedit-dev: shard-cli's prompt. python3-pytest and python3-pip: the
# Python package's and shard-cli's tests. cmake: the find_package test.
# Node.js and npm (the Node package's tests) are asked for by command, not
# by package: a machine may have them from elsewhere (NodeSource's nodejs
# ships npm and conflicts with Debian's npm package).
missing_packages() {
    for p in $packages; do
        s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$s" = "installed" ] || printf '%s ' "$p"
    done
    command -v node >/dev/null 2>&1 || printf 'nodejs '
    command -v npm >/dev/null 2>&1 || printf 'npm '
}

# Installing redis-server, memcached or nutcracker may start their system
# services; those would hold 6379 and 11211 (the port-11211 placement test
# needs it) and outlive the run. Stop any that the install left running.
stop_services() {
    command -v service >/dev/null 2>&1 || return 0
    for s in $services; do
        if service "$s" status >/dev/null 2>&1; then
            echo "stopping the $s service started by the install"
            service "$s" stop || true
        fi
    done
}

install_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "not a Debian system: assuming the build dependencies are there"
        return 0
    fi
    missing=$(missing_packages)
    if [ -z "$missing" ]; then
        echo "all Debian packages present"
        return 0
    fi
    echo "missing Debian packages: $missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root to install them (apt-get), or install them first" >&2
        exit 1
    fi
    apt-get update
    # shellcheck disable=SC2086 # the list is meant to split
    DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends $missing
    stop_services
}


# --- npm ----------------------------------------------------------------------
# The Node package's one dependency, koffi (an FFI with prebuilt binaries
# for each platform, as optional packages), from the npm registry at the
# version and integrity that examples/node/package-lock.json pins; nothing
# is vendored. --ignore-scripts: koffi 3 needs no install script (its
# binary comes in @koromix/koffi-<platform>), and npm 9 (Debian's) would
# otherwise run one that may try to compile.
install_node_modules() { # repository root
    dir=$1/examples/node
    if (cd "$dir" && node -e "require('koffi')" >/dev/null 2>&1); then
        echo "koffi present in $dir/node_modules"
        return 0
    fi
    echo "npm ci in $dir (koffi)"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
}
