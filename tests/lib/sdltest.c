/* SPDX-License-Identifier: Apache-2.0 */
#include "sdltest.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    sdltest_fn fn;
} sdltest_case;

static sdltest_case *cases;
static size_t ncases;
static size_t capcases;
static jmp_buf fail_jmp;
static char fail_msg[8192];

void
sdltest_register(const char *name, sdltest_fn fn)
{
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 64;
        cases = realloc(cases, capcases * sizeof(*cases));
        if (!cases) {
            abort();
        }
    }
    cases[ncases].name = name;
    cases[ncases].fn = fn;
    ncases++;
}

void
sdltest_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(fail_msg, sizeof(fail_msg), "%s:%d: ", file, line);

    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(fail_msg)) {
        (void)vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
    }
    va_end(ap);
    longjmp(fail_jmp, 1);
}

void
sdltest_note(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

uint8_t *
sdltest_hex(const char *hex, size_t *ret_len)
{
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *out = malloc(cap);
    size_t n = 0;
    int hi = -1;

    if (!out) {
        abort();
    }
    for (const char *p = hex; *p; p++) {
        int v;
        if (isspace((unsigned char)*p)) {
            continue;
        }
        if (*p >= '0' && *p <= '9') {
            v = *p - '0';
        } else if (*p >= 'a' && *p <= 'f') {
            v = *p - 'a' + 10;
        } else if (*p >= 'A' && *p <= 'F') {
            v = *p - 'A' + 10;
        } else {
            fprintf(stderr, "sdltest_hex: bad character '%c'\n", *p);
            abort();
        }
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        fprintf(stderr, "sdltest_hex: odd number of digits\n");
        abort();
    }
    *ret_len = n;
    return out;
}

const char *
sdltest_data_path(const char *rel)
{
    static char path[4096];
    const char *base = getenv("SDL_TEST_DATA");

    (void)snprintf(path, sizeof(path), "%s/%s", base ? base : "tests/data", rel);
    return path;
}

char *
sdltest_read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;

    if (!f) {
        sdltest_fail(__FILE__, __LINE__, "cannot open '%s'", path);
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (cap + 4096 + 1) * 2;
            buf = realloc(buf, cap);
            if (!buf) {
                abort();
            }
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    if (ret_len) {
        *ret_len = len;
    }
    return buf;
}

const char *
sdltest_tmpdir(void)
{
    static char path[256];
    const char *base = getenv("TMPDIR");

    (void)snprintf(path, sizeof(path), "%s/sdltest-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(path)) {
        sdltest_fail(__FILE__, __LINE__, "mkdtemp failed");
    }
    return path;
}

int
main(void)
{
    const char *filter = getenv("SDL_TEST_FILTER");
    volatile size_t failed = 0;
    size_t planned = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < ncases; i++) {
        if (!filter || strstr(cases[i].name, filter)) {
            planned++;
        }
    }
    printf("TAP version 13\n1..%zu\n", planned);
    volatile size_t num = 0;
    for (size_t i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter)) {
            continue;
        }
        num++;
        if (setjmp(fail_jmp) == 0) {
            cases[i].fn();
            printf("ok %zu - %s\n", (size_t)num, cases[i].name);
        } else {
            failed++;
            printf("not ok %zu - %s\n", (size_t)num, cases[i].name);
            printf("# %s\n", fail_msg);
        }
    }
    return failed ? 1 : 0;
}
