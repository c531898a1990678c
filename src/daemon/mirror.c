/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/mirror.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/arena.h"
#include "sdl/base/log.h"
#include "sdl/model/doc-field.h"
#include "sdl/mysql/sql-text.h"

#define MAX_WARNED 256 /* tables without a key warned about (then: no more warnings) */

struct sdl_mirror {
    char *database;
    char *collection;
    sdl_mirror_no_pk no_pk;
    sdl_mirror_on_drop on_drop;
    bool audit;
    char *warned[MAX_WARNED];
    size_t nwarned;
    char **indexes; /* mirror.indexes */
    size_t nindexes;
    char **indexed; /* collections whose indexes the batch being planned has */
    size_t nindexed;
};

sdl_mirror *
sdl_mirror_new(const sdl_config *cfg)
{
    if (!sdl_config_has_mode(cfg, "mirror")) {
        return NULL;
    }
    sdl_mirror *m = sdl_xcalloc(1, sizeof(*m));
    m->database = sdl_xstrdup(cfg->mirror.database ? cfg->mirror.database : cfg->target.database);
    m->collection = sdl_xstrdup(cfg->mirror.collection);
    m->no_pk = cfg->mirror.no_primary_key;
    m->on_drop = cfg->mirror.on_drop;
    m->audit = sdl_config_has_mode(cfg, "audit");
    m->nindexes = cfg->mirror.nindexes;
    m->indexes = sdl_xcalloc(m->nindexes + 1, sizeof(*m->indexes));
    for (size_t i = 0; i < m->nindexes; i++) {
        m->indexes[i] = sdl_xstrdup(cfg->mirror.indexes[i]);
    }
    return m;
}

void
sdl_mirror_free(sdl_mirror *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->nwarned; i++) {
        free(m->warned[i]);
    }
    for (size_t i = 0; i < m->nindexes; i++) {
        free(m->indexes[i]);
    }
    free(m->indexes);
    for (size_t i = 0; i < m->nindexed; i++) {
        free(m->indexed[i]);
    }
    free(m->indexed);
    free(m->database);
    free(m->collection);
    free(m);
}

char *
sdl_mirror_collection_name(const char *template_, const char *db, const char *table)
{
    return sdl_config_collection_name(template_, db, table);
}

/* ---- reading a row_changes document ---- */

static bool
has_true(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

/* ---- the plan ---- */

typedef struct plan {
    sdl_mirror *m;
    bson_t *out;
    uint32_t n;
} plan;

/* Appends one write to @db.@coll; @q, @u may be NULL; @from: the source collection of
 * "copy". */
static void
add_db(plan *p, const char *w, const char *db, const char *coll, const bson_t *q, const bson_t *u,
       const char *from)
{
    char key[16];
    const char *k;
    bson_t d;

    (void)bson_uint32_to_string(p->n++, &k, key, sizeof(key));
    bson_append_document_begin(p->out, k, -1, &d);
    bson_append_utf8(&d, "w", 1, w, -1);
    bson_append_utf8(&d, "db", 2, db, -1);
    bson_append_utf8(&d, "c", 1, coll, -1);
    if (q) {
        bson_append_document(&d, "q", 1, q);
    }
    if (u) {
        bson_append_document(&d, "u", 1, u);
    }
    if (from) {
        bson_append_utf8(&d, "from", 4, from, -1);
    }
    bson_append_document_end(p->out, &d);
}

/* add_db() into mirror.database */
static void
add(plan *p, const char *w, const char *coll, const bson_t *q, const bson_t *u, const char *from)
{
    add_db(p, w, p->m->database, coll, q, u, from);
}

/* {_id: <the key>}: the value of a one-column key, else the key document itself. */
static void
id_filter(bson_t *q, const bson_t *pk)
{
    bson_iter_t it;

    if (bson_count_keys(pk) == 1 && bson_iter_init(&it, pk) && bson_iter_next(&it)) {
        bson_append_value(q, "_id", 3, bson_iter_value(&it));
    } else {
        bson_append_document(q, "_id", 3, pk);
    }
}

/* The key after an update: each key column from @after when present, else from @pk. */
static void
new_key(bson_t *ret, const bson_t *pk, const bson_t *after)
{
    bson_iter_t it, a;

    bson_init(ret);
    if (!bson_iter_init(&it, pk)) {
        return;
    }
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (bson_iter_init_find(&a, after, k)) {
            bson_append_value(ret, k, -1, bson_iter_value(&a));
        } else {
            bson_append_value(ret, k, -1, bson_iter_value(&it));
        }
    }
}

