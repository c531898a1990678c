/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/recovery.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/clock.h"
#include "sdl/base/failpoint.h"
#include "sdl/base/log.h"
#include "sdl/daemon/notify.h"

typedef struct rec_arg {
    const sdl_sink *sink;
    uint64_t number;
    sdl_offset *offset;
    bool *found;
    sdl_staged_batch **list;
    size_t *count;
    sdl_batch *batch;
} rec_arg;

static bool
load_offset_attempt(void *arg, sdl_error *err)
{
    rec_arg *a = arg;

    sdl_offset_done(a->offset);
    return sdl_sink_load_offset(a->sink, a->offset, a->found, err);
}

static bool
list_staged_attempt(void *arg, sdl_error *err)
{
    rec_arg *a = arg;

    free(*a->list);
    *a->list = NULL;
    return sdl_sink_list_staged(a->sink, a->list, a->count, err);
}

static bool
delete_staged_attempt(void *arg, sdl_error *err)
{
    rec_arg *a = arg;

    return sdl_sink_delete_staged(a->sink, a->number, err);
}

static bool
load_staged_attempt(void *arg, sdl_error *err)
{
    rec_arg *a = arg;

    sdl_batch_done(a->batch);
    sdl_batch_init(a->batch);
    return sdl_sink_load_staged(a->sink, a->number, a->batch, err);
}

void
sdl_recovery_done(sdl_recovery *rec)
{
    if (rec) {
        sdl_offset_done(&rec->offset);
        memset(rec, 0, sizeof(*rec));
    }
}

/* A transaction the previous sdl left open (killed before commitTransaction) would block
 * recovery's first write until the server's transaction lifetime: end it. Best effort. */
static void
end_previous_sessions(const sdl_recovery_env *env)
{
    size_t ended = 0;
    char *holder = NULL;
    sdl_error kerr = SDL_ERROR_INIT;

    if (!sdl_sink_end_previous_sessions(env->commit.sink, &ended, &holder, &kerr)) {
        log_warning("%s (a transaction it left open is ended by the server's "
                    "transactionLifetimeLimitSeconds instead)",
                    kerr.message);
    } else if (ended > 0) {
        log_info("Ended %zu session%s of the previous holder %s (a transaction left open by a "
                 "process that died would block this one until the server ends it)",
                 ended, ended == 1 ? "" : "s", holder);
    }
    free(holder);
}

/* Commits the complete staged batch @number, the offset's next. *ret_smaller: it was too
 * large or too slow for one transaction (its staged copy deleted, limits set). */
static bool
commit_staged(const sdl_recovery_env *env, uint64_t number, sdl_recovery *rec, bool *ret_smaller,
              sdl_error *err)
{
    sdl_batch batch;
    rec_arg a = {.sink = env->commit.sink, .number = number, .batch = &batch};
    bool committed;

    *ret_smaller = false;
    sdl_batch_init(&batch);
    log_notice("Committing staged batch %" PRIu64 " left by the previous run", number);
    if (!env->commit.retry(env->commit.ctx, "loading a staged batch", SDL_RETRY_TARGET_CONNECT,
                           load_staged_attempt, &a, err)) {
        sdl_batch_done(&batch);
        return false;
    }
    sdl_failpoint("recovery.before_commit");
    committed = sdl_commit_staged(&env->commit, &batch, &rec->offset, err);
    if (committed) {
        sdl_offset_done(&rec->offset);
        sdl_offset_copy(&rec->offset, &batch.offset_after);
        rec->found = true;
    } else if (sdl_commit_wants_smaller(&env->commit, err) && batch.ndocs > 1) {
        /* Too large or too slow for one transaction: read its changes again from the binlog
         * into batches of half its size. */
        log_notice_e(err,
                     "Staged batch %" PRIu64 " (%zu documents, %zu bytes) is too large or too "
                     "slow for one MongoDB transaction: its changes are read again from the "
                     "binlog into smaller batches",
                     number, batch.ndocs, batch.bytes);
        rec->limit_rows = SDL_MAX(batch.ndocs / 2, (size_t)1);
        rec->limit_bytes = SDL_MAX(batch.bytes / 2, (size_t)1);
        committed = env->commit.retry(env->commit.ctx, "deleting a staged batch",
                                      SDL_RETRY_TARGET_CONNECT, delete_staged_attempt, &a, err);
        *ret_smaller = true;
    }
    sdl_batch_done(&batch);
    return committed;
}

bool
sdl_recover(const sdl_recovery_env *env, sdl_recovery *ret, sdl_error *err)
{
    sdl_recovery rec;
    sdl_staged_batch *list = NULL;
    size_t count = 0;
    bool ok = false;
    bool discard_rest = false;

    memset(&rec, 0, sizeof(rec));
    rec_arg a = {.sink = env->commit.sink,
                 .offset = &rec.offset,
                 .found = &rec.found,
                 .list = &list,
                 .count = &count};
    if (!env->commit.retry(env->commit.ctx, "loading the offset", SDL_RETRY_TARGET_CONNECT,
                           load_offset_attempt, &a, err) ||
        !env->commit.retry(env->commit.ctx, "listing staged batches", SDL_RETRY_TARGET_CONNECT,
                           list_staged_attempt, &a, err)) {
        goto out;
    }
    if (rec.found) {
        end_previous_sessions(env);
        log_info("Offset of pipeline '%s': batch %" PRIu64 ", GTID position '%s'%s%s",
                 env->pipeline, rec.offset.batch, rec.offset.gtid,
                 rec.offset.partial_gtid ? ", inside split transaction " : "",
                 rec.offset.partial_gtid ? rec.offset.partial_gtid : "");
    }
    for (size_t i = 0; i < count; i++) {
        const sdl_staged_batch *sb = &list[i];
        a.number = sb->number;
        sdl_notify_extend_timeout(60 * SDL_USEC_PER_SEC); /* a long recovery is not a hang */
        if (sb->number <= rec.offset.batch || discard_rest ||
            sb->parts_found != sb->parts_expected || sb->number != rec.offset.batch + 1) {
            if (sb->number > rec.offset.batch) {
                log_notice("Discarding staged batch %" PRIu64 " (%" PRIu32 " of %" PRIu32
                           " parts): its changes are read again from the binlog",
                           sb->number, sb->parts_found, sb->parts_expected);
                discard_rest = true;
            } else {
                log_info("Deleting staged batch %" PRIu64 ", already committed", sb->number);
            }
            if (!env->commit.retry(env->commit.ctx, "deleting a staged batch",
                                   SDL_RETRY_TARGET_CONNECT, delete_staged_attempt, &a, err)) {
                goto out;
            }
            sdl_failpoint("recovery.after_delete");
            continue;
        }
        bool smaller = false;
        if (!commit_staged(env, sb->number, &rec, &smaller, err)) {
            goto out;
        }
        discard_rest = discard_rest || smaller;
    }
    if (!rec.found) {
        sdl_offset_done(&rec.offset);
        if (discard_rest && strcmp(env->start, "now") == 0) {
            /* Staged by a version that stored no start position (batch 0): the discarded
             * changes are read again only from a position before them, which "now" is not. */
            sdl_error_set(err, SDL_E_CONFIG,
                          "pipeline '%s' has no offset and its staged batches were discarded: "
                          "with pipeline.start: now their changes would never be read again; "
                          "set pipeline.start to the GTID position before them (or start) and "
                          "start sdl again",
                          env->pipeline);
            goto out;
        }
    }
    ok = true;
    *ret = rec;
    memset(&rec, 0, sizeof(rec));
out:
    sdl_recovery_done(&rec);
    free(list);
    return ok;
}
