/* fuzz_cert.c — libFuzzer target for certificate files, which come from
 * partners into every trust store. A loaded certificate must have a valid
 * partner id and format back to text that loads to the same certificate. */
#include "fuzz_common.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_as_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    knoop_cert_t c;
    memset(&c, 0, sizeof c);
    int rc = knoop_cert_load(path, &c);
    close(fd);
    if (rc != KNOOP_OK) {
        CHECK(rc < 0);
        return 0;
    }
    CHECK(knoop_id_valid(c.id));
    knoop_buf_t out = { 0 };
    CHECK(knoop_cert_format(&c, &out) == KNOOP_OK);
    fd = fuzz_as_file(out.data, out.len, path, sizeof path);
    if (fd >= 0) {
        knoop_cert_t d;
        memset(&d, 0, sizeof d);
        CHECK(knoop_cert_load(path, &d) == KNOOP_OK);
        CHECK(strcmp(c.id, d.id) == 0 && memcmp(c.pk, d.pk, KNOOP_PK_LEN) == 0);
        close(fd);
    }
    knoop_buf_free(&out);
    (void) knoop_cert_check_time(&c, 1764547200);
    return 0;
}
