/* SPDX-License-Identifier: Apache-2.0 */
#include "json-text-tree.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"

#include "src/mapping/utf8-private.h"

/*
 * The reference for the JSON text parser's differential tests: sdl's former two-pass parser
 * (src/mapping/json-text.c before the single pass became the only parser), kept verbatim
 * as an oracle written another way. Not linked into sdl.
 *
 * Two passes. parse_*() validates the whole text and builds a small tree of nodes (indices
 * into one growable array; decoded strings that needed unescaping live in a scratch buffer,
 * the others are views into the text). emit() then appends the tree to the BSON parent. The
 * tree makes "duplicate key keeps the last value" a pointer swap, and it keeps @parent
 * untouched when the text is invalid.
 */

enum {
    J_NULL,
    J_FALSE,
    J_TRUE,
    J_INT32,
    J_INT64,
    J_DOUBLE,
    J_STRING,
    J_OBJECT,
    J_ARRAY,
};

#define NONE SIZE_MAX

typedef struct jstr {
    size_t off;   /* into the text, or into the scratch buffer when .scratch */
    size_t len;   /* bytes */
    bool scratch; /* decoded into jparser.scratch */
} jstr;

typedef struct jnode {
    uint8_t type;
    bool dropped; /* an object member replaced by a later duplicate of its key */
    size_t next;  /* next sibling, NONE at the end */
    jstr key;     /* member key (object members only) */
    union {
        int64_t i;
        double d;
        jstr s;
        struct {
            size_t first; /* first child, NONE when empty */
            size_t count; /* children, dropped duplicates included */
        } c;
    };
} jnode;

typedef struct jparser {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    jnode *nodes;
    size_t nnodes;
    size_t cap;
    sdl_buf scratch;
    uint32_t max_depth;
    sdl_error *err;
    jnode local[32]; /* small documents allocate nothing */
} jparser;

static bool
fail(jparser *jp, const uint8_t *at, const char *what)
{
    sdl_error_set(jp->err, SDL_E_PROTOCOL, "invalid JSON at byte %zu: %s", (size_t)(at - jp->start),
                  what);
    return false;
}

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

static size_t
new_node(jparser *jp, uint8_t type)
{
    if (jp->nnodes == jp->cap) {
        jp->cap *= 2;
        jp->nodes = grow_array(jp->nodes, jp->local, jp->nnodes, jp->cap, sizeof(jnode));
    }
    jnode *n = &jp->nodes[jp->nnodes];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->next = NONE;
    return jp->nnodes++;
}

static const uint8_t *
str_ptr(const jparser *jp, const jstr *s)
{
    return s->scratch ? jp->scratch.data + s->off : jp->start + s->off;
}

static void
skip_ws(jparser *jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\r' || *jp->p == '\t')) {
        jp->p++;
    }
}

static int
hex4(const uint8_t *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

static size_t
put_utf8(uint8_t out[4], uint32_t cp)
{
    size_t n;

    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (uint8_t)(0xF0 | (cp >> 18));
        out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return n;
}

/* Decodes the escape at @p (a backslash) into @out (1 to 4 UTF-8 bytes); returns the number
 * of bytes written and sets *ret_next after the escape, or 0 with *ret_why (the error is at
 * *ret_next). @is_key rejects "\u0000". */
static size_t
unescape(const uint8_t *p, const uint8_t *end, bool is_key, uint8_t out[4],
         const uint8_t **ret_next, const char **ret_why)
{
    uint32_t cp;

    *ret_next = p;
    if (end - p < 2) {
        *ret_why = "unterminated escape";
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = p[1];
        break;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u': {
        int hi = end - p >= 6 ? hex4(p + 2) : -1;
        if (hi < 0) {
            *ret_why = "invalid \\u escape (four hex digits expected)";
            return 0;
        }
        if (hi >= 0xDC00 && hi <= 0xDFFF) {
            *ret_why = "unpaired low surrogate in \\u escape";
            return 0;
        }
        if (hi >= 0xD800 && hi <= 0xDBFF) {
            int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                *ret_why = "high surrogate not followed by a low surrogate";
                return 0;
            }
            cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
            p += 12;
        } else {
            cp = (uint32_t)hi;
            p += 6;
        }
        if (cp == 0 && is_key) {
            *ret_next = p - 6;
            *ret_why = "\\u0000 in an object key (not representable in BSON)";
            return 0;
        }
        *ret_next = p;
        return put_utf8(out, cp);
    }
    default:
        *ret_why = "invalid escape";
        return 0;
    }
    *ret_next = p + 2;
    return 1;
}

