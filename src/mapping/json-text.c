/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/json-text.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"

#include "json-lex-private.h"
#include "utf8-private.h"

/*
 * One parser, one pass: the text is validated and written as raw BSON at once (a row with a
 * JSON column is mapped a million times a second and libbson's bson_append_*() cost tens of
 * nanoseconds per element). Open containers live on an explicit stack (a local array, on the
 * heap beyond it) bounded by the depth limit, so nesting costs no recursion; the keys of the
 * open objects live on a second stack, so a duplicated key is found when its object closes and
 * the object's elements are then rewritten in place (first position, last value). An error
 * leaves the output where it was and names the byte where the text goes wrong.
 *
 * It is one loop over local variables, not recursive functions over a state struct: stores
 * through the uint8_t output pointer may alias anything, so state kept in memory would be
 * reloaded after every output byte.
 */

/* Grows array @p of @n elements of @size bytes to @cap elements; while @p is still the
 * caller's @local buffer, it moves to the heap. */
static void *
grow_array(void *p, void *local, size_t n, size_t cap, size_t size)
{
    if (p != local) {
        return sdl_xreallocarray(p, cap, size);
    }
    void *heap = sdl_xreallocarray(NULL, cap, size);
    memcpy(heap, local, n * size);
    return heap;
}

typedef sdl_json_out rw;

static void
rw_grow(rw *w, size_t n)
{
    size_t cap = w->cap * 2;
    while (cap - w->len < n) {
        cap *= 2;
    }
    w->p = grow_array(w->p, w->local, w->len, cap, 1);
    w->cap = cap;
}

static inline void
rw_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void
rw_le64(uint8_t *p, uint64_t v)
{
    rw_le32(p, (uint32_t)v);
    rw_le32(p + 4, (uint32_t)(v >> 32));
}

typedef struct fkey {
    size_t off; /* into the output */
    size_t len;
} fkey;

/* An open container. What the loop reads for every member lives in locals while the
 * container is the innermost one (the c_* of parse()) and is saved here when a container
 * opens inside it. */
typedef struct fframe {
    size_t at;         /* output offset of the container's int32 length */
    uint64_t seen;     /* saved c_seen */
    uint32_t open;     /* text offset of its '{' or '[' (a text is at most INT_MAX bytes) */
    uint32_t key_base; /* objects: first of its keys in the key stack */
    uint32_t index;    /* saved c_index */
    bool maybe_dup;    /* saved c_maybe_dup */
    uint8_t close;     /* saved c_close */
} fframe;

_Static_assert(sizeof(fframe) == 32, "a frame is 32 bytes: indexing it is a shift");

/* True when the @count keys at @k hold a duplicate (for small counts). */
static bool
has_dup_key(const fkey *k, size_t count, const uint8_t *out)
{
    for (size_t m = 1; m < count; m++) {
        for (size_t e = 0; e < m; e++) {
            if (k[e].len == k[m].len &&
                (k[m].len == 0 || out[k[e].off] == out[k[m].off]) && /* most differ at once */
                memcmp(out + k[e].off, out + k[m].off, k[m].len) == 0) {
                return true;
            }
        }
    }
    return false;
}

static uint64_t
key_hash(const uint8_t *p, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    }
    return h;
}

/* first[m]: the first of the @count keys at @k equal to key m (m itself when it is the first).
 * Returns false when no key repeats. */
static bool
group_keys(const fkey *k, size_t count, const uint8_t *out, size_t *first)
{
    bool dup = false;

    if (count <= 16) {
        for (size_t m = 0; m < count; m++) {
            first[m] = m;
            for (size_t e = 0; e < m; e++) {
                if (k[e].len == k[m].len && memcmp(out + k[e].off, out + k[m].off, k[m].len) == 0) {
                    first[m] = first[e];
                    dup = true;
                    break;
                }
            }
        }
        return dup;
    }
    /* Open addressing over key indices; capacity a power of two at least 2 * count. */
    size_t cap = 32;
    while (cap < count * 2) {
        cap *= 2;
    }
    size_t *slots = sdl_xmalloc(cap * sizeof(size_t));
    for (size_t i = 0; i < cap; i++) {
        slots[i] = SIZE_MAX;
    }
    for (size_t m = 0; m < count; m++) {
        size_t i = (size_t)key_hash(out + k[m].off, k[m].len) & (cap - 1);
        for (;; i = (i + 1) & (cap - 1)) {
            size_t e = slots[i];
            if (e == SIZE_MAX) {
                slots[i] = m;
                first[m] = m;
                break;
            }
            if (k[e].len == k[m].len && memcmp(out + k[e].off, out + k[m].off, k[m].len) == 0) {
                first[m] = e;
                dup = true;
                break;
            }
        }
    }
    free(slots);
    return dup;
}

