#!/usr/bin/python3
"""A crafted PXE ROM client for capture.sh: sends a legacy BIOS PXE DISCOVER
(arch 0, like an Intel PXE 2.1 ROM), the port-4011 boot-server REQUEST for
the first menu item of the answer, and a UEFI (arch 7) DISCOVER, and writes
each request and reply as raw DHCP payloads (UDP data) into the directory
given as argv[1]. Run only inside the client namespace capture.sh makes.

Plain sockets and struct, no scapy and no netboot code: the fixtures must
not depend on the parser they test."""
import os
import socket
import struct
import sys

OUT = sys.argv[1]
MAC = bytes.fromhex("525400123456")
UUID = bytes.fromhex("8e0c77b2a1c04b7e9a1d3f6e5c4b3a29")
CLIENT_IP = socket.inet_aton("10.77.0.2")
SERVER = "10.77.0.1"
PRL = bytes([1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41,
             42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131,
             132, 133, 134, 135])


def opt(code, value):
    return bytes([code, len(value)]) + value


def message(xid, mtype, arch, ciaddr=bytes(4), flags=0x8000, extra=b""):
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 4,
                      flags, ciaddr, bytes(4), bytes(4), bytes(4),
                      MAC + bytes(10), bytes(64), bytes(128))
    opts = opt(53, bytes([mtype]))
    opts += opt(57, struct.pack("!H", 1464))
    opts += opt(55, PRL)
    opts += opt(97, b"\x00" + UUID)
    opts += opt(94, bytes([1, 2, 1]))
    opts += opt(93, struct.pack("!H", arch))
    opts += opt(60, b"PXEClient:Arch:%05d:UNDI:002001" % arch)
    opts += extra
    opts += b"\xff"
    pkt = hdr + bytes([99, 130, 83, 99]) + opts
    # Intel's ROMs pad to the BOOTP minimum of 300 bytes.
    return pkt + bytes(max(0, 300 - len(pkt)))


def options(pkt):
    """(code, value) pairs of the options area (no overload handling)."""
    i, out = 240, []
    while i < len(pkt):
        code = pkt[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        n = pkt[i + 1]
        out.append((code, pkt[i + 2:i + 2 + n]))
        i += 2 + n
    return out


def sub(value):
    return options(bytes(240) + value)


def exchange(sock, pkt, dest, xid, want, name_req, name_rep):
    with open(os.path.join(OUT, name_req), "wb") as f:
        f.write(pkt)
    sock.sendto(pkt, dest)
    while True:
        data, src = sock.recvfrom(2048)
        if len(data) < 240 or struct.unpack("!I", data[4:8])[0] != xid:
            continue
        if data[0] != 2 or dict(options(data)).get(53) != bytes([want]):
            continue
        with open(os.path.join(OUT, name_rep), "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes) from %s" % (name_rep, len(data), src))
        return data


def main():
    ifname = [n for n in os.listdir("/sys/class/net") if n != "lo"][0]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.bind(("0.0.0.0", 68))
    s.settimeout(5)

    bcast = ("255.255.255.255", 67)
    offer = exchange(s, message(0x1d2c3b4a, 1, 0), bcast, 0x1d2c3b4a, 2,
                     "legacy_discover.bin", "dnsmasq_offer_bios.bin")
    # Boot item 71 for the first menu entry (43.9: type u16, len, text).
    menu = dict(sub(dict(options(offer))[43]))[9]
    item = menu[0:2] + b"\x00\x00"
    req = message(0x1d2c3b4b, 3, 0, ciaddr=CLIENT_IP, flags=0,
                  extra=opt(43, opt(71, item) + b"\xff"))
    exchange(s, req, (SERVER, 4011), 0x1d2c3b4b, 5,
             "legacy_request_4011.bin", "dnsmasq_ack_4011.bin")
    exchange(s, message(0x2e3d4c5b, 1, 7), bcast, 0x2e3d4c5b, 2,
             "efi_discover.bin", "dnsmasq_offer_efi.bin")


main()
