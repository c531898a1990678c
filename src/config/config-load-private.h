/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * config-load-private: the loader's state and helpers, shared by the files that load a
 * configuration: config.c (loader helpers: errors with file:line:col, value echo, stored
 * scalars, defaults; the entry points), config-yaml.c (pass 1 over libyaml's events, pass 2
 * over its document tree), config-rules.c (columns and tables.skip_ops rule lists) and
 * config-secrets.c (password, target URI, hash key, relative paths). Not for other modules.
 */

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"

#include "config-private.h"

/* The longest value quoted in a message, in bytes. */
#define SDL_CONFIG_VALUE_ECHO_MAX 48

typedef struct mark_entry {
    const sdl_config_key *key;
    yaml_mark_t key_mark;
    yaml_mark_t value_mark;
} mark_entry;

typedef struct loader {
    const char *name; /* file name in messages */
    const char *text;
    size_t len;
    yaml_document_t doc;
    sdl_config *config;
    sdl_error *err;
    mark_entry *marks;
    size_t nmarks;
    size_t capmarks;
    const char *credentials_dir;  /* where credentials are read, or NULL */
    const char *credentials_hint; /* the directory hints name (the file's own), or NULL */
    bool have_hash_rule;          /* some columns: rule hashes */
    yaml_mark_t hash_rule_mark;   /* the first one */
} loader;

/* ---- config.c ---- */

SDL_PRINTF(3, 4) bool sdl_config_fail(loader *ld, yaml_mark_t mark, const char *fmt, ...);

/* A value quoted for a message: at most SDL_CONFIG_VALUE_ECHO_MAX bytes, control bytes as \xNN. */
const char *sdl_config_echo(const unsigned char *s, size_t len, char *buf, size_t cap);

const char *sdl_config_node_kind(const yaml_node_t *node);

/* "'port' in 'source'" or "'source'" at the top level. */
void sdl_config_key_label(const sdl_config_section *sec, const char *name, char *buf, size_t cap);

void sdl_config_remember(loader *ld, const sdl_config_key *key, yaml_mark_t km, yaml_mark_t vm);

const mark_entry *sdl_config_lookup_mark(const loader *ld, const sdl_config_key *key);

const char *sdl_config_suggest(const sdl_config_section *sec, const char *name);

bool sdl_config_is_null_scalar(const yaml_node_t *node);

void sdl_config_free_list(char **list, size_t n);

/* Sets a scalar key from text. Used for defaults (mark unused, ld NULL: defaults are
 * trusted and checked by test-config) and for file values. Returns a reason on failure. */
const char *sdl_config_store_scalar(sdl_config *config, const sdl_config_key *key, const char *text,
                                    char *why_buf, size_t why_cap);

/* ---- config-yaml.c ---- */

/* A STRING_LIST key from a sequence of strings. */
bool sdl_config_set_list(loader *ld, const sdl_config_section *sec, const sdl_config_key *key,
                         yaml_node_t *node);

/* sdl_config_echo(), but a key holding a URI with a possible secret shows it masked. */
const char *sdl_config_echo_value(const sdl_config_key *key, const yaml_node_t *vnode, char *buf,
                                  size_t cap);

/* Walks the mapping @map of section @sec (pass 2), storing and remembering every key. */
bool sdl_config_walk_section(loader *ld, const sdl_config_section *sec, yaml_node_t *map,
                             yaml_mark_t owner_mark);

/* The YAML syntax error of @parser, with its mark; false. */
bool sdl_config_syntax_error(loader *ld, yaml_parser_t *parser);

/* Pass 1 over the text's events: aliases, anchors, tags, a second document, deep nesting. */
bool sdl_config_check_events(loader *ld);

/* ---- config-rules.c ---- */

bool sdl_config_set_column_rules(loader *ld, const sdl_config_key *key, yaml_node_t *node);

bool sdl_config_set_skip_ops(loader *ld, const sdl_config_key *key, yaml_node_t *node);

/* ---- config-secrets.c ---- */

/* Overwrites the secret @s, then frees it (NULL-safe). */
void sdl_config_wipe_free(char *s);

bool sdl_config_resolve_password(loader *ld);

/* target.uri_file, target.uri, credential target-uri, $SDL_TARGET_URI: the first one set. A
 * 'target' section without any of them is an error; without the section, no target is fine
 * (sdl tail) unless the credential or the environment names one. */
bool sdl_config_resolve_target_uri(loader *ld);

/*
 * The HMAC key of 'hash' column rules: columns_hash_key_file, credential columns-hash-key,
 * $SDL_COLUMNS_HASH_KEY, the first one set. Looked up only when a rule hashes (or the file is
 * named); a hash rule without a key is an error at the rule, since sdl must never fall back to
 * writing the value.
 */
bool sdl_config_resolve_hash_key(loader *ld);

void sdl_config_resolve_relative_paths(loader *ld);
