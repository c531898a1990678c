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

#include "config-load-private.h"
#include "config-private.h"

SDL_PRINTF(3, 4)
bool
sdl_config_fail(loader *ld, yaml_mark_t mark, const char *fmt, ...)
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

/* A value quoted for a message: at most SDL_CONFIG_VALUE_ECHO_MAX bytes, control bytes as \xNN. */
const char *
sdl_config_echo(const unsigned char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        if (i == SDL_CONFIG_VALUE_ECHO_MAX) {
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

const char *
sdl_config_node_kind(const yaml_node_t *node)
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
void
sdl_config_key_label(const sdl_config_section *sec, const char *name, char *buf, size_t cap)
{
    if (sec->path[0]) {
        (void)snprintf(buf, cap, "'%s' in '%s'", name, sec->path);
    } else {
        (void)snprintf(buf, cap, "'%s'", name);
    }
}

void
sdl_config_remember(loader *ld, const sdl_config_key *key, yaml_mark_t km, yaml_mark_t vm)
{
    if (ld->nmarks == ld->capmarks) {
        ld->capmarks = ld->capmarks ? ld->capmarks * 2 : 32;
        ld->marks = sdl_xreallocarray(ld->marks, ld->capmarks, sizeof(*ld->marks));
    }
    ld->marks[ld->nmarks++] = (mark_entry){key, km, vm};
}

const mark_entry *
sdl_config_lookup_mark(const loader *ld, const sdl_config_key *key)
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

const char *
sdl_config_suggest(const sdl_config_section *sec, const char *name)
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

bool
sdl_config_is_null_scalar(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;

    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    return node->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

void
sdl_config_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

/* Sets a scalar key from text. Used for defaults (mark unused, ld NULL: defaults are
 * trusted and checked by test-config) and for file values. Returns a reason on failure. */
const char *
sdl_config_store_scalar(sdl_config *config, const sdl_config_key *key, const char *text,
                        char *why_buf, size_t why_cap)
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
        } else if (k->def && sdl_config_store_scalar(config, k, k->def, why, sizeof(why)) != NULL) {
            abort(); /* a bad default in the tables is a bug; test-config catches it */
        }
    }
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
    if (!sdl_config_check_events(&ld)) {
        goto out;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    parsed = yaml_parser_load(&parser, &ld.doc) != 0;
    if (!parsed) {
        sdl_config_syntax_error(&ld, &parser);
        yaml_parser_delete(&parser);
        goto out;
    }
    yaml_parser_delete(&parser);
    root = yaml_document_get_root_node(&ld.doc);
    if (!root || (root->type == YAML_SCALAR_NODE && sdl_config_is_null_scalar(root))) {
        sdl_config_fail(&ld, root ? root->start_mark : (yaml_mark_t){0, 0, 0},
                        "empty configuration (expected at least a 'source' section)");
        goto out;
    }
    if (!sdl_config_walk_section(&ld, &sdl_config_root, root, root->start_mark)) {
        goto out;
    }
    for (size_t i = 0; i < sdl_config_nchecks; i++) {
        const sdl_config_check *c = &sdl_config_checks[i];
        const char *why = c->check(ld.config);
        if (why) {
            const mark_entry *m = sdl_config_lookup_mark(&ld, c->blame);
            if (!m && c->blame_alt) {
                m = sdl_config_lookup_mark(&ld, c->blame_alt);
            }
            sdl_config_fail(&ld, m ? m->value_mark : root->start_mark, "%s", why);
            goto out;
        }
    }
    sdl_config_resolve_relative_paths(&ld);
    if (!sdl_config_resolve_password(&ld) || !sdl_config_resolve_target_uri(&ld) ||
        !sdl_config_resolve_hash_key(&ld)) {
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
            sdl_config_free_list(*SDL_CFG_FIELD(config, k, char **), *count);
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
    sdl_config_wipe_free(config->source.password);
    free(config->source.password_origin);
    sdl_config_wipe_free(config->target.uri);
    config->target.uri = NULL;
    free(config->target.uri_origin);
    sdl_config_wipe_free(config->columns.hash_key);
    config->columns.hash_key = NULL;
    free(config->columns.hash_key_origin);
    free_section(config, &sdl_config_root);
    free(config->path);
    free(config->credentials_dir);
    free(config);
    return NULL;
}
