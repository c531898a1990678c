/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-yaml: the YAML document. Pass 1 reads libyaml's events to reject what the document
 * API would silently resolve or hide (aliases, anchors, tags, a second document, deep
 * nesting; syntax errors with their mark); pass 2 walks yaml_parser_load()'s tree with the key
 * tables of config-keys.c, storing each value (config.c's loader helpers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "sdl/base/alloc.h"
#include "sdl/config/config.h"
#include "sdl/config/units.h"

#include "config-load-private.h"
#include "config-private.h"

#define MAX_DEPTH 16

/* ---- the tree walk ---- */

bool
sdl_config_set_list(loader *ld, const sdl_config_section *sec, const sdl_config_key *key,
                    yaml_node_t *node)
{
    char label[128], buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
    char ***field = SDL_CFG_FIELD(ld->config, key, char **);
    size_t *count = (size_t *)(void *)((char *)ld->config + key->count_offset);
    char **list = NULL;
    size_t n = 0;

    sdl_config_key_label(sec, key->name, label, sizeof(label));
    if (node->type != YAML_SEQUENCE_NODE) {
        return sdl_config_fail(ld, node->start_mark,
                               "%s must be a sequence of strings (e.g. [\"db.*\"]), not %s", label,
                               sdl_config_node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
        if (item->type != YAML_SCALAR_NODE || sdl_config_is_null_scalar(item)) {
            sdl_config_free_list(list, n);
            return sdl_config_fail(
                ld, item->start_mark, "items of %s must be strings, not %s", label,
                item->type == YAML_SCALAR_NODE ? "null" : sdl_config_node_kind(item));
        }
        if (strlen((const char *)item->data.scalar.value) != item->data.scalar.length) {
            sdl_config_free_list(list, n);
            return sdl_config_fail(ld, item->start_mark,
                                   "invalid value '%s' in %s: contains a NUL character",
                                   sdl_config_echo(item->data.scalar.value,
                                                   item->data.scalar.length, buf, sizeof(buf)),
                                   label);
        }
        if (key->validate_item) {
            const char *why = key->validate_item((const char *)item->data.scalar.value);
            if (why) {
                sdl_config_free_list(list, n);
                return sdl_config_fail(ld, item->start_mark, "invalid item '%s' in %s: %s",
                                       sdl_config_echo(item->data.scalar.value,
                                                       item->data.scalar.length, buf, sizeof(buf)),
                                       label, why);
            }
        }
        list = sdl_xreallocarray(list, n + 1, sizeof(*list));
        list[n++] = sdl_xstrdup((const char *)item->data.scalar.value);
    }
    sdl_config_free_list(*field, *count);
    *field = list;
    *count = n;
    return true;
}

/* sdl_config_echo(), but a key holding a URI with a possible secret shows it masked. */
const char *
sdl_config_echo_value(const sdl_config_key *key, const yaml_node_t *vnode, char *buf, size_t cap)
{
    if (key->flags & SDL_CFG_MASK_URI) {
        char *masked = sdl_config_mask_uri((const char *)vnode->data.scalar.value);
        sdl_config_echo((const unsigned char *)masked, strlen(masked), buf, cap);
        explicit_bzero(masked, strlen(masked));
        free(masked);
        return buf;
    }
    return sdl_config_echo(vnode->data.scalar.value, vnode->data.scalar.length, buf, cap);
}

static bool
set_key(loader *ld, const sdl_config_section *sec, const sdl_config_key *key, yaml_node_t *knode,
        yaml_node_t *vnode)
{
    char label[128], buf[4 * SDL_CONFIG_VALUE_ECHO_MAX], why_buf[160];
    const char *why;
    const char *text;

    sdl_config_key_label(sec, key->name, label, sizeof(label));
    switch (key->type) {
    case SDL_CFG_REJECTED:
        return sdl_config_fail(ld, knode->start_mark, "%s", key->doc);
    case SDL_CFG_SECTION:
        return sdl_config_walk_section(ld, key->section, vnode, knode->start_mark);
    case SDL_CFG_STRING_LIST:
        if (!sdl_config_set_list(ld, sec, key, vnode)) {
            return false;
        }
        break;
    case SDL_CFG_COLUMN_RULES:
        if (!sdl_config_set_column_rules(ld, key, vnode)) {
            return false;
        }
        break;
    case SDL_CFG_SKIP_OPS:
        if (!sdl_config_set_skip_ops(ld, key, vnode)) {
            return false;
        }
        break;
    default:
        if (vnode->type != YAML_SCALAR_NODE) {
            return sdl_config_fail(ld, vnode->start_mark, "%s must be a scalar, not %s", label,
                                   sdl_config_node_kind(vnode));
        }
        if (sdl_config_is_null_scalar(vnode)) {
            if (!(key->flags & SDL_CFG_NULLABLE)) {
                return sdl_config_fail(ld, vnode->start_mark, "%s needs a value", label);
            }
            char **field = SDL_CFG_FIELD(ld->config, key, char *);
            free(*field);
            *field = NULL;
            break;
        }
        text = (const char *)vnode->data.scalar.value;
        if (strlen(text) != vnode->data.scalar.length) {
            return sdl_config_fail(ld, vnode->start_mark,
                                   "invalid value '%s' for %s: contains a NUL character",
                                   sdl_config_echo_value(key, vnode, buf, sizeof(buf)), label);
        }
        if ((key->type == SDL_CFG_STRING || key->type == SDL_CFG_SECRET_FILE) && !*text) {
            return sdl_config_fail(ld, vnode->start_mark, "%s must not be empty", label);
        }
        why = sdl_config_store_scalar(ld->config, key, text, why_buf, sizeof(why_buf));
        if (why) {
            return sdl_config_fail(ld, vnode->start_mark, "invalid value '%s' for %s: %s",
                                   sdl_config_echo(vnode->data.scalar.value,
                                                   vnode->data.scalar.length, buf, sizeof(buf)),
                                   label, why);
        }
        break;
    }
    if (key->validate && (why = key->validate(ld->config)) != NULL) {
        if (vnode->type == YAML_SCALAR_NODE) {
            return sdl_config_fail(ld, vnode->start_mark, "invalid value '%s' for %s: %s",
                                   sdl_config_echo_value(key, vnode, buf, sizeof(buf)), label, why);
        }
        return sdl_config_fail(ld, vnode->start_mark, "invalid %s: %s", label, why);
    }
    return true;
}

bool
sdl_config_walk_section(loader *ld, const sdl_config_section *sec, yaml_node_t *map,
                        yaml_mark_t owner_mark)
{
    char label[128], buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
    yaml_mark_t *seen = NULL; /* first mark per key; line == SIZE_MAX when unseen */
    bool ok = false;

    if (map->type != YAML_MAPPING_NODE) {
        if (!sec->path[0]) {
            return sdl_config_fail(
                ld, map->start_mark,
                "the configuration must be a mapping of sections (source:, pipeline:, "
                "...), not %s",
                sdl_config_node_kind(map));
        }
        return sdl_config_fail(ld, map->start_mark, "'%s' must be a mapping, not %s", sec->path,
                               sdl_config_node_kind(map));
    }
    seen = sdl_xcalloc(sec->nkeys, sizeof(*seen));
    for (size_t i = 0; i < sec->nkeys; i++) {
        seen[i].line = SIZE_MAX;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *knode = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *vnode = yaml_document_get_node(&ld->doc, p->value);
        const sdl_config_key *key = NULL;
        const char *name;
        size_t idx = 0;

        if (knode->type != YAML_SCALAR_NODE) {
            sdl_config_fail(ld, knode->start_mark, "keys must be strings, not %s",
                            sdl_config_node_kind(knode));
            goto out;
        }
        name = (const char *)knode->data.scalar.value;
        for (idx = 0; idx < sec->nkeys; idx++) {
            if (strlen(name) == knode->data.scalar.length &&
                strcmp(sec->keys[idx].name, name) == 0) {
                key = &sec->keys[idx];
                break;
            }
        }
        if (!key) {
            const char *s = sdl_config_suggest(sec, name);
            const char *what = sec->path[0] ? "key" : "section";
            sdl_config_echo(knode->data.scalar.value, knode->data.scalar.length, buf, sizeof(buf));
            if (sec->path[0]) {
                snprintf(label, sizeof(label), " in '%s'", sec->path);
            } else {
                label[0] = '\0';
            }
            if (s) {
                sdl_config_fail(ld, knode->start_mark, "unknown %s '%s'%s (did you mean '%s'?)",
                                what, buf, label, s);
            } else {
                sdl_config_fail(ld, knode->start_mark, "unknown %s '%s'%s", what, buf, label);
            }
            goto out;
        }
        if (seen[idx].line != SIZE_MAX) {
            sdl_config_key_label(sec, key->name, label, sizeof(label));
            sdl_config_fail(ld, knode->start_mark, "duplicate %s %s (first at line %zu)",
                            sec->path[0] ? "key" : "section", label, seen[idx].line + 1);
            goto out;
        }
        seen[idx] = knode->start_mark;
        sdl_config_remember(ld, key, knode->start_mark, vnode->start_mark);
        if (!set_key(ld, sec, key, knode, vnode)) {
            goto out;
        }
    }
    for (size_t i = 0; i < sec->nkeys; i++) {
        const sdl_config_key *k = &sec->keys[i];
        if ((k->flags & SDL_CFG_REQUIRED) && seen[i].line == SIZE_MAX) {
            if (sec->path[0]) {
                sdl_config_fail(ld, owner_mark, "missing required key '%s' in '%s'", k->name,
                                sec->path);
            } else {
                sdl_config_fail(ld, owner_mark, "missing required section '%s'", k->name);
            }
            goto out;
        }
    }
    ok = true;
out:
    free(seen);
    return ok;
}

/* ---- pass 1: events ---- */

bool
sdl_config_syntax_error(loader *ld, yaml_parser_t *parser)
{
    yaml_mark_t mark = parser->problem_mark;

    if (parser->error == YAML_READER_ERROR) {
        /* Reader errors carry an offset, not a mark. */
        mark.line = 0;
        mark.column = 0;
        for (size_t i = 0; i < parser->problem_offset && i < ld->len; i++) {
            if (ld->text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)ld->text[i] & 0xc0) != 0x80) {
                mark.column++;
            }
        }
    }
    if (parser->context) {
        return sdl_config_fail(ld, mark, "YAML syntax error: %s (%s at line %zu)",
                               parser->problem ? parser->problem : "unknown problem",
                               parser->context, parser->context_mark.line + 1);
    }
    return sdl_config_fail(ld, mark, "YAML syntax error: %s",
                           parser->problem ? parser->problem : "unknown problem");
}

