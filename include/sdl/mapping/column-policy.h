/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * column-policy: the `columns:` rules of the configuration (docs/CONFIG.md, "columns")
 * compiled for the mapper: per table, which action applies to each column (drop, redact,
 * hash, truncate), and the values those actions give. doc-mapper.h applies a policy to `pk`,
 * `before`, `after` and `changed`, dead-letter.h to the images of a dead letter, so a hashed
 * or redacted value never goes further than the row decoder's memory.
 *
 * A policy borrows its configuration (rules and HMAC key), which must outlive it. It keeps a
 * per-table cache of plans (keyed by the table's names, so a table map parsed again or a
 * table id reused gives the right plan) and scratch images: one thread at a time per policy.
 * No logging. OOM aborts.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"
#include "sdl/model/change.h"

typedef struct sdl_column_policy sdl_column_policy; /* opaque */

/* What happens to one column of a table. */
typedef struct sdl_column_plan {
    sdl_column_action action; /* SDL_COLUMN_KEEP when no rule matches */
    uint32_t bytes;           /* SDL_COLUMN_TRUNCATE: at most this many bytes */
} sdl_column_plan;

/* Text of a hash: 64 lowercase hex digits and a NUL. */
#define SDL_COLUMN_HASH_TEXT 65

/* The policy of @config->columns; NULL when it has no rules (then nothing changes). */
sdl_column_policy *sdl_column_policy_new(const sdl_config *config);

/* The configuration the policy was made from. */
const sdl_config *sdl_column_policy_config(const sdl_column_policy *policy);

/* The plan of @t (t->ncols entries) into *ret_plan, or NULL when no rule matches a column of
 * @t. Fails with SDL_E_CONFIG when a drop rule matches a primary-key column (a key cannot be
 * dropped: docs/CONFIG.md). The plan stays valid until the policy is freed. */
SDL_MUST_CHECK bool sdl_column_policy_plan(sdl_column_policy *policy, const sdl_table *t,
                                           const sdl_column_plan **ret_plan, sdl_error *err);

/* @in under @plan (one column) into *@out, which may borrow @in's bytes and @text (the hex
 * of a hash; SDL_COLUMN_HASH_TEXT bytes). ABSENT stays ABSENT; a dropped column becomes
 * ABSENT; NULL stays NULL except under redact. */
void sdl_column_policy_apply(const sdl_column_policy *policy, const sdl_column_plan *plan,
                             const sdl_column *col, const sdl_value *in, sdl_value *out,
                             char *text);

/* The row image @img of @t (t->ncols values) under @plan, in the policy's scratch image
 * @slot (0 or 1): valid until the next call with the same slot. */
const sdl_value *sdl_column_policy_image(sdl_column_policy *policy, const sdl_table *t,
                                         const sdl_column_plan *plan, const sdl_value *img,
                                         unsigned slot);

/* Keeps *@policy made from @config: when @config is not the one *@policy was made from (a
 * reload), frees it and makes the new one (NULL without rules). Cheap when nothing changed:
 * callers call it for every row with the configuration in force for the row's transaction. */
void sdl_column_policy_follow(sdl_column_policy **policy, const sdl_config *config);

/* NULL-safe; returns NULL. */
sdl_column_policy *sdl_column_policy_free(sdl_column_policy *policy);
