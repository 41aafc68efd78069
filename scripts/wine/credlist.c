/* credlist.exe: lists the Windows Credential Manager entries whose target
 * or user name contains a word, for the Wine scenarios (tests/wine/scenarios.sh).
 *
 *   credlist.exe [WORD]     e.g. "planopticon"; every entry without it
 *
 * (CredEnumerateW's own filter takes only a prefix followed by "*", and
 * where keyring puts the service name in an entry's name is its business,
 * so all entries are read and matched here, case-insensitively.)
 *
 * Prints one line per entry: "<target name>\t<user name>\t<blob bytes>", and
 * exits 0 (also when there is none: the scenarios check the lines). Exit 1
 * with the Windows error when the enumeration itself fails. The secret itself
 * is never printed, only its size.
 *
 *   x86_64-w64-mingw32-gcc -O2 -municode -o credlist.exe credlist.c -ladvapi32
 */
#include <windows.h>
#include <wincred.h>
#include <stdio.h>

static void print_utf8(const wchar_t *text)
{
    char buffer[1024];
    int n;
    if (text == NULL) {
        fputs("-", stdout);
        return;
    }
    n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buffer, sizeof buffer, NULL, NULL);
    fputs(n > 0 ? buffer : "?", stdout);
}

/* Whether `text` contains `word` (ASCII case-insensitive); NULL never does. */
static int contains(const wchar_t *text, const wchar_t *word)
{
    size_t n = wcslen(word);
    if (text == NULL)
        return 0;
    for (; *text; text++)
        if (_wcsnicmp(text, word, n) == 0)
            return 1;
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *word = argc > 1 ? argv[1] : L"";
    DWORD count = 0, i;
    PCREDENTIALW *creds = NULL;

    if (!CredEnumerateW(NULL, 0, &count, &creds)) {
        DWORD err = GetLastError();
        if (err == ERROR_NOT_FOUND)
            return 0; /* no entry matches: nothing to list */
        fprintf(stderr, "credlist: CredEnumerateW failed with Windows error %lu\n", (unsigned long)err);
        return 1;
    }
    for (i = 0; i < count; i++) {
        if (!contains(creds[i]->TargetName, word) && !contains(creds[i]->UserName, word))
            continue;
        print_utf8(creds[i]->TargetName);
        fputs("\t", stdout);
        print_utf8(creds[i]->UserName);
        printf("\t%lu\n", (unsigned long)creds[i]->CredentialBlobSize);
    }
    CredFree(creds);
    return 0;
}
