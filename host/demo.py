"""`make run` and `make bench`: boot the guest once per mode, measure.

Each boot runs the guest's `run` or `bench` scenario (host/guest/init):
the guest writes N MiB of files, reads them, goes idle; the host applies
pressure; the guest reads the files again.  The host samples QEMU's
resident set size (VmRSS) all along, and at the guest's "GPH-SAMPLE name"
lines; the guest reports figures as "GPH-RESULT key value" lines, each
under the last "GPH-PHASE name" line.  Every boot has one vCPU whose
clock counts instructions (-icount): what the guest times does not
depend on what else the host is doing.  P2's wall-clock mode, in
hotpath, is the exception.

  demo.py run    three boots: free page reporting alone, GPH with the
                 emulated host, and GPH with the ESSA host (QEMU with CMMA,
                 host/qemu, which reclaims over QMP without the guest);
                 prints RSS before and after pressure and the re-read
                 time, and plots RSS over time (SVG)
  demo.py bench  the same boots, with page_states=off for the first, plus
                 the hot-path timings, and in the first boot zswap on each
                 zpool allocator; prints P1, P2, P3 and P4 as ratios of
                 figures from this one run; then the boots of compare
  demo.py hotpath  P2 alone, in seconds: the hot-path timings with
                 page_states=off, unused and volatile, as ratios to off;
                 then on the host's clock, alternating boots of off and
                 volatile, the median ratio and its spread
  demo.py zpool  P4 alone: the bench's zswap boot (page_states=off) with
                 only its zpool phase
  demo.py compare  GPH against what users do instead (free page reporting
                 alone, with drop_caches, with balloon inflation, with
                 DAMON_RECLAIM; GPH with the emulated and the ESSA host): a
                 boot each, for half the files needed back and all of them;
                 then two more rounds of drop_caches and the GPH hosts,
                 whose re-reads are compared by the median of the rounds
"""

import argparse
import os
import sys
import tempfile
import threading
import time

import runner
from qmp import CMMA_PATH, Qmp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(ROOT, ".cache")
MEMORY_MIB = 1024


