#!/usr/bin/env python3
"""aoed against vblade: same veth pair, same client (our aoectl), alternating runs.

A throw-away network namespace holds a veth pair: the target side `va`, the
client side `vb`. Each round starts vblade on `va`, runs the workloads with
`aoectl bench` on `vb`, stops it, then does the same with aoed (the order
alternates between rounds). These VMs are noisy, so each comparison is the
median of the per-round ratios aoed/vblade, next to the median figures.

Workloads (aoectl bench):
  seq-read   sequential read,  --io-size 128 KiB, depth 8  -> MB/s
  seq-write  sequential write, --io-size 128 KiB, depth 8, then FLUSH -> MB/s
  rand-read  4 KiB random reads, depth 32, fixed time -> IOPS

Both targets export the same image file (buffered I/O, page cache warm).
vblade advertises its default buffer count (16), aoed its default (64); the
client's window follows each target's buffer count.

With --peer-bindir DIR the peer is not vblade but the aoed in DIR, for
comparing two builds of aoed (say the AF_PACKET default against
--features pnet, README "Dependencies"); the client is always the aoectl of
--bindir, and --peer-name labels the peer's column.

Usage: sudo benches/scripts/aoe_vs_vblade.py [--rounds 5] [--size-mb 128]
       [--seconds 3] [--mtu 1500] [--quick] [--peer-bindir DIR --peer-name NAME]
Needs: vblade (Debian: vblade), root (namespaces, raw sockets), and
       cargo build --release -p netboot-aoed -p netboot-aoectl.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = f"aoe-bench-{os.getpid()}"


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def in_ns(*args):
    return ["ip", "netns", "exec", NS, *args]


def setup(mtu):
    sh("ip", "netns", "add", NS)
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    sh("ip", "-n", NS, "link", "add", "va", "type", "veth", "peer", "name", "vb")
    for dev in ("va", "vb"):
        sh("ip", "-n", NS, "link", "set", dev, "mtu", str(mtu))
        sh("ip", "-n", NS, "link", "set", dev, "up")


def teardown():
    sh("ip", "netns", "del", NS, check=False)


def start(kind, image, bindir, peer_bindir=None):
    if kind == "aoed" or peer_bindir:
        exe = os.path.join(bindir if kind == "aoed" else peer_bindir, "aoed")
        cmd = in_ns(exe, "--interface", "va", "--shelf", "1", "--slot", "1",
                    "--disk", image, "--log-level", "warn")
    else:
        cmd = in_ns("vblade", "1", "1", "va", image)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.7)
    if p.poll() is not None:
        sys.exit(f"{kind} did not start")
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def bench(bindir, mode, size, seconds):
    args = [os.path.join(bindir, "aoectl"), "bench", "--interface", "vb", "--target", "e1.1", "--mode", mode]
    if mode == "rand-read":
        args += ["--io-size", "4096", "--depth", "32", "--seconds", str(seconds)]
    else:
        args += ["--io-size", str(128 * 1024), "--depth", "8", "--size", str(size)]
    r = subprocess.run(in_ns(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"aoectl bench {mode}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--quick", action="store_true", help="3 rounds, 32 MiB, 1 s")
    ap.add_argument("--bindir", default=os.path.join(REPO, "target", "release"))
    ap.add_argument("--peer-bindir", help="compare with the aoed in this directory instead of vblade")
    ap.add_argument("--peer-name", default=None, help="label of the peer (default: vblade, or peer-aoed)")
    a = ap.parse_args()
    peer = a.peer_name or ("peer-aoed" if a.peer_bindir else "vblade")
    if a.quick:
        a.rounds, a.size_mb, a.seconds = 3, 32, 1.0
    for b in ("aoed", "aoectl"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"{a.bindir}/{b} missing: cargo build --release -p netboot-aoed -p netboot-aoectl")
    size = a.size_mb << 20
    tmp = tempfile.mkdtemp(prefix="aoe-bench-")
    image = os.path.join(tmp, "disk.img")
    with open(image, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(a.size_mb):
            f.write(chunk)
    modes = ["seq-read", "seq-write", "rand-read"]
    res = {k: {m: [] for m in modes} for k in ("aoed", "vblade")}  # "vblade": the peer
    setup(a.mtu)
    try:
        for rnd in range(a.rounds):
            order = ("vblade", "aoed") if rnd % 2 == 0 else ("aoed", "vblade")
            for kind in order:
                p = start(kind, image, a.bindir, a.peer_bindir)
                try:
                    for m in modes:
                        r = bench(a.bindir, m, size, a.seconds)
                        res[kind][m].append(r["iops"] if m == "rand-read" else r["mb_per_s"])
                finally:
                    stop(p)
            print(f"round {rnd + 1}/{a.rounds}: " + ", ".join(
                f"{m} aoed {res['aoed'][m][-1]:.0f} {peer} {res['vblade'][m][-1]:.0f}" for m in modes),
                file=sys.stderr)
    finally:
        teardown()
        os.unlink(image)
        os.rmdir(tmp)
    print(f"\nAoE over one veth pair, MTU {a.mtu}, {a.rounds} alternating rounds, client: aoectl\n")
    print(f"| workload | unit | aoed (median) | {peer} (median) | median ratio aoed/{peer} |")
    print("|---|---|---|---|---|")
    for m in modes:
        unit = "IOPS (4 KiB, QD32)" if m == "rand-read" else "MB/s (128 KiB, QD8)"
        ratios = [x / y for x, y in zip(res["aoed"][m], res["vblade"][m]) if y > 0]
        print(f"| {m} | {unit} | {statistics.median(res['aoed'][m]):.0f} | "
              f"{statistics.median(res['vblade'][m]):.0f} | {statistics.median(ratios):.2f}x |")


if __name__ == "__main__":
    main()