/*
 * The object whose @count (>= 2) elements start at the keys @k and end at @end in @out:
 * when a key repeats, its elements are rewritten in place, each key once at the position of
 * its first occurrence with the type and value of its last (as MySQL's JSON type and
 * JSON.parse() do). Returns the new end (@end when no key repeats).
 */
static size_t
dedupe_object(uint8_t *out, size_t end, const fkey *k, size_t count)
{
    if (count <= 16 && !has_dup_key(k, count, out)) {
        return end; /* the common case, without allocating */
    }
    size_t *first = sdl_xreallocarray(NULL, count, 2 * sizeof(size_t));
    size_t *last = first + count;

    if (!group_keys(k, count, out, first)) {
        free(first);
        return end;
    }
    for (size_t m = 0; m < count; m++) {
        last[first[m]] = m;
    }
    size_t body = k[0].off - 1; /* the first element's type byte */
    uint8_t *tmp = sdl_xmalloc(end - body);
    size_t t = 0;
    for (size_t m = 0; m < count; m++) {
        if (first[m] != m) {
            continue;
        }
        size_t l = last[m];
        size_t value = k[l].off + k[l].len + 1;
        size_t value_end = l + 1 < count ? k[l + 1].off - 1 : end;
        tmp[t++] = out[k[l].off - 1];
        memcpy(tmp + t, out + k[m].off, k[m].len + 1);
        t += k[m].len + 1;
        memcpy(tmp + t, out + value, value_end - value);
        t += value_end - value;
    }
    memcpy(out + body, tmp, t);
    free(tmp);
    free(first);
    return body + t;
}

/*
 * Parses @text into @out: for an object or an array at the top, a document body (int32
 * length, elements, NUL), *ret_type BSON_TYPE_DOCUMENT or BSON_TYPE_ARRAY; for a scalar at the
 * top (only when @scalars), its type, an empty key and its value (the bytes of a BSON element
 * with the key ""). On error (@err set, unless NULL) out->len is back where it was; the buffer may
 * have moved or grown either way.
 */
