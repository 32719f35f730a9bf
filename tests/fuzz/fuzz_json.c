/* fuzz_json.c — libFuzzer target for the payload codec, both ways: JSON
 * text an application hands to `knoop pub` (JSON -> protobuf payload), and
 * payload bytes from any partner's message (protobuf -> JSON, as `knoop sub`
 * and `knoop audit replay` print them). The first byte picks the direction
 * and the payload type. Round trips must hold: what encodes decodes, and
 * decoding what was decoded and encoded again gives the same JSON. */
#include "fuzz_common.h"
#include "json.h"

static size_t s_ntypes(const char *const *t)
{
    size_t n = 0;
    while (t[n])
        n++;
    return n;
}

static void s_round_trip(const char *type, const json_t *obj)
{
    knoop_buf_t bytes = { 0 };
    char err[256];
    int rc = knoop_payload_from_json(type, obj, &bytes, err, sizeof err);
    if (rc != KNOOP_OK) {
        CHECK(rc < 0 && err[0] != 0);
        knoop_buf_free(&bytes);
        return;
    }
    json_t *back = NULL;
    CHECK(knoop_payload_to_json(type, bytes.data, bytes.len, &back) == KNOOP_OK);
    knoop_buf_t again = { 0 };
    CHECK(knoop_payload_from_json(type, back, &again, err, sizeof err) == KNOOP_OK);
    json_t *back2 = NULL;
    CHECK(knoop_payload_to_json(type, again.data, again.len, &back2) == KNOOP_OK);
    CHECK(json_equal(back, back2));
    json_decref(back);
    json_decref(back2);
    knoop_buf_free(&bytes);
    knoop_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *const *types = knoop_payload_types();
    size_t nt = s_ntypes(types);
    if (nt == 0)
        return 0;
    const char *type = types[(data[0] >> 1) % nt];
    bool from_bytes = data[0] & 1;
    data++, size--;
    if (from_bytes) {
        json_t *obj = NULL;
        int rc = knoop_payload_to_json(type, data, size, &obj);
        if (rc != KNOOP_OK) {
            CHECK(rc < 0 && obj == NULL);
            return 0;
        }
        CHECK(json_is_object(obj));
        s_round_trip(type, obj);
        json_decref(obj);
    } else {
        json_error_t jerr;
        json_t *obj = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj)
            return 0;
        if (json_is_object(obj))
            s_round_trip(type, obj);
        json_decref(obj);
    }
    return 0;
}
