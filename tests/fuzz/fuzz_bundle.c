/* fuzz_bundle.c — libFuzzer target for knoop_bundle_open and its gate
 * (knoop_bundle_intact), the reader of journal bundles a courier carries on
 * a USB stick: bytes from anyone. Whatever the file, the reader must not
 * crash; a verdict other than intact must say why; what it read (header,
 * certificates, lists, envelopes) must be usable; an intact bundle must
 * have a header of version 1 (unsigned) or 2 (signed, with a seal whose
 * signature verifies and whose signer no empty trust store knows); and the envelopes it yields go through the
 * envelope gate and the chain check (knoop_bundle_check without a trust
 * store), which must give one verdict per stream or a reason. */
#include "fuzz_common.h"
#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_as_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    knoop_bundle_t *b = NULL;
    int rc = knoop_bundle_open(path, &b);
    close(fd);
    if (rc != KNOOP_OK) {
        CHECK(rc < 0 && !b);
        return 0;
    }
    const char *why = NULL;
    int intact = knoop_bundle_intact(b, &why);
    if (intact != KNOOP_OK)
        CHECK(intact < 0 && why && *why);
    const knoop_bundle_header_t *h = knoop_bundle_header(b);
    CHECK(h);
    /* Both versions read; a whole version 2 bundle has a verified seal of
     * its signer, a version 1 bundle none. */
    if (intact == KNOOP_OK) {
        CHECK((h->version == KNOOP_BUNDLE_VERSION || h->version == KNOOP_BUNDLE_VERSION_UNSIGNED)
              && h->exporter && h->pattern && h->signer);
        const knoop_bundle_seal_t *seal = knoop_bundle_seal(b);
        CHECK((h->version == KNOOP_BUNDLE_VERSION) == (seal != NULL));
        if (seal) {
            char sw[400];
            CHECK(!strcmp(seal->signer, h->signer));
            CHECK(knoop_bundle_signer(seal, NULL, sw, sizeof sw) == KNOOP_EUNKNOWN && sw[0]);
        }
    } else {
        CHECK(knoop_bundle_seal(b) == NULL);
    }
    const knoop_bytes_t *list;
    size_t n = knoop_bundle_certs(b, &list);
    for (size_t i = 0; i < n; i++)
        CHECK(list[i].data || !list[i].len);
    n = knoop_bundle_revocations(b, &list);
    for (size_t i = 0; i < n; i++)
        CHECK(list[i].data || !list[i].len);
    n = knoop_bundle_envelopes(b, &list);
    knoop_msg_t *msgs = calloc(n ? n : 1, sizeof *msgs);
    size_t parsed = 0;
    for (size_t i = 0; msgs && i < n; i++)
        if (knoop_msg_parse(&msgs[parsed], list[i].data, list[i].len) == KNOOP_OK)
            parsed++;
    knoop_bundle_stream_t *rows = NULL;
    size_t nrows = 0;
    char reason[512];
    if (msgs && parsed) {
        rc = knoop_bundle_check(NULL, msgs, parsed, &rows, &nrows, reason, sizeof reason);
        CHECK(rc == KNOOP_OK || rc == KNOOP_ENOMEM || reason[0]);
        CHECK(rc == KNOOP_ENOMEM || (nrows >= 1 && nrows <= parsed));
    }
    free(rows);
    for (size_t i = 0; i < parsed; i++)
        knoop_msg_clear(&msgs[i]);
    free(msgs);
    knoop_bundle_destroy(&b);
    CHECK(!b);
    return 0;
}
