/* SPDX-License-Identifier: Apache-2.0 */
/* config-secrets: the secrets of a loaded configuration, resolved once the document is valid:
 * the source password and the target URI (a file, a systemd credential or the environment),
 * the columns hash key; relative file paths made absolute. Secrets never reach a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/config/units.h"

#include "config-load-private.h"
#include "config-private.h"

#define MAX_SECRET_BYTES 65536

/* ---- secrets ---- */

void
sdl_config_wipe_free(char *s)
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

bool
sdl_config_resolve_password(loader *ld)
{
    sdl_source_config *src = &ld->config->source;
    const sdl_config_key *source_key = find_key(&sdl_config_root, "source");
    const mark_entry *source_mark = sdl_config_lookup_mark(ld, source_key);
    yaml_mark_t smark = source_mark ? source_mark->key_mark : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *dir, *env;
    bool missing;

    if (src->password_file) {
        const mark_entry *m =
            sdl_config_lookup_mark(ld, find_key(source_key->section, "password_file"));
        if (!read_secret(src->password_file, &src->password, &why, &missing)) {
            return sdl_config_fail(ld, m ? m->value_mark : smark,
                                   "cannot read password_file '%s': %s", src->password_file, why);
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
            sdl_config_fail(ld, smark,
                            "cannot read the credential '" SDL_PASSWORD_CREDENTIAL "' (%s): %s",
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
        char buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
        sdl_config_echo((const unsigned char *)masked, strlen(masked), buf, sizeof(buf));
        explicit_bzero(masked, strlen(masked));
        free(masked);
        return sdl_config_fail(ld, mark, "invalid target URI '%s' from %s: %s", buf, t->uri_origin,
                               why);
    }
    return true;
}

/* target.uri_file, target.uri, credential target-uri, $SDL_TARGET_URI: the first one set. A
 * 'target' section without any of them is an error; without the section, no target is fine
 * (sdl tail) unless the credential or the environment names one. */
bool
sdl_config_resolve_target_uri(loader *ld)
{
    sdl_target_config *t = &ld->config->target;
    const sdl_config_key *target_key = find_key(&sdl_config_root, "target");
    const mark_entry *target_mark = sdl_config_lookup_mark(ld, target_key);
    yaml_mark_t tmark = target_mark ? target_mark->key_mark : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *dir, *env;
    bool missing;

    if (t->uri_file) {
        const mark_entry *m = sdl_config_lookup_mark(ld, find_key(target_key->section, "uri_file"));
        yaml_mark_t vmark = m ? m->value_mark : tmark;
        if (!read_secret(t->uri_file, &t->uri, &why, &missing)) {
            return sdl_config_fail(ld, vmark, "cannot read uri_file '%s': %s", t->uri_file, why);
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
            sdl_config_fail(ld, tmark,
                            "cannot read the credential '" SDL_TARGET_URI_CREDENTIAL "' (%s): %s",
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
            return sdl_config_fail(
                ld, tmark,
                "section 'target' needs the MongoDB URI: write it to the credential "
                "file %s/" SDL_TARGET_URI_CREDENTIAL
                " (root-only; sdl.service passes it to sdl as the systemd credential "
                "'" SDL_TARGET_URI_CREDENTIAL
                "'), or set 'uri_file', a 'uri' without a password, or $" SDL_TARGET_URI_ENV,
                where);
        }
        return sdl_config_fail(
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
bool
sdl_config_resolve_hash_key(loader *ld)
{
    sdl_columns_config *c = &ld->config->columns;
    const mark_entry *fm =
        sdl_config_lookup_mark(ld, find_key(&sdl_config_root, "columns_hash_key_file"));
    yaml_mark_t mark = ld->have_hash_rule ? ld->hash_rule_mark
                       : fm               ? fm->value_mark
                                          : (yaml_mark_t){0, 0, 0};
    const char *why = "";
    const char *env;
    bool missing;

    if (c->hash_key_file) {
        if (!read_secret(c->hash_key_file, &c->hash_key, &why, &missing)) {
            return sdl_config_fail(ld, fm ? fm->value_mark : mark,
                                   "cannot read columns_hash_key_file '%s': %s", c->hash_key_file,
                                   why);
        }
        c->hash_key_origin = sdl_xasprintf("file %s", c->hash_key_file);
    } else if (!ld->have_hash_rule) {
        return true;
    } else {
        if (ld->credentials_dir) {
            char *path = sdl_xasprintf("%s/%s", ld->credentials_dir, SDL_HASH_KEY_CREDENTIAL);
            bool ok = read_secret(path, &c->hash_key, &why, &missing);
            if (!ok && !missing) {
                sdl_config_fail(ld, mark,
                                "cannot read the credential '" SDL_HASH_KEY_CREDENTIAL "' (%s): %s",
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
            return sdl_config_fail(
                ld, mark,
                "a 'hash' rule in 'columns' needs the HMAC key, which is never written in "
                "the configuration: the credential file %s%s" SDL_HASH_KEY_CREDENTIAL
                " (e.g. 'head -c 32 /dev/urandom | base64'), 'columns_hash_key_file' "
                "or $" SDL_HASH_KEY_ENV,
                where ? where : "", where ? "/" : "");
        }
    }
    if (strlen(c->hash_key) < SDL_HASH_KEY_MIN_BYTES) {
        return sdl_config_fail(
            ld, mark,
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

void
sdl_config_resolve_relative_paths(loader *ld)
{
    make_absolute(ld, &ld->config->source.password_file);
    make_absolute(ld, &ld->config->target.uri_file);
    make_absolute(ld, &ld->config->columns.hash_key_file);
}
