/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-keys: the key tables. Adding a key is adding a row here, a field in config.h and a
 * paragraph in docs/CONFIG.md (test-config checks that every row is documented).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config-private.h"
#include "config-validate-private.h"

#define OFF(field) offsetof(sdl_config, field)
#define USEC(s)    ((uint64_t)(s)*1000000u)
#define KEYS(a)    (a), SDL_ARRAY_SIZE(a)

_Static_assert(sizeof(sdl_flavor) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_tls_mode) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_log_level) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_on_error) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_log_format) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_mirror_no_pk) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(sdl_mirror_on_drop) == sizeof(int), "enum keys are stored as int");

static const sdl_config_enum flavor_names[] = {
    {"auto", SDL_FLAVOR_AUTO},
    {"mariadb", SDL_FLAVOR_MARIADB},
    {"mysql", SDL_FLAVOR_MYSQL},
    {NULL, 0},
};

static const sdl_config_enum tls_mode_names[] = {
    {"disabled", SDL_TLS_DISABLED},
    {"preferred", SDL_TLS_PREFERRED},
    {"required", SDL_TLS_REQUIRED},
    {"verify_ca", SDL_TLS_VERIFY_CA},
    {"verify_identity", SDL_TLS_VERIFY_IDENTITY},
    {NULL, 0},
};

static const sdl_config_enum log_format_names[] = {
    {"text", SDL_LOG_TEXT},
    {"json", SDL_LOG_JSON},
    {NULL, 0},
};

static const sdl_config_enum log_level_names[] = {
    {"error", SDL_LOG_ERROR}, {"warning", SDL_LOG_WARNING}, {"notice", SDL_LOG_NOTICE},
    {"info", SDL_LOG_INFO},   {"debug", SDL_LOG_DEBUG},     {NULL, 0},
};

static const sdl_config_enum on_error_names[] = {
    {"stop", SDL_ON_ERROR_STOP},
    {"dead_letter", SDL_ON_ERROR_DEAD_LETTER},
    {NULL, 0},
};

static const sdl_config_enum no_pk_names[] = {
    {"error", SDL_MIRROR_NO_PK_ERROR},
    {"skip", SDL_MIRROR_NO_PK_SKIP},
    {"all_columns", SDL_MIRROR_NO_PK_ALL_COLUMNS},
    {NULL, 0},
};

static const sdl_config_enum on_drop_names[] = {
    {"keep", SDL_MIRROR_ON_DROP_KEEP},
    {"drop", SDL_MIRROR_ON_DROP_DROP},
    {NULL, 0},
};

/* ---- tables ---- */

static const sdl_config_key tls_keys[] = {
    {.name = "mode",
     .type = SDL_CFG_ENUM,
     .offset = OFF(source.tls_mode),
     .def = "preferred",
     .enums = tls_mode_names,
     .doc = "TLS to the source: disabled, preferred (TLS if offered, unverified), required "
            "(unverified), verify_ca, verify_identity (CA and host name)"},
    {.name = "ca",
     .type = SDL_CFG_STRING,
     .offset = OFF(source.tls_ca),
     .flags = SDL_CFG_NULLABLE,
     .doc = "PEM file of the CA that signed the server certificate (needed by verify_*)"},
    {.name = "cert",
     .type = SDL_CFG_STRING,
     .offset = OFF(source.tls_cert),
     .flags = SDL_CFG_NULLABLE,
     .doc = "PEM client certificate (with key)"},
    {.name = "key",
     .type = SDL_CFG_STRING,
     .offset = OFF(source.tls_key),
     .flags = SDL_CFG_NULLABLE,
     .doc = "PEM client private key (with cert)"},
};

static const sdl_config_section tls_section = {"source.tls", KEYS(tls_keys)};

