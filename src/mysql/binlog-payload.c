/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/binlog-payload.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "sdl/base/alloc.h"
#include "sdl/base/cursor.h"

/* Output is produced in chunks of this size; the window holds one inner event plus one chunk. */
#define CHUNK (64u * 1024u)
/* Inner events are bounded like outer ones (max_allowed_packet). */
#define MAX_INNER_EVENT (1024u * 1024u * 1024u)
/* zstd frames written by MySQL (level 3, streaming) use a 2 MiB window; refuse frames that
 * would make the decompressor allocate more than 32 MiB. */
#define MAX_WINDOW_LOG 25

/* Transaction_payload_event field types (libbinlogevents control_events.h). */
enum {
    OTW_PAYLOAD_HEADER_END_MARK = 0,
    OTW_PAYLOAD_SIZE_FIELD = 1,
    OTW_PAYLOAD_COMPRESSION_TYPE_FIELD = 2,
    OTW_PAYLOAD_UNCOMPRESSED_SIZE_FIELD = 3,
};

bool
sdl_binlog_event_parse_payload(const sdl_binlog_format *fmt, const sdl_binlog_event *ev,
                               sdl_binlog_payload *ret, sdl_error *err)
{
    /* The FDE lists a post-header length for this type, but the server writes the fields
     * right after the common header (control_events.cpp reads from the body start). */
    sdl_cursor c = sdl_cursor_make(ev->body);
    sdl_binlog_payload p;
    bool have_size = false, have_type = false;
    uint64_t size = 0;

    (void)fmt;
    memset(&p, 0, sizeof(p));
    for (;;) {
        uint64_t type = sdl_cursor_lenenc(&c);
        if (c.failed) {
            sdl_error_set(err, SDL_E_PROTOCOL, "TRANSACTION_PAYLOAD_EVENT header truncated");
            return false;
        }
        if (type == OTW_PAYLOAD_HEADER_END_MARK) {
            break;
        }
        uint64_t len = sdl_cursor_lenenc(&c);
        if (c.failed || len > sdl_cursor_left(&c)) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "TRANSACTION_PAYLOAD_EVENT field %" PRIu64 " truncated", type);
            return false;
        }
        sdl_cursor f = sdl_cursor_make(sdl_cursor_bytes(&c, (size_t)len));
        uint64_t v = sdl_cursor_lenenc(&f);
        bool bad = f.failed || sdl_cursor_left(&f) != 0;
        switch (type) {
        case OTW_PAYLOAD_SIZE_FIELD:
            size = v;
            have_size = true;
            break;
        case OTW_PAYLOAD_COMPRESSION_TYPE_FIELD:
            if (!bad && v != SDL_PAYLOAD_COMPRESSION_ZSTD && v != SDL_PAYLOAD_COMPRESSION_NONE) {
                sdl_error_set(err, SDL_E_UNSUPPORTED,
                              "TRANSACTION_PAYLOAD_EVENT with compression type %" PRIu64
                              " (sdl knows zstd and none)",
                              v);
                return false;
            }
            p.compression = (uint8_t)v;
            have_type = true;
            break;
        case OTW_PAYLOAD_UNCOMPRESSED_SIZE_FIELD:
            p.uncompressed_size = v;
            break;
        default:
            bad = false; /* a field of a newer server: skipped by its length */
            break;
        }
        if (bad) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "TRANSACTION_PAYLOAD_EVENT field %" PRIu64 " is malformed", type);
            return false;
        }
    }
    if (!have_size || !have_type) {
        sdl_error_set(err, SDL_E_PROTOCOL, "TRANSACTION_PAYLOAD_EVENT lacks its %s",
                      have_size ? "compression type" : "payload size");
        return false;
    }
    if (size != sdl_cursor_left(&c)) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TRANSACTION_PAYLOAD_EVENT payload size %" PRIu64 " but %zu bytes follow",
                      size, sdl_cursor_left(&c));
        return false;
    }
    p.payload = sdl_cursor_rest(&c);
    *ret = p;
    return true;
}

struct sdl_payload_reader {
    ZSTD_DStream *zs;
    bool active;
    uint8_t compression;
    uint64_t expect;   /* uncompressed size announced; 0 = unknown */
    uint64_t produced; /* bytes decompressed so far */
    ZSTD_inBuffer in;
    bool frame_done; /* the last ZSTD_decompressStream call ended a frame */
    sdl_buf win;     /* decompressed bytes not yet handed out start at win_off */
    size_t win_off;
    size_t consumed; /* bytes of the event handed out last, dropped on the next call */
    size_t peak;
};

sdl_payload_reader *
sdl_payload_reader_new(void)
{
    sdl_payload_reader *r = sdl_xcalloc(1, sizeof(*r));
    return r;
}

sdl_payload_reader *
sdl_payload_reader_free(sdl_payload_reader *r)
{
    if (!r) {
        return NULL;
    }
    ZSTD_freeDStream(r->zs);
    sdl_buf_done(&r->win);
    free(r);
    return NULL;
}

bool
sdl_payload_reader_active(const sdl_payload_reader *r)
{
    return r->active;
}

size_t
sdl_payload_reader_window_peak(const sdl_payload_reader *r)
{
    return r->peak;
}

