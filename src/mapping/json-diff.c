/* SPDX-License-Identifier: Apache-2.0 */
/* json-diff: MySQL's JSON diffs (binlog_row_value_options=PARTIAL_JSON): their paths, applied
 * to the before image's tree, or written as they are. Part of json-binary.h's interface. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/mapping/json-binary.h"

#include "json-binary-private.h"
#include "utf8-private.h"

/* ---- partial updates ------------------------------------------------------------------------ */

typedef enum { OP_REPLACE = 0, OP_INSERT = 1, OP_REMOVE = 2 } diff_op;

typedef struct path_leg {
    bool is_key;
    sdl_bytes key;  /* member name (unescaped, in the arena) */
    bool from_last; /* [last] / [last-N] */
    uint64_t index; /* array index, or N of last-N */
} path_leg;

/* MySQL JSON path text as Json_path::to_string writes it: $ followed by .member,
 * ."quoted member" or [index] / [last] / [last-N] legs (sql-common/json_path.cc). Wildcards
 * cannot occur in a diff. */
static bool
parse_path(jctx *cx, sdl_bytes text, path_leg **ret_legs, size_t *ret_n)
{
    const char *p = (const char *)text.ptr;
    const char *end = p + text.len;
    size_t n = 0, cap = 8;
    path_leg *legs = sdl_arena_alloc(&cx->arena, cap * sizeof(*legs));

    while (p < end && (*p == ' ')) {
        p++;
    }
    if (p >= end || *p != '$') {
        return fail(cx, "JSON diff path '%s' does not start with $", "");
    }
    p++;
    while (p < end) {
        path_leg leg;
        memset(&leg, 0, sizeof(leg));
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == '.') {
            p++;
            if (p < end && *p == '"') {
                char *out = sdl_arena_alloc(&cx->arena, (size_t)(end - p) + 1);
                size_t o = 0;
                p++;
                while (p < end && *p != '"') {
                    if (*p == '\\' && p + 1 < end) {
                        p++;
                        char c = *p;
                        out[o++] = c == 'n'   ? '\n'
                                   : c == 't' ? '\t'
                                   : c == 'r' ? '\r'
                                   : c == 'b' ? '\b'
                                   : c == 'f' ? '\f'
                                              : c;
                        p++;
                    } else {
                        out[o++] = *p++;
                    }
                }
                if (p >= end) {
                    return fail(cx, "JSON diff path has an unterminated %s", "quoted member");
                }
                p++;
                leg.key = SDL_BYTES(out, o);
            } else {
                const char *s = p;
                while (p < end && *p != '.' && *p != '[' && *p != ' ') {
                    p++;
                }
                if (p == s) {
                    return fail(cx, "JSON diff path has an empty %s", "member");
                }
                leg.key = SDL_BYTES(s, (size_t)(p - s));
            }
            leg.is_key = true;
        } else if (*p == '[') {
            p++;
            while (p < end && *p == ' ') {
                p++;
            }
            if (end - p >= 4 && memcmp(p, "last", 4) == 0) {
                leg.from_last = true;
                p += 4;
                while (p < end && *p == ' ') {
                    p++;
                }
                if (p < end && *p == '-') {
                    p++;
                    while (p < end && *p == ' ') {
                        p++;
                    }
                } else {
                    goto close;
                }
            }
            {
                const char *s = p;
                uint64_t v = 0;
                while (p < end && *p >= '0' && *p <= '9' && v < UINT32_MAX) {
                    v = v * 10 + (uint64_t)(*p - '0');
                    p++;
                }
                if (p == s || v >= UINT32_MAX) {
                    return fail(cx, "JSON diff path has an invalid %s", "array index");
                }
                leg.index = v;
            }
        close:
            while (p < end && *p == ' ') {
                p++;
            }
            if (p >= end || *p != ']') {
                return fail(cx, "JSON diff path has an unterminated %s", "array index");
            }
            p++;
        } else {
            return fail(cx, "JSON diff path has an unexpected %s", "character");
        }
        if (n == cap) {
            path_leg *bigger = sdl_arena_alloc(&cx->arena, cap * 2 * sizeof(*legs));
            memcpy(bigger, legs, n * sizeof(*legs));
            legs = bigger;
            cap *= 2;
        }
        legs[n++] = leg;
    }
    *ret_legs = legs;
    *ret_n = n;
    return true;
}

/* Index of member @key in object @o, or o->n. */
static uint32_t
find_key(const jnode *o, sdl_bytes key)
{
    for (uint32_t i = 0; i < o->n; i++) {
        if (sdl_bytes_equal(o->keys[i], key)) {
            return i;
        }
    }
    return o->n;
}

