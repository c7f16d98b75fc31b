/*
 * replay_main.c - a main() for the fuzz targets when libFuzzer is not linked: feeds every file
 * named on the command line (directories: every regular file in them) to LLVMFuzzerTestOneInput.
 * ctest runs each target over its seed corpus this way, so the targets build and stay honest;
 * real fuzzing: clang -fsanitize=fuzzer,address fuzz_x.c + the core sources (tests/fuzz/README).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len); /* exactly len bytes: no terminator to lean on */
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int i, n = 0, failed = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file '%s'\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) < 0;
            n++;
            continue;
        }
        d = opendir(argv[i]);
        if (d == NULL)
            return 1;
        while ((e = readdir(d)) != NULL) {
            char path[4096];

            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                failed |= replay_file(path) < 0;
                n++;
            }
        }
        closedir(d);
    }
    printf("replayed %d input%s\n", n, n == 1 ? "" : "s");
    return failed || n == 0;
}