static bool
same_doc(const bson_t *a, const bson_t *b)
{
    return a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

/* The whole document: {_id: <key>} (when @pk) then the columns of @after. */
static void
full_doc(bson_t *ret, const bson_t *pk, const bson_t *after)
{
    bson_init(ret);
    if (pk) {
        id_filter(ret, pk);
    }
    bson_concat(ret, after);
}

static void
set_doc(bson_t *ret, const bson_t *after)
{
    bson_init(ret);
    bson_append_document(ret, "$set", 4, after);
}

static bool
warned(sdl_mirror *m, const char *name)
{
    for (size_t i = 0; i < m->nwarned; i++) {
        if (strcmp(m->warned[i], name) == 0) {
            return true;
        }
    }
    if (m->nwarned < MAX_WARNED) {
        m->warned[m->nwarned++] = sdl_xstrdup(name);
        return false;
    }
    return true;
}

/* {col: 1, col: -1} of an index's "pattern: col, -col" text (validated by the config). */
static void
index_keys(bson_t *ret, const char *keys)
{
    const char *p = keys;

    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (!*p) {
            break;
        }
        int dir = 1;
        if (*p == '-') {
            dir = -1;
            p++;
        }
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        bson_append_int32(ret, p, (int)len, dir);
        p += n;
    }
}

/* The first write of the batch to @coll (the mirror of @db.@table): its mirror.indexes,
 * created after the commit (an index cannot be created in a transaction on a collection that
 * exists) by a writer that has not created them yet. */
static void
plan_indexes(plan *p, const char *db, const char *table, const char *coll)
{
    sdl_mirror *m = p->m;
    char name[512];

    if (m->nindexes == 0) {
        return;
    }
    for (size_t i = 0; i < m->nindexed; i++) {
        if (strcmp(m->indexed[i], coll) == 0) {
            return;
        }
    }
    m->indexed = sdl_xreallocarray(m->indexed, m->nindexed + 1, sizeof(*m->indexed));
    m->indexed[m->nindexed++] = sdl_xstrdup(coll);
    (void)snprintf(name, sizeof(name), "%s.%s", db, table);
    for (size_t i = 0; i < m->nindexes; i++) {
        const char *colon = strstr(m->indexes[i], ": ");
        char *pattern = sdl_xstrndup(m->indexes[i], (size_t)(colon - m->indexes[i]));
        if (fnmatch(pattern, name, 0) == 0) {
            bson_t keys = BSON_INITIALIZER;
            index_keys(&keys, colon + 2);
            add(p, "index", coll, NULL, &keys, NULL);
            bson_destroy(&keys);
        }
        free(pattern);
    }
}

