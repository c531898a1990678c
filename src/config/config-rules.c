/* SPDX-License-Identifier: Apache-2.0 */
/* config-rules: the rule lists of the configuration, columns: ({match, action | truncate})
 * and tables.skip_ops ({match, ops}): parsed from their YAML sequences, freed. */
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

/* ---- rule lists: columns and tables.skip_ops ---- */

void
sdl_config_free_column_rules(sdl_columns_config *c)
{
    for (size_t i = 0; i < c->nrules; i++) {
        free(c->rules[i].match);
    }
    free(c->rules);
    c->rules = NULL;
    c->nrules = 0;
}

void
sdl_config_free_skip_ops(sdl_tables_config *t)
{
    for (size_t i = 0; i < t->nskip_ops; i++) {
        free(t->skip_ops[i].match);
    }
    free(t->skip_ops);
    t->skip_ops = NULL;
    t->nskip_ops = 0;
}

/* A scalar that is a non-empty string without NUL bytes, or NULL (with the failure set). */
static const char *
item_string(loader *ld, yaml_node_t *node, const char *what)
{
    char buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];

    if (node->type != YAML_SCALAR_NODE || sdl_config_is_null_scalar(node)) {
        sdl_config_fail(ld, node->start_mark, "%s must be a string, not %s", what,
                        node->type == YAML_SCALAR_NODE ? "null" : sdl_config_node_kind(node));
        return NULL;
    }
    if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length ||
        node->data.scalar.length == 0) {
        sdl_config_fail(
            ld, node->start_mark, "invalid value '%s' for %s: %s",
            sdl_config_echo(node->data.scalar.value, node->data.scalar.length, buf, sizeof(buf)),
            what, node->data.scalar.length ? "contains a NUL character" : "must not be empty");
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

static size_t
count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s; s++) {
        n += *s == c;
    }
    return n;
}

/* One item of 'columns': {match: "db.table.column", action: drop | redact | hash} or
 * {match: ..., truncate: N} (action: truncate may be said too). */
static bool
parse_column_rule(loader *ld, yaml_node_t *item, sdl_column_rule *rule)
{
    static const sdl_config_enum actions[] = {{"drop", SDL_COLUMN_DROP},
                                              {"redact", SDL_COLUMN_REDACT},
                                              {"hash", SDL_COLUMN_HASH},
                                              {"truncate", SDL_COLUMN_TRUNCATE},
                                              {NULL, 0}};
    char buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
    yaml_node_t *match = NULL, *action = NULL, *trunc = NULL;
    const char *text;

    if (item->type != YAML_MAPPING_NODE) {
        return sdl_config_fail(
            ld, item->start_mark,
            "items of 'columns' must be mappings ({match: \"db.table.column\", action: "
            "drop | redact | hash} or {match: ..., truncate: N}), not %s",
            sdl_config_node_kind(item));
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        yaml_node_t **slot = NULL;
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (strcmp(name, "match") == 0) {
            slot = &match;
        } else if (strcmp(name, "action") == 0) {
            slot = &action;
        } else if (strcmp(name, "truncate") == 0) {
            slot = &trunc;
        } else {
            return sdl_config_fail(
                ld, k->start_mark,
                "unknown key '%s' in an item of 'columns' (expected match, action, "
                "truncate)",
                k->type == YAML_SCALAR_NODE
                    ? sdl_config_echo(k->data.scalar.value, k->data.scalar.length, buf, sizeof(buf))
                    : sdl_config_node_kind(k));
        }
        if (*slot) {
            return sdl_config_fail(ld, k->start_mark, "duplicate key '%s' in an item of 'columns'",
                                   name);
        }
        *slot = v;
    }
    if (!match) {
        return sdl_config_fail(ld, item->start_mark,
                               "an item of 'columns' needs 'match: \"db.table.column\"'");
    }
    if (!(text = item_string(ld, match, "'match' in 'columns'"))) {
        return false;
    }
    if (count_char(text, '.') < 2) {
        return sdl_config_fail(
            ld, match->start_mark,
            "invalid value '%s' for 'match' in 'columns': patterns match "
            "\"db.table.column\" and must contain two '.' (e.g. 'shop.customers.email' "
            "or '*.*.password')",
            sdl_config_echo(match->data.scalar.value, match->data.scalar.length, buf, sizeof(buf)));
    }
    rule->match = sdl_xstrdup(text);
    rule->action = SDL_COLUMN_KEEP;
    if (action) {
        if (!(text = item_string(ld, action, "'action' in 'columns'"))) {
            return false;
        }
        for (const sdl_config_enum *e = actions; e->name; e++) {
            if (strcmp(e->name, text) == 0) {
                rule->action = (sdl_column_action)e->value;
            }
        }
        if (rule->action == SDL_COLUMN_KEEP) {
            return sdl_config_fail(
                ld, action->start_mark,
                "invalid value '%s' for 'action' in 'columns': expected drop, redact, "
                "hash or truncate",
                sdl_config_echo(action->data.scalar.value, action->data.scalar.length, buf,
                                sizeof(buf)));
        }
    }
    if (trunc) {
        uint64_t bytes = 0;
        const char *why = "";
        if (action && rule->action != SDL_COLUMN_TRUNCATE) {
            return sdl_config_fail(
                ld, trunc->start_mark,
                "an item of 'columns' has one action: 'truncate: N' or 'action: %s'",
                (const char *)action->data.scalar.value);
        }
        if (!(text = item_string(ld, trunc, "'truncate' in 'columns'"))) {
            return false;
        }
        if (!sdl_parse_size(text, &bytes, &why) || bytes < 1 || bytes > ((uint64_t)16 << 20)) {
            return sdl_config_fail(ld, trunc->start_mark,
                                   "invalid value '%s' for 'truncate' in 'columns': %s",
                                   sdl_config_echo(trunc->data.scalar.value,
                                                   trunc->data.scalar.length, buf, sizeof(buf)),
                                   *why ? why : "must be between 1B and 16MiB");
        }
        rule->action = SDL_COLUMN_TRUNCATE;
        rule->truncate_bytes = (uint32_t)bytes;
    } else if (rule->action == SDL_COLUMN_TRUNCATE) {
        return sdl_config_fail(
            ld, action->start_mark,
            "'action: truncate' needs the length: write 'truncate: N' (bytes) instead");
    } else if (!action) {
        return sdl_config_fail(
            ld, item->start_mark,
            "an item of 'columns' needs 'action: drop | redact | hash' or 'truncate: N'");
    }
    if (rule->action == SDL_COLUMN_HASH && !ld->have_hash_rule) {
        ld->have_hash_rule = true;
        ld->hash_rule_mark = action->start_mark;
    }
    return true;
}

