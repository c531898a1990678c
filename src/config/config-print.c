/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-print: everything that reads a loaded config through the key tables: the
 * normalised YAML of `sdl check-config`, the key listing, the reload check, the table
 * filter, and the source-line-and-caret context of an error.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/config/units.h"

#include "config-private.h"

const char *
sdl_config_format_scalar(const sdl_config *config, const sdl_config_key *key, char *buf)
{
    switch (key->type) {
    case SDL_CFG_STRING:
    case SDL_CFG_SECRET_FILE:
        return *SDL_CFG_CFIELD(config, key, char *);
    case SDL_CFG_UINT16:
        (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%u",
                       (unsigned)*SDL_CFG_CFIELD(config, key, uint16_t));
        return buf;
    case SDL_CFG_UINT32:
        (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%lu",
                       (unsigned long)*SDL_CFG_CFIELD(config, key, uint32_t));
        return buf;
    case SDL_CFG_UINT64:
        (void)snprintf(buf, SDL_UNIT_TEXT_MAX, "%llu",
                       (unsigned long long)*SDL_CFG_CFIELD(config, key, uint64_t));
        return buf;
    case SDL_CFG_DURATION:
        return sdl_format_duration(*SDL_CFG_CFIELD(config, key, uint64_t), buf);
    case SDL_CFG_SIZE:
        return sdl_format_size(*SDL_CFG_CFIELD(config, key, uint64_t), buf);
    case SDL_CFG_ENUM:
        for (const sdl_config_enum *e = key->enums; e->name; e++) {
            if (e->value == *SDL_CFG_CFIELD(config, key, int)) {
                return e->name;
            }
        }
        return "unknown";
    default:
        return NULL;
    }
}

/* A YAML double-quoted scalar: always valid, whatever the bytes. */
static void
print_quoted(const char *s, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\x%02x", *p);
        } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* C1 controls, NEL among them: YAML folds a raw NEL into a space. */
            fprintf(out, "\\u00%02x", p[1]);
            p++;
        } else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            fputs(p[2] == 0xa8 ? "\\L" : "\\P", out); /* line and paragraph separators */
            p += 2;
        } else if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
            fputs("\\uFEFF", out);
            p += 2;
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* ---- URI masking ---- */

char *
sdl_config_mask_uri(const char *uri)
{
    size_t len = uri ? strlen(uri) : 0;
    char *out = sdl_xmalloc(len + 9); /* each of the two masks may grow the text by 4 */
    char *scheme, *p;

    memcpy(out, uri ? uri : "", len + 1);
    scheme = strstr(out, "://");

    if (scheme) {
        char *ui = scheme + 3;
        char *at = strrchr(ui, '@');
        char *colon = at ? memchr(ui, ':', (size_t)(at - ui)) : NULL;
        if (colon) {
            /* user:password@ -> user:****@ (everything up to the LAST '@': over-masking a
             * host part is harmless, leaking a password with an unescaped '@' is not) */
            memmove(colon + 5, at, strlen(at) + 1);
            memcpy(colon + 1, "****", 4);
        }
    }
    p = strcasestr(out, "tlsCertificateKeyFilePassword=");
    if (p) {
        char *v = p + strlen("tlsCertificateKeyFilePassword=");
        char *end = strchr(v, '&');
        size_t tail = end ? strlen(end) + 1 : 1;
        memmove(v + 4, end ? end : v + strlen(v), tail);
        memcpy(v, "****", 4);
    }
    return out;
}

static void
print_column_rules(const sdl_columns_config *c, int indent, FILE *out)
{
    static const char *const names[] = {"keep", "drop", "redact", "hash", "truncate"};

    if (c->nrules == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < c->nrules; i++) {
        const sdl_column_rule *r = &c->rules[i];
        fprintf(out, "%*s- {match: ", indent + 2, "");
        print_quoted(r->match, out);
        if (r->action == SDL_COLUMN_TRUNCATE) {
            char buf[SDL_UNIT_TEXT_MAX];
            fprintf(out, ", truncate: %s}\n", sdl_format_size(r->truncate_bytes, buf));
        } else {
            fprintf(out, ", action: %s}\n", names[r->action]);
        }
    }
}

static void
print_skip_ops(const sdl_tables_config *t, int indent, FILE *out)
{
    if (t->nskip_ops == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < t->nskip_ops; i++) {
        const sdl_skip_ops_rule *r = &t->skip_ops[i];
        const char *sep = "";
        fprintf(out, "%*s- {match: ", indent + 2, "");
        print_quoted(r->match, out);
        fputs(", ops: [", out);
        if (r->ops & SDL_OP_INSERT) {
            fputs("insert", out);
            sep = ", ";
        }
        if (r->ops & SDL_OP_UPDATE) {
            fprintf(out, "%supdate", sep);
            sep = ", ";
        }
        if (r->ops & SDL_OP_DELETE) {
            fprintf(out, "%sdelete", sep);
        }
        fputs("]}\n", out);
    }
}

