/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * doc-mapper: turns decoded row changes (model/change.h) and DDL statements into the
 * `row_changes` documents of DESIGN.md §3, and prints a document as one line of MongoDB
 * relaxed Extended JSON (what `sdl tail` writes).
 *
 * Row document, keys in this order:
 *   _id      "<pipeline>:<gtid>:<seq>"
 *   op       "insert" | "update" | "delete"
 *   db, table
 *   pk       { <pk column>: value, ... } in key order, from the before image for updates and
 *            deletes and from the after image for inserts; absent when the table has no
 *            primary key. A primary-key column missing from that image is an SDL_E_SCHEMA
 *            error (no row image sdl accepts leaves out the key).
 *   before   updates and deletes: { <column>: value, ... } in table column order
 *   after    inserts and updates: the same
 *            Columns absent from a partial image (SDL_VALUE_ABSENT) are omitted; SQL NULL is
 *            null. Invisible columns are included (they are data).
 *   changed  updates: [column names] whose value differs between before and after, in table
 *            column order; a column present in after but absent from before counts as
 *            changed, one absent from after does not.
 *   gtid     text; seq int64 (1-based position in the source transaction)
 *   ts       Date: source commit time (pos->ts_sec, whole seconds)
 *   binlog   { file: text, pos: int64 }
 *   split    true, only when pos->split
 *   columns_unnamed  true, only when the table map had no column names (the source logged no
 *            optional metadata); before/after/pk/changed then use the "@N" names of
 *            sdl_column.name (1-based).
 *   partial_after  true, only for inserts and updates whose after image lacks a column of
 *            the table (binlog_row_image MINIMAL/NOBLOB, or a JSON diff left in json_diffs):
 *            the mirror then updates the columns present and no others.
 *
 * DDL document (one per statement):
 *   _id "<pipeline>:<gtid>:<seq>", op "ddl", db (the database the statement changes, else its
 *   default database; omitted when NULL or empty), table (the table it changes; omitted when
 *   NULL or empty, e.g. CREATE USER), statement (text; invalid UTF-8 sequences are replaced
 *   by U+FFFD, since a DDL may carry binary literals and is a record, not row data), gtid,
 *   seq, ts, binlog. No pk/before/after/split. A DDL is alone in its transaction, or first
 *   in a CREATE TABLE ... SELECT whose rows follow (when that transaction is split across
 *   batches, only its rows carry split: true).
 *
 * Values (DESIGN.md §6), by sdl_value kind:
 *   INT, UINT      by column type, so each column has one BSON type: int32 for TINYINT,
 *                  SMALLINT, MEDIUMINT, INT and their UNSIGNED forms except INT UNSIGNED;
 *                  int64 for BIGINT and INT UNSIGNED; BIGINT UNSIGNED above INT64_MAX →
 *                  Decimal128 (exact). A value mapped without a column: int32 when it fits.
 *   BIT            int64 (the 64-bit pattern; BIT(64) with the top bit set is negative)
 *   FLOAT          double of the float's shortest round-trip decimal form (FLOAT 1.1 → 1.1,
 *                  not 1.100000023841858), matching what MySQL prints
 *   DOUBLE         double
 *   DECIMAL        Decimal128 when precision <= 34, exact with its scale ("12.30" stays
 *                  12.30); else the exact text as a string (DECIMAL(65,30)). Precision 0
 *                  (unknown) decides by the digits of the value.
 *   STRING, ENUM, TEMPORAL_TEXT, TIME   UTF-8 string (validated; invalid UTF-8 is an error)
 *   BINARY         binary, subtype 0
 *   DATETIME/DATE  Date (UTC ms; sub-millisecond digits dropped, rounding toward the past), or
 *                  with opts->datetime_as_string the MySQL text "YYYY-MM-DD hh:mm:ss[.f…]"
 *                  with the column's fsp digits ("YYYY-MM-DD" for DATE). TIMESTAMP columns
 *                  (source type 7/17) stay Dates either way, as DESIGN.md §6 lists them.
 *   SET            array of member-name strings
 *   JSON_TEXT      the native BSON value, parsed by json-text.h (invalid JSON is an error)
 *   JSON_BINARY    the native BSON value of MySQL binary JSON (json-binary.h)
 *   JSON_DIFF      (UPDATE after images only) the diff applied to the before image's
 *                  JSON_BINARY value of the column; when the before image lacks the column
 *                  (binlog_row_image=MINIMAL) the column is left out of `after` and the row
 *                  document gets json_diffs: {<column>: [{op, path, value}, ...]} after
 *                  `after`. sdl_doc_mapper_value() refuses it (SDL_E_UNSUPPORTED).
 *   GEOMETRY       GeoJSON document with srid (geojson.h)
 *   VECTOR         array of doubles (each float32 widened exactly)
 *
 * Column policies (opts->columns, docs/CONFIG.md "columns"): a dropped column is left out
 * of pk (refused: SDL_E_CONFIG), before, after and changed; redacted, hashed and truncated
 * values replace the column's value in pk, before and after (mapped as strings/binary as
 * column-policy.h says); changed compares the source values, so it still lists a redacted,
 * hashed or truncated column whose value changed. sdl_doc_mapper_value() applies none.
 *
 * Errors carry context: "table 'shop.orders': after image: column 'doc': invalid JSON at
 * byte 3: value expected".
 * Documents are written by a raw BSON writer into a stack buffer and copied into @doc once
 * (libbson's per-element appends are several times slower). On failure @doc is unchanged.
 *
 * No logging; no shared state (thread-safe with distinct documents). OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/model/change.h"

typedef struct sdl_column_policy sdl_column_policy;

typedef struct sdl_doc_mapper_options {
    bool datetime_as_string;    /* DATE/DATETIME as MySQL text with fsp digits, not BSON Dates */
    uint32_t json_max_depth;    /* nesting limit of JSON column values; 0 = 100 (MySQL's) */
    sdl_column_policy *columns; /* column policies (column-policy.h), applied to pk, before,
                                 * after and changed; NULL = none. Not thread-safe: one
                                 * mapping thread per policy */
} sdl_doc_mapper_options;

/* Writes the row_changes document of @rc at @pos into @doc, which must be empty and not static
 * or a child (bson_init()/bson_reinit()/BSON_INITIALIZER; asserted). @opts may be
 * NULL (defaults). @rc's images must match its op (after for insert, before for delete, both
 * for update), else SDL_E_INVALID. Nothing is retained. */
SDL_MUST_CHECK bool sdl_doc_mapper_row(const sdl_doc_mapper_options *opts,
                                       const sdl_change_pos *pos, const sdl_row_change *rc,
                                       bson_t *doc, sdl_error *err);

/* The same document as sdl_doc_mapper_row() writes, as bytes in @out (emptied first; its
 * buffer is reused from call to call, so a stream of rows allocates nothing): for callers that
 * read the document in place (bson_init_static()) or copy it anyway. On failure @out is empty. */
SDL_MUST_CHECK bool sdl_doc_mapper_row_bytes(const sdl_doc_mapper_options *opts,
                                             const sdl_change_pos *pos, const sdl_row_change *rc,
                                             sdl_buf *out, sdl_error *err);

/* A snapshot row's document (DESIGN.md §9), as bytes in @out like sdl_doc_mapper_row_bytes():
 * the document sdl_doc_mapper_row() writes for the insert @rc, with op "snapshot" and, last,
 * `snapshot: {id, chunk}` (@snap). */
typedef struct sdl_doc_snapshot {
    const char *id; /* the snapshot's id */
    int64_t chunk;  /* the chunk's number */
} sdl_doc_snapshot;
SDL_MUST_CHECK bool sdl_doc_mapper_snapshot_bytes(const sdl_doc_mapper_options *opts,
                                                  const sdl_change_pos *pos,
                                                  const sdl_row_change *rc,
                                                  const sdl_doc_snapshot *snap, sdl_buf *out,
                                                  sdl_error *err);

/* Writes the DDL document of @statement (@statement_len bytes) executed with default
 * database @db (NULL or "" when none) at @pos into @doc, empty as for sdl_doc_mapper_row(). */
SDL_MUST_CHECK bool sdl_doc_mapper_ddl(const sdl_doc_mapper_options *opts,
                                       const sdl_change_pos *pos, const char *db, const char *table,
                                       const char *statement, size_t statement_len, bson_t *doc,
                                       sdl_error *err);

/* The document of a statement-based row change (a session logged it as text), for
 * `sdl tail --statements print`: the DDL document with op "statement" and no table. `sdl run`
 * never stores one. */
SDL_MUST_CHECK bool sdl_doc_mapper_statement(const sdl_doc_mapper_options *opts,
                                             const sdl_change_pos *pos, const char *db,
                                             const char *statement, size_t statement_len,
                                             bson_t *doc, sdl_error *err);

/* Appends one column value to @parent under @key (@key_len bytes) as the table above says;
 * an SDL_VALUE_ABSENT value appends nothing and succeeds. For mirror-mode write models and
 * filters that need single values. On failure @parent is unchanged. */
SDL_MUST_CHECK bool sdl_doc_mapper_value(const sdl_doc_mapper_options *opts, const sdl_column *col,
                                         const sdl_value *v, bson_t *parent, const char *key,
                                         size_t key_len, sdl_error *err);

/* Appends @doc to @out as MongoDB relaxed Extended JSON on one line, without a newline.
 *
 * The text is what libbson's bson_as_relaxed_extended_json() means, value for value (a
 * parser reads both into the same BSON), with three differences: it is compact (no spaces,
 * like mongosh's EJSON.stringify), doubles use their shortest round-trip form (1.1, not
 * libbson's 1.1000000000000000888; integral doubles keep ".0": 1.0, 1e+21), and Dates after
 * year 9999 use {"$date":{"$numberLong":"…"}} as the Extended JSON spec requires (libbson
 * 1.23 prints a five-digit year). Dates in [1970, 9999] are {"$date":"2024-01-01T00:00:00Z"}
 * (".mmm" only when non-zero), Decimal128 {"$numberDecimal":"12.30"}, binary
 * {"$binary":{"base64":"…","subType":"00"}}, non-finite doubles {"$numberDouble":"NaN"}.
 * Types the mapper never produces (ObjectId, regex, …) are printed by libbson.
 * Fails (SDL_E_INVALID) on a corrupt document or a string that is not UTF-8; @out may then
 * hold a partial line past its old length. */
SDL_MUST_CHECK bool sdl_doc_mapper_to_json(const bson_t *doc, sdl_buf *out, sdl_error *err);
