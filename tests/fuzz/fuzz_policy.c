/* fuzz_policy.c — libFuzzer target for the policy parser (a policy file is
 * an operator's input, and a broker reloads it while running). A parsed
 * policy must answer questions about valid and invalid partners and topics
 * without harm; a refusal must come with a message. */
#include "fuzz_common.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    knoop_policy_t *p = NULL;
    char err[512];
    int rc = knoop_policy_parse(text, "fuzz", &p, err, sizeof err);
    if (rc == KNOOP_OK) {
        CHECK(p != NULL);
        static const char *ids[] = { "vr-utrecht", "kcr2", "ws-limburg", "", "A" };
        static const char *topics[] = { "grip.vr-utrecht", "sitrep.kcr2.x", "a", "", "a..b" };
        for (size_t i = 0; i < 5; i++)
            for (size_t j = 0; j < 5; j++) {
                (void) knoop_policy_may_publish(p, ids[i], j % 2 ? "region" : NULL, topics[j]);
                (void) knoop_policy_may_read(p, ids[i], j % 2 ? NULL : "broker", topics[j]);
            }
        knoop_policy_destroy(&p);
        CHECK(p == NULL);
    } else {
        CHECK(p == NULL && err[0] != 0);
    }
    free(text);
    return 0;
}
