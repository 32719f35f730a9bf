/* c14n.c — print an XML document in C14N 1.0 through libknoop
 * (knoop_xml_c14n_mode, libxml2's xmlC14NDocDumpMemory), with comments or
 * without: `xmllint --c14n` has no mode without comments, which is the
 * measure of the CAP round trip for other producers' documents.
 *
 *   knoop-test-c14n [--no-comments] FILE|-
 */
#include "cap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    bool comments = true;
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--no-comments")) {
        comments = false;
        i++;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: knoop-test-c14n [--no-comments] FILE|-\n");
        return 2;
    }
    FILE *f = strcmp(argv[i], "-") ? fopen(argv[i], "rb") : stdin;
    if (!f) {
        perror(argv[i]);
        return 2;
    }
    knoop_buf_t in = { 0 }, out = { 0 };
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (knoop_buf_append(&in, chunk, n)) {
            fprintf(stderr, "out of memory\n");
            return 2;
        }
    if (f != stdin)
        fclose(f);
    char err[256];
    int rc = knoop_xml_c14n_mode(in.data ? (const char *) in.data : "", in.len, comments, &out,
                                 err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[i], err);
        return 1;
    }
    fwrite(out.data, 1, out.len, stdout);
    knoop_buf_free(&in);
    knoop_buf_free(&out);
    return 0;
}
