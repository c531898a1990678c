/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: loading. Two passes over the text with libyaml:
 *  1. the event parser, to reject what the document API would silently resolve or hide:
 *     aliases and anchors (a node reached twice has no single position), explicit tags,
 *     a second document, deep nesting; YAML syntax errors surface here with their mark;
 *  2. yaml_parser_load(), whose tree is walked with the key tables of config-keys.c.
 * Then cross-key checks, then the secret is resolved (password_file, credential, env).
 */
#include "sdl/config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "sdl/base/alloc.h"
#include "sdl/config/units.h"

#include "config-private.h"

#define MAX_DEPTH        16
#define MAX_SECRET_BYTES 65536
#define VALUE_ECHO_MAX   48

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

SDL_PRINTF(3, 4)
static bool
fail(loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
    char msg[sizeof(ld->err->message)];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sdl_error_set(ld->err, SDL_E_CONFIG, "%s:%zu:%zu: %s", ld->name, mark.line + 1, mark.column + 1,
                  msg);
    return false;
}

/* A value quoted for a message: at most VALUE_ECHO_MAX bytes, control bytes as \xNN. */
static const char *
echo(const unsigned char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        if (i == VALUE_ECHO_MAX) {
            n += (size_t)snprintf(buf + n, cap - n, "...");
            break;
        }
        if (s[i] < 0x20 || s[i] == 0x7f) {
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", s[i]);
        } else {
            buf[n++] = (char)s[i];
        }
    }
    buf[n] = '\0';
    return buf;
}

static const char *
node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* "'port' in 'source'" or "'source'" at the top level. */
static void
key_label(const sdl_config_section *sec, const char *name, char *buf, size_t cap)
{
    if (sec->path[0]) {
        (void)snprintf(buf, cap, "'%s' in '%s'", name, sec->path);
    } else {
        (void)snprintf(buf, cap, "'%s'", name);
    }
}

static void
remember(loader *ld, const sdl_config_key *key, yaml_mark_t km, yaml_mark_t vm)
{
    if (ld->nmarks == ld->capmarks) {
        ld->capmarks = ld->capmarks ? ld->capmarks * 2 : 32;
        ld->marks = sdl_xreallocarray(ld->marks, ld->capmarks, sizeof(*ld->marks));
    }
    ld->marks[ld->nmarks++] = (mark_entry){key, km, vm};
}

static const mark_entry *
lookup_mark(const loader *ld, const sdl_config_key *key)
{
    for (size_t i = 0; i < ld->nmarks; i++) {
        if (ld->marks[i].key == key) {
            return &ld->marks[i];
        }
    }
    return NULL;
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), for
 * "did you mean". Names are short; longer inputs are not compared. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[33][33];

    if (la > 32 || lb > 32) {
        return SIZE_MAX;
    }
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = SDL_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
            v = SDL_MIN(v, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                v = SDL_MIN(v, d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static const char *
suggest(const sdl_config_section *sec, const char *name)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only at distance 1 or 2 */

    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        size_t d;
        if (k->type == SDL_CFG_REJECTED) {
            continue; /* never steer anyone towards 'password:' */
        }
        d = edit_distance(name, k->name);
        if (d < best_d && d < strlen(k->name)) {
            best_d = d;
            best = k->name;
        }
    }
    return best;
}

