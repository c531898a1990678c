/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * source-position: where a source stream stands, and which transaction it is in — the one
 * place that knows the flavours of positions.
 *
 * A position (sdl_source_position) is one of
 *   MARIADB  a MariaDB GTID position, one GTID per domain ("0-1-22,1-7-9"; gtid.h)
 *   MYSQL    a MySQL executed GTID set, tags included ("uuid:1-5:tag:1-2"; gtid-set.h); after
 *            a transaction without a GTID (anonymous) it stands at "<file>:<offset>" instead,
 *            the only place such a stream resumes from
 *   FILE     "<file>:<offset>": a MySQL source streamed by file and offset (no GTIDs)
 * and keeps, whatever its kind, the GTIDs of both algebras it was advanced by and the
 * binlog file and offset after the last transaction, so the kind only decides the text and
 * what "reached" means.
 *
 * A transaction id (sdl_source_txn) is one transaction: a MariaDB GTID "D-S-N", a MySQL GTID
 * "uuid[:tag]:gno", or for one without a GTID "<file>:<offset of its first event>".
 *
 * The flavour of a position text is known from the source it was read from; only where no
 * source says it (config checks, binlog files before their first FORMAT_DESCRIPTION_EVENT) is
 * it read from the text: MySQL GTID sets always contain ':' (uuid:interval), MariaDB
 * positions never do.
 *
 * Never logs. Values are plain data; one thread at a time per value. OOM aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mysql/gtid-set.h"
#include "sdl/mysql/gtid.h"

/* The flavour of a source: of its binlog format and of its positions. */
typedef enum sdl_binlog_flavor {
    SDL_BINLOG_FLAVOR_UNKNOWN = 0,
    SDL_BINLOG_FLAVOR_MARIADB,
    SDL_BINLOG_FLAVOR_MYSQL,
} sdl_binlog_flavor;

/* "mariadb", "mysql", or "" for UNKNOWN: the offset document's `flavor`. */
const char *sdl_source_flavor_name(sdl_binlog_flavor flavor);
/* The flavour a position text is written in, read from its form (see above); UNKNOWN for "",
 * "start" and "now". */
sdl_binlog_flavor sdl_source_flavor_of_text(const char *text);

/* Binlog file names sdl keeps (a longer one is refused or cut, as its user says). */
#define SDL_SOURCE_FILE_MAX 512

typedef enum sdl_source_position_kind {
    SDL_SOURCE_POSITION_MARIADB = 0, /* also the kind of a position of unknown flavour */
    SDL_SOURCE_POSITION_MYSQL,
    SDL_SOURCE_POSITION_FILE,
} sdl_source_position_kind;

typedef struct sdl_source_position {
    sdl_source_position_kind kind;
    sdl_gtid_pos gtid_pos;          /* MariaDB GTIDs applied */
    sdl_gtid_set gtid_set;          /* MySQL GTIDs executed */
    bool at_file;                   /* MYSQL: the last transaction had no GTID */
    char file[SDL_SOURCE_FILE_MAX]; /* binlog file and offset after the last transaction */
    uint64_t offset;                /* ("" / 0 while unknown) */
} sdl_source_position;

#define SDL_SOURCE_POSITION_INIT                                                                   \
    {                                                                                              \
        SDL_SOURCE_POSITION_MARIADB, SDL_GTID_POS_INIT, SDL_GTID_SET_INIT, false, {0}, 0           \
    }

void sdl_source_position_done(sdl_source_position *pos);
/* Deep copy; @dst must be initialised (its old content is freed). */
void sdl_source_position_copy(sdl_source_position *dst, const sdl_source_position *src);

/* The kinds sdl_source_position_parse() may read a text as. */
enum {
    SDL_SOURCE_ACCEPT_MARIADB = 1u << 0,
    SDL_SOURCE_ACCEPT_MYSQL = 1u << 1,
    SDL_SOURCE_ACCEPT_FILE = 1u << 2, /* "<file>:<offset>" (sdl_file_position_parse) */
};

/*
 * Parses @text as one of the kinds @accept names: FILE first when it is accepted and @text
 * has that form; then, when both GTID kinds are accepted, the one the text's form says
 * (sdl_source_flavor_of_text), else the one accepted. "" is the empty position. Errors
 * (SDL_E_INVALID): those of the GTID parsers, or with FILE alone not a file position.
 * @ret_pos (initialised) is replaced only on success.
 */
SDL_MUST_CHECK bool sdl_source_position_parse(const char *text, unsigned accept,
                                              sdl_source_position *ret_pos, sdl_error *err);

/* The text of @pos (caller frees): the GTID position or set of its kind, or
 * "<file>:<offset>" for FILE and for a MYSQL one after a transaction without a GTID. */
char *sdl_source_position_format(const sdl_source_position *pos);

/* Whether @pos names nothing: no GTID of its kind (a FILE position is never empty). */
bool sdl_source_position_is_empty(const sdl_source_position *pos);

typedef enum sdl_source_txn_kind {
    SDL_SOURCE_TXN_MARIADB,
    SDL_SOURCE_TXN_MYSQL,
    SDL_SOURCE_TXN_ANONYMOUS, /* no GTID: named by file and offset of its first event */
} sdl_source_txn_kind;

/* One source transaction's id. */
typedef struct sdl_source_txn {
    sdl_source_txn_kind kind;
    sdl_gtid gtid;                       /* MARIADB */
    sdl_mysql_gtid mysql;                /* MYSQL */
    char text[SDL_SOURCE_FILE_MAX + 24]; /* the id as text, set by sdl_source_txn_set_*() */
    uint32_t text_len;                   /* strlen(text) */
} sdl_source_txn;

void sdl_source_txn_set_mariadb(sdl_source_txn *txn, const sdl_gtid *gtid);
void sdl_source_txn_set_mysql(sdl_source_txn *txn, const sdl_mysql_gtid *gtid);
void sdl_source_txn_set_anonymous(sdl_source_txn *txn, const char *file, uint64_t offset);

/* Moves @pos past @txn, which ended at @file:@end_offset: its GTID joins the GTIDs of its
 * algebra; a MYSQL position stands at the file offset after a transaction without one. */
void sdl_source_position_advance(sdl_source_position *pos, const sdl_source_txn *txn,
                                 const char *file, uint64_t end_offset);

/* Adds the GTIDs of a MySQL set (PREVIOUS_GTIDS) to @pos. */
void sdl_source_position_add_set(sdl_source_position *pos, const sdl_gtid_set *set);

/* Whether @pos already covers @txn: its GTID is at or before the position of its domain
 * (MariaDB), or in the set (MySQL). Never for a transaction without a GTID. */
bool sdl_source_position_contains(const sdl_source_position *pos, const sdl_source_txn *txn);

/* Whether @pos has reached @target, read as @target's kind: every domain @target names is
 * at least as far (MARIADB), every GTID of @target is executed (MYSQL), or @pos's file and
 * offset are at or after @target's (FILE; binlog file names sort in writing order). */
bool sdl_source_position_reached(const sdl_source_position *pos, const sdl_source_position *target);

/* Three-way comparison of two positions of one kind: true with *ret_cmp -1, 0 or 1 when one
 * is at or behind the other (MARIADB: in every domain, a missing one counting as seq 0;
 * MYSQL: set inclusion; FILE: file, then offset); false when they are incomparable or of
 * different kinds. */
bool sdl_source_position_compare(const sdl_source_position *a, const sdl_source_position *b,
                                 int *ret_cmp);
