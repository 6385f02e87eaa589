#!/usr/bin/env python3
"""tftpd against tftpd-hpa (in.tftpd): same files, same clients, one run.

The two servers run side by side on loopback and are measured alternately,
round by round (these VMs are noisy: the same transfer varies several-fold
between runs), and each comparison is reported as the median of the
per-round ratios, never as a single absolute figure.

Scenarios:
  single      one large download with curl at blksize 1468 (lock-step)
  concurrent  N parallel curl downloads of a smaller file (aggregate rate)
  window      atftp with windowsize 16 against our server, compared with the
              lock-step figure of the same client on both servers

Usage: benches/scripts/tftp_vs_hpa.py [--rounds 5] [--size-mb 256]
       [--concurrent 64] [--conc-size-mb 16] [--quick]
Needs: curl, atftp, in.tftpd (Debian: curl atftp tftpd-hpa), root (in.tftpd -u root).
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_file(path, size):
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def timed_parallel(cmds):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in cmds]
    bad = [p.wait() for p in procs]
    if any(bad):
        raise RuntimeError(f"{sum(1 for b in bad if b)} of {len(cmds)} downloads failed")
    return time.perf_counter() - t0


def curl(port, name, out="/dev/null"):
    return ["curl", "-s", "-S", "--tftp-blksize", "1468", "-o", out, f"tftp://127.0.0.1:{port}/{name}"]


def atftp(port, name, window=None):
    c = ["atftp", "--option", "blksize 1468"]
    if window:
        c += ["--option", f"windowsize {window}"]
    return c + ["-g", "-r", name, "-l", "/dev/null", "127.0.0.1", str(port)]


def alternate(rounds, run_a, run_b):
    """Runs a and b alternately; returns (times_a, times_b, ratios b/a... as a/b)."""
    ta, tb = [], []
    for r in range(rounds):
        if r % 2 == 0:
            ta.append(run_a())
            tb.append(run_b())
        else:
            tb.append(run_b())
            ta.append(run_a())
    ratios = [a / b for a, b in zip(ta, tb)]
    return ta, tb, ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--concurrent", type=int, default=64)
    ap.add_argument("--conc-size-mb", type=int, default=16)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--tftpd", default=os.path.join(target, "release", "tftpd"),
                    help="server binary (default: built with cargo build --release)")
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 rounds (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.size_mb, args.conc_size_mb, args.concurrent = 3, 16, 2, 16
    for tool in ["curl", "atftp", "in.tftpd"]:
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install curl atftp tftpd-hpa")
    if args.tftpd == ap.get_default("tftpd"):
        # Always rebuild: a stale binary would measure old code.
        subprocess.run(["cargo", "build", "--release", "-p", "netboot-tftpd"], cwd=REPO, check=True)

    tmp = tempfile.mkdtemp(prefix="tftp-bench-")
    root = os.path.join(tmp, "root")
    os.mkdir(root)
    make_file(os.path.join(root, "big.bin"), args.size_mb << 20)
    make_file(os.path.join(root, "conc.bin"), args.conc_size_mb << 20)
    os.chmod(tmp, 0o755)
    subprocess.run(["chmod", "-R", "a+rX", root], check=True)
    hpa_port, our_port = free_port(), free_port()
    hpa = subprocess.Popen(["in.tftpd", "-L", "-u", "root", "-s", root, "-a", f"127.0.0.1:{hpa_port}"])
    ours = subprocess.Popen([args.tftpd, "--root", root, "--listen", f"127.0.0.1:{our_port}",
                             "--log-level", "warn", "--max-transfers", "1024",
                             # Every client of the bench is 127.0.0.1: lift the
                             # per-address limit (8 by default) as tftpd-hpa has none.
                             "--max-transfers-per-address", "1024"])
    time.sleep(0.5)
    rows = []
    try:
        # Warm the page cache and both servers.
        timed(curl(hpa_port, "big.bin"))
        timed(curl(our_port, "big.bin"))

        size = args.size_mb << 20
        th, to, r = alternate(args.rounds, lambda: timed(curl(hpa_port, "big.bin")),
                              lambda: timed(curl(our_port, "big.bin")))
        rows.append((f"single {args.size_mb} MiB, curl blksize 1468", size, th, to, r))

        n = args.concurrent
        csize = n * (args.conc_size_mb << 20)
        th, to, r = alternate(
            max(3, args.rounds // 2),
            lambda: timed_parallel([curl(hpa_port, "conc.bin") for _ in range(n)]),
            lambda: timed_parallel([curl(our_port, "conc.bin") for _ in range(n)]))
        rows.append((f"{n} x {args.conc_size_mb} MiB concurrent, curl", csize, th, to, r))

        # Windows: atftp lock-step on tftpd-hpa (which has no windowsize)
        # against atftp with windowsize 16 on ours; and ours lock-step.
        th, to, r = alternate(args.rounds, lambda: timed(atftp(hpa_port, "big.bin")),
                              lambda: timed(atftp(our_port, "big.bin", 16)))
        rows.append((f"single {args.size_mb} MiB, atftp: hpa lock-step vs ours windowsize 16",
                     size, th, to, r))
        th, to, r = alternate(args.rounds, lambda: timed(atftp(our_port, "big.bin")),
                              lambda: timed(atftp(our_port, "big.bin", 16)))
        rows.append((f"single {args.size_mb} MiB, atftp on ours: lock-step vs windowsize 16",
                     size, th, to, r))
    finally:
        for p in (hpa, ours):
            p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        hpa.kill()
        ours.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    mibs = lambda b, ts: (b / (1 << 20)) / statistics.median(ts)
    print()
    print("| scenario | baseline MiB/s (median) | ours MiB/s (median) | median ratio | per-round ratios |")
    print("|---|---:|---:|---:|---|")
    for name, b, ta, tb, r in rows:
        print(f"| {name} | {mibs(b, ta):.1f} | {mibs(b, tb):.1f} | **{statistics.median(r):.2f}x** | "
              + ", ".join(f"{x:.2f}" for x in r) + " |")


if __name__ == "__main__":
    main()