static bool
is_null_scalar(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;

    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    return node->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static void
free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

/* Sets a scalar key from text. Used for defaults (mark unused, ld NULL: defaults are
 * trusted and checked by test-config) and for file values. Returns a reason on failure. */
static const char *
store_scalar(sdl_config *config, const sdl_config_key *key, const char *text, char *why_buf,
             size_t why_cap)
{
    const char *why = "";
    uint64_t v = 0;
    char lo[SDL_UNIT_TEXT_MAX], hi[SDL_UNIT_TEXT_MAX];
    uint64_t max = key->max ? key->max : UINT64_MAX;

    switch (key->type) {
    case SDL_CFG_STRING:
    case SDL_CFG_SECRET_FILE: {
        char **field = SDL_CFG_FIELD(config, key, char *);
        free(*field);
        *field = sdl_xstrdup(text);
        return NULL;
    }
    case SDL_CFG_ENUM: {
        size_t n = 0;
        for (const sdl_config_enum *e = key->enums; e->name; e++) {
            if (strcmp(e->name, text) == 0) {
                *SDL_CFG_FIELD(config, key, int) = e->value;
                return NULL;
            }
        }
        n = (size_t)snprintf(why_buf, why_cap, "expected ");
        for (const sdl_config_enum *e = key->enums; e->name && n < why_cap; e++) {
            const char *sep = e == key->enums ? "" : e[1].name ? ", " : " or ";
            n += (size_t)snprintf(why_buf + n, why_cap - n, "%s%s", sep, e->name);
        }
        return why_buf;
    }
    case SDL_CFG_UINT16:
    case SDL_CFG_UINT32:
    case SDL_CFG_UINT64:
        if (!sdl_parse_uint(text, &v, &why)) {
            return why;
        }
        if (v < key->min || v > max) {
            (void)snprintf(why_buf, why_cap, "must be between %llu and %llu",
                           (unsigned long long)key->min, (unsigned long long)max);
            return why_buf;
        }
        if (key->type == SDL_CFG_UINT16) {
            *SDL_CFG_FIELD(config, key, uint16_t) = (uint16_t)v;
        } else if (key->type == SDL_CFG_UINT32) {
            *SDL_CFG_FIELD(config, key, uint32_t) = (uint32_t)v;
        } else {
            *SDL_CFG_FIELD(config, key, uint64_t) = v;
        }
        return NULL;
    case SDL_CFG_DURATION:
    case SDL_CFG_SIZE: {
        bool dur = key->type == SDL_CFG_DURATION;
        if (!(dur ? sdl_parse_duration(text, &v, &why) : sdl_parse_size(text, &v, &why))) {
            return why;
        }
        if (v < key->min || v > max) {
            if (key->max) {
                (void)snprintf(why_buf, why_cap, "must be between %s and %s",
                               dur ? sdl_format_duration(key->min, lo)
                                   : sdl_format_size(key->min, lo),
                               dur ? sdl_format_duration(max, hi) : sdl_format_size(max, hi));
            } else {
                (void)snprintf(why_buf, why_cap, "must be at least %s",
                               dur ? sdl_format_duration(key->min, lo)
                                   : sdl_format_size(key->min, lo));
            }
            return why_buf;
        }
        *SDL_CFG_FIELD(config, key, uint64_t) = v;
        return NULL;
    }
    default:
        return "not a scalar key";
    }
}

void
sdl_config_apply_defaults(sdl_config *config, const sdl_config_section *section)
{
    char why[128];

    for (size_t i = 0; i < section->nkeys; i++) {
        const sdl_config_key *k = &section->keys[i];
        if (k->type == SDL_CFG_SECTION) {
            sdl_config_apply_defaults(config, k->section);
        } else if (k->type == SDL_CFG_STRING_LIST) {
            /* "[]", or "[a, b]": plain words separated by ", " */
            char **items = NULL;
            size_t n = 0;
            if (k->def && strlen(k->def) > 2) {
                char *words = sdl_xstrndup(k->def + 1, strlen(k->def) - 2), *save = NULL;
                for (char *w = strtok_r(words, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
                    items = sdl_xreallocarray(items, n + 1, sizeof(*items));
                    items[n++] = sdl_xstrdup(w);
                }
                free(words);
            }
            *SDL_CFG_FIELD(config, k, char **) = items;
            *(size_t *)(void *)((char *)config + k->count_offset) = n;
        } else if (k->type == SDL_CFG_COLUMN_RULES || k->type == SDL_CFG_SKIP_OPS) {
            continue; /* "[]": the zeroed config holds no rules */
        } else if (k->def && store_scalar(config, k, k->def, why, sizeof(why)) != NULL) {
            abort(); /* a bad default in the tables is a bug; test-config catches it */
        }
    }
}

/* ---- the tree walk ---- */

static bool walk_section(loader *ld, const sdl_config_section *sec, yaml_node_t *map,
                         yaml_mark_t owner_mark);

static bool
set_list(loader *ld, const sdl_config_section *sec, const sdl_config_key *key, yaml_node_t *node)
{
    char label[128], buf[4 * VALUE_ECHO_MAX];
    char ***field = SDL_CFG_FIELD(ld->config, key, char **);
    size_t *count = (size_t *)(void *)((char *)ld->config + key->count_offset);
    char **list = NULL;
    size_t n = 0;

    key_label(sec, key->name, label, sizeof(label));
    if (node->type != YAML_SEQUENCE_NODE) {
        return fail(ld, node->start_mark,
                    "%s must be a sequence of strings (e.g. [\"db.*\"]), not %s", label,
                    node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
        if (item->type != YAML_SCALAR_NODE || is_null_scalar(item)) {
            free_list(list, n);
            return fail(ld, item->start_mark, "items of %s must be strings, not %s", label,
                        item->type == YAML_SCALAR_NODE ? "null" : node_kind(item));
        }
        if (strlen((const char *)item->data.scalar.value) != item->data.scalar.length) {
            free_list(list, n);
            return fail(ld, item->start_mark, "invalid value '%s' in %s: contains a NUL character",
                        echo(item->data.scalar.value, item->data.scalar.length, buf, sizeof(buf)),
                        label);
        }
        if (key->validate_item) {
            const char *why = key->validate_item((const char *)item->data.scalar.value);
            if (why) {
                free_list(list, n);
                return fail(
                    ld, item->start_mark, "invalid item '%s' in %s: %s",
                    echo(item->data.scalar.value, item->data.scalar.length, buf, sizeof(buf)),
                    label, why);
            }
        }
        list = sdl_xreallocarray(list, n + 1, sizeof(*list));
        list[n++] = sdl_xstrdup((const char *)item->data.scalar.value);
    }
    free_list(*field, *count);
    *field = list;
    *count = n;
    return true;
}

/* echo(), but a key holding a URI with a possible secret shows it masked. */
static const char *
echo_value(const sdl_config_key *key, const yaml_node_t *vnode, char *buf, size_t cap)
{
    if (key->flags & SDL_CFG_MASK_URI) {
        char *masked = sdl_config_mask_uri((const char *)vnode->data.scalar.value);
        echo((const unsigned char *)masked, strlen(masked), buf, cap);
        explicit_bzero(masked, strlen(masked));
        free(masked);
        return buf;
    }
    return echo(vnode->data.scalar.value, vnode->data.scalar.length, buf, cap);
}

/* ---- rule lists: columns and tables.skip_ops ---- */

void
sdl_config_free_column_rules(sdl_columns_config *c)
{
    for (size_t i = 0; i < c->nrules; i++) {
        free(c->rules[i].match);
    }
    free(c->rules);
    c->rules = NULL;
    c->nrules = 0;
}

void
sdl_config_free_skip_ops(sdl_tables_config *t)
{
    for (size_t i = 0; i < t->nskip_ops; i++) {
        free(t->skip_ops[i].match);
    }
    free(t->skip_ops);
    t->skip_ops = NULL;
    t->nskip_ops = 0;
}

/* A scalar that is a non-empty string without NUL bytes, or NULL (with the failure set). */
static const char *
item_string(loader *ld, yaml_node_t *node, const char *what)
{
    char buf[4 * VALUE_ECHO_MAX];

    if (node->type != YAML_SCALAR_NODE || is_null_scalar(node)) {
        fail(ld, node->start_mark, "%s must be a string, not %s", what,
             node->type == YAML_SCALAR_NODE ? "null" : node_kind(node));
        return NULL;
    }
    if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length ||
        node->data.scalar.length == 0) {
        fail(ld, node->start_mark, "invalid value '%s' for %s: %s",
             echo(node->data.scalar.value, node->data.scalar.length, buf, sizeof(buf)), what,
             node->data.scalar.length ? "contains a NUL character" : "must not be empty");
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

static size_t
count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s; s++) {
        n += *s == c;
    }
    return n;
}

/* One item of 'columns': {match: "db.table.column", action: drop | redact | hash} or
 * {match: ..., truncate: N} (action: truncate may be said too). */
static bool
parse_column_rule(loader *ld, yaml_node_t *item, sdl_column_rule *rule)
{
    static const sdl_config_enum actions[] = {{"drop", SDL_COLUMN_DROP},
                                              {"redact", SDL_COLUMN_REDACT},
                                              {"hash", SDL_COLUMN_HASH},
                                              {"truncate", SDL_COLUMN_TRUNCATE},
                                              {NULL, 0}};
    char buf[4 * VALUE_ECHO_MAX];
    yaml_node_t *match = NULL, *action = NULL, *trunc = NULL;
    const char *text;

    if (item->type != YAML_MAPPING_NODE) {
        return fail(ld, item->start_mark,
                    "items of 'columns' must be mappings ({match: \"db.table.column\", action: "
                    "drop | redact | hash} or {match: ..., truncate: N}), not %s",
                    node_kind(item));
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        yaml_node_t **slot = NULL;
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (strcmp(name, "match") == 0) {
            slot = &match;
        } else if (strcmp(name, "action") == 0) {
            slot = &action;
        } else if (strcmp(name, "truncate") == 0) {
            slot = &trunc;
        } else {
            return fail(ld, k->start_mark,
                        "unknown key '%s' in an item of 'columns' (expected match, action, "
                        "truncate)",
                        k->type == YAML_SCALAR_NODE
                            ? echo(k->data.scalar.value, k->data.scalar.length, buf, sizeof(buf))
                            : node_kind(k));
        }
        if (*slot) {
            return fail(ld, k->start_mark, "duplicate key '%s' in an item of 'columns'", name);
        }
        *slot = v;
    }
    if (!match) {
        return fail(ld, item->start_mark,
                    "an item of 'columns' needs 'match: \"db.table.column\"'");
    }
    if (!(text = item_string(ld, match, "'match' in 'columns'"))) {
        return false;
    }
    if (count_char(text, '.') < 2) {
        return fail(ld, match->start_mark,
                    "invalid value '%s' for 'match' in 'columns': patterns match "
                    "\"db.table.column\" and must contain two '.' (e.g. 'shop.customers.email' "
                    "or '*.*.password')",
                    echo(match->data.scalar.value, match->data.scalar.length, buf, sizeof(buf)));
    }
    rule->match = sdl_xstrdup(text);
    rule->action = SDL_COLUMN_KEEP;
    if (action) {
        if (!(text = item_string(ld, action, "'action' in 'columns'"))) {
            return false;
        }
        for (const sdl_config_enum *e = actions; e->name; e++) {
            if (strcmp(e->name, text) == 0) {
                rule->action = (sdl_column_action)e->value;
            }
        }
        if (rule->action == SDL_COLUMN_KEEP) {
            return fail(
                ld, action->start_mark,
                "invalid value '%s' for 'action' in 'columns': expected drop, redact, "
                "hash or truncate",
                echo(action->data.scalar.value, action->data.scalar.length, buf, sizeof(buf)));
        }
    }
    if (trunc) {
        uint64_t bytes = 0;
        const char *why = "";
        if (action && rule->action != SDL_COLUMN_TRUNCATE) {
            return fail(ld, trunc->start_mark,
                        "an item of 'columns' has one action: 'truncate: N' or 'action: %s'",
                        (const char *)action->data.scalar.value);
        }
        if (!(text = item_string(ld, trunc, "'truncate' in 'columns'"))) {
            return false;
        }
        if (!sdl_parse_size(text, &bytes, &why) || bytes < 1 || bytes > ((uint64_t)16 << 20)) {
            return fail(ld, trunc->start_mark, "invalid value '%s' for 'truncate' in 'columns': %s",
                        echo(trunc->data.scalar.value, trunc->data.scalar.length, buf, sizeof(buf)),
                        *why ? why : "must be between 1B and 16MiB");
        }
        rule->action = SDL_COLUMN_TRUNCATE;
        rule->truncate_bytes = (uint32_t)bytes;
    } else if (rule->action == SDL_COLUMN_TRUNCATE) {
        return fail(ld, action->start_mark,
                    "'action: truncate' needs the length: write 'truncate: N' (bytes) instead");
    } else if (!action) {
        return fail(ld, item->start_mark,
                    "an item of 'columns' needs 'action: drop | redact | hash' or 'truncate: N'");
    }
    if (rule->action == SDL_COLUMN_HASH && !ld->have_hash_rule) {
        ld->have_hash_rule = true;
        ld->hash_rule_mark = action->start_mark;
    }
    return true;
}

static bool
set_column_rules(loader *ld, const sdl_config_key *key, yaml_node_t *node)
{
    sdl_columns_config *c = &ld->config->columns;
    sdl_columns_config parsed = {0};

    (void)key;
    if (node->type != YAML_SEQUENCE_NODE) {
        return fail(ld, node->start_mark,
                    "'columns' must be a sequence of rules ([{match: \"db.table.column\", "
                    "action: hash}]), not %s",
                    node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        parsed.rules = sdl_xreallocarray(parsed.rules, parsed.nrules + 1, sizeof(*parsed.rules));
        parsed.rules[parsed.nrules] = (sdl_column_rule){0};
        bool ok = parse_column_rule(ld, yaml_document_get_node(&ld->doc, *it),
                                    &parsed.rules[parsed.nrules]);
        parsed.nrules++;
        if (!ok) {
            sdl_config_free_column_rules(&parsed);
            return false;
        }
    }
    sdl_config_free_column_rules(c);
    c->rules = parsed.rules;
    c->nrules = parsed.nrules;
    return true;
}

static const char *
validate_skip_pattern(const char *pattern)
{
    if (!strchr(pattern, '.')) {
        return "patterns match \"db.table\" and must contain a '.' (e.g. 'shop.*')";
    }
    return NULL;
}

/* An op name's bit, or 0. */
static unsigned
op_bit(const char *name)
{
    if (strcmp(name, "insert") == 0) {
        return SDL_OP_INSERT;
    }
    if (strcmp(name, "update") == 0) {
        return SDL_OP_UPDATE;
    }
    if (strcmp(name, "delete") == 0) {
        return SDL_OP_DELETE;
    }
    return 0;
}

static bool
parse_op(loader *ld, yaml_node_t *node, unsigned *ops)
{
    char buf[4 * VALUE_ECHO_MAX];
    const char *text = item_string(ld, node, "an operation in 'tables.skip_ops'");
    unsigned bit;

    if (!text) {
        return false;
    }
    bit = op_bit(text);
    if (!bit) {
        return fail(ld, node->start_mark,
                    "invalid operation '%s' in 'tables.skip_ops': expected insert, update or "
                    "delete",
                    echo(node->data.scalar.value, node->data.scalar.length, buf, sizeof(buf)));
    }
    if (*ops & bit) {
        return fail(ld, node->start_mark, "operation '%s' is listed twice in 'tables.skip_ops'",
                    text);
    }
    *ops |= bit;
    return true;
}

/* One item of tables.skip_ops: {match: "db.table", ops: [delete, ...]}, or an op name alone
 * (every table). */
static bool
parse_skip_rule(loader *ld, yaml_node_t *item, sdl_skip_ops_rule *rule)
{
    char buf[4 * VALUE_ECHO_MAX];
    yaml_node_t *match = NULL, *ops = NULL;
    const char *text, *why;

    if (item->type == YAML_SCALAR_NODE) {
        rule->match = sdl_xstrdup("*.*");
        return parse_op(ld, item, &rule->ops);
    }
    if (item->type != YAML_MAPPING_NODE) {
        return fail(ld, item->start_mark,
                    "items of 'tables.skip_ops' must be mappings ({match: \"db.table\", ops: "
                    "[delete]}) or operation names, not %s",
                    node_kind(item));
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        yaml_node_t **slot = strcmp(name, "match") == 0 ? &match
                             : strcmp(name, "ops") == 0 ? &ops
                                                        : NULL;
        if (!slot) {
            return fail(ld, k->start_mark,
                        "unknown key '%s' in an item of 'tables.skip_ops' (expected match, ops)",
                        k->type == YAML_SCALAR_NODE
                            ? echo(k->data.scalar.value, k->data.scalar.length, buf, sizeof(buf))
                            : node_kind(k));
        }
        if (*slot) {
            return fail(ld, k->start_mark, "duplicate key '%s' in an item of 'tables.skip_ops'",
                        name);
        }
        *slot = v;
    }
    if (!match || !ops) {
        return fail(ld, item->start_mark,
                    "an item of 'tables.skip_ops' needs 'match: \"db.table\"' and 'ops: [...]'");
    }
    if (!(text = item_string(ld, match, "'match' in 'tables.skip_ops'"))) {
        return false;
    }
    if ((why = validate_skip_pattern(text)) != NULL) {
        return fail(
            ld, match->start_mark, "invalid value '%s' for 'match' in 'tables.skip_ops': %s",
            echo(match->data.scalar.value, match->data.scalar.length, buf, sizeof(buf)), why);
    }
    rule->match = sdl_xstrdup(text);
    if (ops->type == YAML_SCALAR_NODE && !is_null_scalar(ops)) {
        return parse_op(ld, ops, &rule->ops);
    }
    if (ops->type != YAML_SEQUENCE_NODE) {
        return fail(ld, ops->start_mark,
                    "'ops' in 'tables.skip_ops' must be a sequence of insert, update, delete, "
                    "not %s",
                    ops->type == YAML_SCALAR_NODE ? "null" : node_kind(ops));
    }
    for (yaml_node_item_t *it = ops->data.sequence.items.start; it < ops->data.sequence.items.top;
         it++) {
        if (!parse_op(ld, yaml_document_get_node(&ld->doc, *it), &rule->ops)) {
            return false;
        }
    }
    if (!rule->ops) {
        return fail(ld, ops->start_mark, "'ops' in 'tables.skip_ops' must name an operation");
    }
    return true;
}

static bool
set_skip_ops(loader *ld, const sdl_config_key *key, yaml_node_t *node)
{
    sdl_tables_config *t = &ld->config->tables;
    sdl_tables_config parsed = {0};

    (void)key;
    if (node->type != YAML_SEQUENCE_NODE) {
        return fail(ld, node->start_mark,
                    "'skip_ops' in 'tables' must be a sequence ([{match: \"shop.*\", ops: "
                    "[delete]}] or [delete]), not %s",
                    node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        parsed.skip_ops =
            sdl_xreallocarray(parsed.skip_ops, parsed.nskip_ops + 1, sizeof(*parsed.skip_ops));
        parsed.skip_ops[parsed.nskip_ops] = (sdl_skip_ops_rule){0};
        bool ok = parse_skip_rule(ld, yaml_document_get_node(&ld->doc, *it),
                                  &parsed.skip_ops[parsed.nskip_ops]);
        parsed.nskip_ops++;
        if (!ok) {
            sdl_config_free_skip_ops(&parsed);
            return false;
        }
    }
    sdl_config_free_skip_ops(t);
    t->skip_ops = parsed.skip_ops;
    t->nskip_ops = parsed.nskip_ops;
    return true;
}

static bool
set_key(loader *ld, const sdl_config_section *sec, const sdl_config_key *key, yaml_node_t *knode,
        yaml_node_t *vnode)
{
    char label[128], buf[4 * VALUE_ECHO_MAX], why_buf[160];
    const char *why;
    const char *text;

    key_label(sec, key->name, label, sizeof(label));
    switch (key->type) {
    case SDL_CFG_REJECTED:
        return fail(ld, knode->start_mark, "%s", key->doc);
    case SDL_CFG_SECTION:
        return walk_section(ld, key->section, vnode, knode->start_mark);
    case SDL_CFG_STRING_LIST:
        if (!set_list(ld, sec, key, vnode)) {
            return false;
        }
        break;
    case SDL_CFG_COLUMN_RULES:
        if (!set_column_rules(ld, key, vnode)) {
            return false;
        }
        break;
    case SDL_CFG_SKIP_OPS:
        if (!set_skip_ops(ld, key, vnode)) {
            return false;
        }
        break;
    default:
        if (vnode->type != YAML_SCALAR_NODE) {
            return fail(ld, vnode->start_mark, "%s must be a scalar, not %s", label,
                        node_kind(vnode));
        }
        if (is_null_scalar(vnode)) {
            if (!(key->flags & SDL_CFG_NULLABLE)) {
                return fail(ld, vnode->start_mark, "%s needs a value", label);
            }
            char **field = SDL_CFG_FIELD(ld->config, key, char *);
            free(*field);
            *field = NULL;
            break;
        }
        text = (const char *)vnode->data.scalar.value;
        if (strlen(text) != vnode->data.scalar.length) {
            return fail(ld, vnode->start_mark,
                        "invalid value '%s' for %s: contains a NUL character",
                        echo_value(key, vnode, buf, sizeof(buf)), label);
        }
        if ((key->type == SDL_CFG_STRING || key->type == SDL_CFG_SECRET_FILE) && !*text) {
            return fail(ld, vnode->start_mark, "%s must not be empty", label);
        }
        why = store_scalar(ld->config, key, text, why_buf, sizeof(why_buf));
        if (why) {
            return fail(ld, vnode->start_mark, "invalid value '%s' for %s: %s",
                        echo(vnode->data.scalar.value, vnode->data.scalar.length, buf, sizeof(buf)),
                        label, why);
        }
        break;
    }
    if (key->validate && (why = key->validate(ld->config)) != NULL) {
        if (vnode->type == YAML_SCALAR_NODE) {
            return fail(ld, vnode->start_mark, "invalid value '%s' for %s: %s",
                        echo_value(key, vnode, buf, sizeof(buf)), label, why);
        }
        return fail(ld, vnode->start_mark, "invalid %s: %s", label, why);
    }
    return true;
}

static bool
walk_section(loader *ld, const sdl_config_section *sec, yaml_node_t *map, yaml_mark_t owner_mark)
{
    char label[128], buf[4 * VALUE_ECHO_MAX];
    yaml_mark_t *seen = NULL; /* first mark per key; line == SIZE_MAX when unseen */
    bool ok = false;

    if (map->type != YAML_MAPPING_NODE) {
        if (!sec->path[0]) {
            return fail(ld, map->start_mark,
                        "the configuration must be a mapping of sections (source:, pipeline:, "
                        "...), not %s",
                        node_kind(map));
        }
        return fail(ld, map->start_mark, "'%s' must be a mapping, not %s", sec->path,
                    node_kind(map));
    }
    seen = sdl_xcalloc(sec->nkeys, sizeof(*seen));
    for (size_t i = 0; i < sec->nkeys; i++) {
        seen[i].line = SIZE_MAX;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *knode = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *vnode = yaml_document_get_node(&ld->doc, p->value);
        const sdl_config_key *key = NULL;
        const char *name;
        size_t idx = 0;

        if (knode->type != YAML_SCALAR_NODE) {
            fail(ld, knode->start_mark, "keys must be strings, not %s", node_kind(knode));
            goto out;
        }
        name = (const char *)knode->data.scalar.value;
        for (idx = 0; idx < sec->nkeys; idx++) {
            if (strlen(name) == knode->data.scalar.length &&
                strcmp(sec->keys[idx].name, name) == 0) {
                key = &sec->keys[idx];
                break;
            }
        }
        if (!key) {
            const char *s = suggest(sec, name);
            const char *what = sec->path[0] ? "key" : "section";
            echo(knode->data.scalar.value, knode->data.scalar.length, buf, sizeof(buf));
            if (sec->path[0]) {
                snprintf(label, sizeof(label), " in '%s'", sec->path);
            } else {
                label[0] = '\0';
            }
            if (s) {
                fail(ld, knode->start_mark, "unknown %s '%s'%s (did you mean '%s'?)", what, buf,
                     label, s);
            } else {
                fail(ld, knode->start_mark, "unknown %s '%s'%s", what, buf, label);
            }
            goto out;
        }
        if (seen[idx].line != SIZE_MAX) {
            key_label(sec, key->name, label, sizeof(label));
            fail(ld, knode->start_mark, "duplicate %s %s (first at line %zu)",
                 sec->path[0] ? "key" : "section", label, seen[idx].line + 1);
            goto out;
        }
        seen[idx] = knode->start_mark;
        remember(ld, key, knode->start_mark, vnode->start_mark);
        if (!set_key(ld, sec, key, knode, vnode)) {
            goto out;
        }
    }
    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        if ((k->flags & SDL_CFG_REQUIRED) && seen[i].line == SIZE_MAX) {
            if (sec->path[0]) {
                fail(ld, owner_mark, "missing required key '%s' in '%s'", k->name, sec->path);
            } else {
                fail(ld, owner_mark, "missing required section '%s'", k->name);
            }
            goto out;
        }
    }
    ok = true;
out:
    free(seen);
    return ok;
}

/* ---- pass 1: events ---- */

static bool
syntax_error(loader *ld, yaml_parser_t *parser)
{
    yaml_mark_t mark = parser->problem_mark;

    if (parser->error == YAML_READER_ERROR) {
        /* Reader errors carry an offset, not a mark. */
        mark.line = 0;
        mark.column = 0;
        for (size_t i = 0; i < parser->problem_offset && i < ld->len; i++) {
            if (ld->text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)ld->text[i] & 0xc0) != 0x80) {
                mark.column++;
            }
        }
    }
    if (parser->context) {
        return fail(ld, mark, "YAML syntax error: %s (%s at line %zu)",
                    parser->problem ? parser->problem : "unknown problem", parser->context,
                    parser->context_mark.line + 1);
    }
    return fail(ld, mark, "YAML syntax error: %s",
                parser->problem ? parser->problem : "unknown problem");
}

static bool
check_events(loader *ld)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    size_t docs = 0;
    size_t depth = 0;
    bool ok = false;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->len);
    for (;;) {
        const yaml_char_t *anchor = NULL, *tag = NULL;
        bool done;

        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(ld, &parser);
            goto out;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                fail(ld, ev.start_mark,
                     "more than one YAML document; sdl reads exactly one configuration");
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            fail(ld, ev.start_mark, "YAML aliases (*%s) are not allowed in the configuration",
                 (const char *)ev.data.alias.anchor);
            yaml_event_delete(&ev);
            goto out;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            tag = ev.data.sequence_start.tag;
            depth++;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            tag = ev.data.mapping_start.tag;
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (anchor) {
            fail(ld, ev.start_mark, "YAML anchors (&%s) are not allowed in the configuration",
                 (const char *)anchor);
            yaml_event_delete(&ev);
            goto out;
        }
        if (tag) {
            const char *t = (const char *)tag;
            bool core = strncmp(t, "tag:yaml.org,2002:", 18) == 0;
            fail(ld, ev.start_mark, "YAML tags (%s%s) are not allowed in the configuration",
                 core ? "!!" : "", core ? t + 18 : t);
            yaml_event_delete(&ev);
            goto out;
        }
        if (depth > MAX_DEPTH) {
            fail(ld, ev.start_mark, "nesting deeper than %d levels", MAX_DEPTH);
            yaml_event_delete(&ev);
            goto out;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (done) {
            break;
        }
    }
    ok = true;
out:
    yaml_parser_delete(&parser);
    return ok;
}