static const sdl_config_key source_keys[] = {
    {.name = "host",
     .type = SDL_CFG_STRING,
     .offset = OFF(source.host),
     .def = "127.0.0.1",
     .validate = sdl_config_validate_host,
     .doc = "MySQL/MariaDB server host name or IP address"},
    {.name = "port",
     .type = SDL_CFG_UINT16,
     .offset = OFF(source.port),
     .def = "3306",
     .min = 1,
     .max = 65535,
     .doc = "server TCP port"},
    {.name = "user",
     .type = SDL_CFG_STRING,
     .offset = OFF(source.user),
     .flags = SDL_CFG_REQUIRED,
     .doc = "replication user (needs REPLICATION SLAVE, REPLICATION CLIENT / BINLOG MONITOR, "
            "SELECT on the replicated tables)"},
    {.name = "password_file",
     .type = SDL_CFG_SECRET_FILE,
     .offset = OFF(source.password_file),
     .flags = SDL_CFG_NULLABLE,
     .doc = "file holding the password (one trailing newline stripped); relative paths are "
            "relative to the configuration file's directory"},
    {.name = "password",
     .type = SDL_CFG_REJECTED,
     .doc = "a literal 'password' is not accepted in the configuration file; write it to "
            "the credential file '" SDL_PASSWORD_CREDENTIAL
            "' in the credentials directory next to the configuration (for /etc/sdl/sdl.yaml: "
            "/etc/sdl/sdl.credentials/" SDL_PASSWORD_CREDENTIAL
            ", which sdl.service passes as a systemd credential), or use 'password_file' or "
            "$" SDL_PASSWORD_ENV},
    {.name = "server_id",
     .type = SDL_CFG_UINT32,
     .offset = OFF(source.server_id),
     .flags = SDL_CFG_REQUIRED,
     .min = 1,
     .max = SDL_TAIL_SERVER_ID_MIN - 1,
     .doc = "replica server_id sdl run announces; unique among the source's replicas "
            "(4000000000 and above are left to sdl tail)"},
    {.name = "flavor",
     .type = SDL_CFG_ENUM,
     .offset = OFF(source.flavor),
     .def = "auto",
     .enums = flavor_names,
     .doc = "server flavour: auto (from the version string), mariadb or mysql"},
    {.name = "tls",
     .type = SDL_CFG_SECTION,
     .section = &tls_section,
     .doc = "TLS settings of the replication connection"},
    {.name = "connect_timeout",
     .type = SDL_CFG_DURATION,
     .offset = OFF(source.connect_timeout_usec),
     .def = "10s",
     .min = USEC(1),
     .max = USEC(3600),
     .doc = "timeout of one connection attempt (1s to 1h)"},
    {.name = "heartbeat_period",
     .type = SDL_CFG_DURATION,
     .offset = OFF(source.heartbeat_usec),
     .def = "5s",
     .min = USEC(1),
     .max = USEC(4294967),
     .doc = "MASTER_HEARTBEAT_PERIOD asked of the server while the binlog is idle"},
};

static const sdl_config_key batch_keys[] = {
    {.name = "max_rows",
     .type = SDL_CFG_UINT64,
     .offset = OFF(pipeline.batch_max_rows),
     .def = "5000",
     .flags = SDL_CFG_RELOADABLE,
     .min = 1,
     .max = 1000000,
     .doc = "row changes per MongoDB transaction, at most"},
    {.name = "max_bytes",
     .type = SDL_CFG_SIZE,
     .offset = OFF(pipeline.batch_max_bytes),
     .def = "16MiB",
     .flags = SDL_CFG_RELOADABLE,
     .min = 1024,
     .max = (uint64_t)1 << 30,
     .doc = "decoded bytes per MongoDB transaction, at most (1KiB to 1GiB)"},
    {.name = "max_delay",
     .type = SDL_CFG_DURATION,
     .offset = OFF(pipeline.batch_max_delay_usec),
     .def = "200ms",
     .flags = SDL_CFG_RELOADABLE,
     .min = 0,
     .max = USEC(60),
     .doc = "how long a batch may wait for more transactions before it is written (0 to 1m)"},
};

