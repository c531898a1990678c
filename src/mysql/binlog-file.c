/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sdl/base/alloc.h"

/* MariaDB/MySQL log_event.h: BINLOG_MAGIC, then v4 events with a 19-byte common header whose
 * event_size (offset 9, 4 bytes) covers the whole event including a checksum. */
static const uint8_t magic[4] = {0xfe, 0x62, 0x69, 0x6e};
#define HEADER_LEN 19

struct sdl_binlog_file {
    char **paths;
    size_t npaths;
    size_t cur; /* index of the open file */
    FILE *fp;
    uint64_t size;   /* bytes of the open file */
    uint64_t offset; /* of the last event returned */
    uint64_t next;   /* read position */
    bool new_file;   /* the next event is the first of its file */
    uint64_t events;
    sdl_buf buf;
    const char *name; /* base name of paths[cur] */
};

static bool
open_current(sdl_binlog_file *f, sdl_error *err)
{
    const char *path = f->paths[f->cur];
    uint8_t m[4];
    struct stat st;

    f->fp = fopen(path, "rb");
    if (!f->fp) {
        sdl_error_set(err, SDL_E_IO, "cannot open binlog file '%s': %s", path, strerror(errno));
        return false;
    }
    if (fstat(fileno(f->fp), &st) != 0) {
        sdl_error_set(err, SDL_E_IO, "cannot stat binlog file '%s': %s", path, strerror(errno));
        return false;
    }
    f->size = (uint64_t)st.st_size;
    const char *slash = strrchr(path, '/');
    f->name = slash ? slash + 1 : path;
    if (fread(m, 1, sizeof(m), f->fp) != sizeof(m) || memcmp(m, magic, sizeof(m)) != 0) {
        if (ferror(f->fp)) {
            sdl_error_set(err, SDL_E_IO, "reading binlog file '%s': %s", path, strerror(errno));
        } else {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "'%s' is not a binlog file: bad magic at offset 0 (expected fe 62 69 6e)",
                          path);
        }
        return false;
    }
    f->offset = 0;
    f->next = 4;
    f->new_file = true;
    return true;
}

bool
sdl_binlog_file_open(const char *const *paths, size_t npaths, sdl_binlog_file **ret_reader,
                     sdl_error *err)
{
    sdl_binlog_file *f;

    if (npaths == 0) {
        sdl_error_set(err, SDL_E_INVALID, "no binlog file given");
        return false;
    }
    f = sdl_xcalloc(1, sizeof(*f));
    f->paths = sdl_xcalloc(npaths, sizeof(char *));
    f->npaths = npaths;
    for (size_t i = 0; i < npaths; i++) {
        f->paths[i] = sdl_xstrdup(paths[i]);
    }
    if (!open_current(f, err)) {
        (void)sdl_binlog_file_free(f);
        return false;
    }
    *ret_reader = f;
    return true;
}

static bool
read_exact(sdl_binlog_file *f, void *dst, size_t n, size_t *got, sdl_error *err)
{
    *got = fread(dst, 1, n, f->fp);
    if (*got < n && ferror(f->fp)) {
        sdl_error_set(err, SDL_E_IO, "reading binlog file '%s' at offset %" PRIu64 ": %s",
                      f->paths[f->cur], f->next, strerror(errno));
        return false;
    }
    return true;
}

bool
sdl_binlog_file_next(sdl_binlog_file *f, sdl_bytes *ret_event, bool *ret_new_file, bool *ret_eof,
                     sdl_error *err)
{
    uint8_t hdr[HEADER_LEN];
    size_t got;

    for (;;) {
        if (!f->fp) {
            *ret_eof = true;
            return true;
        }
        if (!read_exact(f, hdr, 1, &got, err)) {
            return false;
        }
        if (got == 1) {
            break;
        }
        /* Clean end of this file: go on with the next one. */
        fclose(f->fp);
        f->fp = NULL;
        if (f->cur + 1 >= f->npaths) {
            *ret_eof = true;
            return true;
        }
        f->cur++;
        if (!open_current(f, err)) {
            return false;
        }
    }
    if (!read_exact(f, hdr + 1, HEADER_LEN - 1, &got, err)) {
        return false;
    }
    if (got != HEADER_LEN - 1) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "binlog file '%s' is truncated: event header at offset %" PRIu64
                      " has %zu of %d bytes",
                      f->paths[f->cur], f->next, got + 1, HEADER_LEN);
        return false;
    }
    uint32_t size = (uint32_t)hdr[9] | (uint32_t)hdr[10] << 8 | (uint32_t)hdr[11] << 16 |
                    (uint32_t)hdr[12] << 24;
    if (size < HEADER_LEN || size > SDL_BINLOG_FILE_MAX_EVENT) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "binlog file '%s' is corrupt: event at offset %" PRIu64
                      " (type %u) has size %" PRIu32,
                      f->paths[f->cur], f->next, hdr[4], size);
        return false;
    }
    if ((uint64_t)size > f->size - f->next) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "binlog file '%s' is truncated: event at offset %" PRIu64
                      " (type %u) needs %" PRIu32 " bytes, the file ends after %" PRIu64,
                      f->paths[f->cur], f->next, hdr[4], size, f->size - f->next);
        return false;
    }
    sdl_buf_reset(&f->buf);
    sdl_buf_reserve(&f->buf, size);
    memcpy(f->buf.data, hdr, HEADER_LEN);
    if (!read_exact(f, f->buf.data + HEADER_LEN, size - HEADER_LEN, &got, err)) {
        return false;
    }
    if (got != size - HEADER_LEN) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "binlog file '%s' is truncated: event at offset %" PRIu64
                      " (type %u) has %zu of %" PRIu32 " bytes",
                      f->paths[f->cur], f->next, hdr[4], got + HEADER_LEN, size);
        return false;
    }
    f->buf.len = size;
    f->offset = f->next;
    f->next += size;
    f->events++;
    *ret_new_file = f->new_file;
    f->new_file = false;
    *ret_event = SDL_BYTES(f->buf.data, size);
    *ret_eof = false;
    return true;
}

const char *
sdl_binlog_file_path(const sdl_binlog_file *f)
{
    return f->paths[f->cur];
}

const char *
sdl_binlog_file_name(const sdl_binlog_file *f)
{
    return f->name;
}

uint64_t
sdl_binlog_file_offset(const sdl_binlog_file *f)
{
    return f->offset;
}

uint64_t
sdl_binlog_file_next_offset(const sdl_binlog_file *f)
{
    return f->next;
}

uint64_t
sdl_binlog_file_events(const sdl_binlog_file *f)
{
    return f->events;
}

sdl_binlog_file *
sdl_binlog_file_free(sdl_binlog_file *f)
{
    if (!f) {
        return NULL;
    }
    if (f->fp) {
        fclose(f->fp);
    }
    for (size_t i = 0; i < f->npaths; i++) {
        free(f->paths[i]);
    }
    free(f->paths);
    sdl_buf_done(&f->buf);
    free(f);
    return NULL;
}
