/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/base/failpoint.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FAILPOINTS 8

typedef struct failpoint {
    char name[64];
    unsigned long hit_at; /* 1-based call number that crashes */
    atomic_ulong calls;
} failpoint;

static failpoint points[MAX_FAILPOINTS];
static int npoints;

void
sdl_failpoint_init(void)
{
    const char *env = getenv("SDL_FAILPOINT");
    char buf[512];
    char *save = NULL;

    npoints = 0;
    if (!env || !*env) {
        return;
    }
    (void)snprintf(buf, sizeof(buf), "%s", env);
    for (char *tok = strtok_r(buf, ",", &save); tok && npoints < MAX_FAILPOINTS;
         tok = strtok_r(NULL, ",", &save)) {
        failpoint *fp = &points[npoints];
        char *colon = strchr(tok, ':');
        fp->hit_at = 1;
        if (colon) {
            *colon = '\0';
            fp->hit_at = strtoul(colon + 1, NULL, 10);
            if (fp->hit_at == 0) {
                fp->hit_at = 1;
            }
        }
        (void)snprintf(fp->name, sizeof(fp->name), "%s", tok);
        atomic_store(&fp->calls, 0);
        npoints++;
    }
}

void
sdl_failpoint(const char *name)
{
    for (int i = 0; i < npoints; i++) {
        if (strcmp(points[i].name, name) == 0 &&
            atomic_fetch_add(&points[i].calls, 1) + 1 == points[i].hit_at) {
            static const char msg[] = "<2>sdl[error]: failpoint reached, exiting with 137\n";
            (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
            _exit(137);
        }
    }
}

bool
sdl_failpoint_hit(const char *name)
{
    bool hit = false;

    for (int i = 0; i < npoints; i++) {
        if (strcmp(points[i].name, name) == 0 &&
            atomic_fetch_add(&points[i].calls, 1) + 1 == points[i].hit_at) {
            hit = true;
        }
    }
    return hit;
}
