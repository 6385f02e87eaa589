#!/usr/bin/env python3
"""iscsid against tgt (tgtd): conformance and speed, one run, same backing file.

conformance  libiscsi's iscsi-test-cu -d -t ALL against both targets; prints a
             table of passed / failed / skipped (a skipped test counts as
             passed in its own summary: we read the [SKIPPED] lines), and
             every test whose outcome differs.
perf         iscsi-perf (libiscsi) 4 KiB random reads at queue depth 32 and
             1 MiB sequential reads at depth 8, plus qemu-img bench 1 MiB
             sequential writes at depth 8; the two targets alternate run by
             run and each figure is the median of the per-round ratios.

Usage: benches/scripts/iscsi_vs_tgt.py [conformance] [perf] [--rounds 5]
       [--seconds 4] [--size-mb 1024] [--iscsid PATH]
Needs root, tgt, libiscsi-bin, qemu-utils (scripts/install-peers).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IQN_OURS = "iqn.2026-11.org.netboot:bench"
IQN_TGT = "iqn.2026-11.org.netboot:tgt"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Tgt:
    def __init__(self, image, ctl):
        self.port = free_port()
        self.ctl = str(ctl)
        self.proc = subprocess.Popen(["tgtd", "-f", "-C", self.ctl, "--iscsi",
                                      f"portal=127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        adm = ["tgtadm", "-C", self.ctl, "--lld", "iscsi"]
        subprocess.run(adm + ["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN_TGT], check=True)
        subprocess.run(adm + ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
                              "-b", image], check=True)
        subprocess.run(adm + ["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"], check=True)
        # tgt's LUN 0 is a controller; the disk is LUN 1.
        self.url = f"iscsi://127.0.0.1:{self.port}/{IQN_TGT}/1"

    def stop(self):
        adm = ["tgtadm", "-C", self.ctl, "--lld", "iscsi"]
        subprocess.run(adm + ["--op", "delete", "--force", "--mode", "target", "--tid", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["tgtadm", "-C", self.ctl, "--op", "delete", "--mode", "system"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Ours:
    def __init__(self, binary, image):
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{self.port}", "--target",
                                      IQN_OURS, "--disk", image, "--log-level", "warn"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        self.url = f"iscsi://127.0.0.1:{self.port}/{IQN_OURS}/0"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def test_cu(url, initiator):
    # The URL twice: the second session enables the multipath tests.
    out = subprocess.run(["iscsi-test-cu", "-d", "-i", initiator + ":a", "-I", initiator + ":b",
                          "-t", "ALL", url, url], capture_output=True, text=True, timeout=900).stdout
    # CUnit prints "Test: NAME ..." and then the verdict ("passed" or
    # "FAILED") at the start of the rest of the line or of a later line; the
    # lines between are the test's log. "[SKIPPED]" anywhere: skipped.
    def verdict(s):
        return "passed" if s.startswith("passed") else ("failed" if s.startswith("FAILED") else None)
    results = {}
    suite = test = None
    for line in out.splitlines():
        m = re.match(r"^Suite: (.+)$", line)
        if m:
            suite = m.group(1).strip()
            continue
        m = re.match(r"^\s+Test: (\S+) \.\.\.(.*)$", line)
        if m:
            test = f"{suite}.{m.group(1)}"
            rest = m.group(2)
            results[test] = "skipped" if "[SKIPPED]" in rest else (verdict(rest) or "?")
            continue
        if test and results.get(test) == "?":
            if "[SKIPPED]" in line:
                results[test] = "skipped"
            elif verdict(line):
                results[test] = verdict(line)
    return results, out


def conformance(args, image_tgt, image_ours):
    tgt = Tgt(image_tgt, 91)
    try:
        r_tgt, _ = test_cu(tgt.url, "iqn.2026-11.org.netboot:cu-tgt")
    finally:
        tgt.stop()
    ours = Ours(args.iscsid, image_ours)
    try:
        r_ours, raw = test_cu(ours.url, "iqn.2026-11.org.netboot:cu-ours")
    finally:
        ours.stop()
    if args.raw:
        open(args.raw, "w").write(raw)
    count = lambda r, k: sum(1 for v in r.values() if v == k)
    print("\n| target | tests | passed | failed | skipped |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("tgt 1.0.85", r_tgt), ("iscsid", r_ours)):
        print(f"| {name} | {len(r)} | {count(r, 'passed')} | {count(r, 'failed')} | {count(r, 'skipped')} |")
    print("\nTests whose outcome differs (tgt -> iscsid):")
    for t in sorted(set(r_tgt) | set(r_ours)):
        a, b = r_tgt.get(t, "-"), r_ours.get(t, "-")
        if a != b:
            print(f"  {t}: {a} -> {b}")
    print("\niscsid failures and skips:")
    for t, v in sorted(r_ours.items()):
        if v != "passed":
            print(f"  {t}: {v}")


def iscsi_perf(url, qd, blocks, random, seconds):
    cmd = ["iscsi-perf", "-m", str(qd), "-b", str(blocks)] + (["-r"] if random else []) + [url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=30)[0]
    m = re.findall(r"iops average (\d+) \((\d+) MB/s\)", out)
    if not m:
        raise RuntimeError(f"no iscsi-perf figures: {out[-500:]}")
    iops, mbs = m[-1]
    return int(iops), int(mbs)


def qemu_bench_write(url, size_mb):
    t0 = time.perf_counter()
    subprocess.run(["qemu-img", "bench", "-f", "raw", "-w", "-t", "none", "-d", "8", "-s", "1M",
                    "-c", str(size_mb), url], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return size_mb / (time.perf_counter() - t0)


def perf(args, image_tgt, image_ours):
    tgt = Tgt(image_tgt, 92)
    ours = Ours(args.iscsid, image_ours)
    rows = []
    try:
        scenarios = [
            ("4 KiB random read, QD 32 (IOPS)", lambda u: iscsi_perf(u, 32, 8, True, args.seconds)[0]),
            ("1 MiB sequential read, QD 8 (MB/s)", lambda u: iscsi_perf(u, 8, 2048, False, args.seconds)[1]),
            ("1 MiB sequential write, QD 8 (MB/s)", lambda u: qemu_bench_write(u, args.size_mb // 2)),
        ]
        for name, fn in scenarios:
            a, b = [], []
            for r in range(args.rounds):
                if r % 2 == 0:
                    a.append(fn(tgt.url)); b.append(fn(ours.url))
                else:
                    b.append(fn(ours.url)); a.append(fn(tgt.url))
            ratios = [y / x for x, y in zip(a, b)]
            rows.append((name, statistics.median(a), statistics.median(b), statistics.median(ratios), ratios))
    finally:
        tgt.stop()
        ours.stop()
    # The backing file read directly, for the "within 2x" comparison.
    t0 = time.perf_counter()
    subprocess.run(["dd", f"if={image_ours}", "of=/dev/null", "bs=1M"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    direct = (os.path.getsize(image_ours) >> 20) / (time.perf_counter() - t0)
    print("\n| scenario | tgt (median) | iscsid (median) | median ratio | per-round |")
    print("|---|---:|---:|---:|---|")
    for name, a, b, r, rr in rows:
        print(f"| {name} | {a:.0f} | {b:.0f} | **{r:.2f}x** | " + ", ".join(f"{x:.2f}" for x in rr) + " |")
    print(f"\nbacking file read with dd (page cache): {direct:.0f} MB/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="*", default=["conformance", "perf"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--raw", help="write iscsid's raw iscsi-test-cu output here")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--iscsid", default=os.path.join(target, "release", "iscsid"))
    args = ap.parse_args()
    for tool in ["tgtd", "tgtadm", "iscsi-test-cu", "iscsi-perf", "qemu-img"]:
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: run scripts/install-peers")
    if args.iscsid == ap.get_default("iscsid"):
        subprocess.run(["cargo", "build", "--release", "-p", "netboot-iscsid"], cwd=REPO, check=True)
    tmp = tempfile.mkdtemp(prefix="iscsi-bench-")
    try:
        a, b = os.path.join(tmp, "tgt.img"), os.path.join(tmp, "ours.img")
        for img in (a, b):
            with open(img, "wb") as f:
                f.truncate(args.size_mb << 20)
        if "conformance" in args.what:
            conformance(args, a, b)
        if "perf" in args.what:
            perf(args, a, b)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