static void
print_section(const sdl_config *config, const sdl_config_section *sec, int indent, FILE *out)
{
    char buf[SDL_UNIT_TEXT_MAX];

    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        const char *v;

        if (!sec->path[0] && strcmp(k->name, "target") == 0 && !config->target.uri) {
            fputs("# target: none (sdl run needs one; sdl tail does not)\n", out);
            continue;
        }
        if (strcmp(sec->path, "target") == 0 && strcmp(k->name, "uri") == 0 &&
            config->target.uri_origin &&
            strcmp(config->target.uri_origin, SDL_TARGET_URI_KEY_ORIGIN) != 0) {
            /* The URI came from a file, a credential or the environment: say where, never
             * what (as '# password:' in 'source'). */
            fprintf(out, "%*s# uri: <from %s>\n", indent, "", config->target.uri_origin);
            continue;
        }

        if (k->type == SDL_CFG_REJECTED) {
            /* The one rejected key inside a section is source.password: say where the
             * secret came from, never what it is. */
            if (strcmp(sec->path, "source") == 0 && strcmp(k->name, "password") == 0) {
                const sdl_source_config *s = &config->source;
                fprintf(out, "%*s# password: %s%s%s\n", indent, "", s->password ? "<from " : "",
                        s->password ? s->password_origin : "<none>", s->password ? ">" : "");
            }
            continue;
        }
        if (k->type == SDL_CFG_SECRET_FILE && strcmp(k->name, "columns_hash_key_file") == 0 &&
            !config->columns.hash_key_file && config->columns.hash_key_origin) {
            /* the key came from a credential or the environment: say where, never what */
            fprintf(out, "%*s# columns hash key: <from %s>\n", indent, "",
                    config->columns.hash_key_origin);
        }
        fprintf(out, "%*s%s:", indent, "", k->name);
        switch (k->type) {
        case SDL_CFG_COLUMN_RULES:
            print_column_rules(&config->columns, indent, out);
            continue;
        case SDL_CFG_SKIP_OPS:
            print_skip_ops(&config->tables, indent, out);
            continue;
        case SDL_CFG_SECTION:
            fputc('\n', out);
            print_section(config, k->section, indent + 2, out);
            continue;
        case SDL_CFG_STRING_LIST: {
            char **list = *SDL_CFG_CFIELD(config, k, char **);
            size_t n = *(const size_t *)(const void *)((const char *)config + k->count_offset);
            fputs(" [", out);
            for (size_t j = 0; j < n; j++) {
                if (j) {
                    fputs(", ", out);
                }
                print_quoted(list[j], out);
            }
            fputs("]\n", out);
            continue;
        }
        case SDL_CFG_STRING:
        case SDL_CFG_SECRET_FILE:
            v = sdl_config_format_scalar(config, k, buf);
            fputc(' ', out);
            if (v) {
                print_quoted(v, out);
            } else {
                fputs("null", out);
            }
            fputc('\n', out);
            continue;
        default:
            fprintf(out, " %s\n", sdl_config_format_scalar(config, k, buf));
            continue;
        }
    }
}

void
sdl_config_print(const sdl_config *config, FILE *out)
{
    fprintf(out, "# sdl configuration from %s, normalised: every key with its effective value\n",
            config->path ? config->path : "defaults");
    print_section(config, &sdl_config_root, 0, out);
}

/* ---- key listing ---- */

static const char *
type_name(const sdl_config_key *k)
{
    switch (k->type) {
    case SDL_CFG_SECTION:
        return "section";
    case SDL_CFG_STRING:
        return "string";
    case SDL_CFG_UINT16:
    case SDL_CFG_UINT32:
    case SDL_CFG_UINT64:
        return "integer";
    case SDL_CFG_DURATION:
        return "duration";
    case SDL_CFG_SIZE:
        return "size";
    case SDL_CFG_ENUM:
        return "enum";
    case SDL_CFG_STRING_LIST:
        return "list of strings";
    case SDL_CFG_SECRET_FILE:
        return "path (secret)";
    case SDL_CFG_REJECTED:
        return "rejected";
    case SDL_CFG_COLUMN_RULES:
        return "list of column rules";
    case SDL_CFG_SKIP_OPS:
        return "list of skip rules";
    }
    return "?";
}

