/* SPDX-License-Identifier: Apache-2.0 */
#include "fake-sink.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

void
fake_sink_init(fake_sink *fs)
{
    memset(fs, 0, sizeof(*fs));
}

void
fake_sink_done(fake_sink *fs)
{
    sdl_offset_done(&fs->offset);
    for (size_t i = 0; i < fs->ndocs; i++) {
        bson_destroy(fs->docs[i].doc);
    }
    free(fs->docs);
    for (size_t i = 0; i < fs->nstaged; i++) {
        sdl_batch_done(&fs->staged[i].batch);
    }
    free(fs->staged);
    if (fs->mirror_writes) {
        bson_destroy(fs->mirror_writes);
    }
    memset(fs, 0, sizeof(*fs));
}

void
fake_sink_fail(fake_sink *fs, fake_op op, fake_fail kind, uint32_t count)
{
    size_t n = fs->nfail[op]++;

    fs->fail[op][n].kind = kind;
    fs->fail[op][n].count = count;
}

/* The failure scripted for this call of @op, if any (consumed). */
static bool
take_failure(fake_sink *fs, fake_op op, fake_fail *ret)
{
    fs->calls[op]++;
    if (fs->nfail[op] == 0) {
        return false;
    }
    *ret = fs->fail[op][0].kind;
    if (--fs->fail[op][0].count == 0) {
        memmove(&fs->fail[op][0], &fs->fail[op][1], (fs->nfail[op] - 1) * sizeof(fs->fail[op][0]));
        fs->nfail[op]--;
    }
    return true;
}

/* A scripted failure that needs nothing special: transient or permanent. */
static bool
plain_failure(fake_fail kind, const char *what, sdl_error *err)
{
    if (kind == FAKE_FAIL_TRANSIENT) {
        sdl_error_set_transient(err, SDL_E_SINK, "%s: injected transient failure", what);
    } else {
        sdl_error_set(err, SDL_E_SINK, "%s: injected permanent failure", what);
    }
    return false;
}

static void
batch_copy(sdl_batch *dst, const sdl_batch *src)
{
    sdl_batch_init(dst);
    for (size_t i = 0; i < src->ndocs; i++) {
        bson_t *doc = bson_copy(src->docs[i]);
        if (src->dead && src->dead[i]) {
            sdl_batch_add_dead(dst, doc);
        } else {
            sdl_batch_add(dst, doc, false);
        }
    }
    dst->number = src->number;
    dst->rows = src->rows;
    sdl_offset_copy(&dst->offset_after, &src->offset_after);
}

static size_t
staged_index(const fake_sink *fs, uint64_t number, bool *found)
{
    size_t i = 0;

    while (i < fs->nstaged && fs->staged[i].batch.number < number) {
        i++;
    }
    *found = i < fs->nstaged && fs->staged[i].batch.number == number;
    return i;
}

const fake_staged *
fake_sink_staged(const fake_sink *fs, uint64_t number)
{
    bool found;
    size_t i = staged_index(fs, number, &found);

    return found ? &fs->staged[i] : NULL;
}

void
fake_sink_put_staged(fake_sink *fs, const sdl_batch *batch, uint32_t parts_expected,
                     uint32_t parts_found, bool damaged)
{
    bool found;
    size_t i = staged_index(fs, batch->number, &found);

    if (found) {
        sdl_batch_done(&fs->staged[i].batch);
    } else {
        fs->staged = sdl_xreallocarray(fs->staged, fs->nstaged + 1, sizeof(*fs->staged));
        memmove(&fs->staged[i + 1], &fs->staged[i], (fs->nstaged - i) * sizeof(*fs->staged));
        fs->nstaged++;
    }
    batch_copy(&fs->staged[i].batch, batch);
    fs->staged[i].parts_expected = parts_expected;
    fs->staged[i].parts_found = parts_found;
    fs->staged[i].damaged = damaged;
}

static void
delete_staged(fake_sink *fs, uint64_t number)
{
    bool found;
    size_t i = staged_index(fs, number, &found);

    if (found) {
        sdl_batch_done(&fs->staged[i].batch);
        memmove(&fs->staged[i], &fs->staged[i + 1], (fs->nstaged - i - 1) * sizeof(*fs->staged));
        fs->nstaged--;
    }
}