/* ---- secrets ---- */

static void
wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Reads a secret file. On failure returns false with a reason in why (errno text or ours);
 * *ret_missing tells ENOENT apart. Never puts the contents in a message. */
static bool
read_secret(const char *path, char **ret, const char **why, bool *ret_missing)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd;

    *ret_missing = false;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *ret_missing = errno == ENOENT;
        *why = strerror(errno);
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        goto fail;
    }
    if (st.st_size > MAX_SECRET_BYTES) {
        *why = "larger than 64KiB";
        goto fail;
    }
    buf = sdl_xmalloc(MAX_SECRET_BYTES + 1);
    for (;;) {
        ssize_t r = read(fd, buf + len, MAX_SECRET_BYTES + 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            *why = strerror(errno);
            goto fail;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
        if (len > MAX_SECRET_BYTES) {
            *why = "larger than 64KiB";
            goto fail;
        }
    }
    /* One trailing newline (LF or CRLF) is the file's, not the password's. */
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    if (len == 0) {
        *why = "empty";
        goto fail;
    }
    if (memchr(buf, '\0', len)) {
        *why = "contains a NUL byte";
        goto fail;
    }
    buf[len] = '\0';
    *ret = sdl_xstrdup(buf);
    explicit_bzero(buf, MAX_SECRET_BYTES + 1);
    free(buf);
    close(fd);
    return true;
fail:
    if (buf) {
        explicit_bzero(buf, MAX_SECRET_BYTES + 1);
        free(buf);
    }
    close(fd);
    return false;
}

