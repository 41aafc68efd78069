/*
 * Lists the credentials whose target ends with a suffix (default
 * ".planopticon": keyring's Windows targets are "{user}.{service}"), one
 * "target bytes" line each: to see under Wine what the CLI left in
 * Credential Manager. (CredEnumerateW's own filter takes only a prefix.)
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -municode -o credlist.exe credlist.c -ladvapi32
 */
#include <windows.h>
#include <wincred.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *suffix = argc > 1 ? argv[1] : L".planopticon";
    size_t suffix_len = wcslen(suffix);
    DWORD count = 0;
    PCREDENTIALW *creds = NULL;
    if (!CredEnumerateW(NULL, 0, &count, &creds)) {
        DWORD err = GetLastError();
        if (err == ERROR_NOT_FOUND)
            return 0;
        fwprintf(stderr, L"CredEnumerateW failed: %lu\n", err);
        return 1;
    }
    for (DWORD i = 0; i < count; i++) {
        const wchar_t *target = creds[i]->TargetName;
        size_t len = wcslen(target);
        if (len >= suffix_len && wcscmp(target + len - suffix_len, suffix) == 0)
            wprintf(L"%ls %lu\n", target, creds[i]->CredentialBlobSize);
    }
    CredFree(creds);
    return 0;
}