bool
sdl_payload_reader_start(sdl_payload_reader *r, const sdl_binlog_payload *p, sdl_error *err)
{
    r->active = false;
    r->compression = p->compression;
    r->expect = p->uncompressed_size;
    r->produced = 0;
    r->in.src = p->payload.ptr;
    r->in.size = p->payload.len;
    r->in.pos = 0;
    r->frame_done = false;
    sdl_buf_reset(&r->win);
    r->win_off = 0;
    r->consumed = 0;
    if (p->compression == SDL_PAYLOAD_COMPRESSION_ZSTD) {
        if (!r->zs) {
            r->zs = ZSTD_createDStream();
            if (!r->zs) {
                sdl_error_set(err, SDL_E_IO, "cannot create a zstd decompression stream");
                return false;
            }
        }
        size_t rc = ZSTD_DCtx_reset(r->zs, ZSTD_reset_session_and_parameters);
        if (!ZSTD_isError(rc)) {
            rc = ZSTD_DCtx_setParameter(r->zs, ZSTD_d_windowLogMax, MAX_WINDOW_LOG);
        }
        if (ZSTD_isError(rc)) {
            sdl_error_set(err, SDL_E_IO, "zstd: %s", ZSTD_getErrorName(rc));
            return false;
        }
    }
    r->active = true;
    return true;
}

/* Decompresses more output into the window. Returns false on error; *ret_progress says
 * whether bytes were added (false at the end of the input). */
static bool
produce(sdl_payload_reader *r, bool *ret_progress, sdl_error *err)
{
    size_t before = r->win.len;

    sdl_buf_reserve(&r->win, CHUNK);
    if (r->compression == SDL_PAYLOAD_COMPRESSION_NONE) {
        size_t n = SDL_MIN((size_t)CHUNK, r->in.size - r->in.pos);
        memcpy(r->win.data + r->win.len, (const uint8_t *)r->in.src + r->in.pos, n);
        r->in.pos += n;
        r->win.len += n;
    } else {
        while (r->win.len == before) {
            if (r->in.pos == r->in.size && r->frame_done) {
                break;
            }
            ZSTD_outBuffer out = {r->win.data + r->win.len, CHUNK - (r->win.len - before), 0};
            size_t in_before = r->in.pos;
            size_t rc = ZSTD_decompressStream(r->zs, &out, &r->in);
            if (ZSTD_isError(rc)) {
                sdl_error_set(err, SDL_E_PROTOCOL, "TRANSACTION_PAYLOAD_EVENT: zstd: %s",
                              ZSTD_getErrorName(rc));
                return false;
            }
            r->win.len += out.pos;
            r->frame_done = rc == 0;
            if (out.pos == 0 && r->in.pos == in_before) {
                if (r->in.pos == r->in.size && !r->frame_done) {
                    sdl_error_set(err, SDL_E_PROTOCOL,
                                  "TRANSACTION_PAYLOAD_EVENT: the zstd data ends inside a frame");
                    return false;
                }
                break;
            }
        }
    }
    r->produced += r->win.len - before;
    if (r->expect && r->produced > r->expect) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TRANSACTION_PAYLOAD_EVENT expands beyond its uncompressed size %" PRIu64,
                      r->expect);
        return false;
    }
    r->peak = SDL_MAX(r->peak, r->win.cap);
    *ret_progress = r->win.len > before;
    return true;
}

/* Makes @n bytes available at win_off; *ret_short when the payload ends first. */
static bool
fill(sdl_payload_reader *r, size_t n, bool *ret_short, sdl_error *err)
{
    *ret_short = false;
    while (r->win.len - r->win_off < n) {
        bool progress;
        if (r->win_off > 0) {
            /* keep the window small: drop what was handed out */
            memmove(r->win.data, r->win.data + r->win_off, r->win.len - r->win_off);
            r->win.len -= r->win_off;
            r->win_off = 0;
        }
        if (!produce(r, &progress, err)) {
            return false;
        }
        if (!progress) {
            *ret_short = true;
            return true;
        }
    }
    return true;
}

bool
sdl_payload_reader_next(sdl_payload_reader *r, sdl_bytes *ret_event, bool *ret_end, sdl_error *err)
{
    bool short_read;

    if (!r->active) {
        *ret_end = true;
        return true;
    }
    r->win_off += r->consumed;
    r->consumed = 0;
    if (!fill(r, SDL_BINLOG_HEADER_LEN, &short_read, err)) {
        goto fail;
    }
    if (short_read) {
        size_t left = r->win.len - r->win_off;
        if (left != 0) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "TRANSACTION_PAYLOAD_EVENT: %zu bytes after the last inner event", left);
            goto fail;
        }
        if (r->expect && r->produced != r->expect) {
            sdl_error_set(err, SDL_E_PROTOCOL,
                          "TRANSACTION_PAYLOAD_EVENT expands to %" PRIu64
                          " bytes, its header says %" PRIu64,
                          r->produced, r->expect);
            goto fail;
        }
        r->active = false;
        sdl_buf_reset(&r->win);
        *ret_end = true;
        return true;
    }
    const uint8_t *h = r->win.data + r->win_off;
    uint32_t size =
        (uint32_t)h[9] | (uint32_t)h[10] << 8 | (uint32_t)h[11] << 16 | (uint32_t)h[12] << 24;
    if (size < SDL_BINLOG_HEADER_LEN || size > MAX_INNER_EVENT) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TRANSACTION_PAYLOAD_EVENT: inner event (type %u) of size %" PRIu32, h[4],
                      size);
        goto fail;
    }
    if (!fill(r, size, &short_read, err)) {
        goto fail;
    }
    if (short_read) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "TRANSACTION_PAYLOAD_EVENT: inner event of %" PRIu32
                      " bytes is truncated (%zu bytes left)",
                      size, r->win.len - r->win_off);
        goto fail;
    }
    *ret_event = SDL_BYTES(r->win.data + r->win_off, size);
    r->consumed = size;
    *ret_end = false;
    return true;
fail:
    r->active = false;
    return false;
}
