/* fuzz_api.c — libFuzzer target for the local API decoders: requests (what a
 * node reads from any local application) and replies (what the client
 * library reads from a node). The first byte picks which; an accepted frame
 * must encode again and decode to the same kind and id. */
#include "api.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool rep = data[0] & 1;
    data++, size--;
    knoop_buf_t out = { 0 };
    if (!rep) {
        knoop_api_req_t r;
        int rc = knoop_api_req_decode(&r, data, size);
        if (rc != KNOOP_OK)
            return 0;
        rc = knoop_api_req_encode(&r, &out);
        CHECK(rc == KNOOP_OK || rc == KNOOP_ETOOBIG);
        if (rc == KNOOP_OK) {
            knoop_api_req_t s;
            CHECK(knoop_api_req_decode(&s, out.data, out.len) == KNOOP_OK);
            CHECK(s.kind == r.kind && s.id == r.id);
            knoop_api_req_clear(&s);
        }
        knoop_api_req_clear(&r);
    } else {
        knoop_api_rep_t r;
        int rc = knoop_api_rep_decode(&r, data, size);
        if (rc != KNOOP_OK)
            return 0;
        rc = knoop_api_rep_encode(&r, &out);
        CHECK(rc == KNOOP_OK || rc == KNOOP_ETOOBIG);
        if (rc == KNOOP_OK) {
            knoop_api_rep_t s;
            CHECK(knoop_api_rep_decode(&s, out.data, out.len) == KNOOP_OK);
            CHECK(s.kind == r.kind && s.id == r.id);
            knoop_api_rep_clear(&s);
        }
        knoop_api_rep_clear(&r);
    }
    knoop_buf_free(&out);
    return 0;
}
