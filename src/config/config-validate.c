/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-validate: the per-key validators the key tables of config-keys.c name (a value is
 * checked once it is stored: host, pipeline name, start, modes, mirror, patterns, database and
 * collection names, URI, retention, listen address), and the public checks behind them
 * (sdl_config_has_mode, sdl_config_check_uri_syntax, sdl_config_split_listen).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sdl/base/alloc.h"

#include "config-private.h"
#include "config-validate-private.h"

/* ---- per-key validators ---- */

const char *
sdl_config_validate_mode(const char *mode)
{
    if (strcmp(mode, "audit") != 0 && strcmp(mode, "mirror") != 0) {
        return "a mode is 'audit' or 'mirror'";
    }
    return NULL;
}

bool
sdl_config_has_mode(const sdl_config *c, const char *mode)
{
    if (c->pipeline.nmodes == 0) {
        return strcmp(mode, "audit") == 0; /* the default, [audit] */
    }
    for (size_t i = 0; i < c->pipeline.nmodes; i++) {
        if (strcmp(c->pipeline.modes[i], mode) == 0) {
            return true;
        }
    }
    return false;
}

bool
sdl_config_collection_is_template(const char *name)
{
    return strstr(name, "{db}") || strstr(name, "{table}");
}

char *
sdl_config_collection_name(const char *template_, const char *db, const char *table)
{
    size_t cap = strlen(template_) + 1;
    for (const char *p = template_; *p; p++) {
        if (*p == '{') {
            cap += strlen(db) + strlen(table);
        }
    }
    char *out = sdl_xmalloc(cap), *q = out;
    for (const char *p = template_; *p;) {
        if (strncmp(p, "{db}", 4) == 0) {
            q = stpcpy(q, db);
            p += 4;
        } else if (strncmp(p, "{table}", 7) == 0) {
            q = stpcpy(q, table);
            p += 7;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    return out;
}

/* A collection name in which {db} and {table} may stand for a table's (mirror.collection,
 * target.collections.changes); @need_table: it must hold {table}. */
static const char *
collection_template_problem(const char *t, bool need_table)
{
    if (!*t) {
        return "must not be empty";
    }
    for (const char *p = t; *p; p++) {
        if (*p == '{' && strncmp(p, "{db}", 4) != 0 && strncmp(p, "{table}", 7) != 0) {
            return "the only placeholders are {db} and {table}";
        }
        if (*p == '$' || (unsigned char)*p < 0x20) {
            return "a MongoDB collection name cannot contain '$' or control characters";
        }
    }
    if (need_table && !strstr(t, "{table}")) {
        return "must contain {table} (one collection per table)";
    }
    if (strncmp(t, "system.", 7) == 0) {
        return "collection names starting with 'system.' are reserved by MongoDB";
    }
    return NULL;
}

/* mirror.collection: a collection name in which {db} and {table} stand for the table's. */
const char *
sdl_config_validate_mirror_collection(const sdl_config *c)
{
    return collection_template_problem(c->mirror.collection, true);
}

static const char *validate_database_name(const char *d);

/* mirror.indexes: "pattern: key[, key…]", a key being a column name, "-" before it for a
 * descending one. */
const char *
sdl_config_validate_mirror_index(const char *item)
{
    const char *colon = strstr(item, ": ");

    if (!colon || colon == item) {
        return "an index is \"db.table-pattern: column[, -column…]\" (e.g. \"shop.*: "
               "customer, -placed\")";
    }
    if (!memchr(item, '.', (size_t)(colon - item))) {
        return "the pattern matches \"db.table\" and must contain a '.'";
    }
    const char *p = colon + 2;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '-') {
            p++;
        }
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n == 0) {
            return "an index needs column names, separated by ','";
        }
        if (*p == '$' || memchr(p, ' ', n)) {
            return "a column name cannot start with '$' nor contain spaces";
        }
        p += strcspn(p, ",");
        if (!*p) {
            return NULL;
        }
        p++;
    }
}

const char *
sdl_config_validate_mirror_database(const sdl_config *c)
{
    return c->mirror.database ? validate_database_name(c->mirror.database) : NULL;
}

const char *
sdl_config_validate_host(const sdl_config *c)
{
    const char *h = c->source.host;

    if (!h || !*h) {
        return "must not be empty";
    }
    for (; *h; h++) {
        if ((unsigned char)*h <= ' ' || *h == '/') {
            return "is not a host name or IP address";
        }
    }
    return NULL;
}

const char *
sdl_config_validate_pipeline_name(const sdl_config *c)
{
    const char *n = c->pipeline.name;
    size_t len = strlen(n);

    if (len == 0 || len > 64) {
        return "must have 1 to 64 characters";
    }
    for (; *n; n++) {
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '_' || *n == '-' || *n == '.')) {
            return "may only contain letters, digits, '_', '-' and '.'";
        }
    }
    return NULL;
}

const char *
sdl_config_validate_start(const sdl_config *c)
{
    const char *s = c->pipeline.start;

    /* The GTID syntax is the source's business (mysql/gtid.h, which config may not use);
     * here: not empty, no whitespace. The pipeline parses it before connecting. */
    if (!*s) {
        return "must be 'now', 'start' or a GTID position";
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ') {
            return "must be 'now', 'start' or a GTID position (no spaces)";
        }
    }
    if (strcmp(s, "now") == 0 || strcmp(s, "start") == 0 || strcmp(s, "snapshot") == 0) {
        return NULL;
    }
    return sdl_config_run_position_check(s);
}

const char *
sdl_config_validate_pattern(const char *pattern)
{
    if (!strchr(pattern, '.')) {
        return "patterns match \"db.table\" and must contain a '.' (e.g. 'shop.*')";
    }
    return NULL;
}