/* The high bit of each of the eight bytes of @x (little-endian: the first byte lowest) that
 * may end a plain run (see plain_run()): a control character, a byte >= 0x80, '"' or '\\'.
 * The lowest flagged byte is exact; flags above a flagged byte may be false positives (a
 * borrow of the subtraction), which the callers never rely on. */
static inline uint64_t
word_stops(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t ctl = (x - ones * 0x20) & ~x; /* high bit where a byte is < 0x20 */
    uint64_t q = x ^ (ones * '"');
    uint64_t bs = x ^ (ones * '\\');

    return (ctl | x | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & UINT64_C(0x8080808080808080);
}

/* True when one of the eight bytes of @x ends a plain run (see plain_run()). */
static inline bool
word_stops_run(uint64_t x)
{
    return word_stops(x) != 0;
}

/* Length of the run of plain string bytes at @p: printable ASCII other than '"' and '\\'. */
static inline size_t
plain_run(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s = p;

    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        if (word_stops_run(x)) {
            break;
        }
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
        p++;
    }
    return (size_t)(p - s);
}

/* At the opening quote. Fills @ret: a view into the text when the string has no escapes,
 * else the decoded bytes in the scratch buffer. @is_key rejects NUL characters. */
static bool
parse_string(jparser *jp, jstr *ret, bool is_key)
{
    const uint8_t *s = ++jp->p; /* after the quote */
    const uint8_t *p = s;
    const uint8_t *end = jp->end;
    bool escaped = false;
    size_t soff = 0;

    for (;;) {
        p += plain_run(p, end);
        if (p >= end) {
            return fail(jp, s - 1, "unterminated string");
        }
        uint8_t c = *p;
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            return fail(jp, p, "control character in string (must be escaped)");
        }
        if (c >= 0x80) {
            size_t n = sdl_utf8_seq_len(p, end);
            if (n == 0) {
                return fail(jp, p, "invalid UTF-8 in string");
            }
            p += n;
            continue;
        }
        /* A backslash: from here on the string is decoded into the scratch buffer. */
        if (!escaped) {
            escaped = true;
            soff = jp->scratch.len;
        }
        sdl_buf_append(&jp->scratch, s, (size_t)(p - s));
        uint8_t out[4];
        const char *why = NULL;
        size_t n = unescape(p, end, is_key, out, &p, &why);
        if (n == 0) {
            return fail(jp, p, why);
        }
        sdl_buf_append(&jp->scratch, out, n);
        s = p; /* the next plain run starts here */
    }
    if (escaped) {
        sdl_buf_append(&jp->scratch, s, (size_t)(p - s));
        ret->off = soff;
        ret->len = jp->scratch.len - soff;
        ret->scratch = true;
    } else {
        ret->off = (size_t)(s - jp->start);
        ret->len = (size_t)(p - s);
        ret->scratch = false;
    }
    jp->p = p + 1;
    return true;
}

/* A number at @s: its type (J_INT32, J_INT64 or J_DOUBLE) and value; *ret_next after it.
 * On error returns false with *ret_why and the error position in *ret_next. */
static bool
scan_number(const uint8_t *s, const uint8_t *end, uint8_t *ret_type, int64_t *ret_i, double *ret_d,
            const uint8_t **ret_next, const char **ret_why)
{
    const uint8_t *p = s;
    bool neg = false;
    bool integral = true;
    uint64_t mag = 0;
    bool overflow = false;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        *ret_next = s;
        *ret_why = "invalid number";
        return false;
    }
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            *ret_next = s;
            *ret_why = "leading zero in number";
            return false;
        }
    } else {
        /* No leading zero here: up to 19 digits fit in 64 bits, more are >= 10^19 and go
         * to strtod below like any value out of int64 range. */
        const uint8_t *digits = p;
        while (p < end && (unsigned)(*p - '0') <= 9u) {
            mag = mag * 10 + (uint64_t)(*p - '0');
            p++;
        }
        overflow = p - digits > 19;
    }
    if (p < end && *p == '.') {
        integral = false;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            *ret_next = p;
            *ret_why = "digit expected after '.'";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            *ret_next = p;
            *ret_why = "digit expected in exponent";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    *ret_next = p;
    if (integral && !overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= INT64_MAX)) {
        int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        *ret_type = v >= INT32_MIN && v <= INT32_MAX ? J_INT32 : J_INT64;
        *ret_i = v;
        return true;
    }
    /* strtod needs a NUL-terminated copy; numbers are short except in hostile input. */
    size_t len = (size_t)(p - s);
    char local[64];
    char *copy = len < sizeof(local) ? local : sdl_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    *ret_d = strtod(copy, NULL);
    if (copy != local) {
        free(copy);
    }
    *ret_type = J_DOUBLE;
    return true;
}

