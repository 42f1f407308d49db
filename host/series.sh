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
	grep -q '^diff --git ' "$GPH_ROOT/patches/$p" || continue
	(cd "$initial" && git apply -R "${includes[@]}" "$GPH_ROOT/patches/$p") ||
		die "patches/$p does not apply backwards to the project's files"
done

for p in "${patches[@]}"; do
	# The patch's changes, then the files it introduces, in one commit
	# with the patch's author, date and message.
	info=$(mktemp -d -p "$initial")
	git mailinfo -k "$info/msg" "$info/diff" < "$GPH_ROOT/patches/$p" > "$info/head"
	if grep -q "^diff --git " "$info/diff"; then
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

cover=$out/0000-cover-letter.patch

# The cover letter's subject and blurb come from patches/cover-letter: its
# first line is the subject, and the text after the blank line below it
# replaces format-patch's *** BLURB HERE ***, above the shortlog and the
# diffstat that format-patch writes.
fill_cover_letter() {
	local src=$GPH_ROOT/patches/cover-letter
	[ -n "$(sed -n 1p "$src")" ] && [ -z "$(sed -n 2p "$src")" ] &&
		[ -n "$(sed -n '3,$p' "$src" | tr -d '[:space:]')" ] ||
		die "patches/cover-letter: a subject line, a blank line, then the body"
	SUBJECT=$(sed -n 1p "$src") BODY=$(sed -n '3,$p' "$src") \
	awk 'BEGIN { s = "*** SUBJECT HERE ***"; b = "*** BLURB HERE ***" }
	     !subject && /^Subject: / && (i = index($0, s)) {
		$0 = substr($0, 1, i - 1) ENVIRON["SUBJECT"] substr($0, i + length(s))
		subject = 1
	     }
	     !blurb && $0 == b { $0 = ENVIRON["BODY"]; blurb = 1 }
	     { print }
	     END { exit !(subject && blurb) }' "$cover" > "$cover.new" ||
		die "format-patch's cover letter has no *** SUBJECT HERE *** or *** BLURB HERE ***"
	mv "$cover.new" "$cover"
}

# To and Cc for every patch, as `git send-email .cache/series/*.patch` reads
# them (nothing here sends anything).  scripts/get_maintainer.pl, run in the
# worktree at the series' HEAD so that it knows the series' own MAINTAINERS
# entry for GPH, names the maintainers (M:) of what a patch touches, for
# To, and the reviewers (R:) and lists (L:), for Cc; the cover letter goes
# to all of them.  The headers go right after Subject, one address a line,
# as format-patch writes its own --to and --cc.  get_maintainer.pl takes
# a while on a large patch, so it runs once per patch (--roles tells M:
# from R: and L:), for all the patches at once.
add_recipients() {
	local p a to cc all_to= all_cc= pids=()
	a=$(mktemp -d -p "$initial")
	for p in "$out"/*.patch; do
		[ "$p" = "$cover" ] && continue
		(cd "$wt" && ./scripts/get_maintainer.pl --no-git --no-git-fallback \
			--no-rolestats --no-multiline --separator $'\n' --roles \
			"$p") > "$a/${p##*/}" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || die "scripts/get_maintainer.pl failed"
	done
	for p in "$out"/*.patch; do
		[ "$p" = "$cover" ] && continue
		to=$(addresses_not_in "" "$(with_role to < "$a/${p##*/}")")
		cc=$(addresses_not_in "$to" "$(with_role cc < "$a/${p##*/}")")
		add_headers "$p" "$to" "$cc"
		all_to+=$to$'\n' all_cc+=$cc$'\n'
	done
	to=$(addresses_not_in "" "$all_to")
	add_headers "$cover" "$to" "$(addresses_not_in "$to" "$all_cc")"
}

# with_role to|cc: of get_maintainer.pl's "ADDRESS (ROLE[:SECTION])" lines,
# the addresses for To (maintainer, supporter, odd fixer, ...: an M: line)
# or for Cc (reviewer, and the lists: open, moderated, subscriber list).
with_role() {
	awk -v want="$1" '{
		i = index($0, "<") ? index($0, ">") : index($0, " ") - 1
		if (i < 1) i = length($0)
		role = substr($0, i + 3)
		cc = role ~ /^(reviewer|[a-z ]*list)(:|\)$)/
		if ((want == "cc") == cc) print substr($0, 1, i)
	}'
}

# The addresses of $2 (one a line) that are not in $1, each once, in order.
# Two spellings of one mailbox are one address.
addresses_not_in() {
	EXCLUDE=$1 awk 'function key(a) {
			a = tolower(a)
			if (a ~ /<.*>/) { sub(/.*</, "", a); sub(/>.*/, "", a) }
			return a
		}
		BEGIN { n = split(ENVIRON["EXCLUDE"], e, "\n")
			for (i = 1; i <= n; i++) if (e[i] != "") seen[key(e[i])] = 1 }
		NF && !seen[key($0)]++' <<< "$2"
}

# add_headers PATCH TO CC: To: and Cc: after the Subject header of PATCH.
add_headers() {
	HEADERS=$(fold_header To "$2"; fold_header Cc "$3") \
	awk '!done && /^Subject: / { subject = 1; print; next }
	     !done && subject && /^[ \t]/ { print; next }
	     !done && subject { if (ENVIRON["HEADERS"] != "") print ENVIRON["HEADERS"]; done = 1 }
	     { print }' "$1" > "$1.new"
	mv "$1.new" "$1"
}

# fold_header NAME ADDRESSES: "NAME: a,\n    b" for the addresses, one a
# line; nothing when there are none.
fold_header() {
	[ -n "$2" ] || return 0
	awk -v name="$1" 'NR == 1 { printf "%s: %s", name, $0; next }
		{ printf ",\n    %s", $0 } END { print "" }' <<< "$2"
}

# An unchanged project gives an unchanged series: the cover letter, which
# format-patch dates by the committer, takes the last patch's date, and
# object names are abbreviated to 12 digits whatever the repository's size.
GIT_COMMITTER_DATE=$("${GIT[@]}" log -1 --format=%aD HEAD) \
	"${GIT[@]}" format-patch -q --no-signature --zero-commit --abbrev=12 \
	--cover-letter -o "$out" pristine..HEAD
fill_cover_letter
add_recipients
n=$(ls "$out"/*.patch | grep -vc /0000-cover-letter.patch)
echo "  $n patches and a cover letter in ${out#"$GPH_ROOT"/}/"

step "checkpatch.pl --strict"
status=0
for p in "$out"/*.patch; do
	[ "$p" = "$cover" ] && continue
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
