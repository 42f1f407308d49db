# shellcheck shell=bash
# Pins and paths shared by every host script.  Source it, do not run it.

# The base kernel: Debian's linux-source-6.12 at this exact version.  To move
# the pin, change LINUX_SOURCE_VERSION to a version `apt-cache madison
# linux-source-6.12` lists, then run `make check`.
LINUX_SOURCE_PACKAGE=linux-source-6.12
LINUX_SOURCE_VERSION=6.12.117-1~deb12u1
LINUX_SOURCE_TARBALL=/usr/src/linux-source-6.12.tar.xz

BINDGEN_VERSION=0.69.5
LLVM_VERSION=19

GPH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GPH_CACHE=${GPH_CACHE:-$GPH_ROOT/.cache}
KSRC=$GPH_CACHE/linux
LOGS=$GPH_CACHE/logs

RUST_TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$GPH_ROOT/rust-toolchain.toml")
export RUSTUP_TOOLCHAIN=$RUST_TOOLCHAIN
export PATH=/usr/lib/llvm-$LLVM_VERSION/bin:$HOME/.cargo/bin:$PATH

# Arguments for every make invocation on the kernel tree.
kmake_args() {
	echo ARCH=s390 LLVM=1 -j"$(($(nproc) + 1))"
}

step() {
	printf '\n==> %s\n' "$*"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
