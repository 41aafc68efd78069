#!/usr/bin/env python3
"""What the app benchmarks read from /proc (bench/idle.sh, soak.sh, floor.sh).

Every figure is for a process *tree*: the app and its descendants (WebKit's
web and network processes), found by walking /proc/PID/task/*/children.

  procstat.py watch --interval 5 --slice 60 --duration 600 --out F.json LABEL=PID...
      CPU and wake-ups of each tree over a window. CPU: utime + stime of
      /proc/PID/stat (all of the process's threads, the ended ones too),
      summed over the tree. Wake-ups: voluntary + nonvoluntary context
      switches of every thread (/proc/PID/task/TID/status), summed. Each
      thread counts from the first sample it is seen in (0 for a thread or
      process born inside the window) to the last; sampling every
      --interval seconds keeps the loss from short-lived threads small.
      The window is cut into --slice second slices; the JSON has each
      slice's CPU seconds and wake-ups per second, per label, and the totals.

  procstat.py mem PID [--breakdown]
      PSS, RSS and USS (private) in KiB of the tree (smaps_rollup), one JSON object; with
      --breakdown also the PSS per process and per kind of mapping (from
      /proc/PID/smaps).
"""
import json
import os
import re
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def tree(root):
    seen, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in seen or not os.path.isdir(f"/proc/{p}"):
            continue
        seen.append(p)
        todo += children(p)
    return seen


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def ctxt(pid, tid):
    v = n = 0
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                v = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                n = int(line.split()[1])
    return v + n


def snapshot(root):
    """{pid: ticks}, {(pid, tid): switches}, {pid: comm} of the tree now."""
    cpu, sw, names = {}, {}, {}
    for p in tree(root):
        try:
            cpu[p] = cpu_ticks(p)
            names[p] = comm(p)
            for t in os.listdir(f"/proc/{p}/task"):
                try:
                    sw[(p, int(t))] = ctxt(p, t)
                except OSError:
                    pass
        except OSError:
            pass
    return cpu, sw, names


class Tracker:
    """Cumulative counters per pid and per thread, with their baselines."""

    def __init__(self, root):
        self.root = root
        self.first = True
        self.cpu_base, self.cpu_last = {}, {}
        self.sw_base, self.sw_last = {}, {}
        self.names = {}
        self.threads_seen = set()

    def sample(self):
        cpu, sw, names = snapshot(self.root)
        for p, v in cpu.items():
            self.cpu_base.setdefault(p, v if self.first else 0)
            self.cpu_last[p] = v
        for k, v in sw.items():
            self.sw_base.setdefault(k, v if self.first else 0)
            self.sw_last[k] = v
            self.threads_seen.add(k)
        self.names.update(names)
        self.first = False
        return bool(cpu)

    def totals(self):
        ticks = sum(self.cpu_last[p] - self.cpu_base[p] for p in self.cpu_last)
        sw = sum(self.sw_last[k] - self.sw_base[k] for k in self.sw_last)
        return ticks / TICK, sw

    def per_process(self):
        out = {}
        for p in self.cpu_last:
            name = f"{self.names.get(p, '?')}[{p}]"
            sw = sum(self.sw_last[k] - self.sw_base[k] for k in self.sw_last if k[0] == p)
            out[name] = {
                "cpu_s": (self.cpu_last[p] - self.cpu_base[p]) / TICK,
                "switches": sw,
                "threads_seen": sum(1 for k in self.threads_seen if k[0] == p),
            }
        return out


