/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mapping/column-policy.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/bytes.h"

#include "doc-mapper-private.h"

/* Plans cached per table; past this many the cache starts again (tables come and go with
 * the stream's own table cache, and a pipeline touches a bounded set of tables). */
#define PLAN_CACHE_MAX 512

typedef struct plan_entry {
    const sdl_table *table; /* the table map it was made for (a hint: checked by name) */
    uint32_t ncols;
    char *names; /* "db\0table\0col1\0col2\0..." */
    size_t names_len;
    sdl_column_plan *plan; /* ncols entries; NULL: no rule matches a column */
} plan_entry;

struct sdl_column_policy {
    const sdl_config *config; /* borrowed: rules and key */
    plan_entry *entries;
    size_t nentries;
    size_t last;       /* index of the last entry found */
    sdl_value *img[2]; /* scratch images */
    char (*text[2])[SDL_COLUMN_HASH_TEXT];
    uint32_t img_cap;  /* columns the scratch images hold */
    EVP_MAC *mac;      /* HMAC, fetched once */
    EVP_MAC_CTX *hmac; /* keyed with the hash key once; re-initialised per value without a
                        * key (OpenSSL keeps the padded key): a hashed value costs no key
                        * schedule and no allocation */
};

sdl_column_policy *
sdl_column_policy_new(const sdl_config *config)
{
    sdl_column_policy *p;

    if (!config || config->columns.nrules == 0) {
        return NULL;
    }
    p = sdl_xcalloc(1, sizeof(*p));
    p->config = config;
    if (config->columns.hash_key) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        p->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        p->hmac = p->mac ? EVP_MAC_CTX_new(p->mac) : NULL;
        if (!p->hmac || !EVP_MAC_init(p->hmac, (const unsigned char *)config->columns.hash_key,
                                      strlen(config->columns.hash_key), params)) {
            abort(); /* OpenSSL without HMAC-SHA256, or out of memory */
        }
    }
    return p;
}

void
sdl_column_policy_follow(sdl_column_policy **policy, const sdl_config *config)
{
    if (*policy ? (*policy)->config == config : (!config || config->columns.nrules == 0)) {
        return;
    }
    *policy = sdl_column_policy_free(*policy);
    *policy = sdl_column_policy_new(config);
}

const sdl_config *
sdl_column_policy_config(const sdl_column_policy *policy)
{
    return policy ? policy->config : NULL;
}

static void
clear_entries(sdl_column_policy *p)
{
    for (size_t i = 0; i < p->nentries; i++) {
        free(p->entries[i].names);
        free(p->entries[i].plan);
    }
    free(p->entries);
    p->entries = NULL;
    p->nentries = 0;
    p->last = 0;
}

sdl_column_policy *
sdl_column_policy_free(sdl_column_policy *policy)
{
    if (!policy) {
        return NULL;
    }
    clear_entries(policy);
    EVP_MAC_CTX_free(policy->hmac);
    EVP_MAC_free(policy->mac);
    for (unsigned s = 0; s < 2; s++) {
        free(policy->img[s]);
        if (policy->text[s]) {
            explicit_bzero(policy->text[s], (size_t)policy->img_cap * SDL_COLUMN_HASH_TEXT);
        }
        free(policy->text[s]);
    }
    free(policy);
    return NULL;
}

static inline size_t
name_len(const char *name, uint32_t known)
{
    return known ? known : strlen(name);
}

/* True when @e was made for a table with @t's names (the plan depends on nothing else). */
static bool
entry_fits(const plan_entry *e, const sdl_table *t)
{
    const char *k = e->names, *end = e->names + e->names_len;
    size_t n;

    if (e->ncols != t->ncols) {
        return false;
    }
#define NEXT_NAME(s, len)                                                                          \
    do {                                                                                           \
        n = (len);                                                                                 \
        if ((size_t)(end - k) < n + 1 || memcmp(k, (s), n) != 0 || k[n] != '\0') {                 \
            return false;                                                                          \
        }                                                                                          \
        k += n + 1;                                                                                \
    } while (0)
    NEXT_NAME(t->db, name_len(t->db, t->db_len));
    NEXT_NAME(t->name, name_len(t->name, t->name_len));
    for (uint32_t i = 0; i < t->ncols; i++) {
        NEXT_NAME(t->cols[i].name, name_len(t->cols[i].name, t->cols[i].name_len));
    }
#undef NEXT_NAME
    return k == end;
}