static const sdl_config_key *
find_key(const sdl_config_section *sec, const char *name)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        if (strcmp(sec->keys[i].name, name) == 0) {
            return &sec->keys[i];
        }
    }
    return NULL;
}

static bool
resolve_password(loader *ld)
{
    sdl_source_config *src = &ld->config->source;
    const sdl_config_key *source_key = find_key(&sdl_config_root, "source");
    const mark_entry *source_mark = lookup_mark(ld, source_key);
    yaml_mark_t smark = source_mark ? source_mark->key_mark : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *dir, *env;
    bool missing;

    if (src->password_file) {
        const mark_entry *m = lookup_mark(ld, find_key(source_key->section, "password_file"));
        if (!read_secret(src->password_file, &src->password, &why, &missing)) {
            return fail(ld, m ? m->value_mark : smark, "cannot read password_file '%s': %s",
                        src->password_file, why);
        }
        src->password_origin = sdl_xasprintf("file %s", src->password_file);
        return true;
    }
    dir = ld->credentials_dir;
    if (dir) {
        char *path = sdl_xasprintf("%s/%s", dir, SDL_PASSWORD_CREDENTIAL);
        bool ok = read_secret(path, &src->password, &why, &missing);
        if (ok) {
            free(path);
            src->password_origin = sdl_xstrdup("credential " SDL_PASSWORD_CREDENTIAL);
            return true;
        }
        if (!missing) {
            fail(ld, smark, "cannot read the credential '" SDL_PASSWORD_CREDENTIAL "' (%s): %s",
                 path, why);
            free(path);
            return false;
        }
        free(path);
    }
    env = getenv(SDL_PASSWORD_ENV);
    if (env && *env) {
        src->password = sdl_xstrdup(env);
        src->password_origin = sdl_xstrdup("environment " SDL_PASSWORD_ENV);
    }
    return true;
}

