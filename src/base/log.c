/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sdl/base/clock.h"
#include "sdl/base/log.h"

#if HAVE_SYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>
#endif

sdl_log_level sdl_log_max_level = SDL_LOG_INFO;

static bool use_journal;
static bool journal_stream; /* stderr is a journal stream (JOURNAL_STREAM matches) */
static sdl_log_format log_format = SDL_LOG_TEXT;

static _Thread_local char ctx_pipeline[72]; /* pipeline names have up to 64 characters */
static _Thread_local char ctx_gtid[128];
static _Thread_local char ctx_table[192];

static const char *const level_names[] = {
    [SDL_LOG_ERROR] = "error", [SDL_LOG_WARNING] = "warning", [SDL_LOG_NOTICE] = "notice",
    [SDL_LOG_INFO] = "info",   [SDL_LOG_DEBUG] = "debug",
};

bool
sdl_log_level_from_string(const char *s, sdl_log_level *ret_level)
{
    for (int l = SDL_LOG_ERROR; l <= SDL_LOG_DEBUG; l++) {
        if (strcmp(s, level_names[l]) == 0) {
            *ret_level = (sdl_log_level)l;
            return true;
        }
    }
    return false;
}

const char *
sdl_log_level_to_string(sdl_log_level level)
{
    if (level < SDL_LOG_ERROR || level > SDL_LOG_DEBUG) {
        return "unknown";
    }
    return level_names[level];
}

void
sdl_log_set_level(sdl_log_level level)
{
    sdl_log_max_level = level;
}

void
sdl_log_set_format(sdl_log_format format)
{
    log_format = format;
}

/*
 * systemd sets $JOURNAL_STREAM to "device:inode" of the stream it connected to stderr; only
 * when our stderr still is that stream do we talk to the journal directly (systemd.exec(5)).
 */
void
sdl_log_open(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    struct stat st;

    use_journal = false;
    journal_stream = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
                     fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                     (unsigned long long)st.st_ino == ino;
#if HAVE_SYSTEMD
    use_journal = journal_stream;
#endif
}

static void
copy_ctx(char *dst, size_t cap, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    (void)snprintf(dst, cap, "%s", src);
}

void
sdl_log_set_context(const char *pipeline, const char *gtid, const char *table)
{
    copy_ctx(ctx_pipeline, sizeof(ctx_pipeline), pipeline);
    copy_ctx(ctx_gtid, sizeof(ctx_gtid), gtid);
    copy_ctx(ctx_table, sizeof(ctx_table), table);
}

void
sdl_log_journal_fields(sdl_log_level level, const char *file, int line, const char *func,
                       const char *msg, sdl_log_fields *ret)
{
    const size_t cap = sizeof(ret->field[0]);
    int n = 0;

    (void)snprintf(ret->field[n++], cap, "MESSAGE=%s", msg);
    (void)snprintf(ret->field[n++], cap, "PRIORITY=%d", (int)level);
    (void)snprintf(ret->field[n++], cap, "CODE_FILE=%s", file);
    (void)snprintf(ret->field[n++], cap, "CODE_LINE=%d", line);
    (void)snprintf(ret->field[n++], cap, "CODE_FUNC=%s", func);
    (void)snprintf(ret->field[n++], cap, "SYSLOG_IDENTIFIER=sdl");
    if (ctx_pipeline[0]) {
        (void)snprintf(ret->field[n++], cap, "SDL_PIPELINE=%s", ctx_pipeline);
    }
    if (ctx_gtid[0]) {
        (void)snprintf(ret->field[n++], cap, "SDL_GTID=%s", ctx_gtid);
    }
    if (ctx_table[0]) {
        (void)snprintf(ret->field[n++], cap, "SDL_TABLE=%s", ctx_table);
    }
    ret->n = n;
}

