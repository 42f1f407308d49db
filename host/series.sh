#!/bin/bash
# `make series`: the whole project as a git format-patch series against the
# pristine base, in .cache/series/, checked with checkpatch.pl --strict.
#
#   series.sh          write the series and run checkpatch on it
#   series.sh --build  also build the check kernel at every patch (bisectable)
set -euo pipefail
. "$(dirname "$0")/env.sh"

build_each=
[ "${1:-}" = --build ] && build_each=1

"$GPH_ROOT/host/tree.sh" >/dev/null
wt=$GPH_CACHE/series-tree
out=$GPH_CACHE/series
GIT=(git -C "$wt" -c user.name="GPH developers" -c user.email=gph@localhost
     -c core.excludesFile=/dev/null -c advice.detachedHead=false)

# A worktree of the kernel repository, so the build tree is left alone.
if [ ! -e "$wt/.git" ]; then
	step "creating the series worktree (once)"
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q -f --detach "$wt" pristine
fi
"${GIT[@]}" am --abort >/dev/null 2>&1 || true
"${GIT[@]}" checkout -q -f --detach pristine
"${GIT[@]}" clean -q -f -d -x

step "assembling the series"
while read -r line; do
	case "$line" in
	'' | '#'*) continue ;;
	%overlay*)
		p=$(echo "$line" | sed 's/^%overlay[[:space:]]*//')
		"${GIT[@]}" apply --index "$GPH_ROOT/patches/$p"
		overlay_files | while read -r f; do
			dst=$wt/$(kernel_path "$f")
			mkdir -p "$(dirname "$dst")"
			cp "$GPH_ROOT/$f" "$dst"
			"${GIT[@]}" add -f "$(kernel_path "$f")"
		done
		# The commit takes the patch's author and message.
		info=$(mktemp -d)
		git mailinfo "$info/msg" "$info/patch" < "$GPH_ROOT/patches/$p" > "$info/head"
		author=$(sed -n 's/^Author: //p' "$info/head")
		email=$(sed -n 's/^Email: //p' "$info/head")
		{ sed -n 's/^Subject: //p' "$info/head"; echo; cat "$info/msg"; } > "$info/full"
		"${GIT[@]}" commit -q --author="$author <$email>" -F "$info/full"
		rm -rf "$info"
		;;
	*)
		"${GIT[@]}" am -q "$GPH_ROOT/patches/$line"
		;;
	esac
done < "$GPH_ROOT/patches/series"

rm -rf "$out"
"${GIT[@]}" format-patch -q --no-signature --zero-commit -o "$out" pristine..HEAD
n=$(ls "$out"/*.patch | wc -l)
echo "  $n patches in ${out#"$GPH_ROOT"/}/"

step "checkpatch.pl --strict"
status=0
for p in "$out"/*.patch; do
	if ! (cd "$wt" && ./scripts/checkpatch.pl --strict --quiet --no-summary "$p"); then
		echo "  checkpatch: ${p##*/} has findings"
		status=1
	fi
done
[ $status = 0 ] && echo "  checkpatch --strict: no errors, warnings or checks on $n patches"

if [ -n "$build_each" ]; then
	bout=$GPH_CACHE/build-series
	mkdir -p "$bout" "$LOGS"
	[ -f "$GPH_CACHE/build-check/.config" ] || die "build the check kernel first (make check)"
	i=0
	for c in $("${GIT[@]}" rev-list --reverse pristine..HEAD); do
		i=$((i + 1))
		"${GIT[@]}" checkout -q -f --detach "$c"
		step "building patch $i/$n: $("${GIT[@]}" log -1 --format=%s)"
		# The check config, as far as this patch knows its symbols.
		cp "$GPH_CACHE/build-check/.config" "$bout/.config"
		# shellcheck disable=SC2046
		make -s -C "$wt" O="$bout" $(kmake_args) olddefconfig
		# shellcheck disable=SC2046
		if ! make -C "$wt" O="$bout" $(kmake_args) > "$LOGS/series-build-$i.log" 2>&1; then
			echo "  patch $i does not build; log: $LOGS/series-build-$i.log"
			status=1
		else
			echo "  ok"
		fi
	done
fi
exit $status