/* Every staged batch numbered @number or less. */
static void
delete_staged_upto(fake_sink *fs, uint64_t number)
{
    while (fs->nstaged > 0 && fs->staged[0].batch.number <= number) {
        delete_staged(fs, fs->staged[0].batch.number);
    }
    fs->cleanups++;
}

void
fake_sink_set_requests(fake_sink *fs, const char *json)
{
    bson_error_t error;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &error);

    free(fs->offset.requests);
    fs->offset.requests = sdl_xmalloc(doc->len);
    memcpy(fs->offset.requests, bson_get_data(doc), doc->len);
    fs->offset.requests_len = doc->len;
    bson_destroy(doc);
}

void
fake_sink_set_offset(fake_sink *fs, uint64_t batch, const char *gtid, const char *partial_gtid,
                     uint64_t partial_seq)
{
    sdl_offset_done(&fs->offset);
    fs->offset.flavor = sdl_xstrdup("mariadb");
    fs->offset.gtid = sdl_xstrdup(gtid);
    fs->offset.partial_gtid = partial_gtid ? sdl_xstrdup(partial_gtid) : NULL;
    fs->offset.partial_seq = partial_seq;
    fs->offset.batch = batch;
    fs->have_offset = true;
}

size_t
fake_sink_count_id(const fake_sink *fs, const char *id)
{
    size_t n = 0;

    for (size_t i = 0; i < fs->ndocs; i++) {
        bson_iter_t it;
        if (!fs->docs[i].dead && bson_iter_init_find(&it, fs->docs[i].doc, "_id") &&
            BSON_ITER_HOLDS_UTF8(&it) && strcmp(bson_iter_utf8(&it, NULL), id) == 0) {
            n++;
        }
    }
    return n;
}

/* ---- the operations ---- */

static bool
fs_ping(void *impl, sdl_error *err)
{
    (void)impl;
    (void)err;
    return true;
}

static bool
fs_load_offset(void *impl, sdl_offset *ret_offset, bool *ret_found, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_LOAD_OFFSET, &f)) {
        return plain_failure(f, "loading the offset", err);
    }
    memset(ret_offset, 0, sizeof(*ret_offset));
    *ret_found = fs->have_offset;
    if (fs->have_offset) {
        sdl_offset_copy(ret_offset, &fs->offset);
    }
    return true;
}

static bool
fs_init_offset(void *impl, const sdl_offset *offset, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_INIT_OFFSET, &f)) {
        return plain_failure(f, "storing the start position", err);
    }
    if (fs->have_offset) {
        sdl_error_set(err, SDL_E_SINK,
                      "storing the start position: fencing: its offset exists already (batch "
                      "%" PRIu64 ")",
                      fs->offset.batch);
        return false;
    }
    sdl_offset_copy(&fs->offset, offset);
    fs->offset.batch = 0;
    fs->have_offset = true;
    return true;
}

static bool
fs_stage(void *impl, const sdl_batch *batch, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_STAGE, &f)) {
        return plain_failure(f, "staging", err);
    }
    fake_sink_put_staged(fs, batch, 1, 1, false);
    return true;
}

static void
apply(fake_sink *fs, const sdl_batch *batch)
{
    fs->docs = sdl_xreallocarray(fs->docs, fs->ndocs + batch->ndocs, sizeof(*fs->docs));
    for (size_t i = 0; i < batch->ndocs; i++) {
        if (batch->no_audit && !(batch->dead && batch->dead[i])) {
            continue; /* pipeline.modes: [mirror] */
        }
        fs->docs[fs->ndocs++] = (fake_doc){.doc = bson_copy(batch->docs[i]),
                                           .dead = batch->dead && batch->dead[i],
                                           .batch = batch->number};
    }
    if (batch->mirror) {
        bson_iter_t it;
        if (!fs->mirror_writes) {
            fs->mirror_writes = bson_new();
        }
        if (bson_iter_init(&it, batch->mirror)) {
            while (bson_iter_next(&it)) {
                char key[16];
                const char *k;
                (void)bson_uint32_to_string(bson_count_keys(fs->mirror_writes), &k, key,
                                            sizeof(key));
                bson_append_value(fs->mirror_writes, k, -1, bson_iter_value(&it));
            }
        }
    }
    /* the commit $sets the offset's fields: the requests `sdl snapshot` stored stay */
    uint8_t *requests = fs->offset.requests;
    size_t requests_len = fs->offset.requests_len;
    fs->offset.requests = NULL;
    sdl_offset_done(&fs->offset);
    sdl_offset_copy(&fs->offset, &batch->offset_after);
    free(fs->offset.requests);
    fs->offset.requests = requests;
    fs->offset.requests_len = requests_len;
    fs->have_offset = true;
    if (batch->clean_staged) {
        delete_staged_upto(fs, batch->number);
    }
    fs->commits++;
}