static void
emit(sdl_log_level level, const char *file, int line, const char *func, const char *msg)
{
#if HAVE_SYSTEMD
    if (use_journal) {
        static _Thread_local sdl_log_fields f; /* 29 KiB: off the stack */
        struct iovec iov[SDL_LOG_MAX_FIELDS];
        sdl_log_journal_fields(level, file, line, func, msg, &f);
        for (int i = 0; i < f.n; i++) {
            iov[i].iov_base = f.field[i];
            iov[i].iov_len = strlen(f.field[i]);
        }
        if (sd_journal_sendv(iov, f.n) >= 0) {
            return;
        }
    }
#endif
    char out[4096];
    size_t n = sdl_log_format_line(log_format, journal_stream, sdl_now_realtime_usec(), level, file,
                                   line, func, msg, out, sizeof(out));
    (void)!write(STDERR_FILENO, out, n);
}

/* Appends @s to @buf (at @n, @cap bytes) as a JSON string body; returns the new length. */
static size_t
json_escape(char *buf, size_t n, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)s; *p && n + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u00%c%c", hex[*p >> 4], hex[*p & 15]);
        } else {
            buf[n++] = (char)*p;
        }
    }
    buf[n] = '\0';
    return n;
}

/* "2026-11-23T19:00:00.123456Z" */
static void
rfc3339(uint64_t usec, char *buf, size_t cap)
{
    time_t t = (time_t)(usec / 1000000u);
    struct tm tm;

    if (!gmtime_r(&t, &tm)) {
        (void)snprintf(buf, cap, "?");
        return;
    }
    (void)snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (unsigned)(usec % 1000000u));
}

size_t
sdl_log_format_line(sdl_log_format format, bool journal, uint64_t realtime_usec,
                    sdl_log_level level, const char *file, int line, const char *func,
                    const char *msg, char *out, size_t cap)
{
    char ts[80];
    int n;

    rfc3339(realtime_usec, ts, sizeof(ts));
    if (format == SDL_LOG_JSON) {
        static _Thread_local sdl_log_fields f; /* 29 KiB: off the stack */
        size_t len = 0;
        sdl_log_journal_fields(level, file, line, func, msg, &f);
        len = (size_t)snprintf(out, cap, "{\"TIMESTAMP\":\"%s\",\"LEVEL\":\"%s\"", ts,
                               sdl_log_level_to_string(level));
        for (int i = 0; i < f.n && len + 16 < cap; i++) {
            const char *eq = strchr(f.field[i], '=');
            len += (size_t)snprintf(out + len, cap - len, ",\"%.*s\":\"", (int)(eq - f.field[i]),
                                    f.field[i]);
            len = json_escape(out, SDL_MIN(len, cap - 1), cap - 3, eq + 1);
            len += (size_t)snprintf(out + len, cap - len, "\"");
        }
        len = SDL_MIN(len, cap - 3);
        out[len++] = '}';
        out[len++] = '\n';
        out[len] = '\0';
        return len;
    }
    if (journal) {
        /* journald stamps the record and reads the priority from "<N>" */
        n = snprintf(out, cap, "<%d>sdl[%s]: %s\n", (int)level, sdl_log_level_to_string(level),
                     msg);
    } else {
        n = snprintf(out, cap, "%s sdl[%ld] %s: %s\n", ts, (long)getpid(),
                     sdl_log_level_to_string(level), msg);
    }
    if (n < 0) {
        out[0] = '\n';
        return 1;
    }
    if ((size_t)n >= cap) {
        n = (int)cap - 1;
        out[n - 1] = '\n';
    }
    return (size_t)n;
}

void
sdl_log_internal(sdl_log_level level, const char *file, int line, const char *func, const char *fmt,
                 ...)
{
    char msg[3072];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, file, line, func, msg);
}

void
sdl_log_internal_e(sdl_log_level level, const char *file, int line, const char *func,
                   const sdl_error *err, const char *fmt, ...)
{
    char msg[3072];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(msg)) {
        (void)snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", err ? err->message : "");
    }
    emit(level, file, line, func, msg);
}