static bool
plan_row(plan *p, const bson_t *doc, sdl_error *err)
{
    const char *op = sdl_doc_field_text(doc, "op"), *db = sdl_doc_field_text(doc, "db"),
               *table = sdl_doc_field_text(doc, "table");
    bson_t pkv, before, after;
    bool has_pk = sdl_doc_field_doc(doc, "pk", &pkv);
    bool has_before = sdl_doc_field_doc(doc, "before", &before);
    bool has_after = sdl_doc_field_doc(doc, "after", &after);
    bool partial = has_true(doc, "partial_after");
    bool ok = true;

    if (!op || !db || !table) {
        return true; /* not a row (nothing to mirror) */
    }
    if (!has_pk) {
        char name[512];
        (void)snprintf(name, sizeof(name), "%s.%s", db, table);
        if (p->m->no_pk == SDL_MIRROR_NO_PK_ERROR) {
            sdl_error_set(err, SDL_E_CONFIG,
                          "mirror: table '%s' has no primary key (mirror.no_primary_key: error); "
                          "set mirror.no_primary_key to skip or all_columns, or exclude the "
                          "table (tables.exclude), and start sdl again (nothing of this batch "
                          "was written)",
                          name);
            return false;
        }
        if (p->m->no_pk == SDL_MIRROR_NO_PK_SKIP) {
            if (!warned(p->m, name)) {
                log_warning("Mirror: table '%s' has no primary key: its rows go to the audit "
                            "log only (mirror.no_primary_key: skip)",
                            name);
            }
            return true;
        }
    }
    char *coll = sdl_mirror_collection_name(p->m->collection, db, table);
    bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER;
    plan_indexes(p, db, table, coll);
    if (strcmp(op, "delete") == 0 && has_before) {
        if (has_pk) {
            id_filter(&q, &pkv);
        } else {
            bson_concat(&q, &before);
        }
        add(p, "delete", coll, &q, NULL, NULL);
    } else if ((strcmp(op, "insert") == 0 || strcmp(op, "update") == 0 ||
                strcmp(op, "snapshot") == 0 /* an existing row: upserted (DESIGN.md §9) */) &&
               has_after) {
        bool update = strcmp(op, "update") == 0;
        /* a snapshot row of a table without a key may already be there (a change read
         * before its chunk put it there): matched by every column, like an update */
        if (!has_pk && !update && strcmp(op, "snapshot") != 0) {
            bson_destroy(&u);
            full_doc(&u, NULL, &after);
            add(p, "insert", coll, NULL, &u, NULL); /* a generated _id */
        } else if (!has_pk) {
            /* the old row by every column of its before image */
            bson_concat(&q, has_before ? &before : &after);
            bson_destroy(&u);
            if (partial) {
                set_doc(&u, &after);
                add(p, "set", coll, &q, &u, NULL);
            } else {
                full_doc(&u, NULL, &after);
                add(p, "replace", coll, &q, &u, NULL);
            }
        } else {
            bson_t nk;
            new_key(&nk, &pkv, &after);
            bool moved = update && !same_doc(&nk, &pkv);
            if (moved && partial) {
                bson_t v = BSON_INITIALIZER;
                id_filter(&q, &pkv);
                id_filter(&v, &nk);
                bson_append_document(&v, "$set", 4, &after);
                add(p, "move", coll, &q, &v, NULL);
                bson_destroy(&v);
            } else {
                if (moved) {
                    id_filter(&q, &pkv);
                    add(p, "delete", coll, &q, NULL, NULL);
                    bson_reinit(&q);
                }
                id_filter(&q, &nk);
                bson_destroy(&u);
                if (partial) {
                    set_doc(&u, &after);
                    add(p, "set", coll, &q, &u, NULL);
                } else {
                    full_doc(&u, &nk, &after);
                    add(p, "replace", coll, &q, &u, NULL);
                }
            }
            bson_destroy(&nk);
        }
    }
    bson_destroy(&q);
    bson_destroy(&u);
    free(coll);
    return ok;
}

/* The first word of @s (after blanks) equals @w, case-insensitively; *@s moves past it. */
static bool
word(const char **s, const char *w)
{
    const char *p = *s;
    size_t n = strlen(w);

    while (*p == ' ') {
        p++;
    }
    if (strncasecmp(p, w, n) != 0 || (p[n] && p[n] != ' ')) {
        return false;
    }
    *s = p + n;
    return true;
}

static void
keep_warning(const char *db, const char *table, const char *what)
{
    log_warning("Mirror: %s of '%s.%s': its mirror collection is kept as it was "
                "(mirror.on_drop: keep)",
                what, db, table);
}

static void
drop_old(plan *p, const char *db, const char *table, const char *what)
{
    char *coll = sdl_mirror_collection_name(p->m->collection, db, table);
    if (p->m->on_drop == SDL_MIRROR_ON_DROP_DROP) {
        add(p, "clear", coll, NULL, NULL, NULL);
        add(p, "drop", coll, NULL, NULL, NULL);
    } else {
        keep_warning(db, table, what);
    }
    free(coll);
}

