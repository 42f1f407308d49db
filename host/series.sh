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
mapfile -t patches < <(series_patches)
# Every project file is introduced by exactly one patch of the series.
declare -A intro
while read -r p f; do
	[ -n "${intro[$f]:-}" ] && die "patches/series: $f is assigned to ${intro[$f]} and to $p"
	[ -f "$GPH_ROOT/$f" ] || die "patches/series: $p introduces $f, which the project does not have"
	intro[$f]=$p
done < <(series_assignments)
missing=$(overlay_files | while read -r f; do [ -n "${intro[$f]:-}" ] || echo "  $f"; done)
[ -z "$missing" ] || die "patches/series assigns these project files to no patch:
$missing"

# A project file enters the series as it was before the later patches
# that change it: its final content with their changes taken back, last
# patch first.  A patch can only change files introduced before it.
initial=$(mktemp -d)
trap 'rm -rf "$initial"' EXIT
includes=()
while read -r f; do
	mkdir -p "$initial/$(dirname "$(kernel_path "$f")")"
	cp "$GPH_ROOT/$f" "$initial/$(kernel_path "$f")"
	includes+=("--include=$(kernel_path "$f")")
done < <(overlay_files)
declare -A snapshot
for ((i = ${#patches[@]} - 1; i >= 0; i--)); do
	p=${patches[$i]}
	for f in "${!intro[@]}"; do
		[ "${intro[$f]}" = "$p" ] || continue
		snapshot[$f]=$(mktemp -p "$initial" .snapshot.XXXXXX)
		cp "$initial/$(kernel_path "$f")" "${snapshot[$f]}"
	done
	(cd "$initial" && git apply -R "${includes[@]}" "$GPH_ROOT/patches/$p") ||
		die "patches/$p does not apply backwards to the project's files"
done

for p in "${patches[@]}"; do
	# The patch's changes, then the files it introduces, in one commit
	# with the patch's author, date and message.
	info=$(mktemp -d -p "$initial")
	git mailinfo -k "$info/msg" "$info/diff" < "$GPH_ROOT/patches/$p" > "$info/head"
	if [ -s "$info/diff" ]; then
		"${GIT[@]}" apply --index "$info/diff" ||
			die "patches/$p does not apply in the series"
	fi
	for f in "${!intro[@]}"; do
		[ "${intro[$f]}" = "$p" ] || continue
		dst=$wt/$(kernel_path "$f")
		mkdir -p "$(dirname "$dst")"
		cp "${snapshot[$f]}" "$dst"
		"${GIT[@]}" add -f "$(kernel_path "$f")"
	done
	subject=$(sed -n 's/^Subject: //p' "$info/head" | sed 's/^\[PATCH[^]]*\] *//')
	{ echo "$subject"; echo; cat "$info/msg"; } > "$info/full"
	"${GIT[@]}" commit -q --allow-empty \
		--author="$(sed -n 's/^Author: //p' "$info/head") <$(sed -n 's/^Email: //p' "$info/head")>" \
		--date="$(sed -n 's/^Date: //p' "$info/head")" -F "$info/full"
done

# The series must rebuild the project's tree exactly.
while read -r f; do
	cp "$GPH_ROOT/$f" "$wt/$(kernel_path "$f")"
done < <(overlay_files)
if [ -n "$("${GIT[@]}" status --porcelain)" ]; then
	"${GIT[@]}" status --short | head -20
	die "the series does not reproduce the project's files (above)"
fi
if ! "${GIT[@]}" diff --quiet HEAD "$(git -C "$KSRC" rev-parse HEAD)" -- . \
	$(overlay_files | while read -r f; do printf ":(exclude)%s " "$(kernel_path "$f")"; done); then
	die "the series does not reproduce the kernel tree's patched files"
fi

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