static inline __attribute__((always_inline)) bool
parse(sdl_json_out *out, const char *text, size_t len, uint32_t max_depth, bool scalars,
      uint8_t *ret_type, sdl_error *err)
{
    const uint8_t *const text0 = (const uint8_t *)text;
    const uint8_t *p = text0;
    const uint8_t *end = len ? p + len : p; /* text may be NULL when empty */
    const size_t start = out->len;
    uint32_t limit = max_depth ? max_depth : SDL_JSON_TEXT_MAX_DEPTH;
    /*
     * The open containers, on a stack (a local array, then the heap). What the loop reads for
     * every member of the innermost one lives in locals (c_*): stores through @buf may alias
     * anything in memory, so state kept there would be reloaded after every output byte.
     */
    fframe slocal[32]; /* the open containers, innermost last */
    fframe *stack = slocal;
    uint32_t capstack = SDL_ARRAY_SIZE(slocal);
    uint32_t depth = 0;       /* open containers */
    uint32_t c_index = 0;     /* arrays: index of the next element */
    uint64_t c_seen = 0;      /* objects: a bit per key so far, see below */
    bool c_maybe_dup = false; /* objects: two keys share a bit */
    int c_close = 256;        /* '}' or ']'; at the top (a scalar) never a byte */
    fkey klocal[32];          /* the keys of the open objects, innermost last */
    fkey *keys = klocal;
    size_t nkeys = 0;
    size_t capkeys = SDL_ARRAY_SIZE(klocal);
    bool done = false;
    bool too_big = false; /* a document over the BSON limit: said once the text is valid */
    uint8_t top = 0;
    size_t type_at = 0;           /* the current element's type byte */
    const uint8_t *fail_at = p;   /* the error: where */
    const char *fail_what = NULL; /* and what (NULL: nesting too deep) */
    /* the output, kept in locals; ROOM() grows it through the sdl_json_out */
    uint8_t *buf = out->p;
    size_t cap = out->cap;
    size_t n = out->len;

#define ROOM(need)                                                                                 \
    do {                                                                                           \
        if (SDL_UNLIKELY(cap - n < (size_t)(need))) {                                              \
            out->len = n;                                                                          \
            rw_grow(out, (size_t)(need));                                                          \
            buf = out->p;                                                                          \
            cap = out->cap;                                                                        \
        }                                                                                          \
    } while (0)
#define SKIP_WS()                                                                                  \
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {        \
        p++;                                                                                       \
    }
#define FAIL(at, what)                                                                             \
    do {                                                                                           \
        fail_at = (at);                                                                            \
        fail_what = (what);                                                                        \
        goto fail;                                                                                 \
    } while (0)
#define FAIL_STRING(q, is_key)                                                                     \
    do {                                                                                           \
        fail_what = sdl_json_string_error((q), end, (is_key), &fail_at);                           \
        goto fail;                                                                                 \
    } while (0)

    SKIP_WS();
    if (p >= end) {
        FAIL(p, "empty text");
    }
    if (*p != '{' && *p != '[') {
        if (!scalars) {
            FAIL(p, "an object or an array expected");
        }
        /* a scalar at the top: one element with an empty key, then its value */
        ROOM(2);
        type_at = n;
        n++;
        buf[n++] = 0;
        goto value;
    }
    top = *p == '{' ? BSON_TYPE_DOCUMENT : BSON_TYPE_ARRAY;

open: /* at '{' or '[' */
    if (SDL_UNLIKELY(depth >= limit)) {
        FAIL(p, NULL);
    }
    if (SDL_UNLIKELY(depth == capstack)) {
        capstack *= 2;
        stack = grow_array(stack, slocal, depth, capstack, sizeof(fframe));
    }
    if (depth > 0) { /* the enclosing container's locals */
        fframe *e = &stack[depth - 1];
        e->index = c_index;
        e->seen = c_seen;
        e->maybe_dup = c_maybe_dup;
        e->close = (uint8_t)c_close;
    }
    {
        fframe *f = &stack[depth];
        f->at = n;
        f->open = (uint32_t)(p - text0);
        f->key_base = (uint32_t)nkeys;
    }
    depth++;
    c_index = 0;
    c_seen = 0;
    c_maybe_dup = false;
    c_close = *p + 2; /* '{' + 2 is '}', '[' + 2 is ']' */
    ROOM(4);
    n += 4;
    p++;
    SKIP_WS();
    if (p < end && *p == c_close) {
        p++;
        goto close;
    }
    for (;;) { /* one member: p is at its key (objects) or value (arrays) */
        type_at = n;
        ROOM(1 + 11);
        n++;
        if (c_close == '}') {
            if (p >= end || *p != '"') {
                FAIL(p, "object key (string) expected");
            }
            ROOM((size_t)(end - p) + 8 + 1);
            const uint8_t *after = NULL;
            size_t klen = sdl_json_fast_string(p, end, buf + n, true, &after);
            if (klen == (size_t)-1) {
                FAIL_STRING(p, true);
            }
            p = after;
            if (nkeys == capkeys) {
                capkeys *= 2;
                keys = grow_array(keys, klocal, nkeys, capkeys, sizeof(fkey));
            }
            keys[nkeys++] = (fkey){n, klen};
            {
                /* a key's bit: equal keys have equal bits, so distinct bits rule duplicates
                 * out without comparing the keys */
                unsigned h = klen ? (unsigned)(klen * 7u + buf[n] * 3u + buf[n + klen - 1]) : 0u;
                uint64_t bit = UINT64_C(1) << (h & 63u);
                c_maybe_dup |= (c_seen & bit) != 0;
                c_seen |= bit;
            }
            n += klen;
            buf[n++] = 0;
            SKIP_WS();
            if (p >= end || *p != ':') {
                FAIL(p, "':' expected");
            }
            p++;
            SKIP_WS();
        } else {
            uint32_t i = c_index++;
            if (i < 10) {
                buf[n++] = (uint8_t)('0' + i);
            } else {
                char kb[16];
                const char *k;
                size_t klen = bson_uint32_to_string(i, &k, kb, sizeof(kb));
                memcpy(buf + n, k, klen);
                n += klen;
            }
            buf[n++] = 0;
        }
    value: /* at a value, its element's type byte and key written */
        if (p >= end) {
            FAIL(p, "value expected");
        }
        switch (*p) {
        case '{':
        case '[':
            buf[type_at] = *p == '{' ? BSON_TYPE_DOCUMENT : BSON_TYPE_ARRAY;
            goto open;
        case '"': {
            ROOM(4 + (size_t)(end - p) + 8 + 1);
            const uint8_t *after = NULL;
            size_t slen = sdl_json_fast_string(p, end, buf + n + 4, false, &after);
            if (slen == (size_t)-1) {
                FAIL_STRING(p, false);
            }
            p = after;
            buf[type_at] = BSON_TYPE_UTF8;
            rw_le32(buf + n, (uint32_t)(slen + 1));
            n += 4 + slen;
            buf[n++] = 0;
            break;
        }
        case 't':
            if (end - p < 4 || memcmp(p, "true", 4) != 0) {
                FAIL(p, "invalid literal");
            }
            p += 4;
            buf[type_at] = BSON_TYPE_BOOL;
            ROOM(1);
            buf[n++] = 1;
            break;
        case 'f':
            if (end - p < 5 || memcmp(p, "false", 5) != 0) {
                FAIL(p, "invalid literal");
            }
            p += 5;
            buf[type_at] = BSON_TYPE_BOOL;
            ROOM(1);
            buf[n++] = 0;
            break;
        case 'n':
            if (end - p < 4 || memcmp(p, "null", 4) != 0) {
                FAIL(p, "invalid literal");
            }
            p += 4;
            buf[type_at] = BSON_TYPE_NULL;
            break;
        default: {
            uint8_t jt;
            int64_t iv = 0;
            double d = 0;
            const char *why;
            /* most numbers are small integers: up to 9 digits, no fraction or exponent, are
             * an int32 (sdl_json_scan_number() would say the same) */
            const uint8_t *q = p + (*p == '-');
            if (q < end && (unsigned)(*q - '0') <= 9u) {
                const uint8_t *d0 = q;
                uint32_t v = 0;
                while (q < end && (unsigned)(*q - '0') <= 9u && q - d0 < 9) {
                    v = v * 10 + (uint32_t)(*q - '0');
                    q++;
                }
                bool more =
                    q < end && ((unsigned)(*q - '0') <= 9u || *q == '.' || *q == 'e' || *q == 'E');
                if (!more && (*d0 != '0' || q - d0 == 1)) {
                    ROOM(4);
                    buf[type_at] = BSON_TYPE_INT32;
                    rw_le32(buf + n, *p == '-' ? (uint32_t)0 - v : v);
                    n += 4;
                    p = q;
                    break;
                }
            } else if (*p != '-') {
                FAIL(p, "value expected");
            }
            const uint8_t *after = NULL; /* p itself stays out of memory */
            if (!sdl_json_scan_number(p, end, &jt, &iv, &d, &after, &why)) {
                FAIL(after, why);
            }
            p = after;
            ROOM(8);
            if (jt == SDL_JSON_NUM_INT32) {
                buf[type_at] = BSON_TYPE_INT32;
                rw_le32(buf + n, (uint32_t)(int32_t)iv);
                n += 4;
            } else {
                uint64_t bits = (uint64_t)iv;
                if (jt == SDL_JSON_NUM_DOUBLE) {
                    memcpy(&bits, &d, sizeof(bits));
                }
                buf[type_at] = jt == SDL_JSON_NUM_DOUBLE ? BSON_TYPE_DOUBLE : BSON_TYPE_INT64;
                rw_le64(buf + n, bits);
                n += 8;
            }
            break;
        }
        }
    next: /* after a value: ',' or the end of the container (or of the text, at the top) */
        SKIP_WS();
        if (p >= end) {
            if (depth == 0) { /* the scalar at the top */
                top = buf[type_at];
                done = true;
                goto out;
            }
            FAIL(text0 + stack[depth - 1].open,
                 c_close == '}' ? "unterminated object" : "unterminated array");
        }
        if (*p == ',') {
            if (SDL_UNLIKELY(depth == 0)) {
                FAIL(p, "unexpected data after the value");
            }
            p++;
            SKIP_WS();
            continue;
        }
        if (*p != c_close) {
            FAIL(p, depth == 0       ? "unexpected data after the value"
                    : c_close == '}' ? "',' or '}' expected"
                                     : "',' or ']' expected");
        }
        p++;
    close : {
        const fframe *f = &stack[depth - 1];
        size_t at = f->at;
        if (c_close == '}' && c_maybe_dup) {
            n = dedupe_object(buf, n, keys + f->key_base, nkeys - f->key_base);
        }
        nkeys = f->key_base;
        ROOM(1);
        buf[n++] = 0;
        if (n - at > INT32_MAX) {
            too_big = true;
        }
        rw_le32(buf + at, (uint32_t)(n - at));
        depth--;
        if (depth == 0) {
            SKIP_WS();
            if (p != end) {
                FAIL(p, "unexpected data after the value");
            }
            done = true;
            goto out;
        }
        const fframe *e = &stack[depth - 1]; /* back in the enclosing container */
        c_index = e->index;
        c_seen = e->seen;
        c_maybe_dup = e->maybe_dup;
        c_close = e->close;
    }
        goto next;
    }

fail:
    if (fail_what) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid JSON at byte %zu: %s",
                      (size_t)(fail_at - text0), fail_what);
    } else {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "invalid JSON at byte %zu: nesting deeper than %" PRIu32 " levels",
                      (size_t)(fail_at - text0), limit);
    }
