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
export PATH=/usr/lib/llvm-$LLVM_VERSION/bin:$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin

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

# The patch files of patches/series, in order.  A line that starts with
# white space names a project file that the patch above it introduces.
series_patches() {
	sed -n -e 's/[[:space:]]*#.*$//' -e '/^[^[:space:]]/p' \
		"$GPH_ROOT/patches/series"
}

# "PATCH FILE" for every project file patches/series assigns to a patch.
series_assignments() {
	awk '{ sub(/[[:space:]]*#.*$/, "") }
	     /^[^[:space:]]/ { patch = $1; next }
	     NF { print patch, $1 }' "$GPH_ROOT/patches/series"
}

# The project's files that land in the kernel tree (paths in the repo).
overlay_files() {
	(cd "$GPH_ROOT" && git ls-files --cached --others --exclude-standard -- \
		Kconfig Kbuild arch Documentation include lib mm rust tools)
}

# Where a project file lands in the kernel tree.  The one rule: at the same
# path, except that the top-level Kconfig and Kbuild land in gph/.
kernel_path() {
	case "$1" in
	Kconfig | Kbuild) echo "gph/$1" ;;
	*) echo "$1" ;;
	esac
}