/* A URI read from a file, a credential or the environment: its syntax, masked in messages. */
static bool
check_resolved_uri(loader *ld, yaml_mark_t mark)
{
    sdl_target_config *t = &ld->config->target;
    const char *why = sdl_config_check_uri_syntax(t->uri);

    if (why) {
        char *masked = sdl_config_mask_uri(t->uri);
        char buf[4 * VALUE_ECHO_MAX];
        echo((const unsigned char *)masked, strlen(masked), buf, sizeof(buf));
        explicit_bzero(masked, strlen(masked));
        free(masked);
        return fail(ld, mark, "invalid target URI '%s' from %s: %s", buf, t->uri_origin, why);
    }
    return true;
}

/* target.uri_file, target.uri, credential target-uri, $SDL_TARGET_URI: the first one set. A
 * 'target' section without any of them is an error; without the section, no target is fine
 * (sdl tail) unless the credential or the environment names one. */
static bool
resolve_target_uri(loader *ld)
{
    sdl_target_config *t = &ld->config->target;
    const sdl_config_key *target_key = find_key(&sdl_config_root, "target");
    const mark_entry *target_mark = lookup_mark(ld, target_key);
    yaml_mark_t tmark = target_mark ? target_mark->key_mark : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *dir, *env;
    bool missing;

    if (t->uri_file) {
        const mark_entry *m = lookup_mark(ld, find_key(target_key->section, "uri_file"));
        yaml_mark_t vmark = m ? m->value_mark : tmark;
        if (!read_secret(t->uri_file, &t->uri, &why, &missing)) {
            return fail(ld, vmark, "cannot read uri_file '%s': %s", t->uri_file, why);
        }
        t->uri_origin = sdl_xasprintf("file %s", t->uri_file);
        return check_resolved_uri(ld, vmark);
    }
    if (t->uri) {
        t->uri_origin = sdl_xstrdup(SDL_TARGET_URI_KEY_ORIGIN);
        return true; /* validated by its key */
    }
    dir = ld->credentials_dir;
    if (dir) {
        char *path = sdl_xasprintf("%s/%s", dir, SDL_TARGET_URI_CREDENTIAL);
        bool ok = read_secret(path, &t->uri, &why, &missing);
        if (ok) {
            free(path);
            t->uri_origin = sdl_xstrdup("credential " SDL_TARGET_URI_CREDENTIAL);
            return check_resolved_uri(ld, tmark);
        }
        if (!missing) {
            fail(ld, tmark, "cannot read the credential '" SDL_TARGET_URI_CREDENTIAL "' (%s): %s",
                 path, why);
            free(path);
            return false;
        }
        free(path);
    }
    env = getenv(SDL_TARGET_URI_ENV);
    if (env && *env) {
        t->uri = sdl_xstrdup(env);
        t->uri_origin = sdl_xstrdup("environment " SDL_TARGET_URI_ENV);
        return check_resolved_uri(ld, tmark);
    }
    if (target_mark) {
        const char *where = ld->credentials_dir ? ld->credentials_dir : ld->credentials_hint;
        if (where) {
            return fail(
                ld, tmark,
                "section 'target' needs the MongoDB URI: write it to the credential "
                "file %s/" SDL_TARGET_URI_CREDENTIAL
                " (root-only; sdl.service passes it to sdl as the systemd credential "
                "'" SDL_TARGET_URI_CREDENTIAL
                "'), or set 'uri_file', a 'uri' without a password, or $" SDL_TARGET_URI_ENV,
                where);
        }
        return fail(
            ld, tmark,
            "section 'target' needs the MongoDB URI: the credential '" SDL_TARGET_URI_CREDENTIAL
            "' (the recommended way), 'uri_file', a 'uri' without a password, or "
            "$" SDL_TARGET_URI_ENV);
    }
    return true;
}