def rss_kib(pid):
    """QEMU's resident set size (VmRSS), KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    """The CPU time QEMU has used, user and system, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def guest_ram_kib(pid, mib):
    """The resident part of the mapping that backs the guest's RAM (the one
    anonymous mapping of exactly the guest's size), KiB: what the host gets
    back from the guest, without QEMU's own heap and code buffers."""
    size = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if "-" in fields[0] and not fields[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in fields[0].split("-"))
                    size = (hi - lo) >> 20
                elif fields[0] == "Rss:" and size == mib:
                    return int(fields[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Boot:
    """One boot of the guest in one mode, with what it measured."""

    def __init__(self, label, mode, scenario, mib, qemu=None, append=(), qmp=False,
                 icount=True, tag=""):
        self.label, self.mode, self.scenario = label, mode, scenario
        self.icount = icount        # the guest's clock counts instructions
        self.tag = tag              # tells apart the console logs of repeated boots
        self.mib = mib
        self.append = list(append)  # more kernel parameters
        self.want_qmp = qmp         # a QMP socket without CMMA (the balloon)
        self.request = None         # (seconds, QEMU's CPU seconds) at the request
        # With `qemu`, the QEMU of host/qemu, with cmm=on: the ESSA backend.
        self.cmm = qemu is not None
        self.qemu = qemu or "qemu-system-s390x"
        self.qmp_path = None
        self.qmp = None
        self.reclaim = {}   # the ESSA host's reclaim, as host_reclaim() saw it
        self.cmma = {}      # QEMU's CMMA counters after the re-read
        self.samples = []   # (seconds since start, RSS KiB)
        self.marks = {}     # name -> (seconds, RSS KiB, guest RAM KiB)
        self.results = {}   # (phase, key) -> value
        self.phase = None
        self.start = None
        self.period = 0.25          # seconds between RSS samples
        self.cpu_after = None
        self.failed = None          # why the boot failed, if run(fatal=False)

    def on_line(self, line, proc):
        if self.start is None:
            self.start = time.monotonic()
            threading.Thread(target=self.sample, args=(proc,), daemon=True).start()
        words = line.split()
        if not words:
            return
        t = time.monotonic() - self.start
        if words[0] == "GPH-SAMPLE" and len(words) == 2:
            self.marks[words[1]] = (t, rss_kib(proc.pid), guest_ram_kib(proc.pid, MEMORY_MIB))
            if words[1] == "after":
                self.cpu_after = cpu_seconds(proc.pid)
            if words[1] == "reread" and self.qmp and self.cmm:
                self.cmma = self.qmp.cmma_counters()
        elif words[0] == "GPH-PHASE" and len(words) == 2:
            self.phase = words[1]
        elif words[0] == "GPH-HOST-RECLAIM" and self.qmp_path:
            self.request = (t, cpu_seconds(proc.pid))
            mib = int(words[1]) if len(words) == 2 else MEMORY_MIB
            threading.Thread(target=self.host_reclaim, args=(proc, self.phase, mib),
                             daemon=True).start()
        elif words[0] == "GPH-HOST-BALLOON" and len(words) == 2 and self.qmp_path:
            self.request = (t, cpu_seconds(proc.pid))
            threading.Thread(target=self.balloon, args=(int(words[1]),), daemon=True).start()
        elif words[0] in ("GPH-REQUEST", "GPH-NO-REQUEST"):
            self.request = (t, cpu_seconds(proc.pid))
        elif words[0] == "GPH-RESULT" and len(words) == 3:
            self.results[(self.phase, words[1])] = float(words[2])

    def host_reclaim(self, proc, phase, mib=MEMORY_MIB):
        """The ESSA host's pressure: one QMP request to QEMU's CMMA host to
        drop @mib MiB (unused pages first, then volatile ones the guest has
        not accessed lately, then the others),
        then the guest RAM mapping's RSS every 20 ms until it has fallen by
        90% of the page cache the guest read, or 8 s have passed."""
        reclaim = self.reclaim.setdefault(phase, {})
        # QEMU serves one QMP client at a time: later requests reuse it.
        if self.qmp is None:
            self.qmp = Qmp(self.qmp_path)
        before = guest_ram_kib(proc.pid, MEMORY_MIB)
        goal = 0.9 * self.mib * 1024
        start = time.monotonic()
        self.qmp.qom_set(CMMA_PATH, "reclaim-mib", mib)
        while time.monotonic() - start < 8:
            now = guest_ram_kib(proc.pid, MEMORY_MIB)
            if now is not None and before - now >= goal:
                reclaim["fell_s"] = time.monotonic() - start
                break
            time.sleep(0.02)
        reclaim["counters"] = self.qmp.cmma_counters()

    def balloon(self, mib):
        """virtio-balloon inflation by the host: the guest gives up @mib MiB."""
        if self.qmp is None:
            self.qmp = Qmp(self.qmp_path)
        self.qmp.command("balloon", value=(MEMORY_MIB - mib) << 20)

    def sample(self, proc):
        while proc.poll() is None:
            rss = rss_kib(proc.pid)
            if rss is not None:
                self.samples.append((time.monotonic() - self.start, rss))
            time.sleep(self.period)

    def run(self, kernel, initrd, disk, fatal=True):
        """Boots; a boot that fails exits, or with @fatal False sets
        self.failed to why, for the caller to report."""
        name = f"{self.scenario}-{self.mode}" + ("-essa" if self.cmm else "") + (
            f"-{self.tag}" if self.tag else "") + "".join(
            "-" + a.split("=", 1)[1] for a in self.append if a.startswith("gph_method="))
        log = os.path.join(CACHE, "logs", f"{name}-console.log")
        essa = self.cmm
        if essa or self.want_qmp:
            self.qmp_path = os.path.join(tempfile.mkdtemp(prefix="gph-qmp-"), "qmp.sock")
        args = argparse.Namespace(
            kernel=kernel, initrd=initrd, disk=disk, scenario=self.scenario,
            timeout=1500, memory=MEMORY_MIB, log=log, verbose=False,
            qemu=self.qemu, cmm=essa, qmp=self.qmp_path,
            append=[f"page_states={self.mode}", f"gph_mib={self.mib}"] + self.append)
        cmd = runner.qemu_command(args)
        # The guest's clock counts instructions: its timings and its CPU
        # time do not depend on what else the host is doing (without it,
        # the guest CPU time of an idle 3 s wanders by +-15 ms).  One vCPU:
        # QEMU 7.2's icount with two round-robin vCPUs stalls now and then.
        # Without the instruction count (P2's wall-clock mode), still one.
        cmd[cmd.index("-smp") + 1] = "1"
        if self.icount:
            cmd += ["-icount", "shift=0,sleep=on"]
        what = f"page_states={self.mode}" + (", -cpu max,cmm=on" if essa else "")
        print(f"  booting: {self.label} ({what}), console: {log}",
              flush=True)
        lines, _, timed_out, finished, _ = runner.boot(args, cmd, self.on_line)
        found = runner.problems(lines)
        if not fatal and (timed_out or not finished or found):
            self.failed = found[0] if found else "no end" if not timed_out else "timeout"
            print(f"    failed: {self.failed}; see {log}")
            return
        if timed_out or not finished or found:
            for l in found[:10]:
                print(f"    {l}")
            sys.exit(f"error: the {self.label} boot failed; see {log}")

    def result(self, phase, key):
        value = self.results.get((phase, key))
        if value is None:
            sys.exit(f"error: the {self.label} boot did not report {phase}.{key}")
        return value

    def mark(self, name, which=1):
        """RSS (which=1) or guest RAM (which=2) at a sample, KiB."""
        if name not in self.marks or self.marks[name][which] is None:
            sys.exit(f"error: no RSS sample '{name}' in the {self.label} boot")
        return self.marks[name][which]

    def returned_mib(self, which=1, prefix=""):
        """What the pressure returned, MiB: the samples {prefix}before and
        {prefix}after."""
        return (self.mark(prefix + "before", which) - self.mark(prefix + "after", which)) / 1024


def reread(boot, phase):
    """A re-read's wall time, system time and average read I/O size."""
    ms, sys_ms = boot.result(phase, "read_ms"), boot.result(phase, "sys_ms")
    ios, kib = boot.result(phase, "read_ios"), boot.result(phase, "read_kib")
    size = f"{kib / ios:5.0f} KiB/IO" if ios else "   no I/O"
    return f"{ms / 1000:5.1f} s (sys {sys_ms / 1000:4.1f} s, {size})"


def svg_plot(boots, path):
    """RSS over time for each boot, as an SVG line chart."""
    w, h, left, bottom, top, right = 800, 420, 70, 50, 30, 60
    tmax = max(s[0] for b in boots for s in b.samples) or 1
    rmax = max(s[1] for b in boots for s in b.samples) / 1024 * 1.1 or 1
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    def x(t):
        return left + (w - left - right) * t / tmax

    def y(mib):
        return h - bottom - (h - bottom - top) * mib / rmax

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle">QEMU resident set size '
           f'over time (guest reads {boots[0].mib} MiB, idles, host pressure, re-read)</text>',
           f'<line x1="{left}" y1="{y(0)}" x2="{w - right}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{top}" stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">seconds since boot</text>',
           f'<text x="16" y="{h / 2}" transform="rotate(-90 16 {h / 2})" '
           f'text-anchor="middle">RSS (MiB)</text>']
    for i in range(6):
        mib = rmax * i / 5
        out.append(f'<text x="{left - 6}" y="{y(mib) + 4}" text-anchor="end">{mib:.0f}</text>')
        t = tmax * i / 5
        out.append(f'<text x="{x(t)}" y="{h - bottom + 16}" text-anchor="middle">{t:.0f}</text>')
    for i, b in enumerate(boots):
        pts = " ".join(f"{x(t):.1f},{y(r / 1024):.1f}" for t, r in b.samples)
        c = colours[i % len(colours)]
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{pts}"/>')
        for name, (t, r, _) in sorted(b.marks.items(), key=lambda m: m[1][0]):
            if r is None:
                continue
            out.append(f'<circle cx="{x(t):.1f}" cy="{y(r / 1024):.1f}" r="3" fill="{c}"/>')
            out.append(f'<text x="{x(t) + 4:.1f}" y="{y(r / 1024) - 5:.1f}" fill="{c}">{name}</text>')
        out.append(f'<text x="{left + 10}" y="{top + 16 * (i + 1)}" fill="{c}">{b.label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


HOTPATH = [("anon_fault_ns", "anonymous page fault"),
           ("file_fault_ns", "file page fault"),
           ("cached_read_ns", "cached read() of 4 KiB"),
           ("write_fault_ns", "write fault, shared file"),
           ("swap_fault_ns", "swap-in from swap cache"),
           ("dirty_write_ns", "write() of a new page"),
           ("buffer_head_read_ns", "read(), buffer heads")] + [
    (f"alloc_free_order{order}_ns", f"alloc+free, order {order}")
    for order in range(11)]     # s390's MAX_PAGE_ORDER
# Boots of hinting off and on, alternating, in P2's wall-clock mode.
WALL_PAIRS = 5


def hotpath(args):
    """P2 alone: one short boot per mode, each timing the hot paths with
    the guest clock counting instructions.  page_states=unused isolates the
    allocator's hooks, volatile adds the page-cache hooks."""
    groups = [("Debian's QEMU (no ESSA under TCG: the emulated host)", None)]
    if args.qemu_cmma:
        groups.append(("host/qemu's QEMU with -cpu max,cmm=on (the ESSA backend; "
                       "off is mainline's ESSA unused/stable)", args.qemu_cmma))
    for title, qemu in groups:
        boots = [Boot(label, mode, "hotpath", args.mib, qemu)
                 for label, mode in (("hinting off", "off"), ("unused pages", "unused"),
                                     ("volatile page cache", "volatile"))]
        for b in boots:
            b.run(args.kernel, args.initrd, args.disk)
        off = boots[0]
        print()
        print(title)
        print(f"{'':24} " + " ".join(f"{'page_states=' + b.mode:>24}" for b in boots))
        for key, name in HOTPATH:
            base = off.result("hotpath", key)
            cells = (f"{b.result('hotpath', key):9.1f} ns = {b.result('hotpath', key) / base:.3f}"
                     for b in boots)
            print(f"{name:24} " + " ".join(c.rjust(24) for c in cells))
    hotpath_wall_clock(args, WALL_PAIRS)


def hotpath_wall_clock(args, pairs):
    """P2 without instruction counting: @pairs boots with hinting off and
    as many with it on (page_states=volatile, the emulated host), in turn,
    on the host's clock; for every path the median of the pairs' ratios,
    with the lowest and the highest.  The instruction count hides what
    costs time without instructions, cache misses in the state table
    among them; the host's clock shows it, with the host's noise, which
    the alternation spreads over both modes alike."""
    runs = []
    for i in range(pairs):
        pair = [Boot(f"wall clock {i + 1}/{pairs}, hinting {label}", mode, "hotpath",
                     args.mib, icount=False, tag=f"wall{i + 1}")
                for label, mode in (("off", "off"), ("on", "volatile"))]
        # Off first in odd pairs, on first in even ones: a drift of the
        # host's speed over the run weighs on both modes alike.
        for b in (pair if i % 2 == 0 else pair[::-1]):
            b.run(args.kernel, args.initrd, args.disk)
        runs.append(pair)
    print()
    print(f"P2 on the host's clock (no -icount): {pairs} boots each of page_states=off and"
          f" volatile, in turn; median of the {pairs} ratios on / off, [lowest, highest]"
          f" (goal <= 1.03):")
    for key, name in HOTPATH:
        ratios = [on.result("hotpath", key) / off.result("hotpath", key) for off, on in runs]
        off_ns = median([off.result("hotpath", key) for off, _ in runs])
        print(f"      {name:24} {median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}]"
              f"  (off: median {off_ns:9.1f} ns)")


ZPOOLS = ["zbud_rs", "zbud", "zsmalloc"]
# How P4's fragmentation scenario freed its ballast before compaction, as
# the zswap_compaction kselftest does it, and the other way it measures.
ZPOOL_VARIANT, ZPOOL_OTHER = "thin", "whole"
ZPOOL_VARIANTS = {
    "thin": "but for one page in each 4 MiB block",
    "whole": "whole",
}


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def zpool_report(boot):
    """P4: zswap on each zpool allocator, in the boot that ran zpool-bench
    (gph_workload zpool-bench): throughput once, then the fragmentation
    scenario in rounds, summarised by medians with their range."""
    def r(key):
        return boot.result("zpool", key)

    rounds = int(r("zpool_rounds"))

    def each(a, v, key):
        """A figure of every round."""
        return [r(f"{a}_{v}{n}_{key}") for n in range(rounds)]

    def spread(values, sign=""):
        return f"{median(values):{sign}.0f} [{min(values):{sign}.0f}..{max(values):{sign}.0f}]"

    def blocks(a, v, order):
        """Free blocks of an order after compaction."""
        return spread(each(a, v, f"order{order}"))

    def gain(a, v, order):
        """What compaction changed in them, round by round."""
        return spread([x - y for x, y in zip(each(a, v, f"order{order}"),
                                             each(a, v, f"order{order}_before"))], "+")

    for a in ZPOOLS:
        keys = [f"{a}_mismatches"] + [f"{a}_{v}{n}_mismatches"
                                      for v in ZPOOL_VARIANTS for n in range(rounds)]
        for key in keys:
            if r(key):
                sys.exit(f"error: zswap on {a} read {r(key):.0f} pages back wrong ({key})")
    v = ZPOOL_VARIANT
    print("P4  zswap allocators (one boot): store MiB/s, load MiB/s, bytes per stored page")
    print(f"      {'':10} {'store MiB/s':>11} {'load MiB/s':>11} {'B/page':>7}")
    for a in ZPOOLS:
        print(f"      {a:10} {r(a + '_store_mibs'):11.1f} {r(a + '_load_mibs'):11.1f}"
              f" {r(a + '_bytes_per_page'):7.0f}")
    ratios = []
    for what in ("store", "load"):
        ours = r(f"zbud_rs_{what}_mibs")
        ratios.append(f"{what}: " + ", ".join(
            f"zbud_rs/{a} {ours / r(f'{a}_{what}_mibs'):.3f}" for a in ZPOOLS[1:]))
    print("      " + "; ".join(ratios))
    def share8(a, v):
        """The share of free memory in blocks of order 8 or more."""
        values = [256 * b / f for b, f in zip(each(a, v, "order8"), each(a, v, "free_pages"))]
        return f"{median(values):.1%} [{min(values):.1%}..{max(values):.1%}]"

    print(f"P4  after a zswap fill and compaction, {rounds} rounds: medians [lowest..highest]")
    print(f"      {'':10} {'migrated':>14} {'order-4':>17} {'order-8':>13}"
          f" {'compaction gained':>17} {'order-10':>12} {'order-8 of free':>21}"
          f" {'unmovable blocks':>16}")
    for a in ZPOOLS:
        print(f"      {a:10} {spread(each(a, v, 'pgmigrate')):>14} {blocks(a, v, 4):>17}"
              f" {blocks(a, v, 8):>13} {gain(a, v, 8):>17} {blocks(a, v, 10):>12}"
              f" {share8(a, v):>21} {spread(each(a, v, 'unmovable_blocks')):>16}")
    print(f"      (64 MiB of pages that compress to about 1.6 KiB; then every other page"
          f" freed, a ballast of about {median(each('zbud_rs', v, 'ballast_mib')):.0f} MiB"
          f" above the pool freed {ZPOOL_VARIANTS[v]}, compact_memory: 'migrated' is"
          f" pgmigrate_success, blocks of order 4 or more counted in order-4 blocks,"
          f" and so on; 'compaction gained' is the change in order-8 blocks; 'order-8 of"
          f" free' the share of free memory in them; 'unmovable blocks' the pageblocks"
          f" of the unmovable type, which compaction and CMA cannot empty"
          f" (/proc/pagetypeinfo))")

    def allocated(a, v, order):
        """Blocks of an order that could be allocated after compaction."""
        return spread(each(a, v, f"allocated{order}"))

    print(f"P4  then allocations of each order until one fails, with a transparent huge"
          f" page fault's flags (/sys/kernel/debug/gph_high_order): blocks allocated,"
          f" medians [lowest..highest]")
    print(f"      {'':10} {'order-4':>19} {'order-8':>13} {'order-10':>13}"
          f" {'pages reclaimed':>17} {'pool KiB':>9}")
    for a in ZPOOLS:
        print(f"      {a:10} {allocated(a, v, 4):>19} {allocated(a, v, 8):>13}"
              f" {allocated(a, v, 10):>13} {spread(each(a, v, 'allocs_reclaimed')):>17}"
              f" {median(each(a, v, 'pool_kib')):9.0f}")
    print("      (order 4, then 8, then 10; 'pages reclaimed' is what reclaim freed while"
          " they ran, 'pool KiB' the zswap pool before them)")

    def share(v):
        def total(key):
            return sum(each("zbud_rs", v, key))
        pages, migrated = total("pool_pages"), total("migrated")
        tried = total("isolated") + total("refused")
        return (f"{migrated / tried:.1%}" if tried else "n/a (none tried)",
                f"{migrated / pages:.1%}" if pages else "n/a (no pages)")

    tried, pool = share(v)
    print(f"P4  pool pages compaction migrated: zbud_rs {tried} of the pages it tried"
          f" (goal >= 95%), {pool} of the pool; C zbud 0 (not movable)")
    print(f"P4  high-order allocations after a zswap fill and compaction: order-8"
          f" zbud_rs {allocated('zbud_rs', v, 8)} vs zsmalloc {allocated('zsmalloc', v, 8)},"
          f" order-10 zbud_rs {allocated('zbud_rs', v, 10)} vs zsmalloc"
          f" {allocated('zsmalloc', v, 10)} (goal: ours >= zsmalloc's); free order-8"
          f" blocks before them (/proc/buddyinfo) zbud_rs {blocks('zbud_rs', v, 8)} vs"
          f" zsmalloc {blocks('zsmalloc', v, 8)}, as a share of free memory zbud_rs"
          f" {share8('zbud_rs', v)} vs zsmalloc {share8('zsmalloc', v)}")
    o = ZPOOL_OTHER
    tried, pool = share(o)
    print(f"    with the ballast freed {ZPOOL_VARIANTS[o]}: zbud_rs migrated {pool} of the"
          f" pool ({tried} of the pages it tried); free order-8 blocks after compaction "
          + ", ".join(f"{a} {blocks(a, o, 8)}" for a in ZPOOLS)
          + "; order-8 allocations " + ", ".join(f"{a} {allocated(a, o, 8)}" for a in ZPOOLS))


def essa_report(essa, emulated, mib):
    """The ESSA host's reclaim against the emulated host's."""
    c = essa.reclaim["pressure"]["counters"]
    fell = essa.reclaim["pressure"].get("fell_s")
    page_mib = 4096 / 2**20
    print()
    print(f"The ESSA host: one QMP request (reclaim-mib {MEMORY_MIB}: everything QEMU"
          f" may drop), no guest involvement:")
    print(f"  QEMU dropped {c['dropped-volatile'] * page_mib:.0f} MiB of volatile page cache"
          f" ({c['dropped-volatile'] / (mib * 256):.1%} of the {mib} MiB the guest read)"
          f" and {c['dropped-unused'] * page_mib:.0f} MiB of unused pages")
    if fell is None:
        print(f"  the guest RAM mapping did not fall by 90% of {mib} MiB within 8 s")
    else:
        print(f"  the guest RAM mapping had fallen by 90% of {mib} MiB {fell * 1000:.0f} ms"
              f" after the request (sampled every 20 ms)")
    print("  guest CPU time the pressure cost, beyond what the idle guest burns in as long"
          " (3 s windows):")
    for key, unit, scale, how in (("cpu_ms", "ms", 1, "/proc/stat, 10 ms ticks"),
                                  ("cpu_us", "ms", 1e-3, "s390 idle_time_us, to the us")):
        e_cpu, o_cpu = essa.result("pressure", key) * scale, emulated.result("pressure", key) * scale
        ratio = f"{e_cpu / o_cpu:.2%}" if o_cpu > 0 else "n/a"
        print(f"    {how:30} ESSA host {e_cpu:8.2f} {unit}, emulated host {o_cpu:8.2f} {unit}"
              f" (ESSA/emulated {ratio})")
    print(f"    the same, around a console line nobody acts on (the noise): ESSA boot"
          f" {essa.result('control', 'cpu_us') / 1e3:.2f} ms, emulated boot"
          f" {emulated.result('control', 'cpu_us') / 1e3:.2f} ms")
    print(f"    the idle guest's own busy time in the 3 s before: ESSA boot"
          f" {essa.result('pressure', 'idle_cpu_us') / 1e3:.2f} ms, emulated boot"
          f" {emulated.result('pressure', 'idle_cpu_us') / 1e3:.2f} ms")
    after = essa.cmma or sys.exit("error: no CMMA counters after the re-read")
    found = essa.results.get(("reread", "page_states_stable_failed"), 0)
    print(f"  re-read: {found:.0f} lookups found a page QEMU had dropped"
          f" (ESSA_SET_STABLE_IF_RESIDENT), {after['discard-faults'] - c['discard-faults']}"
          f" discard faults, {essa.result('reread', 'mismatches'):.0f} mismatches")
    print("  ESSA by order code: " + ", ".join(
        f"{k[5:]} {v}" for k, v in after.items() if k.startswith("essa-")))


# make bench-compare: what users do instead of GPH, on the same kernel,
# image and workload.  (gph_method, row, page_states mode, needs CMMA)
COMPARE = [("fpr", "free page reporting alone", "off", False),
           ("dropcache", "+ drop_caches in the guest", "off", False),
           ("balloon", "+ balloon inflation by the host", "off", False),
           ("damon", "+ DAMON_RECLAIM's scheme", "off", False),
           ("gph", "GPH, emulated host", "volatile", False),
           ("essa", "GPH, ESSA host", "volatile", True)]
COMPARE_BY_METHOD = {m: (label, mode, cmma) for m, label, mode, cmma in COMPARE}

# The methods whose re-read the rounds compare, the first being the reference.
REREAD_METHODS = ["dropcache", "gph", "essa"]
REREAD_ROUNDS = 3


def time_to_90(boot):
    """Seconds from the request until QEMU's RSS had fallen by 90% of what
    it fell by at the 'after' sample; None when it fell by less than 1 MiB."""
    t0, _ = boot.request
    before, after = boot.mark("before"), boot.mark("after")
    if before - after < 1024:
        return None
    goal = before - 0.9 * (before - after)
    for t, rss in boot.samples:
        if t >= t0 and rss <= goal:
            return t - t0
    return None


def working_set(boot):
    """The working set's pass in the 6 s before the request (median) and
    in the 6 s after it (mean, and the longest), in ms of the guest's
    clock: 'before > after (longest)'."""
    r = boot.results
    if ("reclaim", "ws_before_ms") not in r or ("reclaim", "ws_after_ms") not in r:
        return "-"
    return (f"{r[('reclaim', 'ws_before_ms')]:.0f} > {r[('reclaim', 'ws_after_ms')]:.0f}"
            f" ({r[('reclaim', 'ws_after_max_ms')]:.0f})")


def ws_from_disk(boot):
    """What the working set's passes in the 6 s after the request read from
    the disk, in MiB: the part of it the method took."""
    kib = boot.results.get(("reclaim", "ws_after_read_kib"))
    return "-" if kib is None else f"{kib / 1024:.1f}"


def compare_boot(args, method, need, tag=""):
    """Boots the compare scenario for one method and need, and runs it to
    the end; a method may fail the guest (the balloon can leave it too
    little memory), which the caller reports."""
    label, mode, cmma = COMPARE_BY_METHOD[method]
    b = Boot(label, mode, "compare", args.mib, args.qemu_cmma if cmma else None,
             append=[f"gph_method={method}", f"gph_need_mib={need}"],
             qmp=method == "balloon", tag=tag)
    b.period = 0.05
    b.run(args.kernel, args.initrd, args.disk, fatal=False)
    return b


def wrong_words(b):
    """The words the boot's re-read and working-set passes found wrong."""
    return b.result("reread", "mismatches") + b.result("reclaim", "ws_mismatches")


def compare(args):
    """One boot per method and need; one table, a CSV and a plot."""
    header = ["need MiB", "method", "returned MiB (RAM map)", "QEMU RSS MiB",
              "90% after s", "guest CPU ms", "QEMU CPU s", "cache lost MiB",
              "re-read s", "working set ms", "ws from disk MiB", "mismatches"]
    rows, notes = [], []
    # Each need's first round of the re-read comparison: the table's boots.
    first_round = {need: {} for need in args.need}
    os.makedirs(os.path.join(CACHE, "bench"), exist_ok=True)
    for need in args.need:
        boots = []
        for method, label, mode, cmma in COMPARE:
            if cmma and not args.qemu_cmma:
                continue
            # A failed boot is a result, and the others still run.
            b = compare_boot(args, method, need)
            if b.failed:
                rows.append([need, label, "failed"] + ["-"] * (len(header) - 3))
                notes.append(f"{label}, need {need} MiB: the boot failed: {b.failed}")
                continue
            boots.append(b)
            if method in REREAD_METHODS:
                first_round[need][method] = b
            fell = time_to_90(b)
            bad = wrong_words(b)
            rows.append([need, label, f"{b.returned_mib(2):.1f}", f"{b.returned_mib(1):.1f}",
                         f"{fell:.2f}" if fell is not None else "-",
                         f"{b.result('reclaim', 'cpu_us') / 1e3:.1f}",
                         f"{b.cpu_after - b.request[1]:.2f}",
                         f"{b.result('reread', 'read_kib') / 1024:.0f}",
                         f"{b.result('reread', 'read_ms') / 1000:.2f}", working_set(b),
                         ws_from_disk(b), f"{bad:.0f}"])
            if bad:
                sys.exit(f"error: {label}: the re-read or the working set found {bad:.0f} wrong words")
            if method == "essa":
                c = (b.reclaim.get("reclaim", {}).get("counters")
                     or sys.exit("error: the ESSA host's reclaim did not run"))
                dropped = c["dropped-volatile"] + c["dropped-pot-volatile"]
                notes.append(f"ESSA host, need {need} MiB: QEMU dropped {dropped} volatile"
                             f" pages, {c['dropped-recently-used']} of them accessed within"
                             f" its last two aging intervals")
            if method == "damon":
                notes.append(f"DAMON, need {need} MiB: its scheme tried"
                             f" {b.result('reclaim', 'damon_nr_tried'):.0f} regions"
                             f" ({b.result('reclaim', 'damon_sz_tried') / 2**20:.0f} MiB)"
                             f" and paged out"
                             f" {b.result('reclaim', 'damon_sz_applied') / 2**20:.0f}"
                             f" MiB in the window")
        svg_plot(boots, os.path.join(CACHE, "bench", f"compare-need{need}.svg"))
    csv = os.path.join(CACHE, "bench", "compare.csv")
    with open(csv, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(c) for c in r) + "\n")
    print()
    print(f"The alternatives: the guest holds {args.mib} MiB of clean page cache, and the"
          f" host needs some back.  'returned': the fall of the guest RAM mapping's RSS;"
          f" '90% after': seconds from the request until QEMU's RSS had fallen by 90% of"
          f" that; guest CPU: the 6 s after the request less the 6 s before; QEMU CPU:"
          f" user and system from the request to 11 s after it; 'cache lost': what the"
          f" re-read had to read from the disk again; 'working set': a pass over 16 MiB"
          f" of other files the guest reads every 200 ms, before the request (median)"
          f" > after it (mean, and the longest), and what its passes after the request"
          f" read from the disk:")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for r in [header] + rows:
        print("  " + "  ".join(str(c).rjust(w) if i != 1 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    for n in notes:
        print(f"  {n}")
    print(f"table: {csv}; RSS over time: .cache/bench/compare-need*.svg")
    reread_rounds(args, first_round)


def reread_rounds(args, first_round):
    """The re-read after each GPH host against the re-read after drop_caches.

    One boot of each is noisy: the re-read waits on QEMU's reads of the
    disk image, which take what the host's other work leaves them.  So
    the table's boots are the first round, and REREAD_ROUNDS - 1 more
    rounds boot drop_caches and each GPH host in turn, for every need;
    each round gives one ratio per host (its re-read over drop_caches'),
    and the summary is their median with the lowest and highest.  The
    issue's goal is the median at most 1.2."""
    wanted = [m for m in REREAD_METHODS if args.qemu_cmma or not COMPARE_BY_METHOD[m][2]]
    rows, failed, by_need = [], [], {}
    for need, first in first_round.items():
        rounds = [first]
        for n in range(2, REREAD_ROUNDS + 1):
            boots = {}
            for method in wanted:
                b = compare_boot(args, method, need, tag=f"round{n}")
                if b.failed:
                    failed.append(f"{b.label}, need {need} MiB, round {n}: {b.failed}")
                    continue
                bad = wrong_words(b)
                if bad:
                    sys.exit(f"error: {b.label}, round {n}: the re-read or the working set"
                             f" found {bad:.0f} wrong words")
                boots[method] = b
            rounds.append(boots)
        for i, boots in enumerate(rounds, 1):
            for method, b in boots.items():
                rows.append([need, i, method, f"{b.result('reread', 'read_ms') / 1000:.3f}",
                             f"{b.result('reread', 'sys_ms') / 1000:.3f}",
                             f"{b.result('reread', 'read_kib') / 1024:.0f}"])
        by_need[need] = rounds
    csv = os.path.join(CACHE, "bench", "reread-rounds.csv")
    with open(csv, "w") as f:
        f.write("need MiB,round,method,re-read s,guest system s,read from disk MiB\n")
        for r in rows:
            f.write(",".join(str(c) for c in r) + "\n")
    print()
    print(f"Re-read against drop_caches', {REREAD_ROUNDS} rounds of a boot per method (the"
          f" table's, then {REREAD_ROUNDS - 1} more in turn): median of the rounds' ratios"
          f" [lowest..highest]; goal: at most 1.2")
    for need, rounds in by_need.items():
        for method in wanted[1:]:
            ratios = [r[method].result("reread", "read_ms") / r["dropcache"].result("reread", "read_ms")
                      for r in rounds if method in r and "dropcache" in r]
            if not ratios:
                print(f"  need {need:3} MiB  {COMPARE_BY_METHOD[method][0]:22} no round completed")
                continue
            dc = median([r["dropcache"].result("reread", "read_ms") for r in rounds
                         if "dropcache" in r]) / 1000
            print(f"  need {need:3} MiB  {COMPARE_BY_METHOD[method][0]:22} {median(ratios):.2f}"
                  f" [{min(ratios):.2f}..{max(ratios):.2f}] of {len(ratios)}"
                  f"  (drop_caches: median {dc:.2f} s)")
    for f in failed:
        print(f"  the boot failed: {f}")
    print(f"rounds: {csv}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["run", "bench", "hotpath", "zpool", "compare"])
    p.add_argument("--need", type=int, action="append",
                   help="MiB the host needs back, for compare (default: half the files,"
                   " then all of them)")
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--disk", required=True)
    p.add_argument("--mib", type=int, default=160, help="MiB of files the guest reads")
    p.add_argument("--qemu-cmma", help="QEMU with CMMA (host/qemu/build.sh): adds the "
                   "ESSA host's boots")
    args = p.parse_args()

    if args.what == "hotpath":
        hotpath(args)
        return
    if args.what == "compare":
        args.need = args.need or [args.mib // 2, args.mib]
        compare(args)
        return
    if args.what == "zpool":
        boot = Boot("zswap allocators", "off", "zpool", args.mib)
        boot.run(args.kernel, args.initrd, args.disk)
        print()
        zpool_report(boot)
        return
    bench = args.what == "bench"
    # Free page reporting alone: no page states at all for the bench's
    # hot-path baseline, mainline's unused states for the demo.
    baseline = "off" if bench else "unused"
    boots = [Boot("free page reporting alone", baseline, args.what, args.mib),
             Boot("GPH (volatile page cache)", "volatile", args.what, args.mib)]
    if args.qemu_cmma:
        boots.append(Boot("GPH, ESSA host", "volatile", args.what, args.mib,
                          args.qemu_cmma))
    for b in boots:
        b.run(args.kernel, args.initrd, args.disk)

    print()
    print(f"QEMU's RSS, and (in brackets) the resident part of the guest's RAM mapping:")
    print(f"{'':28} {'RSS before':>17} {'RSS after':>17} {'returned':>17} {'re-read':>8}")
    for b in boots:
        print(f"{b.label:28}"
              f" {b.mark('before') / 1024:4.0f} MiB ({b.mark('before', 2) / 1024:4.0f})"
              f" {b.mark('after') / 1024:6.0f} MiB ({b.mark('after', 2) / 1024:4.0f})"
              f" {b.returned_mib():6.0f} MiB ({b.returned_mib(2):4.0f})"
              f" {b.result('reread', 'read_ms') / 1000:6.1f} s")
    for b in boots:
        if b.cmm:
            c = (b.reclaim.get("pressure", {}).get("counters")
                 or sys.exit("error: the ESSA host's reclaim did not run"))
            discarded = f"{c['dropped-volatile']} volatile pages dropped by QEMU"
        else:
            discarded = f"{b.result('pressure', 'discarded_pages'):.0f} pages discarded"
        print(f"  {b.label}: {discarded}"
              f" ({b.result('pressure', 'reported_pages'):.0f} given back through free page"
              f" reporting), "
              f"re-read {b.result('reread', 'read_mib'):.0f} MiB with "
              f"{b.result('reread', 'mismatches'):.0f} mismatches")
        if b.result('reread', 'mismatches') or b.result('coldread', 'mismatches'):
            sys.exit("error: the guest read wrong data")
    for b in boots:
        if b.cmm:
            essa_report(b, boots[1], args.mib)
    print()
    print("Re-reading the files after the pressure, against a cold re-read after"
          " drop_caches in the same boot:")
    print(f"{'':28} {'after pressure':>34} {'after drop_caches':>34} {'ratio':>6}")
    for b in boots:
        print(f"{b.label:28} {reread(b, 'reread'):>34} {reread(b, 'coldread'):>34}"
              f" {b.result('reread', 'read_ms') / b.result('coldread', 'read_ms'):6.2f}")

    os.makedirs(os.path.join(CACHE, args.what), exist_ok=True)
    plot = os.path.join(CACHE, args.what, "rss-over-time.svg")
    svg_plot(boots, plot)
    print(f"plot of RSS over time: {os.path.relpath(plot, ROOT)}")
    if not bench:
        return

    fpr, gph = boots[0], boots[1]
    print()
    print(f"P1  share of {args.mib} MiB returned to the host (guest RAM mapping): "
          f"GPH {gph.returned_mib(2) / args.mib:.1%} vs free page reporting "
          f"{fpr.returned_mib(2) / args.mib:.1%} (goal >= 90% vs about 0%)")
    print(f"    (QEMU's whole RSS: GPH {gph.returned_mib() / args.mib:.1%} vs "
          f"{fpr.returned_mib() / args.mib:.1%}; QEMU's heap grows while it handles the reports)")
    for b in boots[2:]:
        print(f"    {b.label}: {b.returned_mib(2) / args.mib:.1%} (guest RAM mapping),"
              f" {b.returned_mib() / args.mib:.1%} (QEMU's whole RSS)")
    swap_mib = 48
    for b in boots:
        if b.result("swap", "swap_mismatches"):
            sys.exit(f"error: the {b.label} boot read its swapped memory back wrong")
    print(f"P1  swap: share of a {swap_mib} MiB working set, swapped out and read back into"
          f" the swap cache, returned to the host (guest RAM mapping): GPH "
          f"{gph.returned_mib(2, 'swap') / swap_mib:.1%} vs free page reporting "
          f"{fpr.returned_mib(2, 'swap') / swap_mib:.1%}")
    for b in boots[2:]:
        # QEMU drops everything it may, unused pages included: what it took
        # of the working set shows as the pages the guest read from swap again.
        taken = b.result("swap", "swap_refaulted_pages") * 4096 / 2**20
        print(f"    {b.label}: QEMU dropped {taken / swap_mib:.1%} of the working set (pages"
              f" the guest then read from swap again); the guest RAM mapping fell"
              f" {b.returned_mib(2, 'swap'):.0f} MiB, unused pages included")
    print("P2  hot-path time with hinting on / off (page_states=volatile / off;"
          " guest clock counts instructions; goal <= 1.03):")
    for key, name in HOTPATH:
        on, off = gph.result("hotpath", key), fpr.result("hotpath", key)
        print(f"      {name:24} {on:9.1f} ns / {off:9.1f} ns = {on / off:.3f}")
    cov = gph.result("coverage", "coverage")
    print(f"P3  volatile coverage after the file workload: {cov:.1%} of the ideal "
          f"(unused {gph.result('coverage', 'unused_pages'):.0f} + volatile "
          f"{gph.result('coverage', 'volatile_pages'):.0f} pages of free "
          f"{gph.result('coverage', 'free_pages'):.0f} + clean page cache "
          f"{gph.result('coverage', 'clean_cache_pages'):.0f}; goal >= 90%)")
    print(f"    clean page cache alone: {gph.result('coverage', 'cache_coverage'):.1%} volatile"
          f" (the census counts per-CPU free lists as unused; MemFree does not)")
    print(f"P3  as pages the host could take now (unused, or volatile, clean, unlocked and"
          f" held by nobody but the cache and its mappings): "
          f"{gph.result('coverage', 'takeable_coverage'):.1%} of the ideal (unused "
          f"{gph.result('coverage', 'takeable_unused_pages'):.0f} + volatile "
          f"{gph.result('coverage', 'takeable_volatile_pages'):.0f} pages); clean page cache"
          f" alone: {gph.result('coverage', 'takeable_cache_coverage'):.1%} (goal >= 90%)")
    print(f"P3  swap cache: the emulated host took {gph.result('swapcoverage', 'swap_coverage'):.1%}"
          f" of the clean swap cache ({gph.result('swapcoverage', 'swap_taken_pages'):.0f} of"
          f" {gph.result('swapcoverage', 'swap_cache_pages'):.0f} pages, half mapped by read faults;"
          f" goal >= 90%)")
    for b in boots[2:]:
        print(f"    {b.label}: QEMU took {b.result('swapcoverage', 'swap_coverage'):.1%}"
              f" ({b.result('swapcoverage', 'swap_taken_pages'):.0f} of"
              f" {b.result('swapcoverage', 'swap_cache_pages'):.0f} pages, counted as the guest"
              f" read them from swap again)")
    zpool_report(fpr)
    args.need = args.need or [args.mib // 2, args.mib]
    compare(args)


if __name__ == "__main__":
    main()
