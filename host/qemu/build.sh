#!/bin/bash
# Build qemu-system-s390x with the project's CMMA patches (host/qemu/patches)
# into .cache/qemu/.  The source is Debian's source package of the very QEMU
# that install-deps.sh installs, fetched with `apt-get source` through a
# deb-src entry that lives in .cache/qemu/apt: the machine's own apt
# configuration is not touched.  Incremental: a patched tree is made in a
# scratch directory and only files whose contents changed are copied into
# the build's source, so ninja rebuilds only what a patch touched.
#
# Prints the path of the binary on its last line.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

QDIR=$GPH_CACHE/qemu
mkdir -p "$LOGS"
APTDIR=$QDIR/apt
SRC=$QDIR/src          # Debian's source with the project's patches
BUILD=$QDIR/build
PATCHES=$GPH_ROOT/host/qemu/patches
BIN=$BUILD/qemu-system-s390x

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# The binary package's version without a binNMU suffix is the source's.
want=$(dpkg-query -W -f='${Version}' qemu-system-misc 2>/dev/null || true)
[ -n "$want" ] || die "qemu-system-misc is not installed; run make deps"
want=${want%+b[0-9]*}

build_debs=(dpkg-dev ninja-build meson pkg-config libglib2.0-dev
	libpixman-1-dev zlib1g-dev python3-venv)
missing=()
for p in "${build_debs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing QEMU's build dependencies: ${missing[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" | grep -E '^(Setting up|E:)' || true
fi

# Debian's source package, once per version.
orig=$QDIR/debian-$want
if [ ! -f "$orig/.complete" ]; then
	step "fetching Debian's QEMU source package $want (apt-get source)"
	rm -rf "$APTDIR" "$orig"
	mkdir -p "$APTDIR/sources" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/dl"
	# deb-src entries for the registries the machine installs from.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		grep -q '^Types:.*\bdeb\b' "$f" || continue
		sed 's/^Types:.*/Types: deb-src/' "$f" > "$APTDIR/sources/$(basename "$f")"
	done
	if [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list \
			> "$APTDIR/sources/main.list"
	fi
	chmod -R a+rwX "$APTDIR"
	apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$APTDIR/sources"
		-o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	apt-get "${apt_opts[@]}" update -q >/dev/null
	(cd "$APTDIR/dl" && apt-get "${apt_opts[@]}" source --download-only -q "qemu=$want" |
		grep -E '^(Get|E:)' || true)
	dsc=$(ls "$APTDIR"/dl/qemu_*.dsc 2>/dev/null | head -1)
	[ -n "$dsc" ] || die "apt-get source could not fetch qemu=$want"
	step "unpacking $(basename "$dsc") (with Debian's patches)"
	dpkg-source --no-check -x "$dsc" "$orig.tmp" >/dev/null
	mv "$orig.tmp" "$orig"
	touch "$orig/.complete"
	# dpkg-source leaves a copy of the upstream tarball beside the tree.
	rm -rf "$APTDIR/dl" "$QDIR"/qemu_*.orig.tar.*
fi

# The patched tree, rewritten only where contents differ.
step "applying host/qemu/patches ($(grep -cv '^\s*\(#\|$\)' "$PATCHES/series") patches)"
scratch=$QDIR/scratch
rm -rf "$scratch"
cp -a "$orig" "$scratch"
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	patch -d "$scratch" -p1 -s --no-backup-if-mismatch < "$PATCHES/$p" ||
		die "host/qemu/patches/$p does not apply to Debian's QEMU $want"
	echo "  $p"
done < "$PATCHES/series"
mkdir -p "$SRC"
rsync -rlc --delete --exclude=/.complete "$scratch/" "$SRC/"
rm -rf "$scratch"

if [ ! -f "$BUILD/build.ninja" ]; then
	step "configuring QEMU (s390x-softmmu only)"
	rm -rf "$BUILD"
	mkdir -p "$BUILD"
	(cd "$BUILD" && "$SRC/configure" --target-list=s390x-softmmu \
		--without-default-features --disable-docs --disable-werror \
		--with-git-submodules=ignore --meson=meson \
		--enable-tcg >"$LOGS/qemu-configure.log" 2>&1) ||
		{ tail -20 "$LOGS/qemu-configure.log"; die "QEMU's configure failed; see $LOGS/qemu-configure.log"; }
fi
step "building qemu-system-s390x (ninja; a first build takes about 5 minutes on 2 cores)"
ninja -C "$BUILD" qemu-system-s390x | awk '/^\[[0-9]+\/[0-9]+\]/ { n++; if (n % 100 == 0) print "  " $1; next } { print }'
[ "${PIPESTATUS[0]}" -eq 0 ] || die "building QEMU failed"
echo "$BIN"
