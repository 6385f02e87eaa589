#!/bin/sh
# Regenerates the golden frames in this directory: vblade's replies to
# aoectl's requests, captured with tshark inside a throw-away network
# namespace (raw Ethernet never touches the host's interfaces).
#
# Needs root, vblade, tshark, python3 and a built aoectl:
#   cargo build -p netboot-aoectl && sudo crates/aoe/tests/data/capture.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
AOECTL=${AOECTL:-$ROOT/target/debug/aoectl}
NS=aoe-golden-$$
WORK=$(mktemp -d)
cleanup() {
    [ -n "${VB:-}" ] && kill "$VB" 2>/dev/null || true
    [ -n "${TS:-}" ] && kill "$TS" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
# Fixed MACs so the fixtures are stable.
ip -n "$NS" link add va address 02:00:00:00:0a:01 type veth peer name vb address 02:00:00:00:0b:01
ip -n "$NS" link set va up
ip -n "$NS" link set vb up
# 1 MiB disk: sector n is filled with byte n % 256.
python3 -c "
import sys
sys.stdout.buffer.write(b''.join(bytes([n % 256]) * 512 for n in range(2048)))" > "$WORK/disk.img"
E() { ip netns exec "$NS" "$@"; }
E tshark -q -i vb -F pcap -w "$WORK/cap.pcap" -f "ether proto 0x88a2" >/dev/null 2>&1 & TS=$!
sleep 2
E vblade 7 3 va "$WORK/disk.img" >/dev/null 2>&1 & VB=$!
sleep 1
E "$AOECTL" discover -i vb -t e7.3 --wait 0.5
E "$AOECTL" identify -i vb -t e7.3 >/dev/null
E "$AOECTL" read -i vb -t e7.3 --lba 5 --count 2 --sha256 >/dev/null
printf 'golden write....' | E "$AOECTL" write -i vb -t e7.3 --lba 100
# Read past the end (IDNF) and an unknown command (AoE error 1), by hand.
TGT=020000000a01
SRC=020000000b01
E "$AOECTL" raw -i vb --wait 0.5 --frame "${TGT}${SRC}88a2 1000 0007 03 00 0000a00d 40 00 02 24 ffff00000000 0000" >/dev/null || true
E "$AOECTL" raw -i vb --wait 0.5 --frame "${TGT}${SRC}88a2 1000 0007 03 42 0000a00e" >/dev/null || true
sleep 1
kill "$TS"; wait "$TS" 2>/dev/null || true; TS=
python3 - "$WORK/cap.pcap" "$HERE" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
out = sys.argv[2]
assert data[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'), 'classic pcap expected'
off, seen, names = 24, set(), {}
while off < len(data):
    _, _, incl, _ = struct.unpack('<IIII', data[off:off + 16])
    f = data[off + 16:off + 16 + incl]
    off += 16 + incl
    resp = f[14] & 0x08
    tag = f[20:24]
    who = 'vblade' if f[6:12] == bytes.fromhex('020000000a01') else 'aoectl'
    cmd = f[19]
    if not resp:
        if cmd == 1:
            what = 'config'
        elif cmd == 0 and len(f) >= 36:
            what = {0x20: 'read', 0x24: 'read_ext', 0x30: 'write', 0x34: 'write_ext',
                    0xec: 'identify', 0xe7: 'flush', 0xea: 'flush_ext'}.get(f[27], f'ata_{f[27]:02x}')
            if f[27] == 0x24 and f[28:34] == bytes.fromhex('ffff00000000'):
                what = 'read_past_end'
        else:
            what = f'cmd{cmd}'
        names[tag] = what
        name = f'{who}_{what}_request'
    else:
        name = f'{who}_{names.get(tag, "unsolicited")}_reply'
        if f[14] & 0x04:
            name += f'_error{f[15]}'
    if name in seen:
        continue
    seen.add(name)
    open(f'{out}/{name}.bin', 'wb').write(f)
    print(f'{name}.bin {len(f)} bytes')
PY
