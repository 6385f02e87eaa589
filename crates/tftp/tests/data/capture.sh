#!/usr/bin/env bash
# Regenerates the golden TFTP packets in this directory from real peers:
# tftpd-hpa (in.tftpd) as the server, curl, tftp-hpa, atftp and busybox as
# clients, all inside a private network namespace, captured with tshark.
# Each UDP payload is written to NAME.bin. Needs root and scripts/install-peers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=tftp-golden-$$
work=$(mktemp -d)
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# tftpd-hpa misbehaves with only lo: give it a veth address.
ip -n "$ns" link add v0 type veth peer name v1
ip -n "$ns" addr add 10.99.0.1/24 dev v0
ip -n "$ns" addr add 10.99.0.2/24 dev v1
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up
mkdir -p "$work/root"
head -c 3000 /dev/zero | tr '\0' 'A' > "$work/root/small.bin"
chmod -R a+rwX "$work"
ip netns exec "$ns" in.tftpd -L -u root -c -s "$work/root" -a 10.99.0.1:69 &
ip netns exec "$ns" tshark -q -i any -f "udp" -w "$work/cap.pcapng" 2>/dev/null &
sleep 2
run() { ip netns exec "$ns" "$@" >/dev/null 2>&1 || true; }
run curl -s --tftp-blksize 1468 -o /dev/null tftp://10.99.0.1/small.bin
run tftp 10.99.0.1 -m binary -c get small.bin /dev/null
run atftp --option "blksize 1024" --option "windowsize 4" -g -r small.bin -l /dev/null 10.99.0.1
run busybox tftp -g -b 1468 -r small.bin -l /dev/null 10.99.0.1
run tftp 10.99.0.1 -m binary -c get missing.bin /dev/null
printf 'up' > "$work/up.txt"
run tftp 10.99.0.1 -m netascii -c put "$work/up.txt" new.txt
sleep 1
kill %2 2>/dev/null || true
sleep 1
ip netns exec "$ns" tshark -r "$work/cap.pcapng" -Y tftp -T fields -e frame.number -e udp.srcport -e udp.dstport -e udp.payload > "$work/frames.txt"
python3 - "$work/frames.txt" "$here" <<'PY'
import sys
frames, out = sys.argv[1], sys.argv[2]
seen = {}
names = []
for line in open(frames):
    parts = line.split("\t")
    if len(parts) < 4 or not parts[3].strip():
        continue
    b = bytes.fromhex(parts[3].strip())
    op = int.from_bytes(b[:2], "big")
    if op in (1, 2):
        body = b[2:].split(b"\0")
        opts = b"" if len(body) <= 3 else b"_" + b"_".join(body[2:-1:2])
        key = ("rrq" if op == 1 else "wrq") + "_" + body[0].decode() + opts.decode().lower()
    elif op == 3:
        key = "data_%d" % len(b[4:])
    elif op == 4:
        key = "ack"
    elif op == 5:
        key = "error_%d" % int.from_bytes(b[2:4], "big")
    elif op == 6:
        key = "oack_" + "_".join(x.decode() for x in b[2:].split(b"\0")[:-1:2])
    else:
        continue
    key = key.replace("/", "_").replace(".", "_")
    if key not in seen:
        seen[key] = b
        open(f"{out}/{key}.bin", "wb").write(b)
        names.append(key)
print("\n".join(names))
PY