static void
plan_ddl(plan *p, const bson_t *doc)
{
    const char *stmt = sdl_doc_field_text(doc, "statement"), *db = sdl_doc_field_text(doc, "db");
    char head[256];
    sdl_ddl_target t[64];
    sdl_arena arena;
    size_t n;

    if (!stmt) {
        return;
    }
    const char *h = sdl_statement_head(SDL_BYTES(stmt, strlen(stmt)), head, sizeof(head));
    bool truncate = word(&h, "TRUNCATE");
    bool drop = !truncate && word(&h, "DROP");
    bool rename = !truncate && !drop && word(&h, "RENAME");
    if (!truncate && !drop && !rename) {
        return; /* CREATE, ALTER, ...: nothing to do (new rows carry the new columns) */
    }
    if (drop && word(&h, "DATABASE")) {
        log_warning("Mirror: DROP DATABASE '%s': its mirror collections are kept as they were",
                    db ? db : "?");
        return;
    }
    if (drop && word(&h, "SCHEMA")) {
        log_warning("Mirror: DROP SCHEMA '%s': its mirror collections are kept as they were",
                    db ? db : "?");
        return;
    }
    if ((drop || rename) && !word(&h, "TABLE") && !word(&h, "TABLES")) {
        return; /* DROP TEMPORARY TABLE, DROP INDEX, DROP VIEW, RENAME USER, ... */
    }
    sdl_arena_init(&arena, 4096);
    n = sdl_ddl_targets_parse(SDL_BYTES(stmt, strlen(stmt)),
                              SDL_BYTES(db ? db : "", db ? strlen(db) : 0), &arena, t,
                              SDL_ARRAY_SIZE(t));
    char **names = sdl_xcalloc(n + 1, sizeof(*names) * 2);
    for (size_t i = 0; i < n; i++) {
        names[2 * i] = sdl_xstrndup((const char *)t[i].db.ptr, t[i].db.len);
        names[2 * i + 1] = sdl_xstrndup((const char *)t[i].table.ptr, t[i].table.len);
    }
    for (size_t i = 0; i < n; i++) {
        const char *tdb = names[2 * i], *tt = names[2 * i + 1];
        if (!*tt) {
            continue;
        }
        if (truncate) {
            char *coll = sdl_mirror_collection_name(p->m->collection, tdb, tt);
            add(p, "clear", coll, NULL, NULL, NULL);
            free(coll);
        } else if (drop) {
            drop_old(p, tdb, tt, "DROP TABLE");
        } else if (i + 1 < n) { /* RENAME TABLE a TO b: the pair (a, b) */
            const char *ndb = names[2 * i + 2], *nt = names[2 * i + 3];
            char *from = sdl_mirror_collection_name(p->m->collection, tdb, tt);
            char *to = sdl_mirror_collection_name(p->m->collection, ndb, nt);
            add(p, "clear", to, NULL, NULL, NULL);
            add(p, "copy", to, NULL, NULL, from);
            drop_old(p, tdb, tt, "RENAME TABLE");
            free(from);
            free(to);
            i++;
        }
    }
    for (size_t i = 0; i < 2 * n; i++) {
        free(names[i]);
    }
    free(names);
    sdl_arena_done(&arena);
}

/* ---- coalescing: one write per key and collection ---- */

/*
 * A batch often writes one key several times (an insert, then updates). Writes keyed by _id
 * ("replace", "set", "delete" with q = {_id}) are folded into the last write per key: a
 * delete wins; a replace replaces; a set after a replace (or after a delete) becomes a
 * replace with its columns applied; sets merge. Each key then has one write, so their order
 * no longer matters: a collection's deletes go out before its updates, two commands instead
 * of one per alternation. Every other write ("clear", "copy", "move", "insert", writes of
 * tables without a key) is a barrier for its collection: what is pending there goes out
 * first, in the order above, then the barrier, so the source order holds wherever it matters.
 */

enum { K_DELETE, K_REPLACE, K_SET };

typedef struct pend {
    const char *db, *c; /* borrowed from the plan */
    bson_t *q;          /* {_id: ...}; heap bson_t: the array of pends moves */
    int kind;
    bson_t *u; /* replace: the document; set: the $set's fields */
    bool done;
    uint32_t hash;
} pend;

typedef struct coal {
    pend *v;
    size_t n, cap;
    size_t *slots; /* 1 + index into v; 0 empty */
    size_t nslots;
    plan out;
} coal;

