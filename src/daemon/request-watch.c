/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/daemon/request-watch.h"

#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"

void
sdl_request_watch_init(sdl_request_watch *w)
{
    memset(w, 0, sizeof(*w));
}

void
sdl_request_watch_done(sdl_request_watch *w)
{
    free(w->seen);
    memset(w, 0, sizeof(*w));
}

bool
sdl_request_watch_due(sdl_request_watch *w, uint64_t now)
{
    if (w->heard && now - w->heard_usec < SDL_REQUEST_WATCH_USEC) {
        return false;
    }
    w->heard = true;
    w->heard_usec = now;
    return true;
}

bool
sdl_request_watch_heard(sdl_request_watch *w, const uint8_t *requests, size_t len, uint64_t now)
{
    w->heard = true;
    w->heard_usec = now;
    if (!requests) {
        len = 0;
    }
    if (len == w->seen_len && (len == 0 || memcmp(requests, w->seen, len) == 0)) {
        return false;
    }
    free(w->seen);
    w->seen = len ? sdl_xmalloc(len) : NULL;
    if (len) {
        memcpy(w->seen, requests, len);
    }
    w->seen_len = len;
    return len != 0;
}