/*
 * The HMAC key of 'hash' column rules: columns_hash_key_file, credential columns-hash-key,
 * $SDL_COLUMNS_HASH_KEY, the first one set. Looked up only when a rule hashes (or the file is
 * named); a hash rule without a key is an error at the rule, since sdl must never fall back to
 * writing the value.
 */
static bool
resolve_hash_key(loader *ld)
{
    sdl_columns_config *c = &ld->config->columns;
    const mark_entry *fm = lookup_mark(ld, find_key(&sdl_config_root, "columns_hash_key_file"));
    yaml_mark_t mark = ld->have_hash_rule ? ld->hash_rule_mark
                       : fm               ? fm->value_mark
                                          : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *env;
    bool missing;

    if (c->hash_key_file) {
        if (!read_secret(c->hash_key_file, &c->hash_key, &why, &missing)) {
            return fail(ld, fm ? fm->value_mark : mark,
                        "cannot read columns_hash_key_file '%s': %s", c->hash_key_file, why);
        }
        c->hash_key_origin = sdl_xasprintf("file %s", c->hash_key_file);
    } else if (!ld->have_hash_rule) {
        return true;
    } else {
        if (ld->credentials_dir) {
            char *path = sdl_xasprintf("%s/%s", ld->credentials_dir, SDL_HASH_KEY_CREDENTIAL);
            bool ok = read_secret(path, &c->hash_key, &why, &missing);
            if (!ok && !missing) {
                fail(ld, mark, "cannot read the credential '" SDL_HASH_KEY_CREDENTIAL "' (%s): %s",
                     path, why);
                free(path);
                return false;
            }
            free(path);
            if (ok) {
                c->hash_key_origin = sdl_xstrdup("credential " SDL_HASH_KEY_CREDENTIAL);
            }
        }
        env = getenv(SDL_HASH_KEY_ENV);
        if (!c->hash_key && env && *env) {
            c->hash_key = sdl_xstrdup(env);
            c->hash_key_origin = sdl_xstrdup("environment " SDL_HASH_KEY_ENV);
        }
        if (!c->hash_key) {
            const char *where = ld->credentials_dir ? ld->credentials_dir : ld->credentials_hint;
            return fail(ld, mark,
                        "a 'hash' rule in 'columns' needs the HMAC key, which is never written in "
                        "the configuration: the credential file %s%s" SDL_HASH_KEY_CREDENTIAL
                        " (e.g. 'head -c 32 /dev/urandom | base64'), 'columns_hash_key_file' "
                        "or $" SDL_HASH_KEY_ENV,
                        where ? where : "", where ? "/" : "");
        }
    }
    if (strlen(c->hash_key) < SDL_HASH_KEY_MIN_BYTES) {
        return fail(ld, mark,
                    "the columns hash key from %s has %zu bytes; at least %d are needed (e.g. "
                    "'head -c 32 /dev/urandom | base64')",
                    c->hash_key_origin, strlen(c->hash_key), SDL_HASH_KEY_MIN_BYTES);
    }
    return true;
}

