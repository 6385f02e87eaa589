#!/usr/bin/env bash
# Regenerates the golden iSCSI streams in this directory from real peers:
# tgt (tgtd) as the target, libiscsi's iscsi-ls, iscsi-inq and
# iscsi-readcapacity16 as initiators, on 127.0.0.1 only, captured with
# tshark on lo. Each TCP connection's two byte streams are written as
# NAME_initiator.bin (initiator to target) and NAME_target.bin.
# Needs root and the packages tgt, libiscsi-bin and tshark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
iqn=iqn.2024-01.org.example.netboot:golden
initiator=iqn.2024-01.org.example.netboot:initiator
work=$(mktemp -d)
# A free TCP port on 127.0.0.1, and a tgtd control socket number nobody uses.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl=$((200 + $$ % 700))
while [ -e "/var/run/tgtd/socket.$ctl" ]; do ctl=$((ctl + 1)); done
tgtd_pid=
tshark_pid=
adm() { tgtadm -C "$ctl" --lld iscsi "$@"; }
cleanup() {
    set +e
    [ -n "$tshark_pid" ] && kill "$tshark_pid" 2>/dev/null
    if [ -n "$tgtd_pid" ]; then
        # tgtd ignores SIGTERM: remove the target, then the system.
        adm --op delete --force --mode target --tid 1 >/dev/null 2>&1
        adm --op delete --mode system >/dev/null 2>&1
        sleep 1
        kill -KILL "$tgtd_pid" 2>/dev/null
        wait "$tgtd_pid" 2>/dev/null
    fi
    rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock"
    rm -rf "$work"
}
trap cleanup EXIT

truncate -s 8M "$work/disk.img"
tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" >"$work/tgtd.log" 2>&1 &
tgtd_pid=$!
for _ in $(seq 50); do adm --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done
adm --op new --mode target --tid 1 -T "$iqn"
adm --op new --mode logicalunit --tid 1 --lun 1 -b "$work/disk.img"
adm --op bind --mode target --tid 1 -I ALL

# One capture per run, so that every connection belongs to a known run.
capture() {
    local name=$1
    shift
    tshark -q -i lo -f "tcp port $port" -w "$work/$name.pcapng" 2>/dev/null &
    tshark_pid=$!
    sleep 2
    "$@" >"$work/$name.out" 2>&1 || true
    sleep 1
    kill "$tshark_pid"
    wait "$tshark_pid" 2>/dev/null || true
    tshark_pid=
    tshark -r "$work/$name.pcapng" -T fields -e tcp.stream -e tcp.srcport -e tcp.seq \
        -e tcp.payload >"$work/$name.txt" 2>/dev/null
    python3 - "$work/$name.txt" "$port" "$here" "$name" <<'PY'
import sys
frames, port, out, name = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
streams = {}  # tcp.stream -> {direction: {seq: bytes}}
for line in open(frames):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 4 or not parts[3]:
        continue
    stream, src, seq, payload = parts
    d = "target" if src == port else "initiator"
    segs = streams.setdefault(int(stream), {}).setdefault(d, {})
    # A retransmission repeats a sequence number: keep one copy.
    segs.setdefault(int(seq), bytes.fromhex(payload.replace(":", "")))
multi = len(streams) > 1
for i, stream in enumerate(sorted(streams)):
    for d, segs in streams[stream].items():
        data, want = b"", None
        for seq in sorted(segs):
            if want is not None and seq != want:
                sys.exit(f"{name}: stream {stream} {d}: gap at relative seq {want}")
            data += segs[seq]
            want = seq + len(segs[seq])
        conn = f"{name}_{i + 1}" if multi else name
        open(f"{out}/{conn}_{d}.bin", "wb").write(data)
        print(f"{conn}_{d}.bin {len(data)} bytes")
PY
}

url="iscsi://127.0.0.1:$port"
capture ls_discovery iscsi-ls -i "$initiator" "$url"
capture ls_show_luns iscsi-ls -s -i "$initiator" "$url"
capture inquiry iscsi-inq -i "$initiator" "$url/$iqn/1"
capture readcapacity16 iscsi-readcapacity16 -i "$initiator" "$url/$iqn/1"
# CHAP (one-way): the account is bound to the target from now on.
adm --op new --mode account --user netboot --password golden-secret
adm --op bind --mode account --tid 1 --user netboot
capture chap_inquiry iscsi-inq -i "$initiator" "iscsi://netboot%golden-secret@127.0.0.1:$port/$iqn/1"
grep -q 'Vendor' "$work/chap_inquiry.out" || { cat "$work/chap_inquiry.out"; exit 1; }