static uint32_t
fnv(uint32_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static size_t *
slot_of(coal *k, const char *db, const char *c, const bson_t *q, uint32_t h)
{
    size_t i = h & (k->nslots - 1);
    for (;; i = (i + 1) & (k->nslots - 1)) {
        if (k->slots[i] == 0) {
            return &k->slots[i];
        }
        pend *e = &k->v[k->slots[i] - 1];
        if (e->hash == h && strcmp(e->c, c) == 0 && strcmp(e->db, db) == 0 && same_doc(e->q, q)) {
            return &k->slots[i];
        }
    }
}

/* @dst's fields, then those of @src not in it; a field of both takes @src's value in @dst's
 * place: what $set does to a document. */
static void
merged(bson_t *ret, const bson_t *dst, const bson_t *src)
{
    bson_iter_t it, f;

    bson_init(ret);
    if (bson_iter_init(&it, dst)) {
        while (bson_iter_next(&it)) {
            const char *key = bson_iter_key(&it);
            if (bson_iter_init_find(&f, src, key)) {
                bson_append_value(ret, key, -1, bson_iter_value(&f));
            } else {
                bson_append_value(ret, key, -1, bson_iter_value(&it));
            }
        }
    }
    if (bson_iter_init(&it, src)) {
        while (bson_iter_next(&it)) {
            if (!bson_has_field(dst, bson_iter_key(&it))) {
                bson_append_value(ret, bson_iter_key(&it), -1, bson_iter_value(&it));
            }
        }
    }
}

static void
emit(coal *k, pend *e)
{
    if (e->kind == K_DELETE) {
        add_db(&k->out, "delete", e->db, e->c, e->q, NULL, NULL);
    } else if (e->kind == K_REPLACE) {
        add_db(&k->out, "replace", e->db, e->c, e->q, e->u, NULL);
    } else {
        bson_t u = BSON_INITIALIZER;
        bson_append_document(&u, "$set", 4, e->u);
        add_db(&k->out, "set", e->db, e->c, e->q, &u, NULL);
        bson_destroy(&u);
    }
    e->done = true;
}

/* Sends what is pending for @db.@c: deletes, then updates. */
static void
flush_pending(coal *k, const char *db, const char *c)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < k->n; i++) {
            pend *e = &k->v[i];
            if (e->done || strcmp(e->c, c) != 0 || strcmp(e->db, db) != 0 ||
                (pass == 0) != (e->kind == K_DELETE)) {
                continue;
            }
            emit(k, e);
        }
    }
}

static bool
keyed(const bson_t *q)
{
    bson_iter_t it;
    return bson_count_keys(q) == 1 && bson_iter_init_find(&it, q, "_id");
}