bool
sdl_config_check_events(loader *ld)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    size_t docs = 0;
    size_t depth = 0;
    bool ok = false;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->len);
    for (;;) {
        const yaml_char_t *anchor = NULL, *tag = NULL;
        bool done;

        if (!yaml_parser_parse(&parser, &ev)) {
            sdl_config_syntax_error(ld, &parser);
            goto out;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                sdl_config_fail(ld, ev.start_mark,
                                "more than one YAML document; sdl reads exactly one configuration");
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            sdl_config_fail(ld, ev.start_mark,
                            "YAML aliases (*%s) are not allowed in the configuration",
                            (const char *)ev.data.alias.anchor);
            yaml_event_delete(&ev);
            goto out;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            tag = ev.data.sequence_start.tag;
            depth++;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            tag = ev.data.mapping_start.tag;
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (anchor) {
            sdl_config_fail(ld, ev.start_mark,
                            "YAML anchors (&%s) are not allowed in the configuration",
                            (const char *)anchor);
            yaml_event_delete(&ev);
            goto out;
        }
        if (tag) {
            const char *t = (const char *)tag;
            bool core = strncmp(t, "tag:yaml.org,2002:", 18) == 0;
            sdl_config_fail(ld, ev.start_mark,
                            "YAML tags (%s%s) are not allowed in the configuration",
                            core ? "!!" : "", core ? t + 18 : t);
            yaml_event_delete(&ev);
            goto out;
        }
        if (depth > MAX_DEPTH) {
            sdl_config_fail(ld, ev.start_mark, "nesting deeper than %d levels", MAX_DEPTH);
            yaml_event_delete(&ev);
            goto out;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (done) {
            break;
        }
    }
    ok = true;
out:
    yaml_parser_delete(&parser);
    return ok;
}