static bool
parse_number(jparser *jp, size_t *ret)
{
    uint8_t type;
    int64_t i = 0;
    double d = 0;
    const char *why = NULL;

    if (!scan_number(jp->p, jp->end, &type, &i, &d, &jp->p, &why)) {
        return fail(jp, jp->p, why);
    }
    size_t n = new_node(jp, type);
    if (type == J_DOUBLE) {
        jp->nodes[n].d = d;
    } else {
        jp->nodes[n].i = i;
    }
    *ret = n;
    return true;
}

static bool parse_value(jparser *jp, uint32_t depth, size_t *ret);

static bool
literal(jparser *jp, const char *word, uint8_t type, size_t *ret)
{
    size_t n = strlen(word);

    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0) {
        return fail(jp, jp->p, "invalid literal");
    }
    jp->p += n;
    *ret = new_node(jp, type);
    return true;
}

static bool
key_equal(const jparser *jp, const jstr *a, const jstr *b)
{
    return a->len == b->len && memcmp(str_ptr(jp, a), str_ptr(jp, b), a->len) == 0;
}

/* Member @dup repeats the key of earlier member @first: @first takes @dup's value and keeps
 * its position; @dup is dropped. */
static void
replace_member(jparser *jp, size_t first, size_t dup)
{
    jnode *f = &jp->nodes[first];
    jnode *d = &jp->nodes[dup];
    size_t next = f->next;
    jstr key = f->key;

    *f = *d;
    f->next = next;
    f->key = key;
    f->dropped = false;
    d->dropped = true;
}

static uint64_t
key_hash(const jparser *jp, const jstr *k)
{
    const uint8_t *p = str_ptr(jp, k);
    uint64_t h = UINT64_C(1469598103934665603);

    for (size_t i = 0; i < k->len; i++) {
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    }
    return h;
}

static void
dedupe_members(jparser *jp, size_t obj)
{
    size_t count = jp->nodes[obj].c.count;

    if (count < 2) {
        return;
    }
    if (count <= 16) {
        for (size_t m = jp->nodes[jp->nodes[obj].c.first].next; m != NONE; m = jp->nodes[m].next) {
            for (size_t e = jp->nodes[obj].c.first; e != m; e = jp->nodes[e].next) {
                if (!jp->nodes[e].dropped && key_equal(jp, &jp->nodes[e].key, &jp->nodes[m].key)) {
                    replace_member(jp, e, m);
                    break;
                }
            }
        }
        return;
    }
    /* Open addressing over member indices; capacity a power of two at least 2 * count. */
    size_t cap = 32;
    while (cap < count * 2) {
        cap *= 2;
    }
    size_t *slots = sdl_xmalloc(cap * sizeof(size_t));
    for (size_t i = 0; i < cap; i++) {
        slots[i] = NONE;
    }
    for (size_t m = jp->nodes[obj].c.first; m != NONE; m = jp->nodes[m].next) {
        size_t i = (size_t)key_hash(jp, &jp->nodes[m].key) & (cap - 1);
        for (;; i = (i + 1) & (cap - 1)) {
            if (slots[i] == NONE) {
                slots[i] = m;
                break;
            }
            if (key_equal(jp, &jp->nodes[slots[i]].key, &jp->nodes[m].key)) {
                replace_member(jp, slots[i], m);
                break;
            }
        }
    }
    free(slots);
}

