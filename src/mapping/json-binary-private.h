/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * json-binary-private: what the files of json-binary share: json-binary.c (MySQL binary JSON
 * into a tree of nodes, the tree written as BSON) and json-diff.c (JSON diffs of partial
 * updates, applied to that tree or written as they are). Not for other modules:
 * include/sdl/mapping/json-binary.h is the interface.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/mapping/json-binary.h"

typedef enum jkind {
    K_OBJ,
    K_ARR,
    K_NULL,
    K_TRUE,
    K_FALSE,
    K_INT,
    K_UINT,
    K_DOUBLE,
    K_STR,
    K_OPAQUE
} jkind;

typedef struct jnode jnode;
struct jnode {
    jkind kind;
    uint8_t opaque_type;
    uint32_t n, cap; /* children of K_OBJ / K_ARR */
    jnode **kids;
    sdl_bytes *keys; /* K_OBJ member names */
    union {
        int64_t i;
        uint64_t u;
        double d;
        sdl_bytes s; /* K_STR, K_OPAQUE data */
    };
};

typedef struct jctx {
    sdl_arena arena;
    uint32_t max_depth;
    bool datetime_as_string;
    bool err_set; /* cx->err holds the cause of the failure */
    sdl_error *err;
} jctx;

/* Sets a PROTOCOL error (printf-checked) and evaluates to false. */
#define fail(cx, ...)                                                                              \
    ((cx)->err_set = true, sdl_error_set((cx)->err, SDL_E_PROTOCOL, __VA_ARGS__), false)

static inline uint64_t
sdl_json_binary_rd_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

void sdl_json_binary_add_kid(jctx *cx, jnode *parent, sdl_bytes key, jnode *kid, uint32_t at);

/* A whole binary JSON document (type byte + value); empty means null. */
SDL_MUST_CHECK bool sdl_json_binary_parse_doc(jctx *cx, const uint8_t *p, size_t len, jnode **ret);

/* Appends node @n to @b under @key. */
SDL_MUST_CHECK bool sdl_json_binary_append_node(jctx *cx, bson_t *b, const char *key, int klen,
                                                const jnode *n);

/* Appends to a scratch document first so that @parent is untouched on failure. */
SDL_MUST_CHECK bool sdl_json_binary_emit(jctx *cx, bson_t *parent, const char *key, size_t key_len,
                                         const jnode *n);

void sdl_json_binary_ctx_init(jctx *cx, const sdl_json_binary_options *opts, sdl_error *err);
