/* trust_reload.c — the trust store loaded again when it changed on disk.
 * See trust_reload.h. */
#include "trust_reload.h"
#include "journal.h"

int knoop_trust_refresh(knoop_journal_t *journal, const char *dir, const char *learned,
                        uint64_t *stamp, knoop_trust_t **trust)
{
    uint64_t st = knoop_trust_stamp(dir, learned);
    if (*trust && st == *stamp)
        return 0;
    *stamp = st;
    knoop_trust_t *t = NULL;
    int rc = knoop_trust_load_ex(dir, learned, KNOOP_TRUST_KEEP_EXPIRED, &t);
    if (rc) {
        knoop_error("trust store %s does not load: %s%s", dir, knoop_strerror(rc),
                    *trust ? "; keeping the previous one" : "");
        return rc;
    }
    if (journal)
        knoop_journal_set_trust(journal, t);
    knoop_trust_destroy(trust);
    *trust = t;
    return 1;
}
