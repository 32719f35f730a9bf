/* fuzz_wire.c — libFuzzer target for knoop_frame_decode, the gate for every
 * frame a broker or node receives from the network. An accepted frame must
 * encode again, and what it encodes to must decode to the same kind. */
#include "fuzz_common.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    knoop_frame_t f;
    int rc = knoop_frame_decode(&f, data, size);
    if (rc != KNOOP_OK) {
        CHECK(rc < 0 && strcmp(knoop_strerror(rc), "unknown error") != 0);
        return 0;
    }
    knoop_buf_t out = { 0 };
    rc = knoop_frame_encode(&f, &out);
    CHECK(rc == KNOOP_OK || rc == KNOOP_ETOOBIG);
    if (rc == KNOOP_OK) {
        knoop_frame_t g;
        CHECK(knoop_frame_decode(&g, out.data, out.len) == KNOOP_OK);
        CHECK(g.kind == f.kind);
        knoop_frame_clear(&g);
    }
    knoop_buf_free(&out);
    knoop_frame_clear(&f);
    return 0;
}
