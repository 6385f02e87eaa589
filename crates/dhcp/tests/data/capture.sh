#!/usr/bin/env bash
# Regenerates the DHCP golden vectors in this directory (see README.md).
#
# Needs root (network namespaces), qemu-system-x86_64 with iPXE ROMs
# (ipxe-qemu), tshark, dnsmasq (dnsmasq-base) and /usr/bin/python3.
# Everything that sends packets runs inside network namespaces made here
# and deleted on exit; qemu uses user-mode networking (slirp), which never
# leaves the process.
set -euo pipefail

OUT=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
SRV=nbdhcp-srv-$$
CLI=nbdhcp-cli-$$
DNSMASQ_PID=""
QEMU_PID=""

cleanup() {
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
    [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null || true
    ip netns del "$SRV" 2>/dev/null || true
    ip netns del "$CLI" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. iPXE in qemu against slirp's DHCP server ----------------------------
# iPXE's DISCOVER and REQUEST, and slirp's OFFER and ACK, from qemu's own
# packet dump of the guest NIC.
qemu-system-x86_64 -accel tcg -machine pc,graphics=off -m 256 -display none \
    -nodefaults -no-reboot -netdev user,id=n0 -device e1000,netdev=n0 \
    -object filter-dump,id=f0,netdev=n0,file="$TMP/ipxe.pcap" -boot n &
QEMU_PID=$!
sleep "${QEMU_SECONDS:-15}"
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""

# First packet of each DHCP message type (53): 1 DISCOVER, 2 OFFER,
# 3 REQUEST, 5 ACK.
extract() { # type file
    local hex
    hex=$(tshark -r "$TMP/ipxe.pcap" -Y "dhcp.option.dhcp == $1" -T fields -e udp.payload | head -n1)
    if [ -n "$hex" ]; then
        printf '%s' "$hex" | xxd -r -p >"$OUT/$2"
        echo "wrote $2 ($(stat -c %s "$OUT/$2") bytes)"
    else
        echo "no DHCP type $1 in the qemu capture" >&2
    fi
}
extract 1 ipxe_discover.bin
extract 2 slirp_offer.bin
extract 3 ipxe_request.bin
extract 5 slirp_ack.bin

# --- 2. dnsmasq in proxy mode, in a network namespace -----------------------
# A veth pair between two namespaces: dnsmasq on 10.77.0.1 in $SRV, the
# crafted PXE client on 10.77.0.2 in $CLI.
ip netns add "$SRV"
ip netns add "$CLI"
ip link add nbd-s$$ netns "$SRV" type veth peer name nbd-c$$ netns "$CLI"
ip -n "$SRV" addr add 10.77.0.1/24 dev nbd-s$$
ip -n "$CLI" addr add 10.77.0.2/24 dev nbd-c$$
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip -n "$SRV" link set nbd-s$$ up
ip -n "$CLI" link set nbd-c$$ up

ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
    --user=root --group=root --pid-file="$TMP/dnsmasq.pid" \
    --dhcp-leasefile="$TMP/leases" --interface=nbd-s$$ --bind-interfaces \
    --dhcp-range=10.77.0.0,proxy \
    --pxe-service=x86PC,"Boot",undionly.kpxe \
    --pxe-service=X86-64_EFI,"Boot EFI",ipxe.efi \
    --pxe-prompt="Boot",0 --log-dhcp >"$TMP/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!
sleep 1

ip netns exec "$CLI" /usr/bin/python3 "$OUT/pxe_client.py" "$OUT"
cat "$TMP/dnsmasq.log"