static bson_t *
coalesce(const bson_t *in)
{
    coal k = {0};
    bson_iter_t it;

    k.nslots = 64;
    while (k.nslots < 2 * (size_t)bson_count_keys(in) + 2) {
        k.nslots *= 2;
    }
    k.slots = sdl_xcalloc(k.nslots, sizeof(*k.slots));
    k.out.out = bson_new();
    if (!bson_iter_init(&it, in)) {
        goto out;
    }
    while (bson_iter_next(&it)) {
        bson_t op, q, u;
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&op, data, len)) {
            continue;
        }
        const char *w = sdl_doc_field_text(&op, "w"), *db = sdl_doc_field_text(&op, "db"),
                   *c = sdl_doc_field_text(&op, "c");
        bool has_q = sdl_doc_field_doc(&op, "q", &q), has_u = sdl_doc_field_doc(&op, "u", &u);
        bool row = w && has_q && keyed(&q) &&
                   (strcmp(w, "delete") == 0 ||
                    (has_u && (strcmp(w, "replace") == 0 || strcmp(w, "set") == 0)));
        if (!row) {
            if (w && db && c && strcmp(w, "index") != 0) {
                flush_pending(&k, db, c);
                const char *from = sdl_doc_field_text(&op, "from");
                if (from) {
                    flush_pending(&k, db, from);
                }
            }
            bson_append_document(k.out.out, "x", 1, &op); /* renumbered below */
            k.out.n++;
            continue;
        }
        uint32_t h =
            fnv(fnv(fnv(2166136261u, db, strlen(db)), c, strlen(c)), bson_get_data(&q), q.len);
        size_t *slot = slot_of(&k, db, c, &q, h);
        pend *e = *slot ? &k.v[*slot - 1] : NULL;
        if (e && e->done) {
            e = NULL; /* sent at a barrier: start again */
        }
        bson_t fields;
        bool set = strcmp(w, "set") == 0 && sdl_doc_field_doc(&u, "$set", &fields);
        if (!e) {
            if (k.n == k.cap) {
                k.cap = k.cap ? 2 * k.cap : 64;
                k.v = sdl_xreallocarray(k.v, k.cap, sizeof(*k.v));
            }
            e = &k.v[k.n];
            *e = (pend){.db = db, .c = c, .hash = h, .q = bson_copy(&q)};
            if (strcmp(w, "delete") == 0) {
                e->kind = K_DELETE;
                e->u = bson_new();
            } else if (set) {
                e->kind = K_SET;
                e->u = bson_copy(&fields);
            } else {
                e->kind = K_REPLACE;
                e->u = bson_copy(&u);
            }
            *slot = ++k.n;
            continue;
        }
        if (strcmp(w, "delete") == 0) {
            e->kind = K_DELETE;
            bson_reinit(e->u);
        } else if (!set) {
            e->kind = K_REPLACE;
            bson_destroy(e->u);
            e->u = bson_copy(&u);
        } else {
            bson_t m;
            if (e->kind == K_DELETE) { /* the $set upserts {_id, its fields} */
                bson_t base = BSON_INITIALIZER;
                bson_iter_t id;
                if (bson_iter_init_find(&id, e->q, "_id")) {
                    bson_append_value(&base, "_id", 3, bson_iter_value(&id));
                }
                merged(&m, &base, &fields);
                bson_destroy(&base);
                e->kind = K_REPLACE;
            } else {
                merged(&m, e->u, &fields);
            }
            bson_destroy(e->u);
            e->u = bson_copy(&m);
            bson_destroy(&m);
        }
    }
    for (size_t i = 0; i < k.n; i++) { /* collection by collection: one bulk write each */
        if (!k.v[i].done) {
            flush_pending(&k, k.v[i].db, k.v[i].c);
        }
    }
out:
    for (size_t i = 0; i < k.n; i++) {
        bson_destroy(k.v[i].q);
        bson_destroy(k.v[i].u);
    }
    free(k.v);
    free(k.slots);
    /* the keys "0", "1", ... again (barriers were appended as "x") */
    bson_t *ret = bson_new();
    uint32_t n = 0;
    if (bson_iter_init(&it, k.out.out)) {
        while (bson_iter_next(&it)) {
            char key[16];
            const char *kk;
            (void)bson_uint32_to_string(n++, &kk, key, sizeof(key));
            bson_append_value(ret, kk, -1, bson_iter_value(&it));
        }
    }
    bson_destroy(k.out.out);
    return ret;
}

bool
sdl_mirror_plan(sdl_mirror *m, sdl_batch *b, sdl_error *err)
{
    if (!m) {
        b->no_audit = false;
        return true;
    }
    if (b->mirror) {
        return true;
    }
    b->no_audit = !m->audit;
    for (size_t i = 0; i < m->nindexed; i++) {
        free(m->indexed[i]);
    }
    m->nindexed = 0;
    plan p = {.m = m, .out = bson_new()};
    for (size_t i = 0; i < b->ndocs; i++) {
        const bson_t *doc = b->docs[i];
        const char *op;
        if (!doc || (b->dead && b->dead[i]) || !(op = sdl_doc_field_text(doc, "op"))) {
            continue;
        }
        if (strcmp(op, "ddl") == 0) {
            plan_ddl(&p, doc);
        } else if (!plan_row(&p, doc, err)) {
            sdl_error_prefix(err, "batch %" PRIu64, b->number);
            bson_destroy(p.out);
            return false;
        }
    }
    b->mirror = coalesce(p.out);
    bson_destroy(p.out);
    return true;
}