/* MongoDB database names: 1 to 63 bytes, none of / \\ . space " $ * < > : | ? (the
 * characters mongod refuses on any platform). */
const char *
sdl_config_validate_database(const sdl_config *c)
{
    return validate_database_name(c->target.database);
}

static const char *
validate_database_name(const char *d)
{

    if (strlen(d) > 63) {
        return "a MongoDB database name has at most 63 bytes";
    }
    for (; *d; d++) {
        if ((unsigned char)*d < 0x20 || strchr("/\\. \"$*<>:|?", *d)) {
            return "a MongoDB database name cannot contain / \\ . space \" $ * < > : | ? or "
                   "control characters";
        }
    }
    return NULL;
}

static const char *
collection_name_problem(const char *n)
{
    if (strncmp(n, "system.", 7) == 0) {
        return "collection names starting with 'system.' are reserved by MongoDB";
    }
    for (; *n; n++) {
        if (*n == '$' || (unsigned char)*n < 0x20) {
            return "a MongoDB collection name cannot contain '$' or control characters";
        }
    }
    return NULL;
}

/* target.collections.changes: a name, or a template as mirror.collection's (one audit
 * collection per table, or per database). */
const char *
sdl_config_validate_changes(const sdl_config *c)
{
    return collection_template_problem(c->target.changes_collection, false);
}

const char *
sdl_config_validate_staging(const sdl_config *c)
{
    return collection_name_problem(c->target.staging_collection);
}

const char *
sdl_config_validate_offsets(const sdl_config *c)
{
    return collection_name_problem(c->target.offsets_collection);
}

const char *
sdl_config_validate_dead_letters(const sdl_config *c)
{
    return collection_name_problem(c->target.dead_letters_collection);
}

const char *
sdl_config_check_uri_syntax(const char *uri)
{
    if (strncmp(uri, "mongodb://", 10) != 0 && strncmp(uri, "mongodb+srv://", 14) != 0) {
        return "a MongoDB URI starts with 'mongodb://' or 'mongodb+srv://'";
    }
    for (const char *p = uri; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return "a MongoDB URI cannot contain spaces or control characters";
        }
    }
    return NULL;
}

/* A literal target.uri: a URI, and no secret in it. */
const char *
sdl_config_validate_uri(const sdl_config *c)
{
    const char *u = c->target.uri;
    const char *why, *ui, *at;

    if (!u) {
        return NULL;
    }
    if ((why = sdl_config_check_uri_syntax(u)) != NULL) {
        return why;
    }
    ui = strstr(u, "://") + 3;
    at = strrchr(ui, '@');
    if ((at && memchr(ui, ':', (size_t)(at - ui))) ||
        strcasestr(u, "tlsCertificateKeyFilePassword")) {
        return "a URI with a password is not accepted in the configuration file; write it to "
               "the credential file '" SDL_TARGET_URI_CREDENTIAL
               "' in the credentials directory next to the configuration (for "
               "/etc/sdl/sdl.yaml: /etc/sdl/sdl.credentials/" SDL_TARGET_URI_CREDENTIAL
               ", which sdl.service passes as a systemd credential), or use 'uri_file' or "
               "$" SDL_TARGET_URI_ENV;
    }
    return NULL;
}

/* expireAfterSeconds is whole seconds: refuse what would be rounded. */
const char *
sdl_config_validate_retention(const sdl_config *c)
{
    if (c->target.retention_usec % 1000000u != 0) {
        return "must be whole seconds (e.g. 30d, 12h, 90s)";
    }
    return NULL;
}

const char *
sdl_config_split_listen(const char *listen, char *ret_host, size_t host_cap, int *ret_family,
                        uint16_t *ret_port)
{
    char host[64];
    unsigned char addr[16];
    const char *colon;
    const char *port_text;
    size_t host_len;
    int family;
    char *end;
    unsigned long port;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') {
            return "an IPv6 address is written in brackets with a port: '[::1]:9632'";
        }
        family = AF_INET6;
        host_len = (size_t)(close - listen - 1);
        if (host_len >= sizeof(host)) {
            return "is not an IP address and port";
        }
        memcpy(host, listen + 1, host_len);
        port_text = close + 2;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) {
            return "needs a port: 'address:port', e.g. '127.0.0.1:9632'";
        }
        if (memchr(listen, ':', (size_t)(colon - listen))) {
            return "an IPv6 address is written in brackets with a port: '[::1]:9632'";
        }
        family = AF_INET;
        host_len = (size_t)(colon - listen);
        if (host_len >= sizeof(host)) {
            return "is not an IP address and port";
        }
        memcpy(host, listen, host_len);
        port_text = colon + 1;
    }
    host[host_len] = '\0';
    if (inet_pton(family, host, addr) != 1) {
        return family == AF_INET6 ? "is not an IPv6 address in brackets and a port"
                                  : "is not an IPv4 address and a port (host names are not "
                                    "accepted: the server binds one address)";
    }
    if (port_text[0] < '0' || port_text[0] > '9') {
        return "needs a port between 1 and 65535 after the ':'";
    }
    port = strtoul(port_text, &end, 10);
    if (*end || port == 0 || port > 65535) {
        return "needs a port between 1 and 65535 after the ':'";
    }
    if (ret_host && host_cap) {
        (void)snprintf(ret_host, host_cap, "%s", host);
    }
    if (ret_family) {
        *ret_family = family;
    }
    if (ret_port) {
        *ret_port = (uint16_t)port;
    }
    return NULL;
}

const char *
sdl_config_validate_listen(const sdl_config *c)
{
    return c->http.listen ? sdl_config_split_listen(c->http.listen, NULL, 0, NULL, NULL) : NULL;
}
