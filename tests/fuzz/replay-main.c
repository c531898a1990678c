/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay-main: runs a libFuzzer target over every file of a corpus directory (or the files
 * named on the command line) without libFuzzer, so each fuzz corpus is an ordinary test on
 * every build. A crash, sanitizer report or abort fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return 1;
    }
    /* An exact-size heap copy, so a read past the end is caught by ASan/valgrind. */
    buf = malloc(len ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    (void)LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "missing corpus %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *de;
            if (!d) {
                return 1;
            }
            while ((de = readdir(d))) {
                char p[4096];
                if (de->d_name[0] == '.') {
                    continue;
                }
                (void)snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
                if (run_file(p) != 0) {
                    closedir(d);
                    return 1;
                }
                files++;
            }
            closedir(d);
        } else {
            if (run_file(argv[i]) != 0) {
                return 1;
            }
            files++;
        }
    }
    if (files == 0) {
        fprintf(stderr, "empty corpus: a fuzz replay with no input tests nothing\n");
        return 1;
    }
    printf("replayed %d inputs\n", files);
    return 0;
}
