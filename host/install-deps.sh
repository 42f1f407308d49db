#!/bin/bash
# Install everything the build, the guest and the tests need.  Idempotent:
# when everything is present it only checks, which takes a second or two.
set -euo pipefail
. "$(dirname "$0")/env.sh"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

DEBS=(
	bc bison flex cpio kmod rsync xz-utils python3 e2fsprogs
	# checkpatch.pl's SPDX check
	python3-ply python3-git
	libelf-dev libssl-dev
	clang-$LLVM_VERSION lld-$LLVM_VERSION llvm-$LLVM_VERSION
	libclang-$LLVM_VERSION-dev
	qemu-system-misc
	gcc-s390x-linux-gnu libc6-dev-s390x-cross
	"$LINUX_SOURCE_PACKAGE"
)

# The installed version of a package; empty when it is not installed.
installed_version() {
	{ dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } |
		sed -n 's/^install ok installed //p'
}

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return
	step "apt-get update"
	$SUDO apt-get update -q >/dev/null
	apt_updated=1
}

# s390x packages (busybox-static:s390x) come from Debian's multiarch.
if ! dpkg --print-foreign-architectures | grep -qx s390x; then
	step "adding the s390x architecture to dpkg"
	$SUDO dpkg --add-architecture s390x
	apt_updated=
	apt_update
fi

missing=()
for p in "${DEBS[@]}"; do
	[ -n "$(installed_version "$p")" ] || missing+=("$p")
done

want_source="$LINUX_SOURCE_PACKAGE=$LINUX_SOURCE_VERSION"
have_source=$(installed_version "$LINUX_SOURCE_PACKAGE")
if [ -n "$have_source" ] && [ "$have_source" != "$LINUX_SOURCE_VERSION" ]; then
	missing+=("$LINUX_SOURCE_PACKAGE")
fi

if [ ${#missing[@]} -gt 0 ]; then
	apt_update
	if ! apt-cache madison "$LINUX_SOURCE_PACKAGE" | awk '{print $3}' |
			grep -qx -- "$LINUX_SOURCE_VERSION"; then
		echo "error: $want_source is pinned, but apt offers only:" >&2
		apt-cache madison "$LINUX_SOURCE_PACKAGE" | awk '{print "  " $3}' >&2
		echo "Move the pin: set LINUX_SOURCE_VERSION in host/env.sh to one of these." >&2
		exit 1
	fi
	pkgs=()
	for p in "${missing[@]}"; do
		if [ "$p" = "$LINUX_SOURCE_PACKAGE" ]; then
			pkgs+=("$want_source")
		else
			pkgs+=("$p")
		fi
	done
	step "installing Debian packages: ${pkgs[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends --allow-downgrades "${pkgs[@]}" |
		grep -E '^(Setting up|E:)' || true
	for p in "${missing[@]}"; do
		[ -n "$(installed_version "$p")" ] || die "apt-get could not install $p"
	done
fi

# checkpatch.pl runs scripts/spdxcheck.py with the python3 on PATH, which
# need not be Debian's (pyenv, venvs): give that one ply and GitPython.
if ! python3 -c 'import ply, git' 2>/dev/null; then
	step "installing ply and GitPython for $(command -v python3)"
	python3 -m pip install --quiet --root-user-action=ignore ply GitPython
	python3 -c 'import ply, git' || die "python3 cannot import ply and git"
fi

# The guest's busybox: Debian's static s390x build, unpacked into the cache
# rather than installed, so that the host's own /bin stays untouched.
busybox=$GPH_CACHE/busybox/bin/busybox
if [ ! -x "$busybox" ]; then
	apt_update
	step "fetching busybox-static:s390x"
	tmp=$(mktemp -d)
	chmod 777 "$tmp" # apt downloads as the _apt user
	(cd "$tmp" && apt-get download -q busybox-static:s390x >/dev/null)
	rm -rf "$GPH_CACHE/busybox"
	mkdir -p "$GPH_CACHE/busybox"
	dpkg-deb -x "$tmp"/busybox-static_*_s390x.deb "$GPH_CACHE/busybox"
	rm -rf "$tmp"
	[ -x "$busybox" ] || die "busybox-static:s390x has no /bin/busybox"
fi

# Rust: the toolchain pinned by rust-toolchain.toml, with rust-src.
command -v rustup >/dev/null ||
	die "rustup is missing; install it (https://rustup.rs), then run make again"
if ! rustup run "$RUST_TOOLCHAIN" rustc --version >/dev/null 2>&1 ||
		[ ! -d "$(rustup run "$RUST_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
	step "installing Rust $RUST_TOOLCHAIN with rust-src"
	rustup toolchain install "$RUST_TOOLCHAIN" --profile minimal \
		--component rust-src,rustfmt,clippy
fi
for c in rustfmt clippy-driver; do
	rustup run "$RUST_TOOLCHAIN" "$c" --version >/dev/null 2>&1 ||
		rustup component add --toolchain "$RUST_TOOLCHAIN" rustfmt clippy
done

if [ "$(bindgen --version 2>/dev/null)" != "bindgen $BINDGEN_VERSION" ]; then
	step "building bindgen-cli $BINDGEN_VERSION (a few minutes, once)"
	cargo install --locked --quiet --force bindgen-cli --version "$BINDGEN_VERSION"
fi
