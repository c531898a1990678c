/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/sql-text.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

typedef struct token {
    size_t start; /* byte offset */
    size_t end;   /* one past */
    char kind;    /* 'w' word, 's' string literal, 'q' quoted identifier, 'p' punctuation */
} token;

static size_t
skip_quoted(const char *s, size_t len, size_t i)
{
    char q = s[i++];

    while (i < len) {
        if (s[i] == '\\' && q != '`' && i + 1 < len) {
            i += 2;
            continue;
        }
        if (s[i] == q) {
            if (i + 1 < len && s[i + 1] == q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return len;
}

static bool
next_token(const char *s, size_t len, size_t *pos, token *t)
{
    size_t i = *pos;

    while (i < len && isspace((unsigned char)s[i])) {
        i++;
    }
    if (i >= len) {
        return false;
    }
    t->start = i;
    if (s[i] == '\'' || s[i] == '"') {
        t->kind = 's';
        i = skip_quoted(s, len, i);
    } else if (s[i] == '`') {
        t->kind = 'q';
        i = skip_quoted(s, len, i);
    } else if (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '$' || s[i] == '@') {
        t->kind = 'w';
        while (i < len &&
               (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '$' || s[i] == '@')) {
            i++;
        }
    } else {
        t->kind = 'p';
        i++;
    }
    t->end = i;
    *pos = i;
    return true;
}

static bool
word_is(const char *s, const token *t, const char *w)
{
    size_t n = strlen(w);

    return t->kind == 'w' && t->end - t->start == n && strncasecmp(s + t->start, w, n) == 0;
}

/* The token @back places before index @k (1 = the one just before), if still in the ring. */
static const token *
tok_before(const token *toks, size_t ntoks, size_t k, size_t back)
{
    if (back > k || ntoks - (k - back) > 8) {
        return NULL;
    }
    return &toks[(k - back) % 8];
}

static bool
is(const char *s, const token *t, const char *w)
{
    return t && word_is(s, t, w);
}

/*
 * The literal after tokens [.. k) is a secret when they end with:
 *   IDENTIFIED BY | PASSWORD | MASTER_PASSWORD          (then the literal, "=" or "(" between)
 *   IDENTIFIED {WITH|VIA} <plugin> {AS|USING|BY}
 */
static bool
preceded_by_secret_keyword(const char *s, const token *toks, size_t ntoks, size_t k)
{
    const token *t1 = tok_before(toks, ntoks, k, 1);
    const token *t2 = tok_before(toks, ntoks, k, 2);
    const token *t3 = tok_before(toks, ntoks, k, 3);
    const token *t4 = tok_before(toks, ntoks, k, 4);

    if (is(s, t1, "PASSWORD") || is(s, t1, "MASTER_PASSWORD")) {
        return true;
    }
    if (is(s, t1, "BY") && is(s, t2, "IDENTIFIED")) {
        return true;
    }
    return (is(s, t1, "AS") || is(s, t1, "USING") || is(s, t1, "BY")) && t2 &&
           (t2->kind == 'w' || t2->kind == 'q' || t2->kind == 's') &&
           (is(s, t3, "WITH") || is(s, t3, "VIA")) && is(s, t4, "IDENTIFIED");
}

sdl_bytes
sdl_redact_statement(sdl_bytes stmt, sdl_arena *arena)
{
    const char *s = (const char *)stmt.ptr;
    size_t len = stmt.len;
    token toks[8];
    size_t ntoks = 0;
    size_t pos = 0;
    char *out = NULL;
    size_t outlen = 0;
    size_t copied = 0; /* bytes of s already copied to out */
    static const char mask[] = "'<redacted>'";
    token t;

    while (next_token(s, len, &pos, &t)) {
        if (t.kind == 's') {
            /* Is this literal preceded by a secret keyword (optionally "=" or "(")? */
            bool secret = false;
            size_t k = ntoks;
            while (k > 0 && toks[(k - 1) % 8].kind == 'p' &&
                   (s[toks[(k - 1) % 8].start] == '=' || s[toks[(k - 1) % 8].start] == '(')) {
                k--;
            }
            secret = k > 0 && preceded_by_secret_keyword(s, toks, ntoks, k);
            if (secret) {
                if (!out) {
                    out = sdl_arena_alloc(arena, len + sizeof(mask) * (len / 2 + 1));
                }
                memcpy(out + outlen, s + copied, t.start - copied);
                outlen += t.start - copied;
                memcpy(out + outlen, mask, sizeof(mask) - 1);
                outlen += sizeof(mask) - 1;
                copied = t.end;
            }
        }
        toks[ntoks % 8] = t;
        ntoks++;
    }
    if (!out) {
        return stmt;
    }
    memcpy(out + outlen, s + copied, len - copied);
    outlen += len - copied;
    return SDL_BYTES(out, outlen);
}

/* ---- DDL targets ----------------------------------------------------------------------- */

static bool next_code_token(const char *s, size_t len, size_t *pos, token *t);

typedef struct lexer {
    const char *s;
    size_t len;
    size_t pos;
    token tok; /* current token */
    bool have; /* tok is valid */
} lexer;

/* The next token; comments are skipped and executable comments read as code. */
static void
lex_next(lexer *lx)
{
    lx->have = next_code_token(lx->s, lx->len, &lx->pos, &lx->tok);
}

static bool
lex_is(const lexer *lx, const char *w)
{
    return lx->have && word_is(lx->s, &lx->tok, w);
}

/* Consumes @w if it is the current token. */
static bool
lex_accept(lexer *lx, const char *w)
{
    if (lex_is(lx, w)) {
        lex_next(lx);
        return true;
    }
    return false;
}

/* An identifier: a word or a `quoted` name (doubled backquotes unescaped into @arena). */
static bool
lex_ident(lexer *lx, sdl_arena *arena, sdl_bytes *ret)
{
    if (!lx->have || (lx->tok.kind != 'w' && lx->tok.kind != 'q')) {
        return false;
    }
    const char *p = lx->s + lx->tok.start;
    size_t n = lx->tok.end - lx->tok.start;
    if (lx->tok.kind == 'w') {
        *ret = SDL_BYTES(p, n);
    } else {
        /* strip the quotes, turn `` into ` */
        size_t inner = n >= 2 ? n - 2 : 0;
        char *out = sdl_arena_alloc(arena, inner + 1);
        size_t o = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            out[o++] = p[i];
            if (p[i] == '`' && i + 2 < n && p[i + 1] == '`') {
                i++;
            }
        }
        *ret = SDL_BYTES(out, o);
    }
    lex_next(lx);
    return true;
}

/* [db.]name */
static bool
lex_qualified(lexer *lx, sdl_bytes default_db, sdl_arena *arena, sdl_ddl_target *t)
{
    sdl_bytes first;

    if (!lex_ident(lx, arena, &first)) {
        return false;
    }
    if (lx->have && lx->tok.kind == 'p' && lx->s[lx->tok.start] == '.') {
        lex_next(lx);
        sdl_bytes second;
        if (!lex_ident(lx, arena, &second)) {
            return false;
        }
        t->db = first;
        t->table = second;
        return true;
    }
    t->db = default_db;
    t->table = first;
    return true;
}

static bool
lex_punct(const lexer *lx, char c)
{
    return lx->have && lx->tok.kind == 'p' && lx->s[lx->tok.start] == c;
}

/* Consumes the punctuation @c if it is the current token. */
static bool
lex_accept_punct(lexer *lx, char c)
{
    if (lex_punct(lx, c)) {
        lex_next(lx);
        return true;
    }
    return false;
}

/* Appends a target; false when @out is full. */
static bool
add_target(sdl_ddl_target *out, size_t max, size_t *n, sdl_ddl_target t)
{
    if (*n >= max) {
        return false;
    }
    out[(*n)++] = t;
    return true;
}

/* [IF [NOT] EXISTS] */
static bool
lex_if_exists(lexer *lx)
{
    if (!lex_accept(lx, "IF")) {
        return true;
    }
    (void)lex_accept(lx, "NOT");
    return lex_accept(lx, "EXISTS");
}

size_t
sdl_ddl_targets_parse(sdl_bytes stmt, sdl_bytes default_db, sdl_arena *arena, sdl_ddl_target *out,
                      size_t max)
{
    lexer lx = {(const char *)stmt.ptr, stmt.len, 0, {0, 0, 0}, false};
    sdl_ddl_target t = {{NULL, 0}, {NULL, 0}};
    bool create = false;
    size_t n = 0;

    lex_next(&lx);
    if (lex_is(&lx, "SET")) {
        /* SET STATEMENT var=value[, ...] FOR <statement> */
        int depth = 0;
        lex_next(&lx);
        if (!lex_accept(&lx, "STATEMENT")) {
            return 0;
        }
        while (lx.have && !(depth == 0 && lex_is(&lx, "FOR"))) {
            depth += lex_punct(&lx, '(') ? 1 : lex_punct(&lx, ')') ? -1 : 0;
            lex_next(&lx);
        }
        if (!lex_accept(&lx, "FOR")) {
            return 0;
        }
    }
    if (lex_accept(&lx, "CREATE")) {
        create = true;
        if (lex_accept(&lx, "OR")) {
            (void)lex_accept(&lx, "REPLACE");
        }
        (void)lex_accept(&lx, "TEMPORARY");
    } else if (lex_accept(&lx, "ALTER")) {
        (void)lex_accept(&lx, "ONLINE");
        (void)lex_accept(&lx, "IGNORE");
    } else if (lex_accept(&lx, "DROP")) {
        (void)lex_accept(&lx, "TEMPORARY");
    } else if (lex_accept(&lx, "TRUNCATE")) {
        (void)lex_accept(&lx, "TABLE");
        return lex_qualified(&lx, default_db, arena, &t) && add_target(out, max, &n, t) ? n : 0;
    } else if (lex_accept(&lx, "RENAME")) {
        /* RENAME TABLE a TO b[, c TO d ...]: every table named, old and new */
        if (!lex_accept(&lx, "TABLE") && !lex_accept(&lx, "TABLES")) {
            return 0;
        }
        do {
            if (!lex_qualified(&lx, default_db, arena, &t) || !add_target(out, max, &n, t)) {
                return n;
            }
            if (lex_accept(&lx, "WAIT")) {
                lex_next(&lx); /* WAIT n */
            } else {
                (void)lex_accept(&lx, "NOWAIT");
            }
            if (!lex_accept(&lx, "TO") || !lex_qualified(&lx, default_db, arena, &t) ||
                !add_target(out, max, &n, t)) {
                return n;
            }
        } while (lex_accept_punct(&lx, ','));
        return n;
    } else {
        return 0;
    }

    if (lex_accept(&lx, "TABLE") || lex_accept(&lx, "TABLES")) {
        if (!lex_if_exists(&lx)) {
            return 0;
        }
        /* DROP TABLE a, b, ...: every table named */
        do {
            if (!lex_qualified(&lx, default_db, arena, &t) || !add_target(out, max, &n, t)) {
                return n;
            }
        } while (!create && lex_accept_punct(&lx, ','));
        return n;
    }
    if (lex_accept(&lx, "DATABASE") || lex_accept(&lx, "SCHEMA")) {
        if (!lex_if_exists(&lx) || !lex_ident(&lx, arena, &t.db)) {
            return 0;
        }
        return add_target(out, max, &n, t) ? n : 0;
    }
    /* [CREATE [UNIQUE|FULLTEXT|SPATIAL]] INDEX [IF [NOT] EXISTS] name ON table */
    if (create) {
        (void)(lex_accept(&lx, "UNIQUE") || lex_accept(&lx, "FULLTEXT") ||
               lex_accept(&lx, "SPATIAL"));
    }
    if (lex_accept(&lx, "INDEX")) {
        sdl_bytes ignored;
        if (lex_accept(&lx, "IF")) {
            (void)lex_accept(&lx, "NOT");
            (void)lex_accept(&lx, "EXISTS");
        }
        if (!lex_ident(&lx, arena, &ignored) || !lex_accept(&lx, "ON") ||
            !lex_qualified(&lx, default_db, arena, &t)) {
            return 0;
        }
        return add_target(out, max, &n, t) ? n : 0;
    }
    return 0;
}

bool
sdl_ddl_target_parse(sdl_bytes stmt, sdl_bytes default_db, sdl_arena *arena,
                     sdl_ddl_target *ret_target)
{
    return sdl_ddl_targets_parse(stmt, default_db, arena, ret_target, 1) == 1;
}

/* ---- statement kinds ------------------------------------------------------------------- */

/* Skips whitespace and comments from @i: `-- ` and `#` to the end of the line, C comments,
 * and the opening of an executable comment (slash-star-'!' or 'M!', then its version digits),
 * whose contents are code; its closing star-slash is skipped as punctuation would be. */
static size_t
skip_space_and_comments(const char *s, size_t len, size_t i)
{
    for (;;) {
        while (i < len && isspace((unsigned char)s[i])) {
            i++;
        }
        if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
            size_t j = i + 2;
            if (j < len && s[j] == 'M' && j + 1 < len && s[j + 1] == '!') {
                j++;
            }
            if (j < len && s[j] == '!') {
                j++;
                while (j < len && isdigit((unsigned char)s[j])) {
                    j++;
                }
                i = j;
                continue;
            }
            const char *end = NULL;
            for (size_t k = j; k + 1 < len; k++) {
                if (s[k] == '*' && s[k + 1] == '/') {
                    end = s + k;
                    break;
                }
            }
            i = end ? (size_t)(end - s) + 2 : len;
            continue;
        }
        if (i + 1 < len && s[i] == '*' && s[i + 1] == '/') {
            i += 2; /* the end of an executable comment */
            continue;
        }
        if (i < len && (s[i] == '#' || (i + 2 < len && s[i] == '-' && s[i + 1] == '-' &&
                                        (s[i + 2] == ' ' || s[i + 2] == '\t')))) {
            while (i < len && s[i] != '\n') {
                i++;
            }
            continue;
        }
        return i;
    }
}

/* The next token after whitespace and comments. */
static bool
next_code_token(const char *s, size_t len, size_t *pos, token *t)
{
    *pos = skip_space_and_comments(s, len, *pos);
    return next_token(s, len, pos, t);
}

static sdl_statement_kind classify_at(const char *s, size_t len, size_t pos, int depth);

/* SET STATEMENT a=1, b=2 FOR <statement>: the kind of <statement>. */
static sdl_statement_kind
classify_set_statement(const char *s, size_t len, size_t pos, int depth)
{
    token t;
    int parens = 0;

    while (next_code_token(s, len, &pos, &t)) {
        if (t.kind == 'p' && s[t.start] == '(') {
            parens++;
        } else if (t.kind == 'p' && s[t.start] == ')') {
            parens--;
        } else if (parens == 0 && word_is(s, &t, "FOR")) {
            return classify_at(s, len, pos, depth + 1);
        }
    }
    return SDL_STATEMENT_UNKNOWN;
}

static sdl_statement_kind
classify_at(const char *s, size_t len, size_t pos, int depth)
{
    static const char *const ddl[] = {"CREATE", "ALTER",   "DROP",     "RENAME",   "TRUNCATE",
                                      "GRANT",  "REVOKE",  "ANALYZE",  "OPTIMIZE", "REPAIR",
                                      "FLUSH",  "INSTALL", "UNINSTALL"};
    static const char *const dml[] = {"INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD",   "CALL",
                                      "DO",     "SELECT", "WITH",   "HANDLER", "VALUES", "TABLE"};
    token t, u;

    if (depth > 4 || !next_code_token(s, len, &pos, &t) || t.kind != 'w') {
        return SDL_STATEMENT_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++) {
        if (word_is(s, &t, ddl[i])) {
            return SDL_STATEMENT_DDL;
        }
    }
    for (size_t i = 0; i < sizeof(dml) / sizeof(dml[0]); i++) {
        if (word_is(s, &t, dml[i])) {
            return SDL_STATEMENT_DML;
        }
    }
    bool more = next_code_token(s, len, &pos, &u);
    if (word_is(s, &t, "BEGIN")) {
        /* "BEGIN" alone or "BEGIN WORK"; anything else (a compound statement) is not a marker */
        return !more || word_is(s, &u, "WORK") ? SDL_STATEMENT_BEGIN : SDL_STATEMENT_UNKNOWN;
    }
    if (word_is(s, &t, "START")) {
        return more && word_is(s, &u, "TRANSACTION") ? SDL_STATEMENT_BEGIN : SDL_STATEMENT_UNKNOWN;
    }
    if (word_is(s, &t, "COMMIT")) {
        return SDL_STATEMENT_COMMIT;
    }
    if (word_is(s, &t, "ROLLBACK")) {
        if (more && word_is(s, &u, "WORK")) {
            more = next_code_token(s, len, &pos, &u);
        }
        return more && word_is(s, &u, "TO") ? SDL_STATEMENT_SAVEPOINT : SDL_STATEMENT_ROLLBACK;
    }
    if (word_is(s, &t, "SAVEPOINT") ||
        (word_is(s, &t, "RELEASE") && more && word_is(s, &u, "SAVEPOINT"))) {
        return SDL_STATEMENT_SAVEPOINT;
    }
    if (word_is(s, &t, "XA")) {
        return SDL_STATEMENT_XA;
    }
    if (word_is(s, &t, "SET") && more) {
        if (word_is(s, &u, "PASSWORD")) {
            return SDL_STATEMENT_DDL;
        }
        if (word_is(s, &u, "DEFAULT")) {
            token w;
            return next_code_token(s, len, &pos, &w) && word_is(s, &w, "ROLE")
                       ? SDL_STATEMENT_DDL
                       : SDL_STATEMENT_UNKNOWN;
        }
        if (word_is(s, &u, "STATEMENT")) {
            return classify_set_statement(s, len, pos, depth);
        }
    }
    return SDL_STATEMENT_UNKNOWN;
}

sdl_statement_kind
sdl_statement_classify(sdl_bytes stmt)
{
    return classify_at((const char *)stmt.ptr, stmt.len, 0, 0);
}

const char *
sdl_statement_head(sdl_bytes stmt, char *buf, size_t cap)
{
    const char *s = (const char *)stmt.ptr;
    size_t len = stmt.len;
    size_t pos = 0;
    size_t out = 0;
    int words = 0;
    token t;

    buf[0] = '\0';
    while (words < 5 && next_code_token(s, len, &pos, &t)) {
        bool dot = t.kind == 'p' && s[t.start] == '.';
        if (t.kind != 'w' && t.kind != 'q' && !dot) {
            break;
        }
        bool glue = dot || (out > 0 && buf[out - 1] == '.');
        size_t n = t.end - t.start;
        if (out + (glue || out == 0 ? 0 : 1) + n + 1 > cap) {
            break;
        }
        if (!glue && out > 0) {
            buf[out++] = ' ';
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)s[t.start + i];
            buf[out++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
        buf[out] = '\0';
        if (!dot) {
            words++;
        }
    }
    return buf;
}
