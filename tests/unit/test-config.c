/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sdl/config/config.h"
#include "sdl/config/units.h"
#include "sdl/daemon/cli.h"
#include "sdl/daemon/cmd-check-config.h"

#include "sdltest.h"

/* Every test data file that mentions a password uses this one, so a leak is easy to find. */
#define SECRET "Hunter2-Sekr1t-XyZ"

static void
clear_secret_env(void)
{
    unsetenv("SDL_SOURCE_PASSWORD");
    unsetenv("SDL_TARGET_URI");
    unsetenv("SDL_COLUMNS_HASH_KEY");
    unsetenv("CREDENTIALS_DIRECTORY");
    /* pipeline.start is checked with the source layer's GTID parsers, as sdl does */
    sdl_config_set_position_check(sdl_cli_check_position);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in @dir ending in @suffix (malloc'd array of malloc'd strings). */
static char **
list_dir(const char *dir, const char *suffix, size_t *ret_n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, sl = strlen(suffix);

    ASSERT_NOT_NULL(d);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0) {
            names = realloc(names, (n + 1) * sizeof(*names));
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    *ret_n = n;
    return names;
}

/* noinline: gcc 12 misreads open_memstream's buffer as a dangling local when inlined. */
__attribute__((noinline)) static char *
print_config(const sdl_config *config)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    sdl_config_print(config, f);
    fclose(f);
    return buf;
}

__attribute__((noinline)) static char *
context_of(const char *path, const sdl_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    sdl_config_format_error_context(path, err, f);
    fclose(f);
    return buf;
}

static void
write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");

    ASSERT_NOT_NULL(f);
    fputs(content, f);
    fclose(f);
}

static sdl_config *
load_text(const char *text, sdl_error *err)
{
    sdl_config *config = NULL;

    if (!sdl_config_load_string("test.yaml", text, strlen(text), &config, err)) {
        return NULL;
    }
    return config;
}

/* ---- data-driven: tests/data/config/{valid,invalid} ---- */

TEST(config_invalid_files_give_their_err_line)
{
    char dir[4096];
    size_t n, bad = 0;
    char **names;

    clear_secret_env();
    (void)snprintf(dir, sizeof(dir), "%s", sdltest_data_path("config/invalid"));
    names = list_dir(dir, ".yaml", &n);
    ASSERT_TRUE(n >= 40);
    for (size_t i = 0; i < n; i++) {
        char path[4200], errpath[4200];
        sdl_config *config = NULL;
        sdl_error err = SDL_ERROR_INIT;
        const char *msg;
        char *expected, *nl, *ctx, *hit;
        char norm[sizeof(err.message)];
        struct stat st;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        (void)snprintf(errpath, sizeof(errpath), "%s/%.*s.err", dir, (int)(strlen(names[i]) - 5),
                       names[i]);
        if (sdl_config_load(path, &config, &err)) {
            sdltest_note("%s: loaded, expected an error", names[i]);
            sdl_config_free(config);
            bad++;
            continue;
        }
        ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
        /* Messages name the file as given; the .err files hold the name relative to invalid/. */
        ASSERT_TRUE(strncmp(err.message, dir, strlen(dir)) == 0 && err.message[strlen(dir)] == '/');
        /* Paths inside messages (password_file) are resolved against invalid/ too. */
        (void)snprintf(norm, sizeof(norm), "%s", err.message + strlen(dir) + 1);
        while ((hit = strstr(norm, dir)) && hit[strlen(dir)] == '/') {
            memmove(hit, hit + strlen(dir) + 1, strlen(hit + strlen(dir) + 1) + 1);
        }
        msg = norm;
        ASSERT_TRUE(strstr(err.message, SECRET) == NULL);
        ctx = context_of(path, &err);
        ASSERT_TRUE(strstr(ctx, SECRET) == NULL);
        free(ctx);
        if (stat(errpath, &st) != 0) {
            sdltest_note("%s: no .err; got: %s", names[i], msg);
            bad++;
            continue;
        }
        expected = sdltest_read_file(errpath, NULL);
        if ((nl = strchr(expected, '\n'))) {
            *nl = '\0';
        }
        if (strcmp(expected, msg) != 0) {
            sdltest_note("%s:\n#   expected: %s\n#   got:      %s", names[i], expected, msg);
            bad++;
        }
        free(expected);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    ASSERT_UINT_EQ(bad, 0);
}

TEST(config_valid_files_load_and_print_is_a_fixed_point)
{
    char dir[4096];
    size_t n;
    char **names;

    clear_secret_env();
    (void)snprintf(dir, sizeof(dir), "%s", sdltest_data_path("config/valid"));
    names = list_dir(dir, ".yaml", &n);
    ASSERT_TRUE(n >= 3);
    for (size_t i = 0; i < n; i++) {
        char path[4200], outpath[4200];
        sdl_config *config = NULL, *again = NULL;
        sdl_error err = SDL_ERROR_INIT;
        char *p1, *p2;
        struct stat st;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        ASSERT_OK(sdl_config_load(path, &config, &err), &err);
        p1 = print_config(config);
        (void)snprintf(outpath, sizeof(outpath), "%s/%.*s.out", dir, (int)(strlen(names[i]) - 5),
                       names[i]);
        if (stat(outpath, &st) == 0) {
            /* Skip the first line: it names the file, whose directory varies. */
            char *expected = sdltest_read_file(outpath, NULL);
            const char *body = strchr(p1, '\n');
            ASSERT_NOT_NULL(body);
            if (strcmp(expected, body + 1) != 0) {
                sdltest_fail(__FILE__, __LINE__, "%s: printed\n%s\nexpected\n%s", names[i],
                             body + 1, expected);
            }
            free(expected);
        }
        ASSERT_OK(sdl_config_load_string(path, p1, strlen(p1), &again, &err), &err);
        p2 = print_config(again);
        ASSERT_STR_EQ(p1, p2);
        ASSERT_OK(sdl_config_check_reload(config, again, &err), &err);
        free(p1);
        free(p2);
        sdl_config_free(config);
        sdl_config_free(again);
        free(names[i]);
    }
    free(names);
}

/* ---- defaults and values ---- */

TEST(config_defaults_apply_to_a_minimal_file)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    c = load_text("source: {user: repl, server_id: 4242}\n", &err);
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ(c->path, "test.yaml");
    ASSERT_STR_EQ(c->source.host, "127.0.0.1");
    ASSERT_UINT_EQ(c->source.port, 3306);
    ASSERT_STR_EQ(c->source.user, "repl");
    ASSERT_UINT_EQ(c->source.server_id, 4242);
    ASSERT_NULL(c->source.password);
    ASSERT_NULL(c->source.password_origin);
    ASSERT_NULL(c->source.password_file);
    ASSERT_INT_EQ(c->source.flavor, SDL_FLAVOR_AUTO);
    ASSERT_INT_EQ(c->source.tls_mode, SDL_TLS_PREFERRED);
    ASSERT_NULL(c->source.tls_ca);
    ASSERT_NULL(c->source.tls_cert);
    ASSERT_NULL(c->source.tls_key);
    ASSERT_UINT_EQ(c->source.connect_timeout_usec, 10000000);
    ASSERT_UINT_EQ(c->source.heartbeat_usec, 5000000);
    ASSERT_STR_EQ(c->pipeline.name, "main");
    ASSERT_STR_EQ(c->pipeline.start, "now");
    ASSERT_UINT_EQ(c->pipeline.batch_max_rows, 5000);
    ASSERT_UINT_EQ(c->pipeline.batch_max_bytes, 16u << 20);
    ASSERT_UINT_EQ(c->pipeline.batch_max_delay_usec, 200000);
    ASSERT_UINT_EQ(c->pipeline.queue_bytes, 16u << 20);
    ASSERT_UINT_EQ(c->pipeline.retry_initial_usec, 100000);
    ASSERT_UINT_EQ(c->pipeline.retry_max_usec, 10000000);
    ASSERT_UINT_EQ(c->pipeline.retry_give_up_after_usec, 300000000);
    ASSERT_UINT_EQ(c->tables.ninclude, 0);
    ASSERT_UINT_EQ(c->tables.nexclude, 0);
    ASSERT_INT_EQ(c->log.level, SDL_LOG_INFO);
    sdl_config_free(c);
}

