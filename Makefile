# GPH front door.  Everything is built in .cache/ (ignored by git).
.PHONY: all run check shell series series-build deps tree clean help

all: run

help:
	@echo "make run           build and boot the s390x guest, show GPH alive"
	@echo "make check         every test: host checks, KUnit, kselftests"
	@echo "make shell         boot the guest with an interactive shell"
	@echo "make series        the project as a patch series, checkpatch'ed"
	@echo "make series-build  ... and build the kernel at every patch"
	@echo "make clean         remove .cache/"

run:
	@host/run.sh run

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
