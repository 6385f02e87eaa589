//! iPXE (qemu's NIC ROM) `sanboot`s a disk from iscsid: the disk's boot
//! sector reads 512 sectors through INT 13h (served over iSCSI by iPXE),
//! checks them, prints a marker on COM1 and ends qemu through
//! `isa-debug-exit` with a status that says whether the check passed.

/// Status qemu exits with when the boot sector's check passed:
/// (0x10 << 1) | 1.
pub const EXIT_OK: i32 = 33;
/// Status when a read failed or returned wrong data: (0x20 << 1) | 1.
pub const EXIT_FAIL: i32 = 65;
pub const MARKER_OK: &str = "NETBOOT-SANBOOT-OK";

/// A 16-bit real-mode boot sector (hand-assembled, offsets in comments,
/// loaded at 0x7c00). It reads 16 x 32 sectors from LBA 64 on with INT 13h
/// AH=42h into 0000:8000 and checks that each chunk starts with 0xa5.
pub fn boot_sector() -> [u8; 512] {
    let mut code: Vec<u8> = vec![
        0xFA, // 00 cli
        0x31, 0xC0, // 01 xor ax,ax
        0x8E, 0xD8, // 03 mov ds,ax
        0x8E, 0xC0, // 05 mov es,ax
        0x8E, 0xD0, // 07 mov ss,ax
        0xBC, 0x00, 0x7C, // 09 mov sp,0x7c00
        0xFB, // 0c sti
        0x88, 0x16, 0x6B, 0x7C, // 0d mov [drive],dl
        0xB9, 0x10, 0x00, // 11 mov cx,16
        0x51, // 14 loop: push cx
        0xBE, 0x5B, 0x7C, // 15 mov si,dap
        0xB4, 0x42, // 18 mov ah,0x42
        0x8A, 0x16, 0x6B, 0x7C, // 1a mov dl,[drive]
        0xCD, 0x13, // 1e int 0x13
        0x72, 0x1E, // 20 jc fail (0x40)
        0xA0, 0x00, 0x80, // 22 mov al,[0x8000]
        0x3C, 0xA5, // 25 cmp al,0xa5
        0x75, 0x17, // 27 jne fail (0x40)
        0x83, 0x06, 0x63, 0x7C, 0x20, // 29 add word [dap_lba],32
        0x59, // 2e pop cx
        0xE2, 0xE3, // 2f loop 0x14
        0xBE, 0x6C, 0x7C, // 31 mov si,okmsg
        0xE8, 0x18, 0x00, // 34 call print (0x4f)
        0xB0, 0x10, // 37 mov al,0x10
        0xBA, 0x01, 0x05, // 39 mov dx,0x501
        0xEE, // 3c out dx,al
        0xF4, // 3d hlt
        0xEB, 0xFD, // 3e jmp 0x3d
        0xBE, 0x81, 0x7C, // 40 fail: mov si,failmsg
        0xE8, 0x09, 0x00, // 43 call print (0x4f)
        0xB0, 0x20, // 46 mov al,0x20
        0xBA, 0x01, 0x05, // 48 mov dx,0x501
        0xEE, // 4b out dx,al
        0xF4, // 4c hlt
        0xEB, 0xFD, // 4d jmp 0x4c
        0xBA, 0xF8, 0x03, // 4f print: mov dx,0x3f8
        0xAC, // 52 lodsb
        0x84, 0xC0, // 53 test al,al
        0x74, 0x03, // 55 jz 0x5a
        0xEE, // 57 out dx,al
        0xEB, 0xF8, // 58 jmp 0x52
        0xC3, // 5a ret
        // 5b dap: size 16, count 32, buffer 0000:8000, LBA (at 63) 64
        0x10, 0x00, 0x20, 0x00, 0x00, 0x80, 0x00, 0x00, //
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, // 6b drive
    ];
    assert_eq!(code.len(), 0x6C);
    code.extend_from_slice(b"NETBOOT-SANBOOT-OK\r\n\0"); // 6c
    assert_eq!(code.len(), 0x81);
    code.extend_from_slice(b"NETBOOT-SANBOOT-FAIL\r\n\0"); // 81
    let mut s = [0u8; 512];
    s[..code.len()].copy_from_slice(&code);
    // One partition so that iPXE can guess a geometry (255 heads, 63
    // sectors): bootable, type 0x0c, CHS 0/1/1 to 7/254/63, LBA 63 + 128457.
    s[446..462].copy_from_slice(&[
        0x80, 0x01, 0x01, 0x00, 0x0C, 0xFE, 0x3F, 0x07, 63, 0, 0, 0, 0xC9, 0xF5, 0x01, 0x00,
    ]);
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// A 64 MiB image: the boot sector, and 0xa5 in the sectors it checks.
pub fn disk_image() -> Vec<u8> {
    let mut img = vec![0u8; 64 << 20];
    img[..512].copy_from_slice(&boot_sector());
    img[64 * 512..(64 + 512) * 512].fill(0xa5);
    img
}