/* mongo-writer.c's settle(): the offset read back decides. */
static bool
settle(fake_sink *fs, const sdl_batch *batch, sdl_error *err)
{
    fs->settled++;
    fs->ambiguous_batch = batch->number;
    switch (sdl_batch_settle(batch, &fs->offset, fs->have_offset)) {
    case SDL_SETTLE_COMMITTED:
        fs->ambiguous_batch = 0;
        fs->committed_read = true; /* the offset read back */
        return true;
    case SDL_SETTLE_NOT_COMMITTED:
        sdl_error_set_transient(err, SDL_E_SINK,
                                "committing batch %" PRIu64 ": outcome unknown; the offset still "
                                "names the previous batch: not committed, retry",
                                batch->number);
        return false;
    case SDL_SETTLE_OTHER_WRITER:
        break;
    }
    fs->ambiguous_batch = 0;
    sdl_error_set(err, SDL_E_SINK,
                  "committing batch %" PRIu64 ": fencing: the offset names batch %" PRIu64
                  " (is another sdl writing this pipeline?)",
                  batch->number, fs->offset.batch);
    return false;
}

static bool
fs_commit(void *impl, const sdl_batch *batch, sdl_error *err)
{
    fake_sink *fs = impl;
    uint64_t n = batch->number;
    fake_fail f;

    fs->rejected = 0;
    fs->committed_read = false;
    if (take_failure(fs, FAKE_OP_COMMIT, &f)) {
        switch (f) {
        case FAKE_FAIL_AMBIGUOUS_APPLIED:
            if (fs->have_offset ? fs->offset.batch + 1 == n : n == 1) {
                apply(fs, batch);
            }
            return settle(fs, batch, err);
        case FAKE_FAIL_AMBIGUOUS_LOST:
            return settle(fs, batch, err);
        case FAKE_FAIL_TOO_LARGE:
            sdl_error_set(err, SDL_E_SINK, "committing batch %" PRIu64 ": TransactionTooLarge", n);
            err->sys_errno = 257;
            return false;
        case FAKE_FAIL_TOO_SLOW:
            sdl_error_set(err, SDL_E_SINK,
                          "committing batch %" PRIu64 ": TransactionExceededLifetimeLimitSeconds",
                          n);
            err->sys_errno = 290;
            return false;
        case FAKE_FAIL_REJECT_FIRST:
            fs->rejected = 1;
            sdl_error_set(err, SDL_E_DATA, "committing batch %" PRIu64 ": document refused", n);
            return false;
        default:
            return plain_failure(f, "committing", err);
        }
    }
    /* the fence: the offset must name batch n-1 (or be absent for batch 1) */
    if (fs->have_offset ? fs->offset.batch + 1 != n : n != 1) {
        if (fs->ambiguous_batch == n) {
            return settle(fs, batch, err);
        }
        sdl_error_set(err, SDL_E_SINK,
                      "committing batch %" PRIu64 ": fencing: the offset update fenced on batch "
                      "%" PRIu64 " matched nothing; the offset names batch %" PRIu64
                      " (is another sdl writing this pipeline?)",
                      n, n - 1, fs->offset.batch);
        return false;
    }
    apply(fs, batch);
    fs->ambiguous_batch = 0;
    fs->committed_read = true; /* the offset write returns the document */
    return true;
}

static bool
fs_committed_requests(void *impl, const uint8_t **ret_requests, size_t *ret_len)
{
    fake_sink *fs = impl;

    *ret_requests = fs->committed_read ? fs->offset.requests : NULL;
    *ret_len = fs->committed_read ? fs->offset.requests_len : 0;
    return fs->committed_read;
}

static size_t
fs_rejected(void *impl)
{
    return ((fake_sink *)impl)->rejected;
}