/* Relative password_file paths are relative to the configuration file's directory, so a
 * config works whatever the daemon's working directory is. They are made absolute here, so
 * the printed config means the same file when loaded from anywhere. */
static void
make_absolute(loader *ld, char **pf)
{
    const char *slash = strrchr(ld->name, '/');
    char *cwd = NULL, *abs;

    if (!*pf || (*pf)[0] == '/') {
        return;
    }
    if (!slash || ld->name[0] != '/') {
        cwd = getcwd(NULL, 0);
    }
    if (slash) {
        abs = sdl_xasprintf("%s%s%.*s/%s", cwd ? cwd : "", cwd ? "/" : "", (int)(slash - ld->name),
                            ld->name, *pf);
    } else {
        abs = sdl_xasprintf("%s/%s", cwd ? cwd : ".", *pf);
    }
    free(cwd);
    free(*pf);
    *pf = abs;
}

static void
resolve_relative_paths(loader *ld)
{
    make_absolute(ld, &ld->config->source.password_file);
    make_absolute(ld, &ld->config->target.uri_file);
    make_absolute(ld, &ld->config->columns.hash_key_file);
}

/* ---- entry points ---- */

sdl_config *
sdl_config_new_default(void)
{
    sdl_config *config = sdl_xcalloc(1, sizeof(*config));

    sdl_config_apply_defaults(config, &sdl_config_root);
    return config;
}

static sdl_config_position_check_fn position_check;

void
sdl_config_set_position_check(sdl_config_position_check_fn fn)
{
    position_check = fn;
}

const char *
sdl_config_run_position_check(const char *text)
{
    return position_check ? position_check(text) : NULL;
}