static const sdl_config_key retry_keys[] = {
    {.name = "initial",
     .type = SDL_CFG_DURATION,
     .offset = OFF(pipeline.retry_initial_usec),
     .def = "100ms",
     .flags = SDL_CFG_RELOADABLE,
     .min = 1000,
     .max = USEC(3600),
     .doc = "first backoff after a transient error (doubles, with jitter, up to max)"},
    {.name = "max",
     .type = SDL_CFG_DURATION,
     .offset = OFF(pipeline.retry_max_usec),
     .def = "10s",
     .flags = SDL_CFG_RELOADABLE,
     .min = 1000,
     .max = USEC(3600),
     .doc = "longest backoff between two attempts"},
    {.name = "give_up_after",
     .type = SDL_CFG_DURATION,
     .offset = OFF(pipeline.retry_give_up_after_usec),
     .def = "5m",
     .flags = SDL_CFG_RELOADABLE,
     .doc = "stop (exit 1) when an error persists this long; 0 = retry forever"},
};

static const sdl_config_section batch_section = {"pipeline.batch", KEYS(batch_keys)};
static const sdl_config_section retry_section = {"pipeline.retry", KEYS(retry_keys)};

static const sdl_config_key pipeline_keys[] = {
    {.name = "name",
     .type = SDL_CFG_STRING,
     .offset = OFF(pipeline.name),
     .def = "main",
     .validate = sdl_config_validate_pipeline_name,
     .doc = "pipeline name: _id of its offset document; several pipelines may share a target"},
    {.name = "start",
     .type = SDL_CFG_STRING,
     .offset = OFF(pipeline.start),
     .def = "now",
     .validate = sdl_config_validate_start,
     .doc = "where a pipeline without a stored offset begins: now, snapshot (now, after a "
            "snapshot of the included tables' rows), start (oldest binlog) or "
            "a GTID position"},
    {.name = "batch",
     .type = SDL_CFG_SECTION,
     .section = &batch_section,
     .doc = "how transactions are grouped into MongoDB transactions"},
    {.name = "queue_bytes",
     .type = SDL_CFG_SIZE,
     .offset = OFF(pipeline.queue_bytes),
     .def = "16MiB",
     .min = 1024,
     .max = (uint64_t)1 << 40,
     .doc = "bound on decoded but unwritten data (backpressure); at least batch.max_bytes"},
    {.name = "retry",
     .type = SDL_CFG_SECTION,
     .section = &retry_section,
     .doc = "backoff for transient errors of the source and the target"},
    {.name = "on_error",
     .type = SDL_CFG_ENUM,
     .offset = OFF(pipeline.on_error),
     .def = "stop",
     .flags = SDL_CFG_RELOADABLE,
     .enums = on_error_names,
     .doc = "a row that cannot be stored or mapped: stop (exit 65) or dead_letter (stored in "
            "the dead-letter collection with the batch, and sdl goes on)"},
    {.name = "modes",
     .type = SDL_CFG_STRING_LIST,
     .offset = OFF(pipeline.modes),
     .count_offset = OFF(pipeline.nmodes),
     .def = "[audit]",
     .validate_item = sdl_config_validate_mode,
     .doc = "what sdl writes: audit (the row_changes log), mirror (one collection per table "
            "equal to it), or both; read at start-up only"},
};

static const sdl_config_key mirror_keys[] = {
    {.name = "database",
     .type = SDL_CFG_STRING,
     .offset = OFF(mirror.database),
     .flags = SDL_CFG_NULLABLE,
     .validate = sdl_config_validate_mirror_database,
     .doc = "database of the mirror collections; absent or null = target.database"},
    {.name = "collection",
     .type = SDL_CFG_STRING,
     .offset = OFF(mirror.collection),
     .def = "{db}.{table}",
     .validate = sdl_config_validate_mirror_collection,
     .doc = "name of a table's mirror collection; {db} and {table} stand for the table's"},
    {.name = "no_primary_key",
     .type = SDL_CFG_ENUM,
     .offset = OFF(mirror.no_primary_key),
     .def = "error",
     .enums = no_pk_names,
     .doc = "a mirrored table without a primary key: error (exit 78 at its first row), skip "
            "(a warning, audit only) or all_columns (rows matched by every column)"},
    {.name = "on_drop",
     .type = SDL_CFG_ENUM,
     .offset = OFF(mirror.on_drop),
     .def = "keep",
     .enums = on_drop_names,
     .doc = "DROP TABLE and RENAME TABLE: keep the old name's mirror collection as it was "
            "(with a warning) or drop it (emptied in the DDL's transaction)"},
    {.name = "indexes",
     .type = SDL_CFG_STRING_LIST,
     .offset = OFF(mirror.indexes),
     .count_offset = OFF(mirror.nindexes),
     .def = "[]",
     .validate_item = sdl_config_validate_mirror_index,
     .doc = "extra indexes of mirror collections, \"db.table-pattern: column[, -column...]\"; "
            "created when sdl first writes a matching collection"},
};

