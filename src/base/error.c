/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

SDL_PRINTF(4, 0)
static void
set_va(sdl_error *err, sdl_errc code, bool transient, const char *fmt, va_list ap)
{
    err->code = code;
    err->transient = transient;
    err->sys_errno = 0;
    (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

void
sdl_error_set(sdl_error *err, sdl_errc code, const char *fmt, ...)
{
    va_list ap;

    if (!err) {
        return;
    }
    va_start(ap, fmt);
    set_va(err, code, false, fmt, ap);
    va_end(ap);
}

void
sdl_error_set_transient(sdl_error *err, sdl_errc code, const char *fmt, ...)
{
    va_list ap;

    if (!err) {
        return;
    }
    va_start(ap, fmt);
    set_va(err, code, true, fmt, ap);
    va_end(ap);
}

void
sdl_error_prefix(sdl_error *err, const char *fmt, ...)
{
    char out[sizeof(err->message)];
    size_t cap = sizeof(out) - 1;
    size_t n;
    va_list ap;
    int r;

    if (!err) {
        return;
    }
    va_start(ap, fmt);
    r = vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    n = r < 0 ? 0 : SDL_MIN((size_t)r, cap);
    /* "<prefix>: <old message>", truncated at the buffer's end. */
    for (const char *sep = ": "; *sep && n < cap; sep++) {
        out[n++] = *sep;
    }
    size_t old = strnlen(err->message, sizeof(err->message));
    size_t take = SDL_MIN(old, cap - n);
    memcpy(out + n, err->message, take);
    n += take;
    out[n] = '\0';
    memcpy(err->message, out, n + 1);
}

void
sdl_error_clear(sdl_error *err)
{
    if (!err) {
        return;
    }
    err->code = SDL_E_OK;
    err->transient = false;
    err->sys_errno = 0;
    err->message[0] = '\0';
}

const char *
sdl_errc_name(sdl_errc code)
{
    static const char *const names[] = {
#define SDL_X_NAME(name, text) #name,
        SDL_ERROR_CODES(SDL_X_NAME)
#undef SDL_X_NAME
    };

    if ((unsigned)code >= SDL_ARRAY_SIZE(names)) {
        return "UNKNOWN";
    }
    return names[code];
}

int
sdl_error_exit_status(const sdl_error *err)
{
    if (err && err->code == SDL_E_CONFIG) {
        return 78; /* EX_CONFIG: RestartPreventExitStatus=78 stops restart loops */
    }
    if (err && err->code == SDL_E_DATA) {
        return 65; /* EX_DATAERR: the binlog holds a change sdl cannot take; a restart loops */
    }
    return 1;
}
