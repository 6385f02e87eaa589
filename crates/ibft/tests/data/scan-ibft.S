# Boot sector: find the iBFT that iPXE left in base memory, dump it in hex on COM1.
# Assemble: as --32 -o scan.o scan.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o scan.bin scan.o
.intel_syntax noprefix
.code16
.globl _start
_start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov bx, 0x8000              # scan 0x80000..0xEFFFF in 16-byte steps, like Linux
scan:
    mov es, bx
    cmp dword ptr es:[0], 0x54464269   # "iBFT"
    jne next
    mov ecx, dword ptr es:[4]   # ACPI length
    cmp ecx, 48
    jb next
    cmp ecx, 4096
    ja next
    xor si, si
    xor al, al
sum:
    add al, es:[si]
    inc si
    cmp si, cx
    jb sum
    test al, al
    jz found
next:
    inc bx
    cmp bx, 0xF000
    jb scan
    mov si, offset notfound
    call print
    mov al, 0x20
    jmp exit
found:
    mov si, offset at
    call print
    mov ax, bx
    xchg al, ah
    call hexbyte
    mov al, bl
    call hexbyte
    call crlf
    xor si, si
    xor di, di
dump:
    mov al, es:[si]
    call hexbyte
    inc si
    inc di
    cmp di, 32
    jne 1f
    xor di, di
    call crlf
1:
    cmp si, cx
    jb dump
    call crlf
    mov si, offset endmsg
    call print
    mov al, 0x10
exit:
    mov dx, 0x501
    out dx, al
2:
    hlt
    jmp 2b
hexbyte:
    push ax
    shr al, 4
    call nibble
    pop ax
    and al, 0x0f
nibble:
    add al, '0'
    cmp al, '9'
    jbe 3f
    add al, 7
3:
    mov dx, 0x3f8
    out dx, al
    ret
crlf:
    mov al, 13
    call 3b
    mov al, 10
    jmp 3b
print:
    mov dx, 0x3f8
4:
    lodsb
    test al, al
    jz 5f
    out dx, al
    jmp 4b
5:
    ret
at:       .asciz "NETBOOT-IBFT-AT "
endmsg:   .asciz "NETBOOT-IBFT-END\r\n"
notfound: .asciz "NETBOOT-IBFT-NOTFOUND\r\n"