out:
#undef ROOM
#undef SKIP_WS
#undef FAIL
#undef FAIL_STRING
    if (done && too_big) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "JSON text of %zu bytes exceeds the BSON limit", len);
        done = false;
    }
    if (keys != klocal) {
        free(keys);
    }
    if (stack != slocal) {
        free(stack);
    }
    out->len = done ? n : start;
    if (done) {
        *ret_type = top;
    }
    return done;
}

bool
sdl_json_text_write(sdl_json_out *out, const char *text, size_t len, uint32_t max_depth,
                    uint8_t *ret_type)
{
    if (len == 0 || len > INT_MAX) {
        return false;
    }
    return parse(out, text, len, max_depth, false, ret_type, NULL);
}

static uint32_t
rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
rd_le64(const uint8_t *p)
{
    return (uint64_t)rd_le32(p) | (uint64_t)rd_le32(p + 4) << 32;
}

/* Appends the scalar @v (the value bytes of a BSON element of @type) to @parent. */
static bool
append_scalar(bson_t *parent, const char *key, int key_len, uint8_t type, const uint8_t *v)
{
    switch (type) {
    case BSON_TYPE_NULL:
        return bson_append_null(parent, key, key_len);
    case BSON_TYPE_BOOL:
        return bson_append_bool(parent, key, key_len, v[0] != 0);
    case BSON_TYPE_INT32:
        return bson_append_int32(parent, key, key_len, (int32_t)rd_le32(v));
    case BSON_TYPE_INT64:
        return bson_append_int64(parent, key, key_len, (int64_t)rd_le64(v));
    case BSON_TYPE_DOUBLE: {
        uint64_t bits = rd_le64(v);
        double d;
        memcpy(&d, &bits, sizeof(d));
        return bson_append_double(parent, key, key_len, d);
    }
    case BSON_TYPE_UTF8:
        return bson_append_utf8(parent, key, key_len, (const char *)v + 4, (int)(rd_le32(v) - 1));
    default:
        abort();
    }
}

bool
sdl_json_text_append(bson_t *parent, const char *key, size_t key_len, const char *text, size_t len,
                     uint32_t max_depth, sdl_error *err)
{
    uint8_t local[512];
    sdl_json_out w = {local, 0, sizeof(local), local};
    uint8_t type;
    bool ok;

    if (len > INT_MAX || key_len > INT_MAX) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "JSON text of %zu bytes exceeds the BSON limit", len);
        return false;
    }
    ok = parse(&w, text, len, max_depth, true, &type, err);
    if (ok) {
        if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) {
            bson_t child;
            ok = bson_init_static(&child, w.p, w.len) &&
                 (type == BSON_TYPE_DOCUMENT
                      ? bson_append_document(parent, key, (int)key_len, &child)
                      : bson_append_array(parent, key, (int)key_len, &child));
        } else {
            ok = append_scalar(parent, key, (int)key_len, type, w.p + 2);
        }
        if (!ok) {
            sdl_error_set(err, SDL_E_UNSUPPORTED, "JSON text of %zu bytes exceeds the BSON limit",
                          len);
        }
    }
    if (w.p != w.local) {
        free(w.p);
    }
    return ok;
}
