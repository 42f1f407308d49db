#!/bin/bash
# Build one of the guest kernels, out of tree, in .cache/build-KIND.
#   KIND=run:   configs/base.config + configs/run.config
#   KIND=check: configs/base.config + configs/check.config
# The configuration is regenerated only when a fragment changed; the build
# itself is always incremental.
set -euo pipefail
. "$(dirname "$0")/env.sh"

kind=${1:?usage: build-kernel.sh run|check}
case "$kind" in
run) fragments=("$GPH_ROOT/configs/base.config" "$GPH_ROOT/configs/run.config") ;;
check) fragments=("$GPH_ROOT/configs/base.config" "$GPH_ROOT/configs/check.config") ;;
*) die "unknown kernel kind '$kind' (run or check)" ;;
esac

out=$GPH_CACHE/build-$kind
mkdir -p "$out" "$LOGS"
log=$LOGS/build-$kind.log

sum=$(cat "${fragments[@]}" "$KSRC/.gph-base" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/.gph-config" 2>/dev/null)" != "$sum" ] || [ ! -f "$out/.config" ]; then
	step "configuring the $kind kernel (tinyconfig + ${fragments[*]##*/})"
	# shellcheck disable=SC2046
	make -s -C "$KSRC" O="$out" $(kmake_args) tinyconfig >/dev/null
	"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"${fragments[@]}" >/dev/null
	# shellcheck disable=SC2046
	make -s -C "$KSRC" O="$out" $(kmake_args) olddefconfig
	# A symbol that silently lost its value (a missing dependency, a
	# typo) would make the guest quietly test something else.
	bad=0
	while read -r line; do
		sym=${line%%=*}
		if [ "${line#*=}" = n ]; then
			grep -q "^$sym=" "$out/.config" && { echo "  $sym is set, want n"; bad=1; }
		else
			grep -qx "$line" "$out/.config" || { echo "  want $line, have: $(grep "^$sym=" "$out/.config" || echo unset)"; bad=1; }
		fi
	done < <(grep -h '^CONFIG_' "${fragments[@]}")
	[ $bad = 0 ] || die "the $kind config does not match its fragments (see above)"
	echo "$sum" > "$out/.gph-config"
fi

step "building the $kind kernel (log: ${log#"$GPH_ROOT"/})"
start=$(date +%s)
# shellcheck disable=SC2046
make -C "$KSRC" O="$out" $(kmake_args) > "$log" 2>&1 &
pid=$!
# Progress: one line every 20 seconds with the step kbuild is on.
while kill -0 $pid 2>/dev/null; do
	for _ in $(seq 20); do
		kill -0 $pid 2>/dev/null || break
		sleep 1
	done
	kill -0 $pid 2>/dev/null || break
	last=$(grep -E '^  [A-Z]' "$log" | tail -n 1 | sed 's/^ *//')
	printf '  %4ss  %s\n' $(($(date +%s) - start)) "${last:-starting}"
done
if ! wait $pid; then
	grep -E -B2 -A10 '(error|Error)[: []' "$log" | tail -n 60
	die "the $kind kernel did not build; full log: $log"
fi
echo "  built in $(($(date +%s) - start))s: ${out#"$GPH_ROOT"/}/arch/s390/boot/bzImage"