def watch(args):
    interval, slice_s, duration, out = 5.0, 60.0, 600.0, None
    labels = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--interval", "--slice", "--duration", "--out"):
            v = args[i + 1]
            i += 2
            if a == "--interval":
                interval = float(v)
            elif a == "--slice":
                slice_s = float(v)
            elif a == "--duration":
                duration = float(v)
            else:
                out = v
            continue
        label, pid = a.split("=", 1)
        labels.append((label, int(pid)))
        i += 1
    trackers = {label: Tracker(pid) for label, pid in labels}
    result = {"interval_s": interval, "slice_s": slice_s, "duration_s": duration,
              "labels": [l for l, _ in labels], "slices": [], "load": []}
    t0 = time.monotonic()
    for tr in trackers.values():
        tr.sample()
    slice_start = {l: tr.totals() for l, tr in trackers.items()}
    slice_t = t0
    next_t = t0
    while True:
        next_t += interval
        end = t0 + duration
        time.sleep(max(0.0, min(next_t, end) - time.monotonic()))
        now = time.monotonic()
        for label, tr in trackers.items():
            if not tr.sample():
                sys.exit(f"procstat: {label} (pid {tr.root}) is gone")
        if now - slice_t >= slice_s - 1e-6 or now >= end - 1e-6:
            secs = now - slice_t
            entry = {"seconds": secs}
            for label, tr in trackers.items():
                cpu, sw = tr.totals()
                c0, s0 = slice_start[label]
                entry[label] = {"cpu_s": cpu - c0, "wakeups_per_s": (sw - s0) / secs}
                slice_start[label] = (cpu, sw)
            result["slices"].append(entry)
            with open("/proc/loadavg") as f:
                result["load"].append(float(f.read().split()[0]))
            slice_t = now
        if now >= end - 1e-6:
            break
    secs = time.monotonic() - t0
    result["seconds"] = secs
    result["totals"] = {}
    for label, tr in trackers.items():
        cpu, sw = tr.totals()
        result["totals"][label] = {"cpu_s": cpu, "wakeups_per_s": sw / secs,
                                   "processes": tr.per_process()}
    text = json.dumps(result, indent=1)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def kind(path, binary):
    """The kind of one mapping, for the PSS breakdown."""
    if path == "" or path.startswith("[anon") or path in ("[heap]", "[stack]"):
        return "heap+anon"
    if path.startswith("["):
        return "other"
    base = os.path.basename(path)
    if binary and os.path.realpath(path) == binary:
        return "binary"
    if base.startswith(("WebKit", "libwebkit2gtk", "libjavascriptcoregtk")):
        return "webkit+jsc"
    if re.search(r"(dri|libLLVM|libgallium|libGL|libEGL|libgbm|libglapi|libdrm|libvulkan|mesa)", path):
        return "gpu (mesa/llvm/gl)"
    if re.search(r"(libgtk|libgdk|libglib|libgobject|libgio|libpango|libcairo|libharfbuzz|libfreetype|libfontconfig|libicu|libX|libxcb|libayatana|libdbusmenu|libappindicator|libsoup|libgst)", base):
        return "gtk/glib/icu/x11/gst libs"
    if "flite" in base:
        return "flite voices"
    if path.startswith("/memfd:") or path.startswith("/dev/") or "(deleted)" in path:
        return "shared memory"
    if ".so" in base:
        return "other libs"
    return "other files (fonts, caches, locale)"


def mem(args):
    root = int(args[0])
    breakdown = "--breakdown" in args
    result = {"pss_kib": 0, "rss_kib": 0, "uss_kib": 0, "processes": {}}
    binary = os.path.realpath(f"/proc/{root}/exe") if os.path.exists(f"/proc/{root}/exe") else None
    kinds = {}
    for p in tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                roll = f.read()
        except OSError:
            continue
        pss = int(re.search(r"^Pss:\s+(\d+)", roll, re.M).group(1))
        rss = int(re.search(r"^Rss:\s+(\d+)", roll, re.M).group(1))
        # Private (USS): not shared with any other process, so unlike PSS it
        # does not move when other programs map the same libraries.
        uss = sum(int(m) for m in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+)", roll, re.M))
        result["pss_kib"] += pss
        result["rss_kib"] += rss
        result["uss_kib"] += uss
        # The root is named by its role: the app and the floor compare.
        name = "main process" if p == root else comm(p)
        entry = {"pss_kib": pss, "rss_kib": rss, "uss_kib": uss}
        if breakdown:
            per = {}
            path = ""
            try:
                with open(f"/proc/{p}/smaps") as f:
                    for line in f:
                        head = line.split(None, 5)
                        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                            path = head[5].strip() if len(head) > 5 else ""
                        elif line.startswith("Pss:"):
                            k = kind(path, binary if p == root else None)
                            per[k] = per.get(k, 0) + int(head[1])
            except OSError:
                pass
            entry["by_kind_kib"] = per
            for k, v in per.items():
                kinds[k] = kinds.get(k, 0) + v
        # Several processes may share a name (e.g. two web processes).
        key = name
        n = 2
        while key in result["processes"]:
            key = f"{name}#{n}"
            n += 1
        result["processes"][key] = entry
    if breakdown:
        result["by_kind_kib"] = kinds
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("watch", "mem"):
        sys.exit(__doc__)
    {"watch": watch, "mem": mem}[sys.argv[1]](sys.argv[2:])