static sdl_sink_size
fs_size(void *impl, const sdl_error *err)
{
    (void)impl;
    if (err->code != SDL_E_SINK) {
        return SDL_SINK_SIZE_OK;
    }
    return err->sys_errno == 257   ? SDL_SINK_TOO_LARGE
           : err->sys_errno == 290 ? SDL_SINK_TOO_SLOW
                                   : SDL_SINK_SIZE_OK;
}

static bool
fs_list_staged(void *impl, sdl_staged_batch **ret_list, size_t *ret_count, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_LIST_STAGED, &f)) {
        return plain_failure(f, "listing staged batches", err);
    }
    *ret_list = sdl_xcalloc(fs->nstaged ? fs->nstaged : 1, sizeof(**ret_list));
    *ret_count = fs->nstaged;
    for (size_t i = 0; i < fs->nstaged; i++) {
        (*ret_list)[i] = (sdl_staged_batch){.number = fs->staged[i].batch.number,
                                            .parts_expected = fs->staged[i].parts_expected,
                                            .parts_found = fs->staged[i].parts_found};
    }
    return true;
}

static bool
fs_load_staged(void *impl, uint64_t number, sdl_batch *ret_batch, sdl_error *err)
{
    fake_sink *fs = impl;
    const fake_staged *st = fake_sink_staged(fs, number);
    fake_fail f;

    if (take_failure(fs, FAKE_OP_LOAD_STAGED, &f)) {
        return plain_failure(f, "loading a staged batch", err);
    }
    if (!st) {
        sdl_error_set(err, SDL_E_SINK, "staged batch %" PRIu64 " is gone", number);
        return false;
    }
    if (st->damaged) {
        sdl_error_set(err, SDL_E_DATA,
                      "staged batch %" PRIu64 " is damaged: a part holds another number of "
                      "changes than its count",
                      number);
        return false;
    }
    batch_copy(ret_batch, &st->batch);
    return true;
}

static bool
fs_delete_staged(void *impl, uint64_t number, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_DELETE_STAGED, &f)) {
        return plain_failure(f, "deleting a staged batch", err);
    }
    delete_staged(fs, number);
    return true;
}

static bool
fs_clean_staged(void *impl, uint64_t committed, sdl_error *err)
{
    fake_sink *fs = impl;
    fake_fail f;

    if (take_failure(fs, FAKE_OP_CLEAN_STAGED, &f)) {
        return plain_failure(f, "deleting committed staged batches", err);
    }
    if (!fs->have_offset || fs->offset.batch != committed) {
        sdl_error_set(err, SDL_E_SINK,
                      "deleting committed staged batches: fencing: the offset names batch "
                      "%" PRIu64 ", expected %" PRIu64 " (is another sdl writing this pipeline?)",
                      fs->offset.batch, committed);
        return false;
    }
    delete_staged_upto(fs, committed);
    return true;
}

static bool
fs_renew_lease(void *impl, bool release, sdl_error *err)
{
    fake_sink *fs = impl;

    (void)err;
    fs->lease_renewals++;
    fs->lease_released = release;
    return true;
}

static bool
fs_end_previous_sessions(void *impl, size_t *ret_n, char **ret_holder, sdl_error *err)
{
    fake_sink *fs = impl;

    (void)err;
    *ret_n = fs->previous_sessions;
    *ret_holder = fs->previous_sessions ? sdl_xstrdup("host:1") : NULL;
    fs->sessions_ended += fs->previous_sessions;
    fs->previous_sessions = 0;
    return true;
}

static const sdl_sink_ops fake_sink_ops = {
    .ping = fs_ping,
    .load_offset = fs_load_offset,
    .init_offset = fs_init_offset,
    .stage = fs_stage,
    .commit = fs_commit,
    .rejected = fs_rejected,
    .committed_requests = fs_committed_requests,
    .size = fs_size,
    .list_staged = fs_list_staged,
    .load_staged = fs_load_staged,
    .delete_staged = fs_delete_staged,
    .clean_staged = fs_clean_staged,
    .renew_lease = fs_renew_lease,
    .end_previous_sessions = fs_end_previous_sessions,
};

sdl_sink
fake_sink_sink(fake_sink *fs)
{
    return (sdl_sink){.ops = &fake_sink_ops, .impl = fs};
}
