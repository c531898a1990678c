/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/txn-assembler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/mysql/sql-text.h"

void
sdl_txn_assembler_init(sdl_txn_assembler *a, const sdl_txn_assembler_options *opts)
{
    memset(a, 0, sizeof(*a));
    a->opts = *opts;
    a->position = (sdl_source_position)SDL_SOURCE_POSITION_INIT;
    a->from = (sdl_source_position)SDL_SOURCE_POSITION_INIT;
    a->position_text = sdl_xstrdup("");
    a->first_skip_rows = opts->skip_rows;
}

void
sdl_txn_assembler_done(sdl_txn_assembler *a)
{
    sdl_source_position_done(&a->position);
    sdl_source_position_done(&a->from);
    free(a->position_text);
    a->position_text = NULL;
}

void
sdl_txn_assembler_set_position(sdl_txn_assembler *a, const sdl_source_position *pos)
{
    sdl_source_position_copy(&a->position, pos);
    free(a->position_text);
    a->position_text = sdl_source_position_format(&a->position);
}

void
sdl_txn_assembler_set_from(sdl_txn_assembler *a, const sdl_source_position *from)
{
    sdl_source_position_copy(&a->from, from);
    a->has_from = true;
}

bool
sdl_txn_assembler_begin(sdl_txn_assembler *a, const sdl_source_txn *id, bool standalone, int64_t ts,
                        bool *ret_resumed, sdl_error *err)
{
    *ret_resumed = a->skipping && strcmp(a->skip_text, id->text) == 0;
    if (a->state != SDL_TXN_NONE && !a->opts.overlap_ok) {
        /* A transaction has exactly one end in the binlog; never merge two. */
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "transaction %s begins before transaction %s ended (no XID or COMMIT)",
                      id->text, a->open_text);
        return false;
    }
    if (&a->txn != id) {
        a->txn = *id;
    }
    a->skip = a->has_from && sdl_source_position_contains(&a->from, id);
    (void)snprintf(a->open_text, sizeof(a->open_text), "%s", a->txn.text);
    a->state = SDL_TXN_GTID;
    a->standalone = standalone;
    a->seq = 0;
    a->ts = ts;
    a->commit_pending = false;
    if (!a->first_seen && a->first_skip_rows > 0 && a->opts.skip_gtid &&
        strcmp(a->opts.skip_gtid, a->txn.text) != 0) {
        sdl_error_set(err, SDL_E_SOURCE,
                      "resuming split transaction %s after its row %" PRIu64
                      ": the source sent transaction %s first; the binlog no longer matches "
                      "the stored offset",
                      a->opts.skip_gtid, a->first_skip_rows, a->txn.text);
        return false;
    }
    return true;
}

/* A transaction without a GTID: its id is "<file>:<offset of its first event>",
 * deterministic for a given binlog. */
static bool
begin_anonymous(sdl_txn_assembler *a, const char *file, uint64_t event_pos, bool standalone,
                int64_t ts, bool *ret_resumed, sdl_error *err)
{
    sdl_source_txn id;

    sdl_source_txn_set_anonymous(&id, file, event_pos);
    return sdl_txn_assembler_begin(a, &id, standalone, ts, ret_resumed, err);
}

/* The open transaction ended at @end_pos: its COMMIT is handed out next. */
static void
end_txn(sdl_txn_assembler *a, uint64_t end_pos)
{
    a->commit_pending = true;
    a->commit_end = end_pos;
}

/* Why a statement cannot be replicated: sdl takes row events only. */
static void
set_statement_error(const sdl_txn_assembler *a, sdl_bytes stmt, const char *what, sdl_error *err)
{
    char head[96];

    sdl_error_set(err, SDL_E_DATA,
                  "transaction %s: %s '%s': sdl replicates row events only and never guesses "
                  "what a statement changed (set binlog_format=ROW for every session; README, "
                  "\"Statement-based changes\", says how to go on)",
                  a->state != SDL_TXN_NONE ? a->txn.text : "(none)", what,
                  sdl_statement_head(stmt, head, sizeof(head)));
}

/* A statement of the transaction (DDL, or a refused one handed out as a STATEMENT). */
static void
statement_change(sdl_txn_assembler *a, sdl_txn_step step, uint64_t end_pos,
                 sdl_txn_query_result *ret)
{
    ret->step = step;
    ret->seq = ++a->seq;
    ret->again = sdl_txn_assembler_again(a, ret->seq);
    a->state = SDL_TXN_DDL;
    if (a->standalone) {
        end_txn(a, end_pos);
    }
}

