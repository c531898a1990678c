/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "sdl/daemon/notify.h"

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "sdl/base/log.h"

static uint64_t watchdog_usec;

void
sdl_notify_init(void)
{
#if HAVE_SYSTEMD
    uint64_t usec = 0;
    /* unset_environment=0: children (none) may inherit; keeps $WATCHDOG_USEC for tests. */
    if (sd_watchdog_enabled(0, &usec) > 0) {
        watchdog_usec = usec;
    }
#endif
}

uint64_t
sdl_notify_watchdog_usec(void)
{
    return watchdog_usec;
}

static void
notify_send(const char *state)
{
#if HAVE_SYSTEMD
    int r = sd_notify(0, state);
    if (r < 0) {
        log_debug("sd_notify(%s) failed: %d", state, r);
    }
#else
    (void)state;
#endif
}

void
sdl_notify_ready(void)
{
    notify_send("READY=1");
}

void
sdl_notify_reloading(void)
{
    notify_send("RELOADING=1");
}

void
sdl_notify_stopping(void)
{
    notify_send("STOPPING=1");
}

void
sdl_notify_watchdog(void)
{
    if (watchdog_usec) {
        notify_send("WATCHDOG=1");
    }
}

void
sdl_notify_extend_timeout(uint64_t usec)
{
    char buf[64];

    (void)snprintf(buf, sizeof(buf), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
    notify_send(buf);
}

void
sdl_notify_status(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n = snprintf(buf, sizeof(buf), "STATUS=");

    va_start(ap, fmt);
    (void)vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    notify_send(buf);
}
