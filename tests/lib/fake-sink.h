/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * fake-sink: an in-memory sink (model/sink.h) for unit tests of the batcher and recovery. It
 * keeps the commit protocol of mongo-writer.h: stage is idempotent, commit applies the rows,
 * moves the offset fenced on batch n-1 and (batch->clean_staged) deletes the staged batches
 * up to n at once, clean_staged is fenced on the offset naming its batch, and an ambiguous
 * outcome is settled by reading the offset back (sdl_batch_settle()), a commit hands back the
 * offset's snapshot requests (committed_requests()). It records what was
 * committed (mirror writes included; a batch with no_audit commits its dead letters only), and
 * fails on command:
 *
 *   fake_sink_fail(fs, FAKE_OP_COMMIT, FAKE_FAIL_TRANSIENT, 2): the next two commits fail
 *   transiently; failures queue up per operation and are used in order.
 *
 * Single-threaded. Never logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sdl/model/sink.h"

typedef enum fake_op {
    FAKE_OP_LOAD_OFFSET,
    FAKE_OP_INIT_OFFSET,
    FAKE_OP_STAGE,
    FAKE_OP_COMMIT,
    FAKE_OP_LIST_STAGED,
    FAKE_OP_LOAD_STAGED,
    FAKE_OP_DELETE_STAGED,
    FAKE_OP_CLEAN_STAGED,
    FAKE_OP_COUNT
} fake_op;

typedef enum fake_fail {
    FAKE_FAIL_TRANSIENT,         /* nothing happens; a transient error */
    FAKE_FAIL_PERMANENT,         /* nothing happens; a permanent error */
    FAKE_FAIL_AMBIGUOUS_APPLIED, /* commit: applied, but the reply is lost (then settled) */
    FAKE_FAIL_AMBIGUOUS_LOST,    /* commit: not applied, and the reply is lost (then settled) */
    FAKE_FAIL_TOO_LARGE,         /* commit: too large for one transaction */
    FAKE_FAIL_TOO_SLOW,          /* commit: ran over the transaction lifetime */
    FAKE_FAIL_REJECT_FIRST,      /* commit: the server refuses the batch's first document */
} fake_fail;

/* One committed document, as the sink stores it. */
typedef struct fake_doc {
    bson_t *doc;
    bool dead;      /* in the dead-letter collection */
    uint64_t batch; /* the batch that committed it */
} fake_doc;

typedef struct fake_staged {
    sdl_batch batch; /* a deep copy of what was staged */
    uint32_t parts_expected;
    uint32_t parts_found; /* fewer than expected: a crash while staging */
    bool damaged;         /* load_staged reports SDL_E_DATA */
} fake_staged;

typedef struct fake_sink {
    sdl_offset offset; /* the offset document */
    bool have_offset;
    fake_doc *docs; /* committed documents in commit order */
    size_t ndocs;
    fake_staged *staged; /* ascending by number */
    size_t nstaged;
    struct {
        fake_fail kind;
        uint32_t count;
    } fail[FAKE_OP_COUNT][8];
    size_t nfail[FAKE_OP_COUNT];
    size_t rejected;          /* 1 + index of the refused document of the last commit */
    uint64_t ambiguous_batch; /* a commit of this batch may have been applied */
    bool committed_read;      /* the last commit succeeded: it returned the offset document */
    /* counters */
    size_t calls[FAKE_OP_COUNT];
    size_t commits;  /* batches committed */
    size_t settled;  /* ambiguous commits settled by reading the offset */
    size_t cleanups; /* commits and clean_staged() calls that deleted staged batches */
    size_t lease_renewals;
    bool lease_released;
    size_t previous_sessions; /* what end_previous_sessions() reports (and resets) */
    size_t sessions_ended;
    bson_t *mirror_writes; /* the mirror writes of the committed batches, in commit order as one
                            * array-like document ("0", "1", ...); NULL until one */
} fake_sink;

void fake_sink_init(fake_sink *fs);
void fake_sink_done(fake_sink *fs);
/* The sink seam over @fs. */
sdl_sink fake_sink_sink(fake_sink *fs);
/* The next @count calls of @op fail as @kind. */
void fake_sink_fail(fake_sink *fs, fake_op op, fake_fail kind, uint32_t count);
/* Another writer moves the pipeline: the offset becomes batch @batch at @gtid. */
void fake_sink_set_offset(fake_sink *fs, uint64_t batch, const char *gtid, const char *partial_gtid,
                          uint64_t partial_seq);
/* `sdl snapshot` stores requests: the offset's requests become @json (an array as a document,
 * {"0": {...}}); commits keep them. */
void fake_sink_set_requests(fake_sink *fs, const char *json);
/* Puts a deep copy of @batch into staging as if staged by an earlier run, with @parts_found of
 * @parts_expected parts present. */
void fake_sink_put_staged(fake_sink *fs, const sdl_batch *batch, uint32_t parts_expected,
                          uint32_t parts_found, bool damaged);
/* The staged copy of batch @number, NULL when none. */
const fake_staged *fake_sink_staged(const fake_sink *fs, uint64_t number);
/* How many committed row_changes documents (dead letters excluded) have _id @id. */
size_t fake_sink_count_id(const fake_sink *fs, const char *id);
