#!/bin/bash
# `make run`: install what is missing, build the run kernel, and show the
# point of GPH: the guest reads files and goes idle, the host applies
# pressure, once with free page reporting alone and once with GPH; QEMU's
# RSS before and after, the re-read time, and a plot of RSS over time.
# `make bench`: the same boots, measured for P1-P3 (host/demo.py).
# `make bench-hotpath`: P2 alone, one short boot per page_states= mode.
# `make bench-zpool`: P4 alone, the zswap allocators in one boot.
# `make bench-compare`: GPH against what users do instead, a boot each.
# `make shell`: the run guest with an interactive shell.
set -euo pipefail
. "$(dirname "$0")/env.sh"

what=${1:-run}
"$GPH_ROOT/host/install-deps.sh"
"$GPH_ROOT/host/tree.sh"
"$GPH_ROOT/host/build-kernel.sh" run
"$GPH_ROOT/host/build-guest.sh" run
# QEMU with CMMA (host/qemu): the ESSA host's boots.
qemu_cmma=$("$GPH_ROOT/host/qemu/build.sh" | tee /dev/stderr | tail -n 1)

kernel=$GPH_CACHE/build-run/arch/s390/boot/bzImage
initrd=$GPH_CACHE/guest-run/initramfs.cpio
disk=$GPH_CACHE/guest-run/disk.img
if [ "$what" = shell ]; then
	step "booting the s390x guest (qemu-system-s390x, TCG)"
	exec python3 "$GPH_ROOT/host/runner.py" --scenario shell \
		--kernel "$kernel" --initrd "$initrd" --disk "$disk" \
		--append page_states=volatile
fi
step "booting the s390x guest once per mode (qemu-system-s390x, TCG): $what"
exec python3 "$GPH_ROOT/host/demo.py" "$what" \
	--kernel "$kernel" --initrd "$initrd" --disk "$disk" --qemu-cmma "$qemu_cmma"