bool
sdl_config_set_column_rules(loader *ld, const sdl_config_key *key, yaml_node_t *node)
{
    sdl_columns_config *c = &ld->config->columns;
    sdl_columns_config parsed = {0};

    (void)key;
    if (node->type != YAML_SEQUENCE_NODE) {
        return sdl_config_fail(
            ld, node->start_mark,
            "'columns' must be a sequence of rules ([{match: \"db.table.column\", "
            "action: hash}]), not %s",
            sdl_config_node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        parsed.rules = sdl_xreallocarray(parsed.rules, parsed.nrules + 1, sizeof(*parsed.rules));
        parsed.rules[parsed.nrules] = (sdl_column_rule){0};
        bool ok = parse_column_rule(ld, yaml_document_get_node(&ld->doc, *it),
                                    &parsed.rules[parsed.nrules]);
        parsed.nrules++;
        if (!ok) {
            sdl_config_free_column_rules(&parsed);
            return false;
        }
    }
    sdl_config_free_column_rules(c);
    c->rules = parsed.rules;
    c->nrules = parsed.nrules;
    return true;
}

static const char *
validate_skip_pattern(const char *pattern)
{
    if (!strchr(pattern, '.')) {
        return "patterns match \"db.table\" and must contain a '.' (e.g. 'shop.*')";
    }
    return NULL;
}

/* An op name's bit, or 0. */
static unsigned
op_bit(const char *name)
{
    if (strcmp(name, "insert") == 0) {
        return SDL_OP_INSERT;
    }
    if (strcmp(name, "update") == 0) {
        return SDL_OP_UPDATE;
    }
    if (strcmp(name, "delete") == 0) {
        return SDL_OP_DELETE;
    }
    return 0;
}

static bool
parse_op(loader *ld, yaml_node_t *node, unsigned *ops)
{
    char buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
    const char *text = item_string(ld, node, "an operation in 'tables.skip_ops'");
    unsigned bit;

    if (!text) {
        return false;
    }
    bit = op_bit(text);
    if (!bit) {
        return sdl_config_fail(
            ld, node->start_mark,
            "invalid operation '%s' in 'tables.skip_ops': expected insert, update or "
            "delete",
            sdl_config_echo(node->data.scalar.value, node->data.scalar.length, buf, sizeof(buf)));
    }
    if (*ops & bit) {
        return sdl_config_fail(ld, node->start_mark,
                               "operation '%s' is listed twice in 'tables.skip_ops'", text);
    }
    *ops |= bit;
    return true;
}

/* One item of tables.skip_ops: {match: "db.table", ops: [delete, ...]}, or an op name alone
 * (every table). */
static bool
parse_skip_rule(loader *ld, yaml_node_t *item, sdl_skip_ops_rule *rule)
{
    char buf[4 * SDL_CONFIG_VALUE_ECHO_MAX];
    yaml_node_t *match = NULL, *ops = NULL;
    const char *text, *why;

    if (item->type == YAML_SCALAR_NODE) {
        rule->match = sdl_xstrdup("*.*");
        return parse_op(ld, item, &rule->ops);
    }
    if (item->type != YAML_MAPPING_NODE) {
        return sdl_config_fail(
            ld, item->start_mark,
            "items of 'tables.skip_ops' must be mappings ({match: \"db.table\", ops: "
            "[delete]}) or operation names, not %s",
            sdl_config_node_kind(item));
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        yaml_node_t **slot = strcmp(name, "match") == 0 ? &match
                             : strcmp(name, "ops") == 0 ? &ops
                                                        : NULL;
        if (!slot) {
            return sdl_config_fail(
                ld, k->start_mark,
                "unknown key '%s' in an item of 'tables.skip_ops' (expected match, ops)",
                k->type == YAML_SCALAR_NODE
                    ? sdl_config_echo(k->data.scalar.value, k->data.scalar.length, buf, sizeof(buf))
                    : sdl_config_node_kind(k));
        }
        if (*slot) {
            return sdl_config_fail(ld, k->start_mark,
                                   "duplicate key '%s' in an item of 'tables.skip_ops'", name);
        }
        *slot = v;
    }
    if (!match || !ops) {
        return sdl_config_fail(
            ld, item->start_mark,
            "an item of 'tables.skip_ops' needs 'match: \"db.table\"' and 'ops: [...]'");
    }
    if (!(text = item_string(ld, match, "'match' in 'tables.skip_ops'"))) {
        return false;
    }
    if ((why = validate_skip_pattern(text)) != NULL) {
        return sdl_config_fail(
            ld, match->start_mark, "invalid value '%s' for 'match' in 'tables.skip_ops': %s",
            sdl_config_echo(match->data.scalar.value, match->data.scalar.length, buf, sizeof(buf)),
            why);
    }
    rule->match = sdl_xstrdup(text);
    if (ops->type == YAML_SCALAR_NODE && !sdl_config_is_null_scalar(ops)) {
        return parse_op(ld, ops, &rule->ops);
    }
    if (ops->type != YAML_SEQUENCE_NODE) {
        return sdl_config_fail(
            ld, ops->start_mark,
            "'ops' in 'tables.skip_ops' must be a sequence of insert, update, delete, "
            "not %s",
            ops->type == YAML_SCALAR_NODE ? "null" : sdl_config_node_kind(ops));
    }
    for (yaml_node_item_t *it = ops->data.sequence.items.start; it < ops->data.sequence.items.top;
         it++) {
        if (!parse_op(ld, yaml_document_get_node(&ld->doc, *it), &rule->ops)) {
            return false;
        }
    }
    if (!rule->ops) {
        return sdl_config_fail(ld, ops->start_mark,
                               "'ops' in 'tables.skip_ops' must name an operation");
    }
    return true;
}

bool
sdl_config_set_skip_ops(loader *ld, const sdl_config_key *key, yaml_node_t *node)
{
    sdl_tables_config *t = &ld->config->tables;
    sdl_tables_config parsed = {0};

    (void)key;
    if (node->type != YAML_SEQUENCE_NODE) {
        return sdl_config_fail(
            ld, node->start_mark,
            "'skip_ops' in 'tables' must be a sequence ([{match: \"shop.*\", ops: "
            "[delete]}] or [delete]), not %s",
            sdl_config_node_kind(node));
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        parsed.skip_ops =
            sdl_xreallocarray(parsed.skip_ops, parsed.nskip_ops + 1, sizeof(*parsed.skip_ops));
        parsed.skip_ops[parsed.nskip_ops] = (sdl_skip_ops_rule){0};
        bool ok = parse_skip_rule(ld, yaml_document_get_node(&ld->doc, *it),
                                  &parsed.skip_ops[parsed.nskip_ops]);
        parsed.nskip_ops++;
        if (!ok) {
            sdl_config_free_skip_ops(&parsed);
            return false;
        }
    }
    sdl_config_free_skip_ops(t);
    t->skip_ops = parsed.skip_ops;
    t->nskip_ops = parsed.nskip_ops;
    return true;
}
