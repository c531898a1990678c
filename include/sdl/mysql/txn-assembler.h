/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * txn-assembler: the transaction state machine of a source stream, fed one event at a time
 * (after MySQL's libbinlogevents trx_boundary_parser):
 *
 *            GTID (MariaDB; STANDALONE flag)          TABLE_MAP*  ROWS*
 *   NONE ──▶ GTID / BEGIN ──┬─ DDL (standalone) ─────────────────────────────▶ COMMIT ──▶ NONE
 *     (MySQL: GTID, then    ├─ DDL (first, then rows: CREATE TABLE … SELECT) ─▶ ROWS ─▶ COMMIT
 *      BEGIN for DML)       └─ ROWS ─▶ XID / QUERY COMMIT / ROLLBACK ─────────▶ COMMIT ──▶ NONE
 *
 * Every source transaction — filtered or not, a standalone DDL or one inside a transaction —
 * ends with exactly one COMMIT carrying its end position: the assembler queues it
 * (sdl_txn_assembler_commit_pending) and the caller takes it (sdl_txn_assembler_commit) before
 * it feeds the next event, which moves the position (source-position.h) past the transaction.
 * A statement that changes rows (statement-based logging), one sdl does not know, or a DDL
 * after rows ends the stream with SDL_E_DATA (unless opts.statements_as_changes), XA with
 * SDL_E_UNSUPPORTED, a transaction that begins before the previous one ended with
 * SDL_E_PROTOCOL: never guessed, never skipped.
 *
 * Each row and statement of a transaction gets its seq (1-based, filtered ones counted too);
 * the assembler says which were handed out already: the rows of a split transaction's
 * committed part (opts.skip_gtid/skip_rows, first transaction only), those handed out before a
 * lost connection (sdl_txn_assembler_lost), and every one of a transaction the --from
 * position covers (file mode).
 *
 * It knows nothing of bytes, tables or filters: the caller parses events, classifies nothing
 * but hands statements in as text, decodes rows and filters. Never logs. Plain data; one
 * thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mysql/source-position.h"

typedef enum sdl_txn_state {
    SDL_TXN_NONE, /* between transactions */
    SDL_TXN_GTID, /* begun (GTID, BEGIN, or an anonymous first event); nothing in it yet */
    SDL_TXN_DDL,  /* a DDL (or statement) was its last change */
    SDL_TXN_ROWS, /* a rows event was part of it */
} sdl_txn_state;

typedef struct sdl_txn_assembler_options {
    bool statements_begin_txns; /* no GTIDs (MySQL, binlog files): a statement outside a
                                 * transaction begins one (BEGIN: until its COMMIT, any other:
                                 * by itself); else it is a protocol error */
    bool rows_begin_txns;       /* binlog files, MySQL by file and offset: rows outside a
                                 * transaction begin one (old servers log no BEGIN) */
    bool overlap_ok;            /* binlog files: a transaction may begin before the previous
                                 * one ended (a file cut inside a transaction) */
    bool statements_as_changes; /* refused statements are handed out as STATEMENT instead */
    const char *skip_gtid;      /* with skip_rows: the id the first transaction must have */
    uint64_t skip_rows;         /* rows of the first transaction already handed out */
} sdl_txn_assembler_options;

typedef struct sdl_txn_assembler {
    sdl_txn_assembler_options opts;
    sdl_source_position position; /* after the last complete transaction */
    char *position_text;          /* its text (COMMIT changes carry it) */
    sdl_source_position from;     /* transactions it contains are read but not handed out */
    bool has_from;

    sdl_txn_state state;
    bool standalone;    /* ends with its statement (a DDL, or no BEGIN) */
    bool skip;          /* the transaction is in from */
    sdl_source_txn txn; /* its id */
    char open_text[sizeof(((sdl_source_txn *)0)->text)]; /* id of the open one (messages) */
    uint64_t seq;                                        /* rows and statements seen in it */
    int64_t ts;          /* its GTID's (or first event's) timestamp */
    bool commit_pending; /* it ended: sdl_txn_assembler_commit() hands out its COMMIT */
    uint64_t commit_end; /* binlog offset after it */

    bool skipping; /* after a lost connection inside skip_text: */
    char skip_text[sizeof(((sdl_source_txn *)0)->text)];
    uint64_t skip_seq;        /* its rows up to here were handed out */
    uint64_t first_skip_rows; /* opts.skip_rows, for the first transaction only */
    bool first_seen;
} sdl_txn_assembler;

void sdl_txn_assembler_init(sdl_txn_assembler *a, const sdl_txn_assembler_options *opts);
void sdl_txn_assembler_done(sdl_txn_assembler *a);
/* The position after the last complete transaction, and its text (borrowed). */
void sdl_txn_assembler_set_position(sdl_txn_assembler *a, const sdl_source_position *pos);
/* Transactions @from contains are read but nothing of them is handed out (their COMMITs
 * neither). */
void sdl_txn_assembler_set_from(sdl_txn_assembler *a, const sdl_source_position *from);

static inline bool
sdl_txn_assembler_in_txn(const sdl_txn_assembler *a)
{
    return a->state != SDL_TXN_NONE;
}

/*
 * A GTID event (or MySQL's ANONYMOUS_GTID: @id anonymous) begins transaction @id at @ts;
 * @standalone: it ends with its first statement unless a BEGIN follows (MariaDB's
 * FL_STANDALONE; every MySQL GTID). *ret_resumed: it is the transaction a lost connection
 * interrupted (read again: it keeps the table filters it began with).
 */
SDL_MUST_CHECK bool sdl_txn_assembler_begin(sdl_txn_assembler *a, const sdl_source_txn *id,
                                            bool standalone, int64_t ts, bool *ret_resumed,
                                            sdl_error *err);

typedef enum sdl_txn_step {
    SDL_TXN_STEP_NONE,      /* nothing to hand out (a marker, the end of a transaction) */
    SDL_TXN_STEP_DDL,       /* a DDL: hand it out unless .again or filtered */
    SDL_TXN_STEP_STATEMENT, /* opts.statements_as_changes: a refused statement */
} sdl_txn_step;

typedef struct sdl_txn_query_result {
    sdl_txn_step step;
    uint64_t seq; /* DDL, STATEMENT: its seq */
    bool again;   /* DDL, STATEMENT: handed out already: never hand it out */
    bool began;   /* the statement began a transaction without a GTID (*ret_resumed of
                   * sdl_txn_assembler_begin in .resumed) */
    bool resumed;
} sdl_txn_query_result;

/*
 * A QUERY event's @statement at @file:@event_pos (ending at @end_pos, header time @ts).
 * Outside a transaction: a COMMIT/ROLLBACK is the tail of one the stream resumed after; any
 * other statement begins one without a GTID ("<file>:<event_pos>") when
 * opts.statements_begin_txns, else it is a protocol error.
 */
SDL_MUST_CHECK bool sdl_txn_assembler_query(sdl_txn_assembler *a, sdl_bytes statement,
                                            const char *file, uint64_t event_pos, uint64_t end_pos,
                                            int64_t ts, sdl_txn_query_result *ret, sdl_error *err);

/* A rows event at @file:@event_pos (@ts): outside a transaction it begins one without a
 * GTID when opts.rows_begin_txns (*ret_began; *ret_resumed as sdl_txn_assembler_begin()
 * says), else it is a protocol error. */
SDL_MUST_CHECK bool sdl_txn_assembler_rows_outside_(sdl_txn_assembler *a, const char *file,
                                                    uint64_t event_pos, int64_t ts, bool *ret_began,
                                                    bool *ret_resumed, sdl_error *err);

static inline SDL_MUST_CHECK bool
sdl_txn_assembler_rows(sdl_txn_assembler *a, const char *file, uint64_t event_pos, int64_t ts,
                       bool *ret_began, bool *ret_resumed, sdl_error *err)
{
    if (a->state != SDL_TXN_NONE) { /* the common case, once per rows event: inline */
        *ret_began = false;
        *ret_resumed = false;
        a->state = SDL_TXN_ROWS;
        return true;
    }
    return sdl_txn_assembler_rows_outside_(a, file, event_pos, ts, ret_began, ret_resumed, err);
}

/* Whether row (or statement) @seq of the open transaction was handed out already. */
static inline bool
sdl_txn_assembler_again(const sdl_txn_assembler *a, uint64_t seq)
{
    if (a->skip) {
        return true;
    }
    if (!a->first_seen && seq <= a->first_skip_rows) {
        return true;
    }
    return a->skipping && seq <= a->skip_seq && strcmp(a->skip_text, a->txn.text) == 0;
}

/* The next row of the open transaction: its seq; *ret_again when it was handed out already. */
static inline uint64_t
sdl_txn_assembler_row(sdl_txn_assembler *a, bool *ret_again)
{
    uint64_t seq = ++a->seq;

    *ret_again = sdl_txn_assembler_again(a, seq);
    return seq;
}

/* An XID event ending at @end_pos: the open transaction's end (outside one: the tail of the
 * one the stream resumed after, ignored). */
void sdl_txn_assembler_xid(sdl_txn_assembler *a, uint64_t end_pos);

static inline bool
sdl_txn_assembler_commit_pending(const sdl_txn_assembler *a)
{
    return a->commit_pending;
}

typedef struct sdl_txn_commit {
    const char *txn; /* the transaction's id (borrowed until the next begin) */
    uint32_t txn_len;
    uint64_t seq; /* its rows and statements */
    int64_t ts;
    uint64_t end_pos;     /* binlog offset after it */
    const char *position; /* the position after it (borrowed until the next commit) */
} sdl_txn_commit;

/* Ends the transaction whose COMMIT is pending; it ended in @file. Returns whether its COMMIT
 * is to be handed out (false for one in from). */
bool sdl_txn_assembler_commit(sdl_txn_assembler *a, const char *file, sdl_txn_commit *ret);

/* The connection was lost: the open transaction (if any) will be read again from its start,
 * and its rows handed out so far are then not handed out again. */
void sdl_txn_assembler_lost(sdl_txn_assembler *a);

/* The events ended inside the open transaction (binlog files): it is dropped. */
void sdl_txn_assembler_abandon(sdl_txn_assembler *a);