TEST(config_new_default_has_no_user)
{
    sdl_config *c = sdl_config_new_default();

    ASSERT_NULL(c->source.user);
    ASSERT_UINT_EQ(c->source.server_id, 0);
    ASSERT_UINT_EQ(c->source.port, 3306);
    ASSERT_STR_EQ(c->pipeline.name, "main");
    ASSERT_TRUE(sdl_config_table_included(c, "any", "thing"));
    ASSERT_NULL(sdl_config_free(c));
    ASSERT_NULL(sdl_config_free(NULL));
}

TEST(config_reads_every_key)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    c = load_text("source:\n"
                  "  host: db1.example\n"
                  "  port: 3307\n"
                  "  user: repl\n"
                  "  server_id: 3999999999\n"
                  "  flavor: mariadb\n"
                  "  tls: {mode: verify_identity, ca: /ca.pem, cert: /c.pem, key: /k.pem}\n"
                  "  connect_timeout: 1m30s\n"
                  "  heartbeat_period: 2500ms\n"
                  "pipeline:\n"
                  "  name: orders-2\n"
                  "  start: 0-1-100,1-2-5\n"
                  "  batch: {max_rows: 1, max_bytes: 1536KiB, max_delay: 0}\n"
                  "  queue_bytes: 1GiB\n"
                  "  retry: {initial: 1ms, max: 1h, give_up_after: 0}\n"
                  "tables:\n"
                  "  include: ['shop.*', \"crm.customers\"]\n"
                  "  exclude: [shop.tmp_*]\n"
                  "log: {level: debug}\n",
                  &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.host, "db1.example");
    ASSERT_UINT_EQ(c->source.port, 3307);
    ASSERT_UINT_EQ(c->source.server_id, 3999999999u);
    ASSERT_INT_EQ(c->source.flavor, SDL_FLAVOR_MARIADB);
    ASSERT_INT_EQ(c->source.tls_mode, SDL_TLS_VERIFY_IDENTITY);
    ASSERT_STR_EQ(c->source.tls_ca, "/ca.pem");
    ASSERT_STR_EQ(c->source.tls_cert, "/c.pem");
    ASSERT_STR_EQ(c->source.tls_key, "/k.pem");
    ASSERT_UINT_EQ(c->source.connect_timeout_usec, 90000000);
    ASSERT_UINT_EQ(c->source.heartbeat_usec, 2500000);
    ASSERT_STR_EQ(c->pipeline.name, "orders-2");
    ASSERT_STR_EQ(c->pipeline.start, "0-1-100,1-2-5");
    ASSERT_UINT_EQ(c->pipeline.batch_max_rows, 1);
    ASSERT_UINT_EQ(c->pipeline.batch_max_bytes, 1536 * 1024);
    ASSERT_UINT_EQ(c->pipeline.batch_max_delay_usec, 0);
    ASSERT_UINT_EQ(c->pipeline.queue_bytes, 1u << 30);
    ASSERT_UINT_EQ(c->pipeline.retry_initial_usec, 1000);
    ASSERT_UINT_EQ(c->pipeline.retry_max_usec, 3600000000u);
    ASSERT_UINT_EQ(c->pipeline.retry_give_up_after_usec, 0);
    ASSERT_UINT_EQ(c->tables.ninclude, 2);
    ASSERT_STR_EQ(c->tables.include[0], "shop.*");
    ASSERT_STR_EQ(c->tables.include[1], "crm.customers");
    ASSERT_UINT_EQ(c->tables.nexclude, 1);
    ASSERT_STR_EQ(c->tables.exclude[0], "shop.tmp_*");
    ASSERT_INT_EQ(c->log.level, SDL_LOG_DEBUG);
    sdl_config_free(c);
}

TEST(config_null_clears_an_optional_key)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    c = load_text("source: {user: repl, server_id: 1, tls: {ca: ~, cert: null, key: }}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_NULL(c->source.tls_ca);
    sdl_config_free(c);
}

TEST(config_load_string_respects_length)
{
    const char text[] = "source: {user: repl, server_id: 1}\nbogus: 1\n";
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c = NULL;

    clear_secret_env();
    ASSERT_OK(sdl_config_load_string("t.yaml", text, strlen("source: {user: repl, server_id: 1}\n"),
                                     &c, &err),
              &err);
    sdl_config_free(c);
    ASSERT_FALSE(sdl_config_load_string("t.yaml", text, strlen(text), &c, &err));
    ASSERT_STR_EQ(err.message, "t.yaml:2:1: unknown section 'bogus'");
    ASSERT_NULL(c);
}