static const sdl_config_key tables_keys[] = {
    {.name = "include",
     .type = SDL_CFG_STRING_LIST,
     .offset = OFF(tables.include),
     .count_offset = OFF(tables.ninclude),
     .def = "[]",
     .flags = SDL_CFG_RELOADABLE,
     .validate_item = sdl_config_validate_pattern,
     .doc = "glob patterns on \"db.table\" to replicate; empty = every table"},
    {.name = "exclude",
     .type = SDL_CFG_STRING_LIST,
     .offset = OFF(tables.exclude),
     .count_offset = OFF(tables.nexclude),
     .def = "[]",
     .flags = SDL_CFG_RELOADABLE,
     .validate_item = sdl_config_validate_pattern,
     .doc = "glob patterns on \"db.table\" to skip, applied after include"},
    {.name = "skip_ops",
     .type = SDL_CFG_SKIP_OPS,
     .def = "[]",
     .flags = SDL_CFG_RELOADABLE,
     .doc = "row operations not replicated, per table pattern: [{match: \"db.table\" glob, "
            "ops: [insert | update | delete]}], or bare op names for every table; skipped rows "
            "still move the offset"},
};

static const sdl_config_key log_keys[] = {
    {.name = "level",
     .type = SDL_CFG_ENUM,
     .offset = OFF(log.level),
     .def = "info",
     .flags = SDL_CFG_RELOADABLE,
     .enums = log_level_names,
     .doc = "lowest level logged: error, warning, notice, info or debug"},
    {.name = "format",
     .type = SDL_CFG_ENUM,
     .offset = OFF(log.format),
     .def = "text",
     .flags = SDL_CFG_RELOADABLE,
     .enums = log_format_names,
     .doc = "records on stderr: text (RFC 3339 time, level, message) or json (one object per "
            "line, the journal's fields); under systemd the journal gets its own fields"},
};

static const sdl_config_key http_keys[] = {
    {.name = "listen",
     .type = SDL_CFG_STRING,
     .offset = OFF(http.listen),
     .flags = SDL_CFG_NULLABLE,
     .validate = sdl_config_validate_listen,
     .doc = "address:port of /metrics, /health/live and /health/ready (IPv4 or [IPv6]); "
            "absent or null = no HTTP server"},
    {.name = "table_metrics",
     .type = SDL_CFG_UINT32,
     .offset = OFF(http.table_metrics),
     .def = "0",
     .min = 0,
     .max = 10000,
     .doc = "how many tables get their own sdl_table_rows_applied_total series (the first ones "
            "committed; the rows of others are counted together); 0 = none"},
};

static const sdl_config_key collections_keys[] = {
    {.name = "changes",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.changes_collection),
     .def = "row_changes",
     .validate = sdl_config_validate_changes,
     .doc = "collection of the row change documents (one per changed row); may be a template "
            "with {db} and {table}, as mirror.collection, for one collection per table (a "
            "document without a table or database has '_' in its place)"},
    {.name = "staging",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.staging_collection),
     .def = "row_changes_staging",
     .validate = sdl_config_validate_staging,
     .doc = "collection of staged batches (written before each commit, deleted by it or a "
            "later one)"},
    {.name = "offsets",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.offsets_collection),
     .def = "binlog_offsets",
     .validate = sdl_config_validate_offsets,
     .doc = "collection of the pipelines' offset documents"},
    {.name = "dead_letters",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.dead_letters_collection),
     .def = "row_changes_dlq",
     .validate = sdl_config_validate_dead_letters,
     .doc = "collection of the rows that could not be written (pipeline.on_error: dead_letter)"},
};

static const sdl_config_section collections_section = {"target.collections",
                                                       KEYS(collections_keys)};

