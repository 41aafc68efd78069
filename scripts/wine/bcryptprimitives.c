/*
 * bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (1.78+)
 * imports ProcessPrng from it on Windows, so every Rust program exits at
 * load under Wine 8 with "Library bcryptprimitives.dll ... not found".
 * This one function fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has. Put the DLL beside the .exe.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *            bcryptprimitives.c -ladvapi32
 * Only for running tests under Wine; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG: fill large buffers in chunks. */
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