static bool
parse_container(jparser *jp, uint32_t depth, bool is_object, size_t *ret)
{
    const uint8_t *open = jp->p;
    size_t node = new_node(jp, is_object ? J_OBJECT : J_ARRAY);
    size_t last = NONE;
    char close = is_object ? '}' : ']';

    if (depth >= jp->max_depth) {
        sdl_error_set(jp->err, SDL_E_PROTOCOL,
                      "invalid JSON at byte %zu: nesting deeper than %" PRIu32 " levels",
                      (size_t)(open - jp->start), jp->max_depth);
        return false;
    }
    jp->nodes[node].c.first = NONE;
    jp->p++;
    skip_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        *ret = node;
        return true;
    }
    for (;;) {
        jstr key = {0, 0, false};
        size_t child;

        if (is_object) {
            if (jp->p >= jp->end || *jp->p != '"') {
                return fail(jp, jp->p, "object key (string) expected");
            }
            if (!parse_string(jp, &key, true)) {
                return false;
            }
            skip_ws(jp);
            if (jp->p >= jp->end || *jp->p != ':') {
                return fail(jp, jp->p, "':' expected");
            }
            jp->p++;
            skip_ws(jp);
        }
        if (!parse_value(jp, depth + 1, &child)) {
            return false;
        }
        jp->nodes[child].key = key;
        if (last == NONE) {
            jp->nodes[node].c.first = child;
        } else {
            jp->nodes[last].next = child;
        }
        last = child;
        jp->nodes[node].c.count++;
        skip_ws(jp);
        if (jp->p >= jp->end) {
            return fail(jp, open, is_object ? "unterminated object" : "unterminated array");
        }
        if (*jp->p == ',') {
            jp->p++;
            skip_ws(jp);
            continue;
        }
        if (*jp->p == close) {
            jp->p++;
            break;
        }
        return fail(jp, jp->p, is_object ? "',' or '}' expected" : "',' or ']' expected");
    }
    if (is_object) {
        dedupe_members(jp, node);
    }
    *ret = node;
    return true;
}

static bool
parse_value(jparser *jp, uint32_t depth, size_t *ret)
{
    if (jp->p >= jp->end) {
        return fail(jp, jp->p, "value expected");
    }
    switch (*jp->p) {
    case '{':
        return parse_container(jp, depth, true, ret);
    case '[':
        return parse_container(jp, depth, false, ret);
    case '"': {
        jstr s;
        if (!parse_string(jp, &s, false)) {
            return false;
        }
        *ret = new_node(jp, J_STRING);
        jp->nodes[*ret].s = s;
        return true;
    }
    case 't':
        return literal(jp, "true", J_TRUE, ret);
    case 'f':
        return literal(jp, "false", J_FALSE, ret);
    case 'n':
        return literal(jp, "null", J_NULL, ret);
    default:
        if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9')) {
            return parse_number(jp, ret);
        }
        return fail(jp, jp->p, "value expected");
    }
}

/*
 * The tree is written as raw BSON bytes (a row with a JSON column is mapped a million times a
 * second and libbson's bson_append_*() cost tens of nanoseconds per element); a container at
 * the top is then appended to @parent with one bson_append_document()/bson_append_array().
 */
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

static inline uint8_t *
rw_room(rw *w, size_t n)
{
    if (SDL_UNLIKELY(w->cap - w->len < n)) {
        rw_grow(w, n);
    }
    return w->p + w->len;
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

/* Element header (type, key, NUL) with @extra bytes reserved for the value; returns where the
 * value goes. */
static uint8_t *
rw_elem(rw *w, uint8_t type, const uint8_t *key, size_t klen, size_t extra)
{
    uint8_t *p = rw_room(w, 2 + klen + extra);
    p[0] = type;
    if (klen) {
        memcpy(p + 1, key, klen);
    }
    p[1 + klen] = 0;
    w->len += 2 + klen + extra;
    return p + 2 + klen;
}

/* Writes the members of container @idx (a document body: int32 length, elements, NUL). */
static void
emit_body(const jparser *jp, size_t idx, rw *w)
{
    const jnode *n = &jp->nodes[idx];
    size_t at = w->len;
    uint32_t i = 0;

    (void)rw_room(w, 4);
    w->len += 4;
    for (size_t m = n->c.first; m != NONE; m = jp->nodes[m].next, i++) {
        const jnode *mn = &jp->nodes[m];
        const uint8_t *key;
        size_t klen;
        char buf[16];
        uint8_t *v;

        if (n->type == J_OBJECT) {
            if (mn->dropped) {
                continue;
            }
            key = str_ptr(jp, &mn->key);
            klen = mn->key.len;
        } else {
            const char *k;
            klen = bson_uint32_to_string(i, &k, buf, sizeof(buf));
            key = (const uint8_t *)k;
        }
        switch (mn->type) {
        case J_NULL:
            (void)rw_elem(w, BSON_TYPE_NULL, key, klen, 0);
            break;
        case J_FALSE:
        case J_TRUE:
            *rw_elem(w, BSON_TYPE_BOOL, key, klen, 1) = mn->type == J_TRUE;
            break;
        case J_INT32:
            rw_le32(rw_elem(w, BSON_TYPE_INT32, key, klen, 4), (uint32_t)(int32_t)mn->i);
            break;
        case J_INT64:
            rw_le64(rw_elem(w, BSON_TYPE_INT64, key, klen, 8), (uint64_t)mn->i);
            break;
        case J_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &mn->d, sizeof(bits));
            rw_le64(rw_elem(w, BSON_TYPE_DOUBLE, key, klen, 8), bits);
            break;
        }
        case J_STRING:
            v = rw_elem(w, BSON_TYPE_UTF8, key, klen, 4 + mn->s.len + 1);
            rw_le32(v, (uint32_t)(mn->s.len + 1));
            if (mn->s.len) {
                memcpy(v + 4, str_ptr(jp, &mn->s), mn->s.len);
            }
            v[4 + mn->s.len] = 0;
            break;
        case J_OBJECT:
        case J_ARRAY:
            (void)rw_elem(w, mn->type == J_OBJECT ? BSON_TYPE_DOCUMENT : BSON_TYPE_ARRAY, key, klen,
                          0);
            emit_body(jp, m, w);
            break;
        default:
            abort();
        }
    }
    *rw_room(w, 1) = 0;
    w->len++;
    rw_le32(w->p + at, (uint32_t)(w->len - at));
}