static const sdl_config_key target_keys[] = {
    {.name = "uri_file",
     .type = SDL_CFG_SECRET_FILE,
     .offset = OFF(target.uri_file),
     .flags = SDL_CFG_NULLABLE,
     .doc = "file holding the MongoDB URI (one trailing newline stripped); relative paths are "
            "relative to the configuration file's directory"},
    {.name = "uri",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.uri),
     .flags = SDL_CFG_NULLABLE | SDL_CFG_MASK_URI,
     .validate = sdl_config_validate_uri,
     .doc = "the MongoDB URI itself, accepted only without a password (x.509, Kerberos, "
            "tests); exclusive with uri_file"},
    {.name = "database",
     .type = SDL_CFG_STRING,
     .offset = OFF(target.database),
     .def = "audit",
     .validate = sdl_config_validate_database,
     .doc = "database of sdl's collections"},
    {.name = "collections",
     .type = SDL_CFG_SECTION,
     .section = &collections_section,
     .doc = "names of sdl's collections"},
    {.name = "connect_timeout",
     .type = SDL_CFG_DURATION,
     .offset = OFF(target.connect_timeout_usec),
     .def = "10s",
     .min = USEC(1),
     .max = USEC(3600),
     .doc = "connect and server selection timeout (1s to 1h) unless the URI sets its own"},
    {.name = "socket_timeout",
     .type = SDL_CFG_DURATION,
     .offset = OFF(target.socket_timeout_usec),
     .def = "60s",
     .min = USEC(1),
     .max = USEC(3600),
     .doc = "how long one MongoDB operation may wait for its reply (1s to 1h) unless the URI "
            "sets socketTimeoutMS"},
    {.name = "max_document_bytes",
     .type = SDL_CFG_SIZE,
     .offset = OFF(target.max_document_bytes),
     .def = "16320KiB",
     .min = 1024,
     .max = (16u << 20) - (64u << 10),
     .flags = SDL_CFG_RELOADABLE,
     .doc = "largest row_changes document written (at most 16MiB less 64KiB, what MongoDB and "
            "staging allow); a larger row is a data error (pipeline.on_error)"},
    {.name = "retention",
     .type = SDL_CFG_DURATION,
     .offset = OFF(target.retention_usec),
     .def = "0",
     .min = 0,
     .max = USEC(2147483647),
     .validate = sdl_config_validate_retention,
     .doc = "how long row change documents are kept: a TTL (expireAfterSeconds) on the ts "
            "index of the changes collection, set at start-up; 0 = forever"},
};

static const sdl_config_section source_section = {"source", KEYS(source_keys)};
static const sdl_config_section target_section = {"target", KEYS(target_keys)};
static const sdl_config_section pipeline_section = {"pipeline", KEYS(pipeline_keys)};
static const sdl_config_section tables_section = {"tables", KEYS(tables_keys)};
static const sdl_config_section mirror_section = {"mirror", KEYS(mirror_keys)};
static const sdl_config_section log_section = {"log", KEYS(log_keys)};
static const sdl_config_section http_section = {"http", KEYS(http_keys)};

/* ---- snapshot (DESIGN.md §9): existing rows in chunks, DBLog watermarks ---- */

static const sdl_config_enum snapshot_mode_names[] = {
    {"watermark", SDL_SNAPSHOT_WATERMARK},
    {"consistent", SDL_SNAPSHOT_CONSISTENT},
    {NULL, 0},
};

static const sdl_config_enum snapshot_no_key_names[] = {
    {"error", SDL_SNAPSHOT_NO_KEY_ERROR},
    {"skip", SDL_SNAPSHOT_NO_KEY_SKIP},
    {NULL, 0},
};

/* snapshot.watermark_table: "db.table", plain identifiers (sdl quotes them in SQL) */
static const char *
validate_watermark_table(const sdl_config *c)
{
    const char *t = c->snapshot.watermark_table;
    const char *dot = strchr(t, '.');

    if (!dot || dot == t || !dot[1] || strchr(dot + 1, '.')) {
        return "must be \"db.table\" (e.g. sdl.watermarks)";
    }
    for (const char *p = t; *p; p++) {
        if (*p == '`' || (unsigned char)*p <= ' ') {
            return "must not contain backquotes or spaces";
        }
    }
    return NULL;
}

