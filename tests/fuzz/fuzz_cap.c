/*
 * fuzz_cap.c — libFuzzer target for knoop_cap_import (the gate for CAP 1.2
 * documents) and knoop_edxl_unwrap (EDXL-DE 2.0). See README.md beside this
 * file for how to build and run it.
 *
 * Beyond "does not crash", every document import accepts is held to cap.h's
 * promise: export succeeds, export(import(doc)) equals doc under C14N, and
 * importing the export gives the same payload bytes. Every document unwrap
 * accepts must wrap again, and unwrap to the same distribution. A broken
 * promise aborts, which libFuzzer reports as a crash with the input.
 *
 * Built with -DKNOOP_FUZZ_STANDALONE the file has its own main(), which runs
 * each file named on the command line through the target.
 */
#include "cap.h"
#include "edxl.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_cap: %s:%d: check failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

static bool s_same(const knoop_buf_t *a, const knoop_buf_t *b)
{
    return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

static void s_cap(const char *doc, size_t size)
{
    knoop_buf_t pb = { 0 }, xml = { 0 }, pb2 = { 0 }, c1 = { 0 }, c2 = { 0 };
    char err[512];
    if (knoop_cap_import(doc, size, &pb, NULL, err, sizeof err) == KNOOP_OK) {
        CHECK(knoop_cap_export(pb.data, pb.len, &xml, err, sizeof err) == KNOOP_OK);
        /* the round trip's measure: C14N 1.0 without comments (a comment
         * inside a value is not carried) */
        CHECK(knoop_xml_c14n_mode(doc, size, false, &c1, err, sizeof err) == KNOOP_OK);
        CHECK(knoop_xml_c14n_mode((const char *) xml.data, xml.len, false, &c2, err,
                                  sizeof err) == KNOOP_OK);
        if (!s_same(&c1, &c2)) {
            fprintf(stderr, "fuzz_cap: C14N differs\n--- in:\n%.*s\n--- out:\n%.*s\n",
                    (int) c1.len, c1.data, (int) c2.len, c2.data);
            abort();
        }
        CHECK(knoop_cap_import((const char *) xml.data, xml.len, &pb2, NULL, err,
                               sizeof err) == KNOOP_OK);
        CHECK(s_same(&pb, &pb2));
    }
    knoop_buf_free(&pb);
    knoop_buf_free(&pb2);
    knoop_buf_free(&xml);
    knoop_buf_free(&c1);
    knoop_buf_free(&c2);
}

static void s_edxl(const char *doc, size_t size)
{
    json_t *d = NULL, *d2 = NULL;
    knoop_buf_t xml = { 0 };
    char err[512];
    if (knoop_edxl_unwrap(doc, size, &d, err, sizeof err) == KNOOP_OK) {
        if (knoop_edxl_wrap(d, &xml, err, sizeof err) != KNOOP_OK) {
            fprintf(stderr, "fuzz_cap: unwrap accepted what wrap refuses: %s\n", err);
            abort();
        }
        CHECK(knoop_edxl_unwrap((const char *) xml.data, xml.len, &d2, err, sizeof err) ==
              KNOOP_OK);
        CHECK(json_equal(d, d2));
    }
    json_decref(d);
    json_decref(d2);
    knoop_buf_free(&xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the documents are text; one copy, NUL-terminated, serves both */
    char *doc = malloc(size + 1);
    if (!doc)
        return 0;
    memcpy(doc, data, size);
    doc[size] = '\0';
    s_cap(doc, size);
    s_edxl(doc, size);
    free(doc);
    return 0;
}

#ifdef KNOOP_FUZZ_STANDALONE
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        static uint8_t buf[4u << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}
#endif