static bool
resolve_index(const jnode *a, const path_leg *leg, uint64_t *ret)
{
    if (leg->from_last) {
        if (a->n == 0 || leg->index >= a->n) {
            return false;
        }
        *ret = a->n - 1 - leg->index;
        return true;
    }
    *ret = leg->index;
    return true;
}

/* Applies one diff to *root (the whole document). */
static bool
apply_diff(jctx *cx, jnode **root, diff_op op, const path_leg *legs, size_t nlegs, jnode *value,
           sdl_bytes path_text)
{
    jnode *parent = NULL;
    jnode *cur = *root;

    if (nlegs == 0) {
        if (op != OP_REPLACE) {
            return fail(cx, "JSON diff cannot insert or remove the document root (%s)", "$");
        }
        *root = value;
        return true;
    }
    for (size_t i = 0; i + 1 < nlegs; i++) {
        uint64_t idx;
        parent = cur;
        if (legs[i].is_key) {
            uint32_t k = cur->kind == K_OBJ ? find_key(cur, legs[i].key) : UINT32_MAX;
            if (k == UINT32_MAX || k >= cur->n) {
                goto missing;
            }
            cur = cur->kids[k];
        } else {
            if (cur->kind != K_ARR || !resolve_index(cur, &legs[i], &idx) || idx >= cur->n) {
                goto missing;
            }
            cur = cur->kids[idx];
        }
    }
    (void)parent;
    const path_leg *last = &legs[nlegs - 1];
    if (last->is_key) {
        if (cur->kind != K_OBJ) {
            goto missing;
        }
        uint32_t k = find_key(cur, last->key);
        switch (op) {
        case OP_REPLACE:
            if (k >= cur->n) {
                goto missing;
            }
            cur->kids[k] = value;
            return true;
        case OP_INSERT:
            if (k < cur->n) {
                cx->err_set = true;
                sdl_error_set(cx->err, SDL_E_PROTOCOL,
                              "partial JSON update inserts '%.*s', which the before image "
                              "already has",
                              (int)SDL_MIN(path_text.len, 200), (const char *)path_text.ptr);
                return false;
            }
            sdl_json_binary_add_kid(cx, cur, last->key, value, cur->n);
            return true;
        case OP_REMOVE:
            if (k >= cur->n) {
                goto missing;
            }
            memmove(&cur->kids[k], &cur->kids[k + 1], (cur->n - k - 1) * sizeof(*cur->kids));
            memmove(&cur->keys[k], &cur->keys[k + 1], (cur->n - k - 1) * sizeof(*cur->keys));
            cur->n--;
            return true;
        }
    } else {
        uint64_t idx;
        if (cur->kind != K_ARR) {
            goto missing;
        }
        if (!resolve_index(cur, last, &idx)) {
            if (op == OP_INSERT && last->from_last) {
                idx = 0;
            } else {
                goto missing;
            }
        }
        switch (op) {
        case OP_REPLACE:
            if (idx >= cur->n) {
                goto missing;
            }
            cur->kids[idx] = value;
            return true;
        case OP_INSERT:
            sdl_json_binary_add_kid(cx, cur, SDL_BYTES(NULL, 0), value,
                                    (uint32_t)SDL_MIN(idx, cur->n));
            return true;
        case OP_REMOVE:
            if (idx >= cur->n) {
                goto missing;
            }
            memmove(&cur->kids[idx], &cur->kids[idx + 1], (cur->n - idx - 1) * sizeof(*cur->kids));
            cur->n--;
            return true;
        }
    }
missing:
    cx->err_set = true;
    sdl_error_set(cx->err, SDL_E_PROTOCOL,
                  "partial JSON update: path '%.*s' does not exist in the before image",
                  (int)SDL_MIN(path_text.len, 200), (const char *)path_text.ptr);
    return false;
}

typedef struct diff {
    diff_op op;
    sdl_bytes path;
    jnode *value; /* NULL for REMOVE */
} diff;

/* Reads a MySQL lenenc integer (Json_diff_vector::read_binary uses net_field_length). */
static bool
read_lenenc(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    if (*p >= end) {
        return false;
    }
    uint8_t f = **p;
    size_t n = f < 0xfb ? 0 : f == 0xfc ? 2 : f == 0xfd ? 3 : f == 0xfe ? 8 : 99;
    if (n == 99 || (size_t)(end - *p) < 1 + n) {
        return false;
    }
    *ret = n == 0 ? f : sdl_json_binary_rd_le(*p + 1, n);
    *p += 1 + n;
    return true;
}