static bool
make_entry(sdl_column_policy *p, const sdl_table *t, plan_entry *e, sdl_error *err)
{
    const sdl_columns_config *cc = &p->config->columns;
    sdl_buf names = SDL_BUF_INIT;
    size_t ldb = name_len(t->db, t->db_len), ltab = name_len(t->name, t->name_len);
    char *full = NULL;
    size_t full_cap = 0;
    bool any = false;

    *e = (plan_entry){.table = t, .ncols = t->ncols};
    sdl_buf_append(&names, t->db, ldb + 1);
    sdl_buf_append(&names, t->name, ltab + 1);
    e->plan = sdl_xcalloc(t->ncols ? t->ncols : 1, sizeof(*e->plan));
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sdl_column *c = &t->cols[i];
        size_t lc = name_len(c->name, c->name_len);
        sdl_buf_append(&names, c->name, lc + 1);
        if (ldb + ltab + lc + 3 > full_cap) {
            full_cap = ldb + ltab + lc + 64;
            full = sdl_xrealloc(full, full_cap);
        }
        (void)snprintf(full, full_cap, "%s.%s.%s", t->db, t->name, c->name);
        for (size_t r = 0; r < cc->nrules; r++) {
            const sdl_column_rule *rule = &cc->rules[r];
            if (fnmatch(rule->match, full, 0) != 0) {
                continue;
            }
            if (rule->action == SDL_COLUMN_DROP && c->is_pk) {
                sdl_error_set(err, SDL_E_CONFIG,
                              "rule %zu of 'columns' ({match: \"%s\", action: drop}) matches the "
                              "primary-key column '%s': a key column identifies the row and "
                              "cannot be dropped; hash or redact it, or narrow the pattern",
                              r + 1, rule->match, full);
                free(full);
                sdl_buf_done(&names);
                free(e->plan);
                e->plan = NULL;
                return false;
            }
            e->plan[i].action = rule->action;
            e->plan[i].bytes = rule->truncate_bytes;
            any = true;
            break;
        }
    }
    free(full);
    if (!any) {
        free(e->plan);
        e->plan = NULL;
    }
    e->names_len = names.len;
    e->names = (char *)names.data; /* taken over from the buffer */
    return true;
}

bool
sdl_column_policy_plan(sdl_column_policy *policy, const sdl_table *t,
                       const sdl_column_plan **ret_plan, sdl_error *err)
{
    plan_entry e;

    *ret_plan = NULL;
    if (policy->nentries > 0 && policy->entries[policy->last].table == t &&
        entry_fits(&policy->entries[policy->last], t)) {
        *ret_plan = policy->entries[policy->last].plan;
        return true;
    }
    for (size_t i = 0; i < policy->nentries; i++) {
        if (entry_fits(&policy->entries[i], t)) {
            policy->entries[i].table = t;
            policy->last = i;
            *ret_plan = policy->entries[i].plan;
            return true;
        }
    }
    if (!make_entry(policy, t, &e, err)) {
        return false;
    }
    if (policy->nentries == PLAN_CACHE_MAX) {
        clear_entries(policy);
    }
    policy->entries =
        sdl_xreallocarray(policy->entries, policy->nentries + 1, sizeof(*policy->entries));
    policy->entries[policy->nentries] = e;
    policy->last = policy->nentries++;
    *ret_plan = e.plan;
    return true;
}

/* The shortest "%.*g" text that reads back as @d. */
static int
shortest_double(char *buf, size_t cap, double d)
{
    int n = 0;

    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    return n;
}

/* DECIMAL64's unscaled @i with @scale digits after the point, as MySQL prints it. */
static int
decimal64_text(char *buf, size_t cap, int64_t i, unsigned scale)
{
    char digits[32];
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    int nd = snprintf(digits, sizeof(digits), "%" PRIu64, u);
    int n = 0;

    if (i < 0) {
        buf[n++] = '-';
    }
    if (scale == 0) {
        return n + snprintf(buf + n, cap - (size_t)n, "%s", digits);
    }
    if ((unsigned)nd <= scale) {
        /* 0.0…0ddd: scale <= 38 and nd <= 20, so it fits in @cap (80) */
        buf[n++] = '0';
        buf[n++] = '.';
        for (unsigned z = 0; z < scale - (unsigned)nd; z++) {
            buf[n++] = '0';
        }
        return n + snprintf(buf + n, cap - (size_t)n, "%s", digits);
    }
    return n + snprintf(buf + n, cap - (size_t)n, "%.*s.%s", nd - (int)scale, digits,
                        digits + nd - (int)scale);
}

