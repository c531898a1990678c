/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * request-watch: when the writer hears of the snapshot requests `sdl snapshot` stores in the
 * offset document (DESIGN.md §9), and which of them are new. Every commit hands the offset
 * document's requests back (the fenced offset write returns them: sdl_sink_committed_requests())
 * and the committer passes them on (sdl_commit_env.requests); the writer reads the offset
 * itself only when nothing was heard for SDL_REQUEST_WATCH_USEC (idle, or batches slower than
 * that). So a request is picked up within that time, with no round trip while commits flow.
 *
 * Pure logic: no I/O, no clock (callers pass the monotonic time), no logging.
 * Threading: one thread (the writer).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDL_REQUEST_WATCH_USEC UINT64_C(1000000) /* at most this long without hearing */

typedef struct sdl_request_watch {
    bool heard;          /* requests were heard of (or a read tried) at heard_usec */
    uint64_t heard_usec; /* ... then */
    uint8_t *seen;       /* the requests last heard of (NULL: none), owned */
    size_t seen_len;
} sdl_request_watch;

void sdl_request_watch_init(sdl_request_watch *w);
void sdl_request_watch_done(sdl_request_watch *w);

/* Whether the writer must read the offset itself at @now: nothing heard for
 * SDL_REQUEST_WATCH_USEC (or ever). When true, the read counts as heard at @now: a failed one
 * is tried again after SDL_REQUEST_WATCH_USEC. */
bool sdl_request_watch_due(sdl_request_watch *w, uint64_t now);

/* The offset's requests as of @now (@requests, @len bytes; NULL: none), from a commit or a
 * read: true when they differ from those last heard of (the caller hands them over). */
bool sdl_request_watch_heard(sdl_request_watch *w, const uint8_t *requests, size_t len,
                             uint64_t now);
