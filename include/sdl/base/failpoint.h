/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/*
 * failpoint: crash injection for tests (STYLE.md §3.10). SDL_FAILPOINT="<name>[:<n>]" read
 * once at start-up makes the n-th (default first) call of sdl_failpoint("<name>") end the
 * process with _exit(137), as kill -9 would: no cleanup, no flush. Several failpoints may be
 * given, separated by commas. Compiled into every build (the tested code is the shipped
 * code); without the variable a failpoint costs one load and a branch.
 *
 * Threading: sdl_failpoint() and sdl_failpoint_hit() may be called from any thread.
 */

/* Reads $SDL_FAILPOINT; call once before starting threads. */
void sdl_failpoint_init(void);

void sdl_failpoint(const char *name);

/* Fault injection without a crash: true on the n-th call with @name (each entry of
 * $SDL_FAILPOINT counts its own calls, so "x:10,x:12" fires on calls 10 and 12), else false.
 * The caller then behaves as if the fault happened (e.g. a lost source connection). */
bool sdl_failpoint_hit(const char *name);