char *
sdl_config_credentials_dir_for(const char *path)
{
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;

    if (len > 5 && strcmp(path + len - 5, ".yaml") == 0 && path + len - 5 > base) {
        len -= 5;
    } else if (len > 4 && strcmp(path + len - 4, ".yml") == 0 && path + len - 4 > base) {
        len -= 4;
    }
    return sdl_xasprintf("%.*s.credentials", (int)len, path);
}

static bool
load_string(const char *name, const char *text, size_t len, const char *credentials_dir,
            const char *credentials_hint, sdl_config **ret_config, sdl_error *err)
{
    loader ld = {.name = name,
                 .text = text,
                 .len = len,
                 .err = err,
                 .credentials_dir = credentials_dir,
                 .credentials_hint = credentials_hint};
    yaml_parser_t parser;
    yaml_node_t *root;
    bool parsed = false, ok = false;

    *ret_config = NULL;
    ld.config = sdl_config_new_default();
    ld.config->path = sdl_xstrdup(name);
    ld.config->credentials_dir = credentials_dir ? sdl_xstrdup(credentials_dir) : NULL;
    if (!check_events(&ld)) {
        goto out;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    parsed = yaml_parser_load(&parser, &ld.doc) != 0;
    if (!parsed) {
        syntax_error(&ld, &parser);
        yaml_parser_delete(&parser);
        goto out;
    }
    yaml_parser_delete(&parser);
    root = yaml_document_get_root_node(&ld.doc);
    if (!root || (root->type == YAML_SCALAR_NODE && is_null_scalar(root))) {
        fail(&ld, root ? root->start_mark : (yaml_mark_t){0, 0, 0},
             "empty configuration (expected at least a 'source' section)");
        goto out;
    }
    if (!walk_section(&ld, &sdl_config_root, root, root->start_mark)) {
        goto out;
    }
    for (size_t i = 0; i < sdl_config_nchecks; i++) {
        const sdl_config_check *c = &sdl_config_checks[i];
        const char *why = c->check(ld.config);
        if (why) {
            const mark_entry *m = lookup_mark(&ld, c->blame);
            if (!m && c->blame_alt) {
                m = lookup_mark(&ld, c->blame_alt);
            }
            fail(&ld, m ? m->value_mark : root->start_mark, "%s", why);
            goto out;
        }
    }
    resolve_relative_paths(&ld);
    if (!resolve_password(&ld) || !resolve_target_uri(&ld) || !resolve_hash_key(&ld)) {
        goto out;
    }
    ok = true;
out:
    if (parsed) {
        yaml_document_delete(&ld.doc);
    }
    free(ld.marks);
    if (ok) {
        *ret_config = ld.config;
    } else {
        sdl_config_free(ld.config);
    }
    return ok;
}

static const char *
env_credentials_dir(void)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");

    return dir && *dir ? dir : NULL;
}

bool
sdl_config_load_string(const char *name, const char *text, size_t len, sdl_config **ret_config,
                       sdl_error *err)
{
    return load_string(name, text, len, env_credentials_dir(), NULL, ret_config, err);
}

bool
sdl_config_load(const char *path, sdl_config **ret_config, sdl_error *err)
{
    return sdl_config_load_opts(path, NULL, ret_config, err);
}

bool
sdl_config_load_opts(const char *path, const sdl_config_load_options *opts, sdl_config **ret_config,
                     sdl_error *err)
{
    char *sibling = sdl_config_credentials_dir_for(path);
    const char *credentials_dir = opts && opts->credentials_dir ? opts->credentials_dir : NULL;
    struct stat st;
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = false;
    FILE *f;

    *ret_config = NULL;
    if (!credentials_dir) {
        credentials_dir = env_credentials_dir();
    }
    if (!credentials_dir && stat(sibling, &st) == 0 && S_ISDIR(st.st_mode)) {
        credentials_dir = sibling;
    }
    f = fopen(path, "rbe");
    if (!f) {
        sdl_error_set(err, SDL_E_IO, "%s: cannot open configuration: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        size_t r;
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > ((size_t)16 << 20)) {
                sdl_error_set(err, SDL_E_CONFIG, "%s:1:1: configuration file larger than 16MiB",
                              path);
                goto out;
            }
            text = sdl_xrealloc(text, cap + 1);
        }
        r = fread(text + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            break;
        }
    }
    if (ferror(f)) {
        sdl_error_set(err, SDL_E_IO, "%s: cannot read configuration: %s", path, strerror(errno));
        goto out;
    }
    text[len] = '\0';
    ok = load_string(path, text, len, credentials_dir, sibling, ret_config, err);
out:
    if (f) {
        fclose(f);
    }
    free(text);
    free(sibling);
    return ok;
}

static void
free_section(sdl_config *config, const sdl_config_section *sec)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        switch (k->type) {
        case SDL_CFG_SECTION:
            free_section(config, k->section);
            break;
        case SDL_CFG_STRING:
        case SDL_CFG_SECRET_FILE: {
            char **field = SDL_CFG_FIELD(config, k, char *);
            free(*field);
            *field = NULL;
            break;
        }
        case SDL_CFG_STRING_LIST: {
            size_t *count = (size_t *)(void *)((char *)config + k->count_offset);
            free_list(*SDL_CFG_FIELD(config, k, char **), *count);
            *SDL_CFG_FIELD(config, k, char **) = NULL;
            *count = 0;
            break;
        }
        case SDL_CFG_COLUMN_RULES:
            sdl_config_free_column_rules(&config->columns);
            break;
        case SDL_CFG_SKIP_OPS:
            sdl_config_free_skip_ops(&config->tables);
            break;
        default:
            break;
        }
    }
}

sdl_config *
sdl_config_free(sdl_config *config)
{
    if (!config) {
        return NULL;
    }
    wipe_free(config->source.password);
    free(config->source.password_origin);
    wipe_free(config->target.uri);
    config->target.uri = NULL;
    free(config->target.uri_origin);
    wipe_free(config->columns.hash_key);
    config->columns.hash_key = NULL;
    free(config->columns.hash_key_origin);
    free_section(config, &sdl_config_root);
    free(config->path);
    free(config->credentials_dir);
    free(config);
    return NULL;
}
