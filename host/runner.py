#!/usr/bin/env python3
"""Boot the GPH guest under qemu-system-s390x (TCG) and judge what it printed.

The guest's /init runs one scenario (run, check or shell) and powers off.
This script captures the console, enforces a timeout, counts the KTAP
results of KUnit and the TAP results of the kselftests, and fails the run on
any oops, BUG, WARNING, lockdep report or panic, even when every test passed.
It ends with the line `N passed, N failed, N skipped`.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

DONE = "GPH: scenario done"

# Console lines that mean the kernel is unhealthy, whatever the tests said.
PROBLEMS = [
    r"\bBUG:",
    r"\bWARNING:",
    r"kernel BUG at",
    r"\bOops\b",
    r"Kernel panic",
    r"Unable to handle kernel",
    r"\bINFO: (possible|inconsistent|suspicious|task .* blocked)",
    r"DEBUG_LOCKS_WARN_ON",
    r"possible (circular|recursive) locking",
    r"Call Trace:",
    r"-+\[ cut here \]-+",
    r"UBSAN:",
    r"general protection fault",
]
PROBLEM_RE = re.compile("|".join(PROBLEMS))
TIMESTAMP_RE = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT_RE = re.compile(r"^(not ok|ok)\s+\d+\s*(?:-\s*)?([^#]*?)\s*(#\s*(.*))?$")


class Results:
    """Leaf results of nested KTAP/TAP output.

    KUnit nests suites by indentation, kselftest's runner nests a program's
    TAP output behind "# ".  A result line that closes a block of deeper
    results is a summary of them and is not counted again.
    """

    def __init__(self):
        self.passed = []
        self.failed = []
        self.skipped = []
        self._deepest = {}

    @staticmethod
    def split(line):
        """Returns (depth, text) for a console line."""
        line = TIMESTAMP_RE.sub("", line.rstrip("\r\n"))
        depth = 0
        while True:
            if line.startswith("    "):
                line = line[4:]
                depth += 1
            elif line.startswith("# "):
                line = line[2:]
                depth += 1
            elif line.startswith("\t"):
                line = line[1:]
                depth += 1
            else:
                return depth, line

    def feed(self, line):
        depth, text = self.split(line)
        m = RESULT_RE.match(text)
        if not m:
            return None
        has_children = self._deepest.get(depth, -1) > depth
        for d in list(self._deepest):
            if d >= depth:
                self._deepest[d] = -1
            else:
                self._deepest[d] = max(self._deepest[d], depth)
        for d in range(depth):
            self._deepest.setdefault(d, depth)
        if has_children:
            return None
        status, name, _, directive = m.groups()
        name = name.strip()
        directive = (directive or "").strip()
        if directive.upper().startswith("SKIP"):
            self.skipped.append(name)
            return "skip"
        if status == "ok":
            self.passed.append(name)
            return "pass"
        self.failed.append(name)
        return "fail"


def problems(lines):
    return [l.rstrip() for l in lines if PROBLEM_RE.search(l)]


def qemu_command(args):
    append = " ".join([
        "console=ttysclp0",
        "panic=-1",
        f"gph_scenario={args.scenario}",
        # TCG has no ESSA: the page-state core must emulate the host.
        "gph_expect_backend=emulated",
    ] + args.append)
    cmd = [
        "qemu-system-s390x",
        "-M", "s390-ccw-virtio",
        "-accel", "tcg",
        "-m", str(args.memory),
        "-smp", "2",
        "-nographic",
        "-no-reboot",
        "-kernel", args.kernel,
        "-initrd", args.initrd,
        "-append", append,
        "-device", "virtio-balloon-ccw,free-page-reporting=on",
    ]
    if args.disk:
        cmd += [
            "-drive", f"file={args.disk},if=none,id=disk0,format=raw",
            "-device", "virtio-blk-ccw,drive=disk0",
        ]
    return cmd


def boot(args, cmd, on_line=None):
    """Runs the guest; returns (console lines, timed out, finished, elapsed
    seconds).  `on_line(line, proc)` sees each console line as it comes."""
    lines = []
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    log = open(args.log, "w") if args.log else None

    def pump():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if on_line:
                on_line(line, proc)
            if log:
                log.write(line)
                log.flush()
            if args.verbose:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=args.timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    reader.join(timeout=5)
    if log:
        log.close()
    finished = not timed_out and any(DONE in l for l in lines)
    return lines, timed_out, finished, time.monotonic() - start


def host_results(path, results):
    """Adds the host-side checks (TAP lines in a file) to the results."""
    if not path or not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            results.feed(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--disk")
    p.add_argument("--scenario", default="run", choices=["run", "check", "shell"])
    p.add_argument("--timeout", type=int, default=600, help="seconds")
    p.add_argument("--memory", type=int, default=1024, help="MiB")
    p.add_argument("--log", help="write the whole console here")
    p.add_argument("--host-results", help="TAP lines of host-side checks to count in")
    p.add_argument("--verbose", action="store_true", help="echo the console")
    p.add_argument("--append", action="append", default=[], help="extra kernel parameter")
    args = p.parse_args()

    cmd = qemu_command(args)
    if args.scenario == "shell":
        os.execvp(cmd[0], cmd)

    lines, timed_out, finished, elapsed = boot(args, cmd)
    results = Results()
    host_results(args.host_results, results)
    for line in lines:
        if results.feed(line) == "fail":
            print(f"FAILED: {line.strip()}")

    # Two checks of the boot itself, counted like tests.
    if timed_out:
        tail = lines[-1].strip() if lines else "(no output)"
        print(f"error: timeout: the guest did not finish '{args.scenario}' within "
              f"{args.timeout}s; its last line was: {tail}")
    elif not finished:
        print(f"error: the guest stopped before finishing '{args.scenario}'"
              f" (no '{DONE}' line); see {args.log or 'the console'}")
    (results.passed if finished else results.failed).append("guest finished its scenario")
    found = problems(lines)
    if found:
        print(f"error: the kernel log has {len(found)} problem line(s):")
        for l in found[:20]:
            print(f"  {l}")
    (results.failed if found else results.passed).append("kernel log free of oops/BUG/WARNING/lockdep")
    if args.scenario == "check" and len(results.passed) < 3:
        print("error: no test ran")
        results.failed.append("tests ran")
    print(f"guest: {args.scenario} took {elapsed:.0f}s"
          + (f", console in {args.log}" if args.log else ""))
    if args.scenario == "check" or results.failed:
        line = f"{len(results.passed)} passed, {len(results.failed)} failed"
        if results.skipped:
            line += f", {len(results.skipped)} skipped"
        print(line)
    sys.exit(1 if results.failed else 0)


if __name__ == "__main__":
    main()