static const sdl_config_key snapshot_keys[] = {
    {.name = "chunk_rows",
     .type = SDL_CFG_UINT64,
     .offset = OFF(snapshot.chunk_rows),
     .def = "1024",
     .min = 1,
     .max = 1000000,
     .doc = "rows read per snapshot chunk (one SELECT between two watermarks, committed in one "
            "batch with the offset); at most pipeline.batch.max_rows"},
    {.name = "watermark_table",
     .type = SDL_CFG_STRING,
     .offset = OFF(snapshot.watermark_table),
     .def = "sdl.watermarks",
     .validate = validate_watermark_table,
     .doc = "\"db.table\" on the source where sdl writes its chunk watermarks (it needs INSERT "
            "and UPDATE there; sdl creates it when it may); never replicated"},
    {.name = "mode",
     .type = SDL_CFG_ENUM,
     .offset = OFF(snapshot.mode),
     .def = "watermark",
     .enums = snapshot_mode_names,
     .doc = "how existing rows are read: watermark (chunks between watermarks, no lock, "
            "resumable at the last chunk); consistent (read-only sources: one consistent-snapshot "
            "transaction placed at its binlog position, SELECT only; after a crash a new view "
            "continues after the last committed key; MySQL needs gtid_mode=ON and RELOAD)"},
    {.name = "no_key",
     .type = SDL_CFG_ENUM,
     .offset = OFF(snapshot.no_key),
     .def = "error",
     .enums = snapshot_no_key_names,
     .doc = "a table to snapshot with neither a primary key nor a unique key of NOT NULL "
            "columns: error (exit 78 naming it) or skip (a warning; its rows are not "
            "snapshotted)"},
};

static const sdl_config_section snapshot_section = {"snapshot", KEYS(snapshot_keys)};

static const sdl_config_key root_keys[] = {
    {.name = "source",
     .type = SDL_CFG_SECTION,
     .flags = SDL_CFG_REQUIRED,
     .section = &source_section,
     .doc = "the MySQL/MariaDB server sdl replicates from"},
    {.name = "target",
     .type = SDL_CFG_SECTION,
     .section = &target_section,
     .doc = "the MongoDB replica set sdl writes to (optional for sdl tail)"},
    {.name = "pipeline",
     .type = SDL_CFG_SECTION,
     .section = &pipeline_section,
     .doc = "batching, buffering and retries"},
    {.name = "tables",
     .type = SDL_CFG_SECTION,
     .section = &tables_section,
     .doc = "which tables are replicated"},
    {.name = "columns",
     .type = SDL_CFG_COLUMN_RULES,
     .def = "[]",
     .flags = SDL_CFG_RELOADABLE,
     .doc = "column policies: [{match: \"db.table.column\" glob, action: drop | redact | hash}"
            " or {match, truncate: N}]; the first matching rule wins; applied to everything sdl "
            "writes and prints"},
    {.name = "columns_hash_key_file",
     .type = SDL_CFG_SECRET_FILE,
     .offset = OFF(columns.hash_key_file),
     .flags = SDL_CFG_NULLABLE | SDL_CFG_RELOADABLE,
     .doc = "file holding the HMAC key of 'hash' rules (at least 16 bytes; one trailing newline "
            "stripped); else the credential columns-hash-key, else $SDL_COLUMNS_HASH_KEY"},
    {.name = "mirror",
     .type = SDL_CFG_SECTION,
     .section = &mirror_section,
     .doc = "the mirror collections (pipeline.modes: [mirror])"},
    {.name = "snapshot",
     .type = SDL_CFG_SECTION,
     .section = &snapshot_section,
     .doc = "snapshots of existing rows (pipeline.start: snapshot)"},
    {.name = "http",
     .type = SDL_CFG_SECTION,
     .section = &http_section,
     .doc = "the loopback HTTP server of /metrics and /health (none by default)"},
    {.name = "log", .type = SDL_CFG_SECTION, .section = &log_section, .doc = "logging"},
};

const sdl_config_section sdl_config_root = {"", KEYS(root_keys)};

/* ---- cross-key checks ---- */

