/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-man: writes sdl.yaml(5) from docs/sdl.yaml.5.in and the configuration key tables
 * (src/config/config-keys.c, through sdl_config_foreach_key()): the line "@KEYS@" of the
 * template becomes one subsection per section and one entry per key, with its type, range,
 * default, reload behaviour and description. The parser and the manual read the same rows,
 * so a key cannot exist undocumented: a row without a description fails the build.
 *
 * Usage (meson runs it): config-man TEMPLATE > sdl.yaml.5
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/config/config.h"

typedef struct gen {
    FILE *out;
    int missing; /* keys without a description */
} gen;

/* Text for a roff body line: backslashes doubled, '-' as \-, a leading '.' or '\'' escaped. */
static void
roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'') {
        fputs("\\&", out);
    }
    for (; *s; s++) {
        if (*s == '\\') {
            fputs("\\e", out);
        } else if (*s == '-') {
            fputs("\\-", out);
        } else {
            fputc(*s, out);
        }
    }
}

static void
one_key(const sdl_config_key_info *k, void *userdata)
{
    gen *g = userdata;
    FILE *out = g->out;
    bool section = strcmp(k->type, "section") == 0;
    bool rejected = strcmp(k->type, "rejected") == 0;

    if (!k->doc || !*k->doc) {
        fprintf(stderr, "config-man: key '%s' has no description in the key table\n", k->path);
        g->missing++;
        return;
    }
    if (section && !strchr(k->path, '.')) {
        fputs(".SS ", out);
        roff(out, k->path);
        fputs("\n", out);
        roff(out, k->doc);
        fputs(k->required ? ". Required.\n" : ". Optional.\n", out);
        return;
    }
    if (!strchr(k->path, '.')) {
        /* a top-level key that is not a section ('columns'): a subsection of its own */
        fputs(".SS ", out);
        roff(out, k->path);
        fputs("\n", out);
    }
    fputs(".TP\n.B ", out);
    roff(out, k->path);
    fputs("\n", out);
    if (section) {
        fputs("A section: ", out);
        roff(out, k->doc);
        fputs(".\n", out);
        return;
    }
    if (rejected) {
        fputs("Refused: ", out);
        roff(out, k->doc);
        fputs(".\n", out);
        return;
    }
    fputs("\\fI", out);
    roff(out, k->choices ? k->choices : k->type);
    fputs("\\fP", out);
    if (k->range) {
        fputs(", ", out);
        roff(out, k->range);
    }
    fputs("; ", out);
    if (k->def) {
        fputs("default \\fB", out);
        roff(out, k->def);
        fputs("\\fP", out);
    } else if (k->required) {
        fputs("\\fBrequired\\fP", out);
    } else {
        fputs("unset by default", out);
    }
    fputs(k->reloadable ? "; reloadable (SIGHUP).\n" : "; a change needs a restart.\n", out);
    fputs(".br\n", out);
    roff(out, k->doc);
    fputs(".\n", out);
}

int
main(int argc, char **argv)
{
    char line[4096];
    gen g = {stdout, 0};
    FILE *in;

    if (argc != 2 || !(in = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: config-man TEMPLATE\n");
        return 2;
    }
    while (fgets(line, sizeof(line), in)) {
        if (strcmp(line, "@KEYS@\n") == 0) {
            sdl_config_foreach_key(one_key, &g);
        } else {
            fputs(line, stdout);
        }
    }
    fclose(in);
    if (g.missing || fflush(stdout) != 0) {
        return 1;
    }
    return 0;
}
