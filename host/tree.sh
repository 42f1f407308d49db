#!/bin/bash
# Lay out the kernel tree in .cache/linux: the pinned pristine source, the
# patch series applied on top, then the project's own files copied in.
#
# The tree is a git repository.  Tag `pristine` is Debian's source as
# shipped; branch `gph` carries one commit per patch.  Work is redone only
# for what changed, and files are rewritten only when their content differs,
# so an unchanged file keeps its mtime and the kernel build stays incremental.
set -euo pipefail
. "$(dirname "$0")/env.sh"

GIT=(git -C "$KSRC" -c user.name=GPH -c user.email=gph@localhost
     -c core.excludesFile=/dev/null -c advice.detachedHead=false)

[ -f "$LINUX_SOURCE_TARBALL" ] || die "$LINUX_SOURCE_TARBALL is missing; run host/install-deps.sh"

# 1. The pristine base, extracted once per pinned version.
if [ "$(cat "$KSRC/.gph-base" 2>/dev/null)" != "$LINUX_SOURCE_VERSION" ]; then
	step "extracting $LINUX_SOURCE_PACKAGE $LINUX_SOURCE_VERSION"
	rm -rf "$KSRC"
	mkdir -p "$KSRC"
	tar -xf "$LINUX_SOURCE_TARBALL" -C "$KSRC" --strip-components=1
	"${GIT[@]}" init -q -b gph
	# Debian's .gitignore ignores the whole top level: add with -f.
	"${GIT[@]}" add -f -A .
	"${GIT[@]}" commit -q -m "Debian $LINUX_SOURCE_PACKAGE $LINUX_SOURCE_VERSION"
	"${GIT[@]}" tag pristine
	echo "$LINUX_SOURCE_VERSION" > "$KSRC/.gph-base"
	rm -f "$KSRC/.gph-patches"
fi

# 2. The patch series, reapplied only when a patch or the series changed.
#    The patches are applied in a scratch worktree; the build tree then
#    takes only the files whose content changed, so that editing one patch
#    does not touch (and rebuild) what every other patch changed.
mapfile -t patches < <(series_patches)
sum=$(cd "$GPH_ROOT/patches" && cat series "${patches[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$KSRC/.gph-patches" 2>/dev/null)" != "$sum" ]; then
	step "applying patches/series (${#patches[@]} patches)"
	am=$GPH_CACHE/linux-am
	AM=(git -C "$am" -c user.name=GPH -c user.email=gph@localhost
	    -c core.excludesFile=/dev/null -c advice.detachedHead=false)
	if [ ! -e "$am/.git" ]; then
		"${GIT[@]}" worktree prune
		"${GIT[@]}" worktree add -q -f --detach "$am" pristine
	fi
	"${AM[@]}" am --abort >/dev/null 2>&1 || true
	"${AM[@]}" checkout -q -f --detach pristine
	# A patch may also change project files that an earlier patch of the
	# series introduced; the overlay below brings their final content, so
	# those parts are left out here.
	excludes=()
	while read -r f; do
		excludes+=("--exclude=$(kernel_path "$f")")
	done < <(overlay_files)
	for p in "${patches[@]}"; do
		# A patch that only introduces project files has nothing here.
		grep -q '^diff --git ' "$GPH_ROOT/patches/$p" || continue
		if ! "${AM[@]}" am -q --keep-cr "${excludes[@]}" "$GPH_ROOT/patches/$p"; then
			"${AM[@]}" am --abort >/dev/null 2>&1 || true
			die "patches/$p does not apply"
		fi
	done
	new=$("${AM[@]}" rev-parse HEAD)
	"${GIT[@]}" am --abort >/dev/null 2>&1 || true
	# Every path that differs between the build tree's commit and the new
	# one: rewrite it if its content changed, remove it if it is gone.
	"${GIT[@]}" diff --name-only --no-renames HEAD "$new" | while read -r f; do
		if "${GIT[@]}" cat-file -e "$new:$f" 2>/dev/null; then
			tmp=$(mktemp)
			"${GIT[@]}" show "$new:$f" > "$tmp"
			if ! cmp -s "$tmp" "$KSRC/$f"; then
				mkdir -p "$(dirname "$KSRC/$f")"
				cat "$tmp" > "$KSRC/$f"
			fi
			rm -f "$tmp"
		else
			rm -f "$KSRC/$f"
		fi
	done
	# The working tree matches the new commit now: move the branch and
	# the index there without touching a file.
	"${GIT[@]}" reset -q "$new"
	echo "$sum" > "$KSRC/.gph-patches"
fi

# 3. The overlay: every project file under a kernel directory lands at the
#    same path; the top-level Kconfig and Kbuild land in gph/.
new_list=$(mktemp)
overlay_files | sort > "$new_list"
# Files that left the project leave the tree too.
if [ -f "$KSRC/.gph-overlay" ]; then
	comm -23 "$KSRC/.gph-overlay" "$new_list" | while read -r f; do
		rm -f "$KSRC/$(kernel_path "$f")"
	done
fi
copied=0
while read -r f; do
	[ -f "$GPH_ROOT/$f" ] || continue
	dst=$KSRC/$(kernel_path "$f")
	if ! cmp -s "$GPH_ROOT/$f" "$dst"; then
		mkdir -p "$(dirname "$dst")"
		cp "$GPH_ROOT/$f" "$dst"
		copied=$((copied + 1))
	fi
done < "$new_list"
mv "$new_list" "$KSRC/.gph-overlay"
echo "kernel tree: $KSRC ($copied project files updated)"
