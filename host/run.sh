#!/bin/bash
# `make run`: install what is missing, build the run kernel, boot it, show
# the page-state core alive, power off.  `make shell` boots the same guest
# with an interactive shell.
set -euo pipefail
. "$(dirname "$0")/env.sh"

scenario=${1:-run}
"$GPH_ROOT/host/install-deps.sh"
"$GPH_ROOT/host/tree.sh"
"$GPH_ROOT/host/build-kernel.sh" run
"$GPH_ROOT/host/build-guest.sh" run

step "booting the s390x guest (qemu-system-s390x, TCG)"
exec python3 "$GPH_ROOT/host/runner.py" --scenario "$scenario" --verbose \
	--kernel "$GPH_CACHE/build-run/arch/s390/boot/bzImage" \
	--initrd "$GPH_CACHE/guest-run/initramfs.cpio" \
	--disk "$GPH_CACHE/guest-run/disk.img" \
	--timeout 300 --log "$LOGS/run-console.log"
