#!/bin/bash
# `make check`: every test.  Host-side checks first (among them the ESSA
# test program on QEMU with CMMA, host/qemu), then the check kernel (KUnit,
# Rust doctests, lockdep, DEBUG_VM, KFENCE, page poisoning, hung-task
# detection, fault injection) boots four times: with page_states=off,
# unused and volatile on Debian's QEMU, whose TCG has no ESSA (the host is
# emulated), and in the "essa" mode on host/qemu's QEMU with cmm=on, whose
# host drops pages on its own.  Each boot runs KUnit at boot and, from its
# /init, the kselftests that host/expected-suites declares for its mode;
# the runner fails a boot when a declared suite is missing or short, as
# when a test fails.  The last line totals the host checks and the boots.
set -euo pipefail
. "$(dirname "$0")/env.sh"

start=$(date +%s)
"$GPH_ROOT/host/install-deps.sh"
"$GPH_ROOT/host/tree.sh"
qemu_cmma=$("$GPH_ROOT/host/qemu/build.sh" | tee /dev/stderr | tail -n 1)

mkdir -p "$LOGS"
host_passed=0
host_failed=0
record() { # record NAME COMMAND...: one host check
	local name=$1
	shift
	if "$@" > "$LOGS/host-$name.log" 2>&1; then
		host_passed=$((host_passed + 1))
		echo "  ok      $name"
	else
		host_failed=$((host_failed + 1))
		echo "  FAILED  $name (log: $LOGS/host-$name.log)"
		tail -n 20 "$LOGS/host-$name.log" | sed 's/^/    /'
	fi
}

step "host-side checks"
record runner-unit-tests python3 "$GPH_ROOT/host/test_runner.py"
record rustfmt sh -c "cd '$GPH_ROOT' && git ls-files --cached --others --exclude-standard '*.rs' | xargs rustfmt --check --edition 2021 --config-path '$KSRC/.rustfmt.toml'"
record series-checkpatch "$GPH_ROOT/host/series.sh"
record qemu-essa-test "$GPH_ROOT/host/qemu/test-essa.sh"

"$GPH_ROOT/host/build-kernel.sh" check
"$GPH_ROOT/host/build-guest.sh" check

guest=$GPH_CACHE/guest-check
summary="  host       $host_passed passed, $host_failed failed"
total_passed=$host_passed
total_failed=$host_failed
total_skipped=0
boot() { # boot MODE TIMEOUT [RUNNER ARGS]: the check kernel in MODE
	local mode=$1 timeout=$2 passed failed skipped
	shift 2
	step "check boot: $mode $* (KUnit at boot, then the kselftests)"
	# Every boot starts from the fresh disk build-guest.sh made.
	cp --sparse=always "$guest/disk.img" "$guest/disk-boot.img"
	echo "0 1 0" > "$LOGS/check-$mode.summary" # if the runner dies
	python3 "$GPH_ROOT/host/runner.py" --scenario check --mode "$mode" \
		--expected "$GPH_ROOT/host/expected-suites" \
		--kernel "$GPH_CACHE/build-check/arch/s390/boot/bzImage" \
		--initrd "$guest/initramfs.cpio" --disk "$guest/disk-boot.img" \
		--timeout "$timeout" "$@" \
		--log "$LOGS/check-console-$mode.log" \
		--summary "$LOGS/check-$mode.summary" || true
	read -r passed failed skipped < "$LOGS/check-$mode.summary"
	summary+=$(printf '\n  %-10s %s passed, %s failed, %s skipped' \
		"$mode" "$passed" "$failed" "$skipped")
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	total_skipped=$((total_skipped + skipped))
}
# Timeouts, seconds, about twice what each boot takes alone under TCG on
# two cores: off and unused about two minutes, volatile about 22 (eight
# of them zswap_compaction, the only boot that runs it), essa about 15.  The whole of make check must stay within CI's 90 minutes,
# builds included; each boot's slowest cases are printed to keep it so.
boot off 600 --append page_poison=1
boot unused 600 --append page_poison=1
boot volatile 2400 --append page_poison=1
# No page poisoning: the CMMA host drops unused pages, as z/VM does, so a
# free page's poison is gone when it is allocated again.  init_on_free=1
# instead: the allocator writes every page it frees, dropped ones
# included, before it tells the host (see filemap_unaccount_folio()).
boot essa 2000 --qemu "$qemu_cmma" --append init_on_free=1

step "make check: host checks and four boots"
echo "$summary"
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped" \
	"in $(($(date +%s) - start))s"
[ "$total_failed" -eq 0 ]
