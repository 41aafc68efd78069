/* bcryptprimitives.dll for Wine 8: the one function it lacks.
 *
 * Rust's std (1.78+) draws its random numbers (HashMap keys, and so on) from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10+ has and Wine 8 does
 * not, so a Rust program stops at load with "bcryptprimitives.dll not found".
 * Placed beside the .exe (scripts/cross.sh does), this DLL answers with
 * RtlGenRandom (SystemFunction036 in advapi32), which Wine implements.
 * Only for running the Windows build under Wine; never shipped.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG: fill in chunks so any SIZE_T works. */
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