static const char *
check_tls_ca(const sdl_config *c)
{
    if ((c->source.tls_mode == SDL_TLS_VERIFY_CA ||
         c->source.tls_mode == SDL_TLS_VERIFY_IDENTITY) &&
        !c->source.tls_ca) {
        return "TLS mode 'verify_ca' and 'verify_identity' need 'ca' in 'source.tls'";
    }
    return NULL;
}

static const char *
check_tls_pair(const sdl_config *c)
{
    if (!c->source.tls_cert != !c->source.tls_key) {
        return "'cert' and 'key' in 'source.tls' go together: set both or neither";
    }
    return NULL;
}

static const char *
check_retry(const sdl_config *c)
{
    if (c->pipeline.retry_initial_usec > c->pipeline.retry_max_usec) {
        return "'initial' must not exceed 'max' in 'pipeline.retry'";
    }
    return NULL;
}

static const char *
check_queue(const sdl_config *c)
{
    if (c->pipeline.queue_bytes < c->pipeline.batch_max_bytes) {
        return "'queue_bytes' must be at least 'batch.max_bytes' in 'pipeline'";
    }
    return NULL;
}

static const char *
check_uri_exclusive(const sdl_config *c)
{
    if (c->target.uri && c->target.uri_file) {
        return "'uri' and 'uri_file' in 'target' are exclusive: set one of them";
    }
    return NULL;
}

static const char *
check_collections_distinct(const sdl_config *c)
{
    const sdl_target_config *t = &c->target;

    const char *names[] = {t->changes_collection, t->staging_collection, t->offsets_collection,
                           t->dead_letters_collection};

    for (size_t i = 0; i < SDL_ARRAY_SIZE(names); i++) {
        for (size_t j = i + 1; j < SDL_ARRAY_SIZE(names); j++) {
            if (strcmp(names[i], names[j]) == 0) {
                return "'changes', 'staging', 'offsets' and 'dead_letters' in "
                       "'target.collections' must be four different collections";
            }
        }
    }
    return NULL;
}

static const char *
check_namespace_length(const sdl_config *c)
{
    const sdl_target_config *t = &c->target;
    size_t db = strlen(t->database);
    size_t longest =
        SDL_MAX(SDL_MAX(strlen(t->changes_collection), strlen(t->dead_letters_collection)),
                SDL_MAX(strlen(t->staging_collection), strlen(t->offsets_collection)));

    if (db + 1 + longest > 255) {
        return "'database.collection' names longer than 255 bytes are refused by MongoDB";
    }
    return NULL;
}

static const char *
check_modes(const sdl_config *c)
{
    if (c->pipeline.nmodes > 1 && strcmp(c->pipeline.modes[0], c->pipeline.modes[1]) == 0) {
        return "'pipeline.modes' names a mode twice";
    }
    if (c->pipeline.nmodes > 2) {
        return "'pipeline.modes' has two modes at most: audit and mirror";
    }
    return NULL;
}

/* With [audit, mirror], a per-table audit collection must not be a mirror collection. */
static const char *
check_changes_not_mirror(const sdl_config *c)
{
    const char *mdb = c->mirror.database ? c->mirror.database : c->target.database;

    if (sdl_config_has_mode(c, "audit") && sdl_config_has_mode(c, "mirror") &&
        strcmp(mdb, c->target.database) == 0 &&
        strcmp(c->mirror.collection, c->target.changes_collection) == 0) {
        return "'target.collections.changes' and 'mirror.collection' name the same collections: "
               "the audit log and the mirror need different templates (or mirror.database)";
    }
    return NULL;
}

const sdl_config_check sdl_config_checks[] = {
    {check_tls_ca, &tls_keys[0], NULL},
    {check_tls_pair, &tls_keys[2], &tls_keys[3]},
    {check_retry, &retry_keys[0], &retry_keys[1]},
    {check_queue, &pipeline_keys[3], &batch_keys[1]},
    {check_uri_exclusive, &target_keys[1], &target_keys[0]},
    {check_collections_distinct, &collections_keys[0], &collections_keys[1]},
    {check_namespace_length, &target_keys[2], &collections_keys[0]},
    {check_modes, &pipeline_keys[6], NULL},
    {check_changes_not_mirror, &collections_keys[0], NULL},
};
const size_t sdl_config_nchecks = SDL_ARRAY_SIZE(sdl_config_checks);