/* HMAC-SHA256 of the value's text (docs/CONFIG.md, "columns") as hex into @text. */
static void
hash_value(const sdl_column_policy *policy, const sdl_value *v, char *text)
{
    static const char hex[] = "0123456789abcdef";
    char buf[80];
    const void *data = buf;
    size_t len = 0;
    sdl_buf set = SDL_BUF_INIT;
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;

    switch (v->kind) {
    case SDL_VALUE_INT:
        len = (size_t)snprintf(buf, sizeof(buf), "%" PRId64, v->i);
        break;
    case SDL_VALUE_UINT:
    case SDL_VALUE_BIT:
        len = (size_t)snprintf(buf, sizeof(buf), "%" PRIu64, v->u);
        break;
    case SDL_VALUE_FLOAT:
        len = (size_t)shortest_double(buf, sizeof(buf), sdl_mapper_float_shortest(v->d));
        break;
    case SDL_VALUE_DOUBLE:
        len = (size_t)shortest_double(buf, sizeof(buf), v->d);
        break;
    case SDL_VALUE_DECIMAL64:
        len = (size_t)decimal64_text(buf, sizeof(buf), v->i, v->scale);
        break;
    case SDL_VALUE_DATETIME:
    case SDL_VALUE_DATE:
        len = sdl_mapper_format_datetime(buf, sizeof(buf), v->usec, v->fsp,
                                         v->kind == SDL_VALUE_DATE);
        break;
    case SDL_VALUE_SET:
        for (uint32_t i = 0; i < v->set.count; i++) {
            if (i) {
                sdl_buf_append(&set, ",", 1);
            }
            sdl_buf_append(&set, v->set.names[i], strlen(v->set.names[i]));
        }
        data = set.data ? (const void *)set.data : "";
        len = set.len;
        break;
    default: /* every other kind holds .str */
        data = v->str.len ? v->str.ptr : "";
        len = v->str.len;
        break;
    }
    /* a hash rule without a key never loads (config.c), so policy->hmac is set */
    if (!policy->hmac || !EVP_MAC_init(policy->hmac, NULL, 0, NULL) ||
        !EVP_MAC_update(policy->hmac, data, len) ||
        !EVP_MAC_final(policy->hmac, md, &mdlen, sizeof(md)) || mdlen != 32) {
        abort();
    }
    for (size_t i = 0; i < 32; i++) {
        text[2 * i] = hex[md[i] >> 4];
        text[2 * i + 1] = hex[md[i] & 15];
    }
    text[64] = '\0';
    explicit_bzero(buf, sizeof(buf));
    if (set.data) {
        explicit_bzero(set.data, set.len);
    }
    sdl_buf_done(&set);
}

void
sdl_column_policy_apply(const sdl_column_policy *policy, const sdl_column_plan *plan,
                        const sdl_column *col, const sdl_value *in, sdl_value *out, char *text)
{
    (void)col; /* the text a value is hashed as depends on its kind alone */
    *out = *in;
    if (in->kind == SDL_VALUE_ABSENT) {
        return;
    }
    switch (plan->action) {
    case SDL_COLUMN_KEEP:
        return;
    case SDL_COLUMN_DROP:
        out->kind = SDL_VALUE_ABSENT;
        return;
    case SDL_COLUMN_REDACT:
        *out = (sdl_value){.kind = SDL_VALUE_STRING, .utf8_checked = true};
        out->str.ptr = SDL_COLUMN_REDACTED;
        out->str.len = sizeof(SDL_COLUMN_REDACTED) - 1;
        return;
    case SDL_COLUMN_HASH:
        if (in->kind == SDL_VALUE_NULL) {
            return;
        }
        hash_value(policy, in, text);
        *out = (sdl_value){.kind = SDL_VALUE_STRING, .utf8_checked = true};
        out->str.ptr = text;
        out->str.len = 64;
        return;
    case SDL_COLUMN_TRUNCATE:
        if (in->kind == SDL_VALUE_BINARY && in->str.len > plan->bytes) {
            out->str.len = plan->bytes;
        } else if (in->kind == SDL_VALUE_STRING && in->str.len > plan->bytes) {
            const unsigned char *s = (const unsigned char *)in->str.ptr;
            size_t n = plan->bytes;
            /* never end inside a character: back off to the start of the one cut */
            while (n > 0 && (s[n] & 0xC0) == 0x80) {
                n--;
            }
            out->str.len = n;
        }
        return;
    }
}

const sdl_value *
sdl_column_policy_image(sdl_column_policy *policy, const sdl_table *t, const sdl_column_plan *plan,
                        const sdl_value *img, unsigned slot)
{
    if (t->ncols > policy->img_cap) {
        uint32_t cap = t->ncols < 64 ? 64 : t->ncols;
        for (unsigned s = 0; s < 2; s++) {
            if (policy->text[s]) {
                explicit_bzero(policy->text[s], (size_t)policy->img_cap * SDL_COLUMN_HASH_TEXT);
            }
            free(policy->img[s]);
            free(policy->text[s]);
            policy->img[s] = sdl_xcalloc(cap, sizeof(*policy->img[s]));
            policy->text[s] = sdl_xcalloc(cap, sizeof(*policy->text[s]));
        }
        policy->img_cap = cap;
    }
    sdl_value *out = policy->img[slot & 1];
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (plan[i].action == SDL_COLUMN_KEEP) {
            out[i] = img[i];
        } else {
            sdl_column_policy_apply(policy, &plan[i], &t->cols[i], &img[i], &out[i],
                                    policy->text[slot & 1][i]);
        }
    }
    return out;
}
