/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* config-validate-private: the validators of config-validate.c that the key tables of
 * config-keys.c name. Each returns a reason, or NULL when the value is fine. */

#include "config-private.h"

const char *sdl_config_validate_mode(const char *mode);

/* mirror.collection: a collection name in which {db} and {table} stand for the table's. */
const char *sdl_config_validate_mirror_collection(const sdl_config *c);

/* mirror.indexes: "pattern: key[, key…]", a key being a column name, "-" before it for a
 * descending one. */
const char *sdl_config_validate_mirror_index(const char *item);

const char *sdl_config_validate_mirror_database(const sdl_config *c);

const char *sdl_config_validate_host(const sdl_config *c);

const char *sdl_config_validate_pipeline_name(const sdl_config *c);

const char *sdl_config_validate_start(const sdl_config *c);

const char *sdl_config_validate_pattern(const char *pattern);

/* MongoDB database names: 1 to 63 bytes, none of / \\ . space " $ * < > : | ? (the
 * characters mongod refuses on any platform). */
const char *sdl_config_validate_database(const sdl_config *c);

const char *sdl_config_validate_changes(const sdl_config *c);

const char *sdl_config_validate_staging(const sdl_config *c);

const char *sdl_config_validate_offsets(const sdl_config *c);

const char *sdl_config_validate_dead_letters(const sdl_config *c);

/* A literal target.uri: a URI, and no secret in it. */
const char *sdl_config_validate_uri(const sdl_config *c);

/* expireAfterSeconds is whole seconds: refuse what would be rounded. */
const char *sdl_config_validate_retention(const sdl_config *c);

const char *sdl_config_validate_listen(const sdl_config *c);
