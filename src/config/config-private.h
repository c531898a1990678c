/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * config-private: the declarative key tables (config-keys.c) shared by the loader
 * (config.c) and the printer (config-print.c). One sdl_config_key row per key, as
 * PgBouncer's CF_ABS rows and netplan's handler tables: name, type, offset into sdl_config,
 * default (as YAML text, parsed by the same code as the file, so the documented default is
 * the effective one), flags, range and an optional validator.
 */

#include <stddef.h>
#include <stdint.h>

#include "sdl/config/config.h"

typedef enum sdl_cfg_type {
    SDL_CFG_SECTION,      /* nested mapping: ->section */
    SDL_CFG_STRING,       /* char * */
    SDL_CFG_UINT16,       /* uint16_t, range min..max */
    SDL_CFG_UINT32,       /* uint32_t, range min..max */
    SDL_CFG_UINT64,       /* uint64_t, range min..max */
    SDL_CFG_DURATION,     /* uint64_t microseconds, range min..max */
    SDL_CFG_SIZE,         /* uint64_t bytes, range min..max */
    SDL_CFG_ENUM,         /* int-sized enum, names in ->enums */
    SDL_CFG_STRING_LIST,  /* char ** at offset, size_t count at count_offset */
    SDL_CFG_SECRET_FILE,  /* char * path; the file's contents become the secret */
    SDL_CFG_REJECTED,     /* a known key that is refused with ->doc as the message */
    SDL_CFG_COLUMN_RULES, /* sequence of {match, action | truncate}: sdl_columns_config.rules */
    SDL_CFG_SKIP_OPS,     /* sequence of {match, ops} (or op names): sdl_tables_config.skip_ops */
} sdl_cfg_type;

enum {
    SDL_CFG_REQUIRED = 1u << 0,   /* must be present (no default) */
    SDL_CFG_RELOADABLE = 1u << 1, /* may change on SIGHUP */
    SDL_CFG_NULLABLE = 1u << 2,   /* may be null / absent (no value) */
    SDL_CFG_MASK_URI = 1u << 3,   /* a URI that may hold a secret: messages show it masked */
};

typedef struct sdl_config_enum {
    const char *name;
    int value;
} sdl_config_enum;

typedef struct sdl_config_key sdl_config_key;
typedef struct sdl_config_section sdl_config_section;

/* Validators see the parsed value (already stored) and return a reason, or NULL when fine. */
typedef const char *(*sdl_config_validator)(const sdl_config *config);

struct sdl_config_key {
    const char *name;
    sdl_cfg_type type;
    size_t offset;       /* into sdl_config */
    size_t count_offset; /* STRING_LIST: the size_t count */
    const char *def;     /* default as YAML scalar text; NULL = none */
    unsigned flags;
    uint64_t min, max;            /* numeric range, in stored units */
    const sdl_config_enum *enums; /* ENUM: NULL-terminated */
    const sdl_config_section *section;
    sdl_config_validator validate;                  /* per key, after the value is stored */
    const char *(*validate_item)(const char *item); /* STRING_LIST: per item */
    const char *doc;                                /* one line; for REJECTED: the error message */
};

struct sdl_config_section {
    const char *path; /* "source", "pipeline.batch", "" for the top level */
    const sdl_config_key *keys;
    size_t nkeys;
};

/* Cross-key checks after a whole document: returns a reason and the key (path-qualified
 * table row) to blame, or NULL. */
typedef struct sdl_config_check {
    const char *(*check)(const sdl_config *config);
    const sdl_config_key *blame;     /* the key whose position the error points at, */
    const sdl_config_key *blame_alt; /* or this one when @blame was not in the file */
} sdl_config_check;

extern const sdl_config_section sdl_config_root;
extern const sdl_config_check sdl_config_checks[];
extern const size_t sdl_config_nchecks;

/* Environment and credential names of the source password and the target URI. */
#define SDL_PASSWORD_ENV          "SDL_SOURCE_PASSWORD"
#define SDL_PASSWORD_CREDENTIAL   "source-password"
#define SDL_TARGET_URI_ENV        "SDL_TARGET_URI"
#define SDL_TARGET_URI_CREDENTIAL "target-uri"
#define SDL_TARGET_URI_KEY_ORIGIN "key target.uri"
#define SDL_HASH_KEY_ENV          "SDL_COLUMNS_HASH_KEY"
#define SDL_HASH_KEY_CREDENTIAL   "columns-hash-key"
#define SDL_HASH_KEY_MIN_BYTES    16

/* The position check installed with sdl_config_set_position_check(), or NULL. */
const char *sdl_config_run_position_check(const char *text);

/* Why @uri cannot be a MongoDB URI ("must start with ..."), or NULL. */
const char *sdl_config_check_uri_syntax(const char *uri);

/* Free the rule lists (and zero them). */
void sdl_config_free_column_rules(sdl_columns_config *columns);
void sdl_config_free_skip_ops(sdl_tables_config *tables);

/* Applies every default of @section (recursively) to @config. */
void sdl_config_apply_defaults(sdl_config *config, const sdl_config_section *section);

/* Typed accessors on a table row. */
#define SDL_CFG_FIELD(config, key, type) ((type *)(void *)((char *)(config) + (key)->offset))
#define SDL_CFG_CFIELD(config, key, type)                                                          \
    ((type const *)(const void *)((const char *)(config) + (key)->offset))

/* Formats a scalar key's effective value for printing (not SECTION/LIST/REJECTED);
 * returns NULL when unset. @buf has SDL_UNIT_TEXT_MAX bytes. */
const char *sdl_config_format_scalar(const sdl_config *config, const sdl_config_key *key,
                                     char *buf);
