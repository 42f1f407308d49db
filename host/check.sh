#!/bin/bash
# `make check`: every test.  Host-side checks first, then the check kernel
# (KUnit, Rust doctests, lockdep, DEBUG_VM, fault injection) boots and runs
# KUnit at boot and the kselftests from its /init.
set -euo pipefail
. "$(dirname "$0")/env.sh"

start=$(date +%s)
"$GPH_ROOT/host/install-deps.sh"
"$GPH_ROOT/host/tree.sh"

mkdir -p "$LOGS"
results=$LOGS/host-results.tap
: > "$results"
checks=0
record() { # record NAME COMMAND...: one TAP line per host check
	local name=$1
	shift
	checks=$((checks + 1))
	if "$@" > "$LOGS/host-$name.log" 2>&1; then
		echo "ok $checks host: $name" >> "$results"
		echo "  ok      $name"
	else
		echo "not ok $checks host: $name" >> "$results"
		echo "  FAILED  $name (log: $LOGS/host-$name.log)"
		tail -n 20 "$LOGS/host-$name.log" | sed 's/^/    /'
	fi
}

step "host-side checks"
record runner-unit-tests python3 "$GPH_ROOT/host/test_runner.py"
record rustfmt sh -c "cd '$GPH_ROOT' && git ls-files --cached --others --exclude-standard '*.rs' | xargs rustfmt --check --edition 2021 --config-path '$KSRC/.rustfmt.toml'"
record series-checkpatch "$GPH_ROOT/host/series.sh"

"$GPH_ROOT/host/build-kernel.sh" check
"$GPH_ROOT/host/build-guest.sh" check

step "booting the check kernel (KUnit at boot, then the kselftests)"
set +e
python3 "$GPH_ROOT/host/runner.py" --scenario check \
	--kernel "$GPH_CACHE/build-check/arch/s390/boot/bzImage" \
	--initrd "$GPH_CACHE/guest-check/initramfs.cpio" \
	--disk "$GPH_CACHE/guest-check/disk.img" \
	--append page_states=volatile \
	--timeout 1200 --log "$LOGS/check-console.log" \
	--host-results "$results"
rc=$?
set -e
echo "make check: $(($(date +%s) - start))s"
exit $rc
