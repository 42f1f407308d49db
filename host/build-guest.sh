#!/bin/bash
# Build the guest's userspace for a kernel build: the kselftests (static,
# s390x), an initramfs with Debian's busybox and the project's /init, and a
# fresh ext4 disk image.
set -euo pipefail
. "$(dirname "$0")/env.sh"

kind=${1:?usage: build-guest.sh run|check}
out=$GPH_CACHE/build-$kind
guest=$GPH_CACHE/guest-$kind
root=$guest/root
mkdir -p "$LOGS"

step "building the kselftests for s390x"
# shellcheck disable=SC2046
make -s -C "$KSRC" O="$out" $(kmake_args) headers
rm -rf "$guest/kselftest"
# The selftests are userspace: gcc for s390x, linked statically so that the
# busybox initramfs needs no libc.
if ! LDFLAGS=-static make -C "$KSRC/tools/testing/selftests" \
		ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- O="$out" \
		TARGETS=page_states INSTALL_PATH="$guest/kselftest" install \
		> "$LOGS/kselftest-$kind.log" 2>&1; then
	tail -n 30 "$LOGS/kselftest-$kind.log"
	die "the kselftests did not build; log: $LOGS/kselftest-$kind.log"
fi

step "assembling the initramfs"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,usr/bin,usr/sbin}
cp "$GPH_CACHE/busybox/bin/busybox" "$root/bin/busybox"
cp "$GPH_ROOT/host/guest/init" "$root/init"
cp -r "$guest/kselftest" "$root/selftests"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$guest/initramfs.cpio"
echo "  $(du -h "$guest/initramfs.cpio" | cut -f1) initramfs: ${guest#"$GPH_ROOT"/}/initramfs.cpio"

step "making the guest's disk"
rm -f "$guest/disk.img"
mkfs.ext4 -q -F -L gph "$guest/disk.img" 1G