/* Json_diff_vector::read_binary: operation 1, path lenenc bytes, [value lenenc bytes]. */
static bool
next_diff(jctx *cx, const uint8_t **p, const uint8_t *end, diff *ret)
{
    uint64_t len;

    ret->op = (diff_op) * *p;
    if (**p > OP_REMOVE) {
        cx->err_set = true;
        sdl_error_set(cx->err, SDL_E_PROTOCOL, "JSON diff with unknown operation %u", **p);
        return false;
    }
    (*p)++;
    if (!read_lenenc(p, end, &len) || len > (uint64_t)(end - *p)) {
        return fail(cx, "JSON diff %s truncated", "path");
    }
    ret->path = SDL_BYTES(*p, (size_t)len);
    *p += len;
    ret->value = NULL;
    if (ret->op != OP_REMOVE) {
        if (!read_lenenc(p, end, &len) || len > (uint64_t)(end - *p)) {
            return fail(cx, "JSON diff %s truncated", "value");
        }
        if (!sdl_json_binary_parse_doc(cx, *p, (size_t)len, &ret->value)) {
            sdl_error_prefix(cx->err, "JSON diff value");
            return false;
        }
        *p += len;
    }
    return true;
}

bool
sdl_json_binary_append_patched(bson_t *parent, const char *key, size_t key_len, const uint8_t *base,
                               size_t base_len, const uint8_t *diffs, size_t diffs_len,
                               const sdl_json_binary_options *opts, sdl_error *err)
{
    jctx cx;
    jnode *root = NULL;
    const uint8_t *p = diffs;
    const uint8_t *end = diffs ? diffs + diffs_len : NULL;
    bool ok;

    sdl_json_binary_ctx_init(&cx, opts, err);
    ok = sdl_json_binary_parse_doc(&cx, base, base_len, &root);
    if (!ok) {
        sdl_error_prefix(err, "before image");
    }
    while (ok && p < end) {
        diff d;
        path_leg *legs = NULL;
        size_t nlegs = 0;
        ok = next_diff(&cx, &p, end, &d) && parse_path(&cx, d.path, &legs, &nlegs) &&
             apply_diff(&cx, &root, d.op, legs, nlegs, d.value, d.path);
    }
    ok = ok && sdl_json_binary_emit(&cx, parent, key, key_len, root);
    sdl_arena_done(&cx.arena);
    return ok;
}

bool
sdl_json_diff_append(bson_t *parent, const char *key, size_t key_len, const uint8_t *diffs,
                     size_t diffs_len, const sdl_json_binary_options *opts, sdl_error *err)
{
    static const char *const names[] = {"replace", "insert", "remove"};
    jctx cx;
    const uint8_t *p = diffs;
    const uint8_t *end = diffs ? diffs + diffs_len : NULL;
    bson_t tmp = BSON_INITIALIZER, arr;
    bool ok = true;
    uint32_t i = 0;

    sdl_json_binary_ctx_init(&cx, opts, err);
    if (key_len > INT32_MAX / 2) {
        ok = fail(&cx, "%s too long", "key");
    }
    ok = ok && bson_append_array_begin(&tmp, "", 0, &arr);
    while (ok && p < end) {
        diff d;
        path_leg *legs = NULL;
        size_t nlegs = 0;
        bson_t one;
        char ibuf[16];
        const char *k;
        int kl = (int)bson_uint32_to_string(i++, &k, ibuf, sizeof(ibuf));
        ok = next_diff(&cx, &p, end, &d) && parse_path(&cx, d.path, &legs, &nlegs);
        if (!ok) {
            break;
        }
        if (!sdl_utf8_valid((const char *)d.path.ptr, d.path.len)) {
            ok = fail(&cx, "JSON diff %s is not UTF-8", "path");
            break;
        }
        ok = bson_append_document_begin(&arr, k, kl, &one) &&
             bson_append_utf8(&one, "op", 2, names[d.op], -1) &&
             bson_append_utf8(&one, "path", 4, (const char *)d.path.ptr, (int)d.path.len) &&
             (!d.value || sdl_json_binary_append_node(&cx, &one, "value", 5, d.value));
        ok = bson_append_document_end(&arr, &one) && ok;
    }
    ok = bson_append_array_end(&tmp, &arr) && ok;
    if (ok) {
        bson_iter_t it;
        ok = bson_iter_init(&it, &tmp) && bson_iter_next(&it) &&
             bson_append_iter(parent, key, (int)key_len, &it);
    }
    bson_destroy(&tmp);
    sdl_arena_done(&cx.arena);
    return ok;
}
