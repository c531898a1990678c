/* SPDX-License-Identifier: Apache-2.0 */
#pragma once
/*
 * doc-field: reading the top-level fields of a row_changes document (or any BSON document)
 * by name, for the layers that look at mapped documents (the batcher, committer, mirror
 * planner and writer) instead of each keeping its own copy. Borrowed results point into
 * @doc and live as long as it does. Never logs.
 */
#include <stdbool.h>

#include <bson/bson.h>

/* The text of field @key of @doc (borrowed); NULL when absent or not a string. */
const char *sdl_doc_field_text(const bson_t *doc, const char *key);

/* Whether @doc is a DDL statement's document (op: "ddl"). */
bool sdl_doc_is_ddl(const bson_t *doc);

/* Field @key of @doc when it is a document, as a static bson_t in @ret borrowing @doc;
 * false when absent or not a document. */
bool sdl_doc_field_doc(const bson_t *doc, const char *key, bson_t *ret);

/* The leading text fields of @doc in one pass: reads its fields from the first for as long as
 * they are strings (a row_changes document begins _id, op, db, table) and sets ret[i]
 * (borrowed) to the text of keys[i] (distinct names) when met, else NULL; it stops once all
 * are met. For a reader of every document of a batch: no iterator, no search of the whole
 * document. */
void sdl_doc_field_leading_texts(const bson_t *doc, const char *const *keys, size_t n,
                                 const char **ret);
