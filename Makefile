# GPH front door.  Everything is built in .cache/ (ignored by git).
.PHONY: all run bench bench-hotpath bench-zpool bench-compare check shell series series-build deps tree clean help

all: run

help:
	@echo "make run           boot the s390x guest: QEMU's RSS under host pressure,"
	@echo "                   free page reporting alone vs GPH, and a plot"
	@echo "make bench         P1-P3: memory returned, hot-path overhead, coverage"
	@echo "make bench-hotpath P2 alone, with page_states=off, unused and volatile"
	@echo "make bench-zpool   P4 alone: zswap on zbud_rs, zbud and zsmalloc"
	@echo "make bench-compare GPH against drop_caches, ballooning and DAMON_RECLAIM"
	@echo "make check         every test: host checks, KUnit, kselftests"
	@echo "make shell         boot the guest with an interactive shell"
	@echo "make series        the project as a patch series, checkpatch'ed"
	@echo "make series-build  ... and build the kernel at every patch"
	@echo "make clean         remove .cache/"

run:
	@host/run.sh run

bench:
	@host/run.sh bench

bench-hotpath:
	@host/run.sh hotpath

bench-zpool:
	@host/run.sh zpool

bench-compare:
	@host/run.sh compare

shell:
	@host/run.sh shell

check:
	@host/check.sh

series:
	@host/install-deps.sh && host/series.sh

series-build:
	@host/install-deps.sh && host/series.sh --build

deps:
	@host/install-deps.sh

tree: deps
	@host/tree.sh

clean:
	rm -rf .cache