/* Appends the value of node @idx to @parent. Containers go through emit_body(); false when
 * the document would exceed the BSON size limit. */
static bool
emit(const jparser *jp, size_t idx, bson_t *parent, const char *key, int key_len)
{
    const jnode *n = &jp->nodes[idx];

    switch (n->type) {
    case J_NULL:
        bson_append_null(parent, key, key_len);
        return true;
    case J_FALSE:
    case J_TRUE:
        bson_append_bool(parent, key, key_len, n->type == J_TRUE);
        return true;
    case J_INT32:
        bson_append_int32(parent, key, key_len, (int32_t)n->i);
        return true;
    case J_INT64:
        bson_append_int64(parent, key, key_len, n->i);
        return true;
    case J_DOUBLE:
        bson_append_double(parent, key, key_len, n->d);
        return true;
    case J_STRING:
        bson_append_utf8(parent, key, key_len, (const char *)str_ptr(jp, &n->s), (int)n->s.len);
        return true;
    case J_OBJECT:
    case J_ARRAY: {
        uint8_t local[512];
        rw w = {.p = local, .len = 0, .cap = sizeof(local), .local = local};
        bson_t child;
        bool ok;
        emit_body(jp, idx, &w);
        ok = w.len <= INT32_MAX && bson_init_static(&child, w.p, w.len);
        if (ok) {
            ok = n->type == J_OBJECT ? bson_append_document(parent, key, key_len, &child)
                                     : bson_append_array(parent, key, key_len, &child);
        }
        if (w.p != w.local) {
            free(w.p);
        }
        return ok;
    }
    default:
        abort();
    }
}

bool
sdl_json_text_append_two_pass(bson_t *parent, const char *key, size_t key_len, const char *text,
                              size_t len, uint32_t max_depth, sdl_error *err)
{
    jparser jp;
    size_t root = NONE;
    bool ok = false;

    if (len > INT_MAX || key_len > INT_MAX) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "JSON text of %zu bytes exceeds the BSON limit", len);
        return false;
    }
    if (len == 0) {
        text = ""; /* may be NULL when empty */
    }
    jp.start = (const uint8_t *)text;
    jp.p = jp.start;
    jp.end = jp.start + len;
    jp.nodes = jp.local;
    jp.nnodes = 0;
    jp.cap = SDL_ARRAY_SIZE(jp.local);
    jp.scratch = (sdl_buf)SDL_BUF_INIT;
    jp.max_depth = max_depth ? max_depth : SDL_JSON_TEXT_MAX_DEPTH;
    jp.err = err;

    skip_ws(&jp);
    if (jp.p >= jp.end) {
        (void)fail(&jp, jp.p, "empty text");
        goto out;
    }
    if (!parse_value(&jp, 0, &root)) {
        goto out;
    }
    skip_ws(&jp);
    if (jp.p != jp.end) {
        (void)fail(&jp, jp.p, "unexpected data after the value");
        goto out;
    }
    if (!emit(&jp, root, parent, key, (int)key_len)) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "JSON text of %zu bytes exceeds the BSON limit", len);
        goto out;
    }
    ok = true;
out:
    if (jp.nodes != jp.local) {
        free(jp.nodes);
    }
    sdl_buf_done(&jp.scratch);
    return ok;
}