TEST(config_missing_file_is_an_io_error)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c = NULL;
    unsigned line, col;

    ASSERT_FALSE(sdl_config_load("/nonexistent/sdl.yaml", &c, &err));
    ASSERT_INT_EQ(err.code, SDL_E_IO);
    ASSERT_STR_EQ(err.message,
                  "/nonexistent/sdl.yaml: cannot open configuration: No such file or directory");
    ASSERT_FALSE(sdl_config_error_position(&err, &line, &col));
}

/* ---- units ---- */

TEST(config_units_parse_and_format_canonically)
{
    const char *why = NULL;
    char buf[SDL_UNIT_TEXT_MAX];
    uint64_t v;

    ASSERT_TRUE(sdl_parse_duration("500ms", &v, &why));
    ASSERT_UINT_EQ(v, 500000);
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "500ms");
    ASSERT_TRUE(sdl_parse_duration("1h30m", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "90m");
    ASSERT_TRUE(sdl_parse_duration("5min", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "5m");
    ASSERT_TRUE(sdl_parse_duration("2d", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "2d");
    ASSERT_TRUE(sdl_parse_duration("1500us", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "1500us");
    ASSERT_TRUE(sdl_parse_duration("0", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "0");
    ASSERT_TRUE(sdl_parse_duration("0s", &v, &why));
    ASSERT_UINT_EQ(v, 0);
    ASSERT_TRUE(sdl_parse_duration("18446744073709551615us", &v, &why));
    ASSERT_STR_EQ(sdl_format_duration(v, buf), "18446744073709551615us");
    ASSERT_FALSE(sdl_parse_duration("18446744073709551616us", &v, &why));
    ASSERT_TRUE(sdl_parse_duration("213503982d", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("213503983d", &v, &why));
    ASSERT_STR_EQ(why, "duration too large");
    ASSERT_FALSE(sdl_parse_duration("", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("5", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("s", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("5 s", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("-5s", &v, &why));
    ASSERT_STR_EQ(why, "negative values are not allowed");
    ASSERT_FALSE(sdl_parse_duration("1.5s", &v, &why));
    ASSERT_FALSE(sdl_parse_duration("5sec", &v, &why));

    ASSERT_TRUE(sdl_parse_size("64MiB", &v, &why));
    ASSERT_UINT_EQ(v, 64u << 20);
    ASSERT_STR_EQ(sdl_format_size(v, buf), "64MiB");
    ASSERT_TRUE(sdl_parse_size("2048KiB", &v, &why));
    ASSERT_STR_EQ(sdl_format_size(v, buf), "2MiB");
    ASSERT_TRUE(sdl_parse_size("1000", &v, &why));
    ASSERT_STR_EQ(sdl_format_size(v, buf), "1000B");
    ASSERT_TRUE(sdl_parse_size("0", &v, &why));
    ASSERT_STR_EQ(sdl_format_size(v, buf), "0B");
    ASSERT_TRUE(sdl_parse_size("3TiB", &v, &why));
    ASSERT_STR_EQ(sdl_format_size(v, buf), "3TiB");
    ASSERT_FALSE(sdl_parse_size("16777216TiB", &v, &why));
    ASSERT_STR_EQ(why, "size too large");
    ASSERT_FALSE(sdl_parse_size("64MB", &v, &why));
    ASSERT_STR_EQ(why, "ambiguous unit (use binary units: KiB, MiB, GiB, TiB)");
    ASSERT_FALSE(sdl_parse_size("64m", &v, &why));
    ASSERT_FALSE(sdl_parse_size("64 MiB", &v, &why));
    ASSERT_FALSE(sdl_parse_size("", &v, &why));

    ASSERT_TRUE(sdl_parse_uint("0", &v, &why));
    ASSERT_TRUE(sdl_parse_uint("18446744073709551615", &v, &why));
    ASSERT_UINT_EQ(v, UINT64_MAX);
    ASSERT_FALSE(sdl_parse_uint("18446744073709551616", &v, &why));
    ASSERT_FALSE(sdl_parse_uint("+1", &v, &why));
    ASSERT_FALSE(sdl_parse_uint("0x10", &v, &why));
    ASSERT_FALSE(sdl_parse_uint("1_000", &v, &why));
}

/* ---- secrets ---- */

static const char *
secret_dir(void)
{
    static char dir[512];

    (void)snprintf(dir, sizeof(dir), "%s", sdltest_tmpdir());
    return dir;
}

static sdl_config *
load_with_password_file(const char *dir, const char *password_file_line, sdl_error *err)
{
    char path[1024];
    sdl_config *c = NULL;

    (void)snprintf(path, sizeof(path), "%s/sdl.yaml", dir);
    {
        char text[2048];
        (void)snprintf(text, sizeof(text), "source:\n  user: repl\n  server_id: 9\n%s",
                       password_file_line);
        write_file(path, text);
    }
    if (!sdl_config_load(path, &c, err)) {
        return NULL;
    }
    return c;
}

static void
assert_masked(const sdl_config *c, const char *origin_line)
{
    char *p = print_config(c);

    ASSERT_TRUE(strstr(p, SECRET) == NULL);
    ASSERT_STR_CONTAINS(p, origin_line);
    free(p);
}

TEST(config_password_from_file_relative_to_the_config)
{
    const char *dir = secret_dir();
    char pw[1024], expect[1200];
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    (void)snprintf(pw, sizeof(pw), "%s/mysql.password", dir);
    write_file(pw, SECRET "\n");
    c = load_with_password_file(dir, "  password_file: mysql.password\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, SECRET);
    ASSERT_STR_EQ(c->source.password_file, pw);
    (void)snprintf(expect, sizeof(expect), "file %s", pw);
    ASSERT_STR_EQ(c->source.password_origin, expect);
    (void)snprintf(expect, sizeof(expect), "  # password: <from file %s>\n", pw);
    assert_masked(c, expect);
    sdl_config_free(c);

    /* Only one newline is stripped; CRLF counts as one. */
    write_file(pw, SECRET "\r\n");
    c = load_with_password_file(dir, "  password_file: mysql.password\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, SECRET);
    sdl_config_free(c);
    write_file(pw, SECRET "\n\n");
    c = load_with_password_file(dir, "  password_file: mysql.password\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, SECRET "\n");
    sdl_config_free(c);
    write_file(pw, " " SECRET);
    c = load_with_password_file(dir, "  password_file: mysql.password\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, " " SECRET);
    sdl_config_free(c);
}

TEST(config_unreadable_password_file_names_the_file_not_the_content)
{
    const char *dir = secret_dir();
    char pw[1024], expect[2200];
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    (void)snprintf(pw, sizeof(pw), "%s/mysql.password", dir);
    write_file(pw, SECRET "\n");
    ASSERT_INT_EQ(chmod(pw, 0), 0);
    if (access(pw, R_OK) == 0) {
        sdltest_note("running as root: permissions do not apply; checking a directory instead");
        ASSERT_INT_EQ(unlink(pw), 0);
        ASSERT_INT_EQ(mkdir(pw, 0700), 0);
    }
    c = load_with_password_file(dir, "  password_file: mysql.password\n", &err);
    ASSERT_NULL(c);
    ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
    (void)snprintf(expect, sizeof(expect),
                   "%s/sdl.yaml:4:18: cannot read password_file '%s': ", dir, pw);
    ASSERT_TRUE(strncmp(err.message, expect, strlen(expect)) == 0);
    ASSERT_TRUE(strstr(err.message, SECRET) == NULL);
}

TEST(config_password_from_env_and_credential_with_precedence)
{
    const char *dir = secret_dir();
    char cred_dir[1024], cred[1100], pw[1024];
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    (void)snprintf(cred_dir, sizeof(cred_dir), "%s/creds", dir);
    ASSERT_INT_EQ(mkdir(cred_dir, 0700), 0);
    (void)snprintf(cred, sizeof(cred), "%s/source-password", cred_dir);
    (void)snprintf(pw, sizeof(pw), "%s/file.password", dir);
    write_file(pw, "from-file-" SECRET "\n");

    /* Environment only. */
    setenv("SDL_SOURCE_PASSWORD", "from-env-" SECRET, 1);
    c = load_with_password_file(dir, "", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, "from-env-" SECRET);
    ASSERT_STR_EQ(c->source.password_origin, "environment SDL_SOURCE_PASSWORD");
    assert_masked(c, "  # password: <from environment SDL_SOURCE_PASSWORD>\n");
    sdl_config_free(c);

    /* A credential directory without our credential falls through to the environment. */
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
    c = load_with_password_file(dir, "", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password_origin, "environment SDL_SOURCE_PASSWORD");
    sdl_config_free(c);

    /* Credential beats environment. */
    write_file(cred, "from-cred-" SECRET "\n");
    c = load_with_password_file(dir, "", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, "from-cred-" SECRET);
    ASSERT_STR_EQ(c->source.password_origin, "credential source-password");
    assert_masked(c, "  # password: <from credential source-password>\n");
    sdl_config_free(c);

    /* password_file beats both. */
    c = load_with_password_file(dir, "  password_file: file.password\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->source.password, "from-file-" SECRET);
    sdl_config_free(c);

    /* An empty environment variable is unset; an empty credential is an error. */
    unsetenv("CREDENTIALS_DIRECTORY");
    setenv("SDL_SOURCE_PASSWORD", "", 1);
    c = load_with_password_file(dir, "", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_NULL(c->source.password);
    assert_masked(c, "  # password: <none>\n");
    sdl_config_free(c);
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
    write_file(cred, "");
    c = load_with_password_file(dir, "", &err);
    ASSERT_NULL(c);
    ASSERT_STR_CONTAINS(err.message,
                        "sdl.yaml:1:1: cannot read the credential 'source-password' (");
    ASSERT_STR_CONTAINS(err.message, "/source-password): empty");
    clear_secret_env();
}

TEST(config_literal_password_is_rejected_and_masked_in_context)
{
    char path[1024];
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;
    char *ctx;

    clear_secret_env();
    (void)snprintf(path, sizeof(path), "%s",
                   sdltest_data_path("config/invalid/password-literal.yaml"));
    ASSERT_FALSE(sdl_config_load(path, &c, &err));
    ctx = context_of(path, &err);
    ASSERT_STR_EQ(ctx, "  password: <masked>\n  ^\n");
    free(ctx);
}

/* ---- the target URI ---- */

static sdl_config *
load_in_dir(const char *dir, const char *text, sdl_error *err)
{
    char path[1024];
    sdl_config *c = NULL;

    (void)snprintf(path, sizeof(path), "%s/sdl.yaml", dir);
    write_file(path, text);
    if (!sdl_config_load(path, &c, err)) {
        return NULL;
    }
    return c;
}

TEST(config_target_defaults_and_no_target)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;
    char *p;

    clear_secret_env();
    c = load_text("source: {user: repl, server_id: 1}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_NULL(c->target.uri);
    ASSERT_NULL(c->target.uri_origin);
    ASSERT_NULL(c->target.uri_file);
    ASSERT_STR_EQ(c->target.database, "audit");
    ASSERT_STR_EQ(c->target.changes_collection, "row_changes");
    ASSERT_STR_EQ(c->target.staging_collection, "row_changes_staging");
    ASSERT_STR_EQ(c->target.offsets_collection, "binlog_offsets");
    ASSERT_UINT_EQ(c->target.connect_timeout_usec, 10000000);
    ASSERT_UINT_EQ(c->target.socket_timeout_usec, 60000000);
    p = print_config(c);
    ASSERT_STR_CONTAINS(p, "\n# target: none (sdl run needs one; sdl tail does not)\npipeline:");
    free(p);
    sdl_config_free(c);

    c = load_text("source: {user: repl, server_id: 1}\n"
                  "target: {uri: 'mongodb://h:1/?replicaSet=x', database: d,"
                  " collections: {changes: c1, staging: c2, offsets: c3},"
                  " connect_timeout: 1s, socket_timeout: 1h}\n",
                  &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri, "mongodb://h:1/?replicaSet=x");
    ASSERT_STR_EQ(c->target.uri_origin, "key target.uri");
    ASSERT_STR_EQ(c->target.database, "d");
    ASSERT_STR_EQ(c->target.changes_collection, "c1");
    ASSERT_STR_EQ(c->target.staging_collection, "c2");
    ASSERT_STR_EQ(c->target.offsets_collection, "c3");
    ASSERT_UINT_EQ(c->target.connect_timeout_usec, 1000000);
    ASSERT_UINT_EQ(c->target.socket_timeout_usec, 3600000000u);
    p = print_config(c);
    ASSERT_STR_CONTAINS(p, "\ntarget:\n  uri_file: null\n  uri: \"mongodb://h:1/?replicaSet=x\"\n");
    free(p);
    sdl_config_free(c);
}

TEST(config_target_uri_precedence_and_masking)
{
    const char *dir = secret_dir();
    char cred_dir[1024], cred[1100], uf[1024], expect[2400];
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;
    char *p;

    clear_secret_env();
    (void)snprintf(cred_dir, sizeof(cred_dir), "%s/tcreds", dir);
    ASSERT_INT_EQ(mkdir(cred_dir, 0700), 0);
    (void)snprintf(cred, sizeof(cred), "%s/target-uri", cred_dir);
    (void)snprintf(uf, sizeof(uf), "%s/mongodb.uri", dir);
    write_file(uf, "mongodb://file:" SECRET "@h1/?replicaSet=rs0\n");

    /* Environment only, even without a target section. */
    setenv("SDL_TARGET_URI", "mongodb://env:" SECRET "@h2/?replicaSet=rs0", 1);
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri, "mongodb://env:" SECRET "@h2/?replicaSet=rs0");
    ASSERT_STR_EQ(c->target.uri_origin, "environment SDL_TARGET_URI");
    assert_masked(c, "\ntarget:\n  uri_file: null\n  # uri: <from environment SDL_TARGET_URI>\n");
    sdl_config_free(c);

    /* Credential beats environment. */
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
    write_file(cred, "mongodb://cred:" SECRET "@h3/?replicaSet=rs0\n");
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {database: x}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri, "mongodb://cred:" SECRET "@h3/?replicaSet=rs0");
    ASSERT_STR_EQ(c->target.uri_origin, "credential target-uri");
    assert_masked(c, "  # uri: <from credential target-uri>\n");
    sdl_config_free(c);

    /* A literal uri (no password) beats both. */
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {uri: 'mongodb://lit/'}\n",
                    &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri, "mongodb://lit/");
    ASSERT_STR_EQ(c->target.uri_origin, "key target.uri");
    sdl_config_free(c);

    /* uri_file beats everything, relative to the config's directory. */
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {uri_file: mongodb.uri}\n",
                    &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri, "mongodb://file:" SECRET "@h1/?replicaSet=rs0");
    ASSERT_STR_EQ(c->target.uri_file, uf);
    (void)snprintf(expect, sizeof(expect), "file %s", uf);
    ASSERT_STR_EQ(c->target.uri_origin, expect);
    (void)snprintf(expect, sizeof(expect), "  uri_file: \"%s\"\n  # uri: <from file %s>\n", uf, uf);
    assert_masked(c, expect);
    sdl_config_free(c);

    /* An empty credential is an error; a missing one falls through. */
    write_file(cred, "");
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {database: x}\n", &err);
    ASSERT_NULL(c);
    ASSERT_STR_CONTAINS(err.message, "sdl.yaml:2:1: cannot read the credential 'target-uri' (");
    ASSERT_STR_CONTAINS(err.message, "/target-uri): empty");
    ASSERT_INT_EQ(unlink(cred), 0);
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {database: x}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_STR_EQ(c->target.uri_origin, "environment SDL_TARGET_URI");
    sdl_config_free(c);

    /* A bad URI from the environment is named masked. */
    setenv("SDL_TARGET_URI", "mysql://env:" SECRET "@h2/", 1);
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {database: x}\n", &err);
    ASSERT_NULL(c);
    ASSERT_TRUE(strstr(err.message, SECRET) == NULL);
    ASSERT_STR_CONTAINS(err.message, "sdl.yaml:2:1: invalid target URI 'mysql://env:****@h2/' "
                                     "from environment SDL_TARGET_URI: a MongoDB URI starts with");

    /* Nothing at all with a target section: an error; without one: no target. */
    clear_secret_env();
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\ntarget: {database: x}\n", &err);
    ASSERT_NULL(c);
    ASSERT_STR_CONTAINS(err.message, "sdl.yaml:2:1: section 'target' needs the MongoDB URI");
    c = load_in_dir(dir, "source: {user: repl, server_id: 9}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_NULL(c->target.uri);
    sdl_config_free(c);
    p = NULL;
    free(p);
}

TEST(config_target_uri_with_password_is_masked_in_context)
{
    char path[1024];
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;
    char *ctx;

    clear_secret_env();
    (void)snprintf(path, sizeof(path), "%s",
                   sdltest_data_path("config/invalid/target-uri-with-password.yaml"));
    ASSERT_FALSE(sdl_config_load(path, &c, &err));
    ASSERT_TRUE(strstr(err.message, SECRET) == NULL);
    ctx = context_of(path, &err);
    ASSERT_STR_EQ(ctx, "  uri: mongodb://app:****@db1:27017/?rs=0\n       ^\n");
    free(ctx);
}

TEST(config_mask_uri)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"mongodb://h1:27017/?replicaSet=rs0", "mongodb://h1:27017/?replicaSet=rs0"},
        {"mongodb://u:p@h", "mongodb://u:****@h"},
        {"mongodb://user:" SECRET "@h1:1,h2:2/db?replicaSet=rs0",
         "mongodb://user:****@h1:1,h2:2/db?replicaSet=rs0"},
        {"mongodb+srv://u:a@b@cluster.example/", "mongodb+srv://u:****@cluster.example/"},
        {"mongodb://u@h/?authMechanism=MONGODB-X509", "mongodb://u@h/?authMechanism=MONGODB-X509"},
        {"mongodb://u:@h", "mongodb://u:****@h"},
        {"mongodb://h/?tls=true&tlsCertificateKeyFilePassword=" SECRET "&x=1",
         "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=****&x=1"},
        {"mongodb://u:pw@h/?tlscertificatekeyfilepassword=k",
         "mongodb://u:****@h/?tlscertificatekeyfilepassword=****"},
        {"not a uri", "not a uri"},
        {"", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = sdl_config_mask_uri(cases[i].in);
        ASSERT_STR_EQ(m, cases[i].out);
        free(m);
    }
    {
        char *m = sdl_config_mask_uri(NULL);
        ASSERT_STR_EQ(m, "");
        free(m);
    }
}

TEST(config_target_keys_do_not_reload)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *a, *b;

    clear_secret_env();
    a = load_text("source: {user: repl, server_id: 1}\ntarget: {uri: 'mongodb://a/'}\n", &err);
    b = load_text("source: {user: repl, server_id: 1}\ntarget: {uri: 'mongodb://a/', "
                  "database: other}\n",
                  &err);
    ASSERT_OK(a && b, &err);
    ASSERT_FALSE(sdl_config_check_reload(a, b, &err));
    ASSERT_STR_EQ(err.message, "'target.database' cannot change on reload; restart sdl");
    sdl_config_free(b);
    b = load_text("source: {user: repl, server_id: 1}\ntarget: {uri: 'mongodb://b/'}\n", &err);
    ASSERT_OK(b != NULL, &err);
    ASSERT_FALSE(sdl_config_check_reload(a, b, &err));
    ASSERT_STR_EQ(err.message, "'target.uri' cannot change on reload; restart sdl");
    sdl_config_free(a);
    sdl_config_free(b);
}

/* ---- error context ---- */

TEST(config_error_context_points_a_caret_at_the_column)
{
    const char *text = "source:\n  user: repl\n  server_id: 7\n\tport: 1\n";
    const char *text2 = "source:\n  user: \"r\xc3\xa9pl\"\n  server_id: 7\n  port: 0\n";
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;
    char *buf = NULL;
    size_t len = 0;
    unsigned line = 0, col = 0;
    FILE *f;

    clear_secret_env();
    ASSERT_FALSE(sdl_config_load_string("t.yaml", text2, strlen(text2), &c, &err));
    ASSERT_STR_EQ(err.message,
                  "t.yaml:4:9: invalid value '0' for 'port' in 'source': must be between 1 and "
                  "65535");
    ASSERT_TRUE(sdl_config_error_position(&err, &line, &col));
    ASSERT_UINT_EQ(line, 4);
    ASSERT_UINT_EQ(col, 9);
    f = open_memstream(&buf, &len);
    sdl_config_format_error_context_string(text2, strlen(text2), &err, f);
    fclose(f);
    ASSERT_STR_EQ(buf, "  port: 0\n        ^\n");
    free(buf);

    ASSERT_FALSE(sdl_config_load_string("t.yaml", text, strlen(text), &c, &err));
    ASSERT_TRUE(sdl_config_error_position(&err, &line, &col));
    ASSERT_UINT_EQ(line, 4);

    /* Messages without a position render nothing. */
    sdl_error_set(&err, SDL_E_IO, "x.yaml: cannot open configuration: nope");
    buf = NULL;
    f = open_memstream(&buf, &len);
    sdl_config_format_error_context_string(text, strlen(text), &err, f);
    fclose(f);
    ASSERT_STR_EQ(buf, "");
    free(buf);
}

/* ---- tables ---- */

TEST(config_table_filters_use_fnmatch_on_db_dot_table)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    c = load_text("source: {user: repl, server_id: 1}\n"
                  "tables:\n"
                  "  include: ['shop.*', 'crm.customers', 'log_20[0-9][0-9].*']\n"
                  "  exclude: ['shop.tmp_*', '*.bak']\n",
                  &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_TRUE(sdl_config_table_included(c, "shop", "orders"));
    ASSERT_FALSE(sdl_config_table_included(c, "shop", "tmp_orders"));
    ASSERT_FALSE(sdl_config_table_included(c, "shop", "orders.bak"));
    ASSERT_TRUE(sdl_config_table_included(c, "crm", "customers"));
    ASSERT_FALSE(sdl_config_table_included(c, "crm", "Customers")); /* case-sensitive */
    ASSERT_FALSE(sdl_config_table_included(c, "crm", "leads"));
    ASSERT_TRUE(sdl_config_table_included(c, "log_2024", "x"));
    ASSERT_FALSE(sdl_config_table_included(c, "log_24", "x"));
    ASSERT_FALSE(sdl_config_table_included(c, "shopping", "orders"));
    sdl_config_free(c);

    c = load_text("source: {user: repl, server_id: 1}\ntables: {exclude: ['mysql.*']}\n", &err);
    ASSERT_OK(c != NULL, &err);
    ASSERT_TRUE(sdl_config_table_included(c, "anything", "goes"));
    ASSERT_FALSE(sdl_config_table_included(c, "mysql", "user"));
    sdl_config_free(c);
    ASSERT_TRUE(sdl_config_table_included(NULL, "a", "b"));
}

/* ---- reload ---- */

TEST(config_reload_rejects_non_reloadable_changes)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *a, *b;

    clear_secret_env();
    a = load_text("source: {user: repl, server_id: 1}\n", &err);
    b = load_text("source: {user: repl, server_id: 1}\nlog: {level: debug}\n"
                  "tables: {include: [a.b]}\npipeline: {batch: {max_rows: 7}}\n",
                  &err);
    ASSERT_OK(a && b, &err);
    ASSERT_OK(sdl_config_check_reload(a, b, &err), &err);
    sdl_config_free(b);
    b = load_text("source: {user: repl, server_id: 1, port: 3307}\n", &err);
    ASSERT_OK(b != NULL, &err);
    ASSERT_FALSE(sdl_config_check_reload(a, b, &err));
    ASSERT_INT_EQ(err.code, SDL_E_CONFIG);
    ASSERT_STR_EQ(err.message, "'source.port' cannot change on reload; restart sdl");
    sdl_config_free(b);
    b = load_text("source: {user: repl, server_id: 1, tls: {ca: /x}}\n", &err);
    ASSERT_OK(b != NULL, &err);
    ASSERT_FALSE(sdl_config_check_reload(a, b, &err));
    ASSERT_STR_EQ(err.message, "'source.tls.ca' cannot change on reload; restart sdl");
    sdl_config_free(a);
    sdl_config_free(b);
}

/* ---- docs and examples ---- */

typedef struct doc_check {
    const char *doc;
    size_t missing;
    size_t keys;
} doc_check;

static void
check_documented(const sdl_config_key_info *info, void *userdata)
{
    doc_check *dc = userdata;
    char needle[256];

    dc->keys++;
    (void)snprintf(needle, sizeof(needle), "`%s`", info->path);
    if (!strstr(dc->doc, needle)) {
        sdltest_note("docs/CONFIG.md does not document %s", needle);
        dc->missing++;
    }
}

TEST(config_every_key_is_documented)
{
    char path[4096];
    doc_check dc = {0};
    const char *src = getenv("SDL_TEST_SRC");

    ASSERT_NOT_NULL(src);
    (void)snprintf(path, sizeof(path), "%s/docs/CONFIG.md", src);
    dc.doc = sdltest_read_file(path, NULL);
    sdl_config_foreach_key(check_documented, &dc);
    ASSERT_TRUE(dc.keys >= 30);
    ASSERT_UINT_EQ(dc.missing, 0);
    free((char *)(uintptr_t)dc.doc);
}

TEST(config_packaged_example_passes)
{
    char path[4096], conf[1200], creds[1200], cred[1300];
    const char *src = getenv("SDL_TEST_SRC");
    const char *dir = secret_dir();
    char *text;
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;

    clear_secret_env();
    ASSERT_NOT_NULL(src);
    /* Installed as /etc/sdl/sdl.yaml, with its secrets in /etc/sdl/sdl.credentials/: the same
     * layout in a scratch directory, found without any option, as sdl check-config finds it. */
    (void)snprintf(path, sizeof(path), "%s/packaging/sdl.yaml", src);
    text = sdltest_read_file(path, NULL);
    ASSERT_NULL(strstr(text, "\n  password_file:"));
    ASSERT_NULL(strstr(text, "\n  uri_file:"));
    (void)snprintf(conf, sizeof(conf), "%s/sdl.yaml", dir);
    write_file(conf, text);
    (void)snprintf(creds, sizeof(creds), "%s/sdl.credentials", dir);
    ASSERT_INT_EQ(mkdir(creds, 0700), 0);
    (void)snprintf(cred, sizeof(cred), "%s/source-password", creds);
    write_file(cred, SECRET "\n");
    (void)snprintf(cred, sizeof(cred), "%s/target-uri", creds);
    write_file(cred, "mongodb://sdl:" SECRET "@db1:27017/?replicaSet=rs0\n");
    ASSERT_OK(sdl_config_load(conf, &c, &err), &err);
    ASSERT_STR_EQ(c->source.password, SECRET);
    ASSERT_STR_EQ(c->source.password_origin, "credential source-password");
    ASSERT_STR_EQ(c->target.uri, "mongodb://sdl:" SECRET "@db1:27017/?replicaSet=rs0");
    ASSERT_STR_EQ(c->target.database, "audit");
    /* The defaults the header promises: every table, metrics on loopback. */
    ASSERT_UINT_EQ(c->tables.ninclude, 0);
    ASSERT_UINT_EQ(c->tables.nexclude, 0);
    ASSERT_TRUE(sdl_config_table_included(c, "anydb", "anytable"));
    ASSERT_STR_EQ(c->http.listen, "127.0.0.1:9632");
    sdl_config_free(c);
    /* --credentials DIR (here through the options) wins over the directory next to it. */
    unlink(cred);
    ASSERT_FALSE(sdl_config_load(conf, &c, &err));
    ASSERT_STR_CONTAINS(err.message, "write it to the credential file ");
    ASSERT_STR_CONTAINS(err.message, "sdl.credentials/target-uri");
    free(text);
}

/* ---- sdl check-config ---- */

static int
run_check_config(int argc, char **argv, char **ret_out, char **ret_errout)
{
    const char *dir = secret_dir();
    char outp[1024], errp[1024];
    int saved_out = dup(1), saved_err = dup(2), rc, fd;

    (void)snprintf(outp, sizeof(outp), "%s/out", dir);
    (void)snprintf(errp, sizeof(errp), "%s/err", dir);
    fflush(stdout);
    fflush(stderr);
    fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    rc = sdl_cmd_check_config(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    *ret_out = sdltest_read_file(outp, NULL);
    *ret_errout = sdltest_read_file(errp, NULL);
    return rc;
}

TEST(config_check_config_command_exit_codes)
{
    char valid[4096], invalid[4096];
    char *out, *errout;

    clear_secret_env();
    (void)snprintf(valid, sizeof(valid), "%s", sdltest_data_path("config/valid/minimal.yaml"));
    (void)snprintf(invalid, sizeof(invalid), "%s",
                   sdltest_data_path("config/invalid/unknown-key.yaml"));
    {
        char *argv[] = {"check-config", "-c", valid, NULL};
        ASSERT_INT_EQ(run_check_config(3, argv, &out, &errout), 0);
        ASSERT_STR_CONTAINS(out, "  server_id: 4242\n");
        ASSERT_STR_EQ(errout, "");
        free(out);
        free(errout);
    }
    {
        char *argv[] = {"check-config", "--config", invalid, NULL};
        char expect[4300];
        ASSERT_INT_EQ(run_check_config(3, argv, &out, &errout), 78);
        ASSERT_STR_EQ(out, "");
        (void)snprintf(expect, sizeof(expect),
                       "%s:3:3: unknown key 'prot' in 'source' (did you mean 'port'?)\n"
                       "  prot: 3306\n  ^\n",
                       invalid);
        ASSERT_STR_EQ(errout, expect);
        free(out);
        free(errout);
    }
    {
        char *argv[] = {"check-config", "--config=/nonexistent.yaml", NULL};
        ASSERT_INT_EQ(run_check_config(2, argv, &out, &errout), 78);
        ASSERT_STR_CONTAINS(errout, "/nonexistent.yaml: cannot open configuration");
        free(out);
        free(errout);
    }
    {
        /* without -c: the default file, as sdl run */
        char *argv[] = {"check-config", NULL};
        ASSERT_INT_EQ(run_check_config(1, argv, &out, &errout), 78);
        ASSERT_STR_CONTAINS(errout, "sdl/sdl.yaml: cannot open configuration");
        free(out);
        free(errout);
    }
    {
        char *argv[] = {"check-config", "-c", NULL};
        ASSERT_INT_EQ(run_check_config(2, argv, &out, &errout), 2);
        free(out);
        free(errout);
    }
    {
        char *argv[] = {"check-config", "--frobnicate", NULL};
        ASSERT_INT_EQ(run_check_config(2, argv, &out, &errout), 2);
        free(out);
        free(errout);
    }
    {
        char *argv[] = {"check-config", "--list-keys", NULL};
        ASSERT_INT_EQ(run_check_config(2, argv, &out, &errout), 0);
        ASSERT_STR_CONTAINS(out, "source.port\tinteger\t3306\trestart\n");
        ASSERT_STR_CONTAINS(
            out, "log.level\tenum (error | warning | notice | info | debug)\tinfo\treloadable\n");
        free(out);
        free(errout);
    }
}

TEST(config_columns_skip_ops_and_retention)
{
    static const char text[] = "source: {user: u, server_id: 1}\n"
                               "target: {uri: \"mongodb://h/?replicaSet=r\", retention: 30d}\n"
                               "tables:\n"
                               "  skip_ops:\n"
                               "    - {match: \"shop.*\", ops: [delete]}\n"
                               "    - {match: \"shop.orders\", ops: update}\n"
                               "    - insert\n"
                               "columns:\n"
                               "  - {match: \"shop.users.email\", action: hash}\n"
                               "  - {match: \"*.*.note\", truncate: 1KiB}\n"
                               "  - {match: \"*.*.pw\", action: truncate, truncate: 4}\n";
    sdl_config *c = NULL, *d = NULL;
    sdl_error err = SDL_ERROR_INIT;

    clear_secret_env();
    setenv("SDL_COLUMNS_HASH_KEY", "0123456789abcdef", 1);
    ASSERT_OK(sdl_config_load_string("t.yaml", text, strlen(text), &c, &err), &err);
    ASSERT_UINT_EQ(c->target.retention_usec, (uint64_t)30 * 86400 * 1000000);
    ASSERT_UINT_EQ(c->columns.nrules, 3);
    ASSERT_INT_EQ(c->columns.rules[0].action, SDL_COLUMN_HASH);
    ASSERT_INT_EQ(c->columns.rules[1].action, SDL_COLUMN_TRUNCATE);
    ASSERT_UINT_EQ(c->columns.rules[1].truncate_bytes, 1024);
    ASSERT_UINT_EQ(c->columns.rules[2].truncate_bytes, 4);
    ASSERT_STR_EQ(c->columns.hash_key, "0123456789abcdef");
    ASSERT_STR_EQ(c->columns.hash_key_origin, "environment SDL_COLUMNS_HASH_KEY");
    ASSERT_UINT_EQ(sdl_config_table_skip_ops(c, "shop", "orders"),
                   SDL_OP_DELETE | SDL_OP_UPDATE | SDL_OP_INSERT);
    ASSERT_UINT_EQ(sdl_config_table_skip_ops(c, "shop", "users"), SDL_OP_DELETE | SDL_OP_INSERT);
    ASSERT_UINT_EQ(sdl_config_table_skip_ops(c, "crm", "x"), SDL_OP_INSERT);
    /* the key is never printed, only where it came from */
    char *printed = print_config(c);
    ASSERT_STR_CONTAINS(printed, "# columns hash key: <from environment SDL_COLUMNS_HASH_KEY>");
    ASSERT_STR_CONTAINS(printed, "- {match: \"*.*.note\", truncate: 1KiB}");
    ASSERT_NULL(strstr(printed, "0123456789abcdef"));
    free(printed);
    /* columns and skip_ops reload; retention does not */
    static const char text2[] = "source: {user: u, server_id: 1}\n"
                                "target: {uri: \"mongodb://h/?replicaSet=r\", retention: 30d}\n"
                                "columns: [{match: \"a.b.c\", action: redact}]\n";
    ASSERT_OK(sdl_config_load_string("t.yaml", text2, strlen(text2), &d, &err), &err);
    ASSERT_OK(sdl_config_check_reload(c, d, &err), &err);
    ASSERT_NULL(d->columns.hash_key); /* no hash rule: no key looked up */
    d = sdl_config_free(d);
    static const char text3[] = "source: {user: u, server_id: 1}\n"
                                "target: {uri: \"mongodb://h/?replicaSet=r\", retention: 1d}\n";
    ASSERT_OK(sdl_config_load_string("t.yaml", text3, strlen(text3), &d, &err), &err);
    ASSERT_FALSE(sdl_config_check_reload(c, d, &err));
    ASSERT_STR_CONTAINS(err.message, "'target.retention' cannot change on reload");
    sdl_config_free(d);
    sdl_config_free(c);
    unsetenv("SDL_COLUMNS_HASH_KEY");
}

TEST(config_hash_key_must_be_long_enough)
{
    static const char text[] = "source: {user: u, server_id: 1}\n"
                               "columns: [{match: \"a.b.c\", action: hash}]\n";
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;

    clear_secret_env();
    setenv("SDL_COLUMNS_HASH_KEY", "short", 1);
    ASSERT_FALSE(sdl_config_load_string("t.yaml", text, strlen(text), &c, &err));
    ASSERT_STR_EQ(err.message, "t.yaml:2:36: the columns hash key from environment "
                               "SDL_COLUMNS_HASH_KEY has 5 bytes; at least 16 are needed (e.g. "
                               "'head -c 32 /dev/urandom | base64')");
    unsetenv("SDL_COLUMNS_HASH_KEY");
}

TEST(config_changes_collection_template)
{
    static const char text[] = "source: {user: u, server_id: 1}\n"
                               "target: {uri: \"mongodb://db1/?replicaSet=rs0\",\n"
                               "         collections: {changes: \"audit.{db}.{table}\"}}\n";
    sdl_config *c = NULL;
    sdl_error err = SDL_ERROR_INIT;

    clear_secret_env();
    ASSERT_OK(sdl_config_load_string("t.yaml", text, strlen(text), &c, &err), &err);
    ASSERT_TRUE(sdl_config_collection_is_template(c->target.changes_collection));
    char *n = sdl_config_collection_name(c->target.changes_collection, "shop", "orders");
    ASSERT_STR_EQ(n, "audit.shop.orders");
    free(n);
    n = sdl_config_collection_name("{db}_{table}_{db}", "d", "t");
    ASSERT_STR_EQ(n, "d_t_d");
    free(n);
    ASSERT_FALSE(sdl_config_collection_is_template("row_changes"));
    ASSERT_FALSE(sdl_config_collection_is_template("{schema}"));
    sdl_config_free(c);
}

/* snapshot.mode: consistent is accepted (read-only sources, DESIGN.md §9); other words are
 * not. */
TEST(config_snapshot_mode_consistent_is_accepted)
{
    sdl_error err = SDL_ERROR_INIT;
    sdl_config *c;

    clear_secret_env();
    c = load_text("source: {user: repl, server_id: 4242}\nsnapshot: {mode: consistent}\n", &err);
    ASSERT_NOT_NULL(c);
    ASSERT_INT_EQ(c->snapshot.mode, SDL_SNAPSHOT_CONSISTENT);
    sdl_config_free(c);
    sdl_error_clear(&err);
    c = load_text("source: {user: repl, server_id: 4242}\nsnapshot: {mode: locked}\n", &err);
    ASSERT_NULL(c);
    ASSERT_TRUE(strstr(err.message, "consistent") != NULL); /* the words it takes */
}