bool
sdl_txn_assembler_query(sdl_txn_assembler *a, sdl_bytes statement, const char *file,
                        uint64_t event_pos, uint64_t end_pos, int64_t ts, sdl_txn_query_result *ret,
                        sdl_error *err)
{
    sdl_statement_kind kind = sdl_statement_classify(statement);

    memset(ret, 0, sizeof(*ret));
    if (a->state == SDL_TXN_NONE) {
        if (kind == SDL_STATEMENT_COMMIT || kind == SDL_STATEMENT_ROLLBACK) {
            return true; /* the end of a transaction the stream resumed after */
        }
        if (!a->opts.statements_begin_txns) {
            /* Over a MariaDB connection every transaction starts with its GTID. */
            set_statement_error(a, statement, "statement outside a transaction", err);
            err->code = SDL_E_PROTOCOL;
            return false;
        }
        /* Without GTIDs a BEGIN starts a transaction and any other statement is one by
         * itself. */
        ret->began = true;
        if (!begin_anonymous(a, file, event_pos, kind != SDL_STATEMENT_BEGIN, ts, &ret->resumed,
                             err)) {
            return false;
        }
    }
    bool has_rows = a->state == SDL_TXN_ROWS;
    bool refused = kind == SDL_STATEMENT_XA || kind == SDL_STATEMENT_DML ||
                   kind == SDL_STATEMENT_UNKNOWN || (kind == SDL_STATEMENT_DDL && has_rows);
    if (refused && a->skip) {
        /* file mode: --from says this transaction is done; what it holds is not looked at */
        ++a->seq;
        if (a->standalone) {
            end_txn(a, end_pos);
        }
        return true;
    }
    switch (kind) {
    case SDL_STATEMENT_BEGIN:
        a->standalone = false; /* MySQL: the GTID of a DDL is not followed by BEGIN */
        return true;
    case SDL_STATEMENT_COMMIT:
    case SDL_STATEMENT_ROLLBACK:
        /* A transaction that changed only non-transactional tables is never rolled back in
         * the binlog; the server logs ROLLBACK only for empty ones. */
        end_txn(a, end_pos);
        return true;
    case SDL_STATEMENT_SAVEPOINT:
        return true;
    case SDL_STATEMENT_XA:
        sdl_error_set(err, SDL_E_UNSUPPORTED,
                      "XA transaction %s: sdl does not replicate XA transactions yet", a->txn.text);
        return false;
    case SDL_STATEMENT_DML:
    case SDL_STATEMENT_UNKNOWN:
        if (!a->opts.statements_as_changes) {
            set_statement_error(a, statement,
                                kind == SDL_STATEMENT_DML ? "statement-based row change"
                                                          : "statement sdl does not know",
                                err);
            return false;
        }
        statement_change(a, SDL_TXN_STEP_STATEMENT, end_pos, ret);
        if (has_rows) {
            a->state = SDL_TXN_ROWS;
        }
        return true;
    case SDL_STATEMENT_DDL:
        break;
    }
    if (has_rows && !a->opts.statements_as_changes) {
        set_statement_error(a, statement, "DDL after the row changes of its transaction", err);
        return false;
    }
    statement_change(a, SDL_TXN_STEP_DDL, end_pos, ret);
    if (has_rows) {
        a->state = SDL_TXN_ROWS; /* rows once, rows for good: a later DDL is refused too */
    }
    return true;
}

/* sdl_txn_assembler_rows() outside a transaction */
bool
sdl_txn_assembler_rows_outside_(sdl_txn_assembler *a, const char *file, uint64_t event_pos,
                                int64_t ts, bool *ret_began, bool *ret_resumed, sdl_error *err)
{
    *ret_began = false;
    *ret_resumed = false;
    if (a->state == SDL_TXN_NONE && a->opts.rows_begin_txns) {
        /* rows without BEGIN in old binlogs (NDB, some old servers): a transaction of its own,
         * resumed after by file and offset. From a server streamed by GTID they would have no
         * position to resume at: refused below. */
        *ret_began = true;
        if (!begin_anonymous(a, file, event_pos, false, ts, ret_resumed, err)) {
            return false;
        }
    }
    if (a->state == SDL_TXN_NONE) {
        sdl_error_set(err, SDL_E_PROTOCOL, "rows event outside a transaction");
        return false;
    }
    a->state = SDL_TXN_ROWS;
    return true;
}

void
sdl_txn_assembler_xid(sdl_txn_assembler *a, uint64_t end_pos)
{
    if (a->state == SDL_TXN_NONE) {
        return; /* the tail of a transaction we resumed after */
    }
    end_txn(a, end_pos);
}

bool
sdl_txn_assembler_commit(sdl_txn_assembler *a, const char *file, sdl_txn_commit *ret)
{
    bool hand_out = !a->skip;

    sdl_source_position_advance(&a->position, &a->txn, file, a->commit_end);
    free(a->position_text);
    a->position_text = sdl_source_position_format(&a->position);
    a->state = SDL_TXN_NONE;
    a->commit_pending = false;
    if (a->skipping && strcmp(a->skip_text, a->txn.text) == 0) {
        a->skipping = false;
    }
    a->first_seen = true;
    a->first_skip_rows = 0;
    ret->txn = a->txn.text;
    ret->txn_len = a->txn.text_len;
    ret->seq = a->seq;
    ret->ts = a->ts;
    ret->end_pos = a->commit_end;
    ret->position = a->position_text;
    return hand_out;
}

void
sdl_txn_assembler_lost(sdl_txn_assembler *a)
{
    if (a->state == SDL_TXN_NONE) {
        return;
    }
    /* Lost again while reading the same transaction anew: what was handed out before the
     * first loss stays handed out (skip_seq never goes back). */
    bool again = a->skipping && strcmp(a->skip_text, a->txn.text) == 0;
    a->skip_seq = again ? SDL_MAX(a->skip_seq, a->seq) : a->seq;
    a->skipping = true;
    (void)snprintf(a->skip_text, sizeof(a->skip_text), "%s", a->txn.text);
    a->state = SDL_TXN_NONE;
    a->commit_pending = false;
}

void
sdl_txn_assembler_abandon(sdl_txn_assembler *a)
{
    a->state = SDL_TXN_NONE;
    a->commit_pending = false;
}
