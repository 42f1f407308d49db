#!/bin/bash
# QEMU's TCG ESSA (CMMA, host/qemu/patches) under a bare-metal s390x program,
# host/qemu/tests/essa-test.c: build it into .cache/qemu/essa-test/ when its
# sources changed, then boot it three times with the project's QEMU: with
# cmm off (ESSA is an invalid opcode), with cmm on, and with cmm and cmmnt
# on; the last two with a host that drops every droppable page every 5 ms.
# A fourth boot, with 65 MiB and a host that keeps 64 MiB resident and ages
# its pages every 50 ms, checks that the host drops cold pages first.
# The program reports which of the three it found in a "essa-test: cmm=..."
# line, and the fourth in an "essa-test: aging" line, compared here.  Fails
# on any "not ok", on a wrong or missing line, on a missing done line, and
# on a timeout.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

QEMU=${QEMU:-$GPH_CACHE/qemu/build/qemu-system-s390x}
SRC=$GPH_ROOT/host/qemu/tests
OUT=$GPH_CACHE/qemu/essa-test
ELF=$OUT/essa-test.elf
TIMEOUT=${ESSA_TEST_TIMEOUT:-120}
# The machine loads s390-ccw.img even with -kernel (it then starts the
# kernel); the build in .cache looks for it under /usr/local, Debian's
# qemu-system-data has it here.
FIRMWARE_DIR=/usr/share/qemu

[ -x "$QEMU" ] || die "no $QEMU; host/qemu/build.sh builds it"
[ -f "$FIRMWARE_DIR/s390-ccw.img" ] ||
	die "no $FIRMWARE_DIR/s390-ccw.img; run make deps"

build() {
	local cflags=(--target=s390x-linux-gnu -march=z13 -ffreestanding
		-nostdlib -fno-pic -static -O2 -Wall -Wextra -Werror
		-fno-delete-null-pointer-checks -fno-asynchronous-unwind-tables
		-fno-unwind-tables)
	local f stale=false

	[ -f "$ELF" ] || stale=true
	for f in "$SRC"/essa-test.c "$SRC"/essa-start.S "$SRC"/essa-test.h \
		"$SRC"/essa-test.lds "${BASH_SOURCE[0]}"; do
		if [ "$f" -nt "$ELF" ]; then
			stale=true
		fi
	done
	$stale || return 0
	step "building $ELF"
	mkdir -p "$OUT"
	clang "${cflags[@]}" -c "$SRC/essa-start.S" -o "$OUT/essa-start.o"
	clang "${cflags[@]}" -c "$SRC/essa-test.c" -o "$OUT/essa-test.o"
	ld.lld -static -nostdlib -T "$SRC/essa-test.lds" \
		"$OUT/essa-start.o" "$OUT/essa-test.o" -o "$ELF.tmp"
	mv "$ELF.tmp" "$ELF"
}

failures=0
summary=
boot() { # [MEMORY=MiB] boot NAME EXPECTED-LINE CPU [QEMU ARGS...]
	local name=$1 expect=$2 cpu=$3 pid rc=0 verdict=ok mem=${MEMORY:-64}
	local log=$OUT/boot-$name.log
	shift 3
	step "essa-test, $name: -cpu $cpu $*"
	# Emptied here, not by the background job's redirection: the loop
	# below must not find the done line of an earlier run.
	: > "$log"
	timeout "$TIMEOUT" "$QEMU" -M s390-ccw-virtio -accel tcg -smp 2 \
		-m "$mem" -nographic -no-reboot -L "$FIRMWARE_DIR" -cpu "$cpu" "$@" \
		-kernel "$ELF" < /dev/null >> "$log" 2>&1 &
	pid=$!
	# QEMU quits once both CPUs wait; should it not, stop it after the
	# done line rather than at the timeout.
	while kill -0 "$pid" 2> /dev/null; do
		if grep -q '^essa-test: done' "$log"; then
			sleep 2
			kill "$pid" 2> /dev/null || true
			break
		fi
		sleep 1
	done
	wait "$pid" || rc=$?
	# The console may end lines with \r\n.
	sed -i 's/\r$//' "$log"
	sed 's/^/  /' "$log"

	if [ "$rc" -eq 124 ]; then
		verdict="timed out after ${TIMEOUT}s"
	elif ! grep -qx "essa-test: $expect" "$log"; then
		verdict="no line 'essa-test: $expect'"
	elif grep -q '^not ok' "$log"; then
		verdict="$(grep -c '^not ok' "$log") not ok"
	elif ! grep -qE '^essa-test: done, [0-9]+ passed, 0 failed$' "$log"; then
		verdict="no done line"
	fi
	if [ "$verdict" != ok ]; then
		failures=$((failures + 1))
		verdict="FAILED: $verdict (log: $log)"
	fi
	summary+=$(printf '\n  %-8s %s' "$name" "$verdict")
}

build
cmma=(-global s390-cmma.target-mib=0 -global s390-cmma.period-ms=5)
boot cmm-off "cmm=off" max
boot cmm "cmm=on cmmnt=0" max,cmm=on "${cmma[@]}"
boot cmmnt "cmm=on cmmnt=1" max,cmm=on,cmmnt=on "${cmma[@]}"
MEMORY=65 boot aging "aging" max,cmm=on -global s390-cmma.target-mib=64 \
	-global s390-cmma.period-ms=5 -global s390-cmma.age-ms=50

step "essa-test: four boots"
echo "$summary"
[ "$failures" -eq 0 ]