static void
foreach_in(const sdl_config_section *sec, void (*fn)(const sdl_config_key_info *, void *),
           void *userdata)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        char path[128], choices[256], range[2 * SDL_UNIT_TEXT_MAX + 16];
        size_t n = 0;
        sdl_config_key_info info;

        (void)snprintf(path, sizeof(path), "%s%s%s", sec->path, sec->path[0] ? "." : "", k->name);
        choices[0] = '\0';
        for (const sdl_config_enum *e = k->enums; e && e->name && n < sizeof(choices); e++) {
            n += (size_t)snprintf(choices + n, sizeof(choices) - n, "%s%s",
                                  e == k->enums ? "" : " | ", e->name);
        }
        range[0] = '\0';
        if (k->type == SDL_CFG_UINT16 || k->type == SDL_CFG_UINT32 || k->type == SDL_CFG_UINT64) {
            (void)snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)k->min,
                           (unsigned long long)k->max);
        } else if (k->type == SDL_CFG_DURATION || k->type == SDL_CFG_SIZE) {
            char lo[SDL_UNIT_TEXT_MAX], hi[SDL_UNIT_TEXT_MAX];
            bool dur = k->type == SDL_CFG_DURATION;
            const char *l = dur ? sdl_format_duration(k->min, lo) : sdl_format_size(k->min, lo);
            if (k->max) {
                (void)snprintf(range, sizeof(range), "%s..%s", l,
                               dur ? sdl_format_duration(k->max, hi) : sdl_format_size(k->max, hi));
            } else if (k->min) {
                (void)snprintf(range, sizeof(range), "at least %s", l);
            }
        }
        info = (sdl_config_key_info){
            .path = path,
            .range = range[0] ? range : NULL,
            .type = type_name(k),
            .def = k->def,
            .choices = k->enums ? choices : NULL,
            .required = (k->flags & SDL_CFG_REQUIRED) != 0,
            .reloadable = (k->flags & SDL_CFG_RELOADABLE) != 0,
            .doc = k->doc,
        };
        fn(&info, userdata);
        if (k->type == SDL_CFG_SECTION) {
            foreach_in(k->section, fn, userdata);
        }
    }
}

void
sdl_config_foreach_key(void (*fn)(const sdl_config_key_info *info, void *userdata), void *userdata)
{
    foreach_in(&sdl_config_root, fn, userdata);
}

static void
list_one(const sdl_config_key_info *info, void *userdata)
{
    FILE *out = userdata;

    fprintf(out, "%s\t%s%s%s%s\t%s\t%s\n", info->path, info->type, info->choices ? " (" : "",
            info->choices ? info->choices : "", info->choices ? ")" : "",
            info->def ? info->def : (info->required ? "(required)" : "-"),
            strcmp(info->type, "section") == 0 || strcmp(info->type, "rejected") == 0 ? "-"
            : info->reloadable                                                        ? "reloadable"
                                                                                      : "restart");
}

void
sdl_config_list_keys(FILE *out)
{
    sdl_config_foreach_key(list_one, out);
}

/* ---- reload ---- */

static bool
check_reload_section(const sdl_config *a, const sdl_config *b, const sdl_config_section *sec,
                     sdl_error *err)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        bool same = true;

        if (k->type == SDL_CFG_SECTION) {
            if (!check_reload_section(a, b, k->section, err)) {
                return false;
            }
            continue;
        }
        if (k->type == SDL_CFG_REJECTED || (k->flags & SDL_CFG_RELOADABLE)) {
            continue;
        }
        if (k->type == SDL_CFG_STRING_LIST) {
            size_t na = *(const size_t *)(const void *)((const char *)a + k->count_offset);
            size_t nb = *(const size_t *)(const void *)((const char *)b + k->count_offset);
            char **la = *SDL_CFG_CFIELD(a, k, char **);
            char **lb = *SDL_CFG_CFIELD(b, k, char **);
            same = na == nb;
            for (size_t j = 0; same && j < na; j++) {
                same = strcmp(la[j], lb[j]) == 0;
            }
        } else {
            char ba[SDL_UNIT_TEXT_MAX], bb[SDL_UNIT_TEXT_MAX];
            const char *va = sdl_config_format_scalar(a, k, ba);
            const char *vb = sdl_config_format_scalar(b, k, bb);
            same = (!va && !vb) || (va && vb && strcmp(va, vb) == 0);
        }
        if (!same) {
            sdl_error_set(err, SDL_E_CONFIG, "'%s%s%s' cannot change on reload; restart sdl",
                          sec->path, sec->path[0] ? "." : "", k->name);
            return false;
        }
    }
    return true;
}

bool
sdl_config_check_reload(const sdl_config *old_config, const sdl_config *new_config, sdl_error *err)
{
    return check_reload_section(old_config, new_config, &sdl_config_root, err);
}

/* ---- table filter ---- */

static bool
matches_any(char **patterns, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (fnmatch(patterns[i], name, 0) == 0) {
            return true;
        }
    }
    return false;
}

