/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * config: the YAML configuration (DESIGN.md §7), loaded with libyaml's document API and
 * walked with declarative key tables (one table per section: key, type, offset, default,
 * reloadable flag, validator).
 *
 * Unknown keys, wrong node types, duplicate keys, aliases and invalid values are errors whose
 * message is exactly "file:line:col: message" (1-based line and column of the offending
 * node); sdl_config_format_error_context() renders the source line and a caret under it.
 * Secrets (the source password) come from, in this order: source.password_file (relative to
 * the config file's directory), the credential 'source-password' in the credentials directory
 * (see sdl_config_load_options), the environment variable $SDL_SOURCE_PASSWORD; a literal
 * source.password key is rejected.
 * They are never printed (sdl_config_print() shows only their origin), never put in a
 * message, and wiped on free. The MongoDB target URI is a secret too (it may hold a
 * password): target.uri_file, else a literal target.uri (accepted only without a password),
 * else the credential 'target-uri' in the credentials directory, else $SDL_TARGET_URI; the 'target'
 * section is optional (sdl tail needs none) but, when present, needs one of them. Messages
 * and the printed config show it masked (sdl_config_mask_uri()). Required: source.user and
 * source.server_id. The HMAC key of 'hash' column rules is a secret too:
 * columns_hash_key_file, else the credential 'columns-hash-key', else $SDL_COLUMNS_HASH_KEY,
 * looked up only when a rule hashes (at least 16 bytes). The optional 'http' section names the
 * address of /metrics and /health (none when absent). Full reference: docs/CONFIG.md.
 *
 * The result is immutable after load; a reload builds a new one.
 * Never logs. Threading: a loaded config may be read from any thread.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sdl/base/error.h"
#include "sdl/base/log.h"
#include "sdl/base/macros.h"

/* `sdl tail` connects as a replica with a server_id of its own, drawn at random from
 * SDL_TAIL_SERVER_ID_MIN..UINT32_MAX (or given with --server-id), so it never takes the
 * identity of a running pipeline: source.server_id must stay below this range. */
#define SDL_TAIL_SERVER_ID_MIN 4000000000u

typedef enum sdl_flavor {
    SDL_FLAVOR_AUTO,    /* detect from the server version */
    SDL_FLAVOR_MARIADB, /* MariaDB: domain-server-seq GTIDs, COM_BINLOG_DUMP */
    SDL_FLAVOR_MYSQL,   /* MySQL: uuid:ranges GTID sets, COM_BINLOG_DUMP_GTID */
} sdl_flavor;

typedef enum sdl_tls_mode {
    SDL_TLS_DISABLED,        /* plain TCP */
    SDL_TLS_PREFERRED,       /* TLS when the server offers it, no verification */
    SDL_TLS_REQUIRED,        /* TLS or fail, no certificate verification */
    SDL_TLS_VERIFY_CA,       /* TLS, server certificate verified against ca */
    SDL_TLS_VERIFY_IDENTITY, /* as verify_ca, plus host name check */
} sdl_tls_mode;

typedef struct sdl_source_config {
    char *host;                    /* default "127.0.0.1" */
    uint16_t port;                 /* default 3306 */
    char *user;                    /* required */
    char *password;                /* resolved secret; NULL = none. Never print. */
    char *password_origin;         /* where the secret came from, for messages: "file
                                    * /etc/sdl/mysql.password", "environment
                                    * SDL_SOURCE_PASSWORD", "credential source-password" */
    uint32_t server_id;            /* replica server_id, unique among the source's replicas */
    sdl_flavor flavor;             /* default auto */
    sdl_tls_mode tls_mode;         /* default preferred */
    char *tls_ca;                  /* CA file, or NULL */
    char *tls_cert;                /* client certificate, or NULL */
    char *tls_key;                 /* client key, or NULL */
    uint64_t connect_timeout_usec; /* default 10 s */
    uint64_t heartbeat_usec;       /* master heartbeat period, default 5 s */
    char *password_file;           /* source.password_file as resolved (absolute when the
                                    * config came from a file), or NULL */
} sdl_source_config;

/* pipeline.on_error: what a data error does (DESIGN.md section 10) */
typedef enum sdl_on_error {
    SDL_ON_ERROR_STOP,        /* stop with exit 65 (EX_DATAERR) */
    SDL_ON_ERROR_DEAD_LETTER, /* store the row in the dead-letter collection and go on */
} sdl_on_error;

typedef struct sdl_target_config {
    char *uri;                     /* resolved MongoDB URI (a secret: may hold a password). Never
                                    * print; NULL when no target is configured */
    char *uri_file;                /* file holding the URI, or NULL */
    char *uri_origin;              /* where the URI came from, for messages: "file ...",
                                    * "key target.uri", "credential target-uri",
                                    * "environment SDL_TARGET_URI"; NULL when no target */
    char *database;                /* default "audit" */
    char *changes_collection;      /* default "row_changes" */
    char *staging_collection;      /* default "row_changes_staging" */
    char *offsets_collection;      /* default "binlog_offsets" */
    char *dead_letters_collection; /* default "row_changes_dlq" */
    uint64_t max_document_bytes;   /* largest row_changes document written, bytes; default and
                                    * most: 16 MiB less 64 KiB (SDL_MONGO_MAX_DOCUMENT_BYTES) */
    uint64_t connect_timeout_usec; /* server selection / connect timeout, default 10 s */
    uint64_t socket_timeout_usec;  /* per-operation socket timeout, default 60 s */
    uint64_t retention_usec;       /* target.retention: TTL of the changes collection's ts
                                    * index (whole seconds); 0 = none (the default) */
} sdl_target_config;

typedef struct sdl_pipeline_config {
    char *name;                        /* default "main"; _id of the offset document */
    char *start;                       /* "now", "start", "snapshot" or a GTID position/set;
                                        * default "now" */
    uint64_t batch_max_rows;           /* default 5000 */
    uint64_t batch_max_bytes;          /* default 16 MiB */
    uint64_t batch_max_delay_usec;     /* default 200 ms */
    uint64_t queue_bytes;              /* default 16 MiB */
    uint64_t retry_initial_usec;       /* default 100 ms */
    uint64_t retry_max_usec;           /* default 10 s */
    uint64_t retry_give_up_after_usec; /* default 5 min; 0 = never give up */
    sdl_on_error on_error;             /* default stop */
    char **modes;                      /* "audit", "mirror": what is written; default [audit] */
    size_t nmodes;
} sdl_pipeline_config;

/* Row operations, as bits of sdl_skip_ops_rule.ops: bit (1 << sdl_row_op) of model/change.h. */
enum {
    SDL_OP_INSERT = 1u << 0,
    SDL_OP_UPDATE = 1u << 1,
    SDL_OP_DELETE = 1u << 2,
};

/* One item of tables.skip_ops: rows of the tables matching @match whose operation is in
 * @ops are not replicated (their transaction still commits and moves the offset). */
typedef struct sdl_skip_ops_rule {
    char *match;  /* glob pattern on "db.table" */
    unsigned ops; /* SDL_OP_* bits, at least one */
} sdl_skip_ops_rule;

/* mirror.no_primary_key: a mirrored table without a primary key (DESIGN.md section 11) */
typedef enum sdl_mirror_no_pk {
    SDL_MIRROR_NO_PK_ERROR,       /* stop (exit 78) at its first row, naming the table */
    SDL_MIRROR_NO_PK_SKIP,        /* warn once, write its audit rows only */
    SDL_MIRROR_NO_PK_ALL_COLUMNS, /* match rows by all their columns */
} sdl_mirror_no_pk;

/* mirror.on_drop: DROP TABLE and the old name of RENAME TABLE */
typedef enum sdl_mirror_on_drop {
    SDL_MIRROR_ON_DROP_KEEP, /* the collection stays as it was (a warning says so) */
    SDL_MIRROR_ON_DROP_DROP, /* emptied in the DDL's transaction, dropped after it */
} sdl_mirror_on_drop;

typedef struct sdl_mirror_config {
    char *database;                  /* NULL (default): target.database */
    char *collection;                /* template with {db} and {table}; default "{db}.{table}" */
    sdl_mirror_no_pk no_primary_key; /* default error */
    sdl_mirror_on_drop on_drop;      /* default keep */
    char **indexes;                  /* "db.table-glob: col, -col": extra indexes; default [] */
    size_t nindexes;
} sdl_mirror_config;

typedef struct sdl_tables_config {
    char **include; /* glob patterns on "db.table"; empty = everything */
    size_t ninclude;
    char **exclude; /* glob patterns on "db.table", applied after include */
    size_t nexclude;
    sdl_skip_ops_rule *skip_ops; /* in file order */
    size_t nskip_ops;
} sdl_tables_config;

/* What a columns: rule does to the values of the columns it matches (docs/CONFIG.md). */
typedef enum sdl_column_action {
    SDL_COLUMN_KEEP = 0, /* no rule matched */
    SDL_COLUMN_DROP,     /* the column is left out everywhere (not allowed on a key column) */
    SDL_COLUMN_REDACT,   /* every value (NULL too) becomes the string SDL_COLUMN_REDACTED */
    SDL_COLUMN_HASH,     /* HMAC-SHA256 with columns.hash_key, as 64 lowercase hex digits */
    SDL_COLUMN_TRUNCATE, /* strings and binary values cut to at most .truncate_bytes bytes */
} sdl_column_action;

#define SDL_COLUMN_REDACTED "[redacted]"

typedef struct sdl_column_rule {
    char *match; /* glob pattern on "db.table.column" */
    sdl_column_action action;
    uint32_t truncate_bytes; /* SDL_COLUMN_TRUNCATE: at most this many bytes (1..16MiB) */
} sdl_column_rule;

typedef struct sdl_columns_config {
    sdl_column_rule *rules; /* in file order; the first rule that matches a column wins */
    size_t nrules;
    char *hash_key_file;   /* columns_hash_key_file as resolved (absolute), or NULL */
    char *hash_key;        /* resolved HMAC key (a secret: never print); NULL when no rule
                            * hashes */
    char *hash_key_origin; /* "file ...", "credential columns-hash-key", "environment
                            * SDL_COLUMNS_HASH_KEY"; NULL when no key */
} sdl_columns_config;

typedef struct sdl_http_config {
    char *listen; /* "127.0.0.1:9632" or "[::1]:9632": where /metrics and /health are served;
                   * NULL = no HTTP server (the default) */
    uint32_t table_metrics; /* tables with per-table series, at most 10000; 0 = none */
} sdl_http_config;

typedef struct sdl_log_config {
    sdl_log_level level;   /* default info */
    sdl_log_format format; /* stderr records: text (default) or json */
} sdl_log_config;

/* snapshot.mode (DESIGN.md §9) */
typedef enum sdl_snapshot_mode {
    SDL_SNAPSHOT_WATERMARK,  /* DBLog watermark chunks (needs the watermark table) */
    SDL_SNAPSHOT_CONSISTENT, /* one consistent-snapshot transaction, placed at its position */
} sdl_snapshot_mode;

/* snapshot.no_key: a table to snapshot without a primary key nor a unique NOT NULL key */
typedef enum sdl_snapshot_no_key {
    SDL_SNAPSHOT_NO_KEY_ERROR, /* stop (exit 78) naming the table */
    SDL_SNAPSHOT_NO_KEY_SKIP,  /* warn and leave the table out of the snapshot */
} sdl_snapshot_no_key;

typedef struct sdl_snapshot_config {
    uint64_t chunk_rows;        /* rows per chunk; default 1024 */
    char *watermark_table;      /* "db.table"; default "sdl.watermarks" */
    sdl_snapshot_mode mode;     /* default watermark */
    sdl_snapshot_no_key no_key; /* default error */
} sdl_snapshot_config;

typedef struct sdl_config {
    char *path;            /* file the config was loaded from */
    char *credentials_dir; /* the credentials directory that was searched, or NULL (none) */
    sdl_source_config source;
    sdl_target_config target;
    sdl_pipeline_config pipeline;
    sdl_tables_config tables;
    sdl_columns_config columns;
    sdl_mirror_config mirror;
    sdl_snapshot_config snapshot;
    sdl_http_config http;
    sdl_log_config log;
} sdl_config;

/* Where the secrets that are not named by the file itself are looked up. */
typedef struct sdl_config_load_options {
    /* The credentials directory: files named like systemd credentials ('source-password',
     * 'target-uri'). NULL: $CREDENTIALS_DIRECTORY when set (systemd's LoadCredential=),
     * else the directory next to the configuration file named after it ("/etc/sdl/sdl.yaml"
     * -> "/etc/sdl/sdl.credentials", sdl_config_credentials_dir_for()) when it exists. */
    const char *credentials_dir;
} sdl_config_load_options;

/* Whether the collection name @name is a template: it holds {db} or {table}
 * (mirror.collection, target.collections.changes). */
bool sdl_config_collection_is_template(const char *name);

/* The collection name @template_ gives for @db.@table ({db}, {table} replaced); malloc'd. */
char *sdl_config_collection_name(const char *template_, const char *db, const char *table);

/* Whether pipeline.modes holds @mode ("audit", "mirror"). */
bool sdl_config_has_mode(const sdl_config *config, const char *mode);

/* Loads and validates @path. On failure err->code is SDL_E_CONFIG (or SDL_E_IO when the file
 * cannot be read) and err->message is "file:line:col: message". @opts may be NULL. */
SDL_MUST_CHECK bool sdl_config_load_opts(const char *path, const sdl_config_load_options *opts,
                                         sdl_config **ret_config, sdl_error *err);

/* sdl_config_load_opts() with the default options. */
SDL_MUST_CHECK bool sdl_config_load(const char *path, sdl_config **ret_config, sdl_error *err);

/* The credentials directory that belongs to the configuration file @path (malloc'd): its
 * name without ".yaml" (or ".yml") plus ".credentials", in the same directory. */
char *sdl_config_credentials_dir_for(const char *path);

/* Checks the syntax of a GTID position or set (a pipeline.start other than now and start);
 * returns NULL or a reason. The config layer knows no GTID syntax (the source layer does), so
 * the program installs this check before it loads a configuration; without one, only empty
 * values and whitespace are refused. */
typedef const char *(*sdl_config_position_check_fn)(const char *text);
void sdl_config_set_position_check(sdl_config_position_check_fn fn);

/* Same, from memory; @name stands for the file name in messages. */
SDL_MUST_CHECK bool sdl_config_load_string(const char *name, const char *text, size_t len,
                                           sdl_config **ret_config, sdl_error *err);

/* A config with every default and no source user (for `sdl tail --file` without -c). */
sdl_config *sdl_config_new_default(void);

/* Prints the normalised configuration as YAML with secrets masked. */
void sdl_config_print(const sdl_config *config, FILE *out);

/* For an error from sdl_config_load*: writes the offending source line and a caret under
 * its column to @out (nothing when the error has no position). */
void sdl_config_format_error_context(const char *path, const sdl_error *err, FILE *out);

/* Same for a config loaded with sdl_config_load_string(): @text is what was loaded. */
void sdl_config_format_error_context_string(const char *text, size_t len, const sdl_error *err,
                                            FILE *out);

/* Finds "line:col" in an error from sdl_config_load*; false when it has no position. */
bool sdl_config_error_position(const sdl_error *err, unsigned *ret_line, unsigned *ret_col);

/* Describes one key of the key tables (for docs and `sdl check-config --list-keys`). */
typedef struct sdl_config_key_info {
    const char *path;    /* "source.tls.mode" */
    const char *type;    /* "string", "port", "duration", "size", "enum", ... */
    const char *def;     /* default as YAML text, or NULL */
    const char *choices; /* enum values "auto | mariadb | mysql", or NULL */
    const char *range;   /* allowed values of a number, duration or size ("1..65535",
                          * "1s..1h", "at least 1ms"), or NULL */
    bool required;
    bool reloadable;
    const char *doc; /* one line */
} sdl_config_key_info;

/* Calls @fn for every key of every section (sections themselves included, type "section"),
 * in table order. */
void sdl_config_foreach_key(void (*fn)(const sdl_config_key_info *info, void *userdata),
                            void *userdata);

/* Prints every key, one per line: "path<TAB>type<TAB>default<TAB>flags". */
void sdl_config_list_keys(FILE *out);

/* For SIGHUP: fails (SDL_E_CONFIG, "'source.port' cannot change on reload; restart sdl")
 * when a key without the reloadable flag differs between @old and @new. The password is
 * not compared: it is re-read on every reconnect. */
SDL_MUST_CHECK bool sdl_config_check_reload(const sdl_config *old_config,
                                            const sdl_config *new_config, sdl_error *err);

/* True when "db.table" passes the include/exclude filters. */
bool sdl_config_table_included(const sdl_config *config, const char *db, const char *table);

/* The SDL_OP_* bits tables.skip_ops names for "db.table" (the union of every matching item);
 * 0 when none. */
unsigned sdl_config_table_skip_ops(const sdl_config *config, const char *db, const char *table);

/* A MongoDB URI fit for messages and logs (malloc'd): the password of the user info and
 * the value of tlsCertificateKeyFilePassword replaced by "****"
 * ("mongodb://user:****@host/..."). When in doubt it masks more, never less. */
char *sdl_config_mask_uri(const char *uri);

/* Splits an http.listen value: "IPv4:port" or "[IPv6]:port", an IP address literal (no host
 * names: the listener binds exactly one address) and a port 1..65535. Writes the address
 * text (without brackets) into @ret_host (@host_cap bytes, 46 are enough), its family
 * (AF_INET or AF_INET6) and the port; returns NULL, or a reason when @listen is malformed. */
const char *sdl_config_split_listen(const char *listen, char *ret_host, size_t host_cap,
                                    int *ret_family, uint16_t *ret_port);

/* NULL-safe; returns NULL. Wipes the secrets before freeing. */
sdl_config *sdl_config_free(sdl_config *config);
