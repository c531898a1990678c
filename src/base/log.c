/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "sdl/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#if HAVE_SYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>
#endif

sdl_log_level sdl_log_max_level = SDL_LOG_INFO;

static bool use_journal;

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
#if HAVE_SYSTEMD
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino) {
        use_journal = true;
    }
#else
    (void)js;
    (void)dev;
    (void)ino;
    (void)st;
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
    (void)file;
    (void)line;
    (void)func;
    char out[4096];
    int n = snprintf(out, sizeof(out), "<%d>sdl[%s]: %s\n", (int)level,
                     sdl_log_level_to_string(level), msg);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(out)) {
        n = (int)sizeof(out) - 1;
        out[n - 1] = '\n';
    }
    (void)!write(STDERR_FILENO, out, (size_t)n);
}

void
sdl_log_internal(sdl_log_level level, const char *file, int line, const char *func,
                 const char *fmt, ...)
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