bool
sdl_config_table_included(const sdl_config *config, const char *db, const char *table)
{
    char *name;
    bool in;

    if (!config) {
        return true;
    }
    name = sdl_xasprintf("%s.%s", db, table);
    in = (config->tables.ninclude == 0 ||
          matches_any(config->tables.include, config->tables.ninclude, name)) &&
         !matches_any(config->tables.exclude, config->tables.nexclude, name);
    free(name);
    return in;
}

unsigned
sdl_config_table_skip_ops(const sdl_config *config, const char *db, const char *table)
{
    unsigned ops = 0;
    char *name;

    if (!config || config->tables.nskip_ops == 0) {
        return 0;
    }
    name = sdl_xasprintf("%s.%s", db, table);
    for (size_t i = 0; i < config->tables.nskip_ops; i++) {
        if (fnmatch(config->tables.skip_ops[i].match, name, 0) == 0) {
            ops |= config->tables.skip_ops[i].ops;
        }
    }
    free(name);
    return ops;
}

/* ---- error context ---- */

bool
sdl_config_error_position(const sdl_error *err, unsigned *ret_line, unsigned *ret_col)
{
    const char *m;

    if (!err || err->code != SDL_E_CONFIG) {
        return false;
    }
    /* The first ":<line>:<col>: " in the message follows the file name. */
    for (m = strchr(err->message, ':'); m; m = strchr(m + 1, ':')) {
        char *end;
        unsigned long line, col;
        if (m[1] < '0' || m[1] > '9') {
            continue;
        }
        line = strtoul(m + 1, &end, 10);
        if (*end != ':' || end[1] < '0' || end[1] > '9') {
            continue;
        }
        col = strtoul(end + 1, &end, 10);
        if (end[0] != ':' || end[1] != ' ' || line == 0 || col == 0 || line > UINT32_MAX ||
            col > UINT32_MAX) {
            continue;
        }
        *ret_line = (unsigned)line;
        *ret_col = (unsigned)col;
        return true;
    }
    return false;
}

/* Masks everything after "password:" on a line (but not "password_file:"), so an error
 * context never shows a literal secret someone put in the file. */
static size_t
masked_length(const char *line, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i++) {
        size_t j;
        if (strncmp(line + i, "password", 8) != 0 ||
            (i + 8 < len && (line[i + 8] == '_' || (line[i + 8] >= 'a' && line[i + 8] <= 'z')))) {
            continue;
        }
        for (j = i + 8; j < len && line[j] != ':'; j++) {
        }
        return j < len ? j + 1 : len;
    }
    return len;
}

void
sdl_config_format_error_context_string(const char *text, size_t len, const sdl_error *err,
                                       FILE *out)
{
    unsigned line, col, cur = 1;
    const char *p = text, *end = text + len, *eol;
    size_t shown, ll;

    if (!text || !sdl_config_error_position(err, &line, &col)) {
        return;
    }
    while (cur < line && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            return;
        }
        p = nl + 1;
        cur++;
    }
    if (cur != line || p >= end) {
        return;
    }
    eol = memchr(p, '\n', (size_t)(end - p));
    ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
    if (ll > 0 && p[ll - 1] == '\r') {
        ll--;
    }
    shown = masked_length(p, ll);
    {
        /* A URI on the line is shown with its password masked. */
        char *text_line = sdl_xstrndup(p, shown);
        char *masked = sdl_config_mask_uri(text_line);
        for (const char *q = masked; *q; q++) {
            unsigned char c = (unsigned char)*q;
            fputc(c == '\t' || c >= 0x20 ? c : '?', out);
        }
        explicit_bzero(text_line, strlen(text_line));
        explicit_bzero(masked, strlen(masked));
        free(text_line);
        free(masked);
    }
    if (shown < ll) {
        fputs(" <masked>", out);
    }
    fputc('\n', out);
    /* The column counts characters; keep tabs so the caret lines up under them. */
    for (unsigned c = 1, i = 0; c < col && i < ll; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch & 0xc0) == 0x80) {
            continue;
        }
        fputc(ch == '\t' ? '\t' : ' ', out);
        c++;
    }
    fputs("^\n", out);
}

void
sdl_config_format_error_context(const char *path, const sdl_error *err, FILE *out)
{
    char *text = NULL;
    size_t len = 0, cap = 0;
    FILE *f;

    if (!path || !sdl_config_error_position(err, &(unsigned){0}, &(unsigned){0})) {
        return;
    }
    f = fopen(path, "rbe");
    if (!f) {
        return;
    }
    for (;;) {
        size_t r;
        if (len == cap) {
            if (cap >= ((size_t)16 << 20)) {
                break;
            }
            cap = cap ? cap * 2 : 4096;
            text = sdl_xrealloc(text, cap);
        }
        r = fread(text + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    sdl_config_format_error_context_string(text, len, err, out);
    free(text);
}
