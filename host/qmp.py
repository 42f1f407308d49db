"""A small QMP client, and the host side of CMMA that the runner drives.

QEMU listens on a UNIX socket (`-qmp unix:PATH,server=on,wait=off`); a
Qmp connects, negotiates capabilities and runs commands one at a time,
skipping the events QEMU sends in between.
"""

import json
import socket
import threading
import time

# The CMMA host of host/qemu/patches: the object and its counters.
CMMA_PATH = "/machine/cmma"
CMMA_COUNTERS = (
    "essa-get-state", "essa-set-stable", "essa-set-unused",
    "essa-set-volatile", "essa-set-pot-volatile", "essa-set-stable-resident",
    "essa-set-stable-if-resident", "essa-set-stable-nodat",
    "dropped-unused", "dropped-volatile", "dropped-pot-volatile",
    "dropped-now", "discard-faults", "pot-volatile-written",
    "dma-into-dropped", "reclaim-passes", "dropped-recently-used",
    "aging-passes",
)


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"no QMP socket at {path} after {timeout}s")
                time.sleep(0.1)
        self.file = self.sock.makefile("rw")
        self.lock = threading.Lock()
        self._read()  # the greeting
        self.command("qmp_capabilities")

    def _read(self):
        while True:
            line = self.file.readline()
            if not line:
                raise QmpError("QEMU closed the QMP connection")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name, **arguments):
        with self.lock:
            msg = {"execute": name}
            if arguments:
                msg["arguments"] = arguments
            self.file.write(json.dumps(msg) + "\n")
            self.file.flush()
            reply = self._read()
        if "error" in reply:
            raise QmpError(f"{name}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def qom_get(self, path, prop):
        return self.command("qom-get", path=path, property=prop)

    def qom_set(self, path, prop, value):
        return self.command("qom-set", path=path, property=prop, value=value)

    def cmma_counters(self):
        return {c: self.qom_get(CMMA_PATH, c) for c in CMMA_COUNTERS}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CmmaWatch:
    """Keeps the CMMA host dropping every droppable page (`target-mib` 0
    every `period_ms`), and samples its counters every `interval` seconds
    until QEMU goes away; `last` holds the latest sample."""

    def __init__(self, path, period_ms, interval=2.0):
        self.path = path
        self.period_ms = period_ms
        self.interval = interval
        self.last = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            qmp = Qmp(self.path)
            qmp.qom_set(CMMA_PATH, "target-mib", 0)
            qmp.qom_set(CMMA_PATH, "period-ms", self.period_ms)
            while True:
                self.last = qmp.cmma_counters()
                time.sleep(self.interval)
        except (QmpError, OSError, ValueError) as e:
            if self.last is None:
                self.error = str(e)
