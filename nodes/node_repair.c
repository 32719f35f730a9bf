/* node_repair.c — the node's answer to a damaged journal (bit rot, a bad
 * disk, a copy gone wrong): nothing damaged is handed to an application, and
 * the damaged messages are fetched again from the broker.
 *
 *   - at start, the whole journal is checked (knoop_journal_scan): damaged
 *     log/vlog rows are rebuilt in place, damaged messages are listed;
 *   - a read that meets damage (delivery stops there: the journal does not
 *     hand damaged bytes out) brings the node here again;
 *   - the HELLO to the broker then claims, for each stream with a damaged
 *     message, only what precedes it: the broker sends the rest again, and
 *     the journal takes a copy that links where the damaged one was in its
 *     place (same log and vlog positions: applications get it once, in
 *     order). */
#include "node_int.h"

#include <string.h>

#define REASK_MS   30000   /* the same damage asked for again after this */
#define RESCAN_MS  5000    /* rows rebuilt at most this often */
#define RETRY_MAX_MS 300000 /* a failed scan: tried again at most this late */

/* Check the whole journal. At start, a journal that cannot be read through
 * (damage on the way that the scan cannot name, or an I/O error) is
 * refused: the node would serve and extend what it cannot check. Any other
 * failure (no memory, a rebuild that could not be written to a full disk)
 * is not: every read checks what it hands out, nothing damaged is
 * delivered, and the scan is tried again after 5 s, 10 s, ... up to 5 min
 * (node_repair_retry). */
static int s_scan(knoop_node_t *self, bool at_start)
{
    knoop_journal_scan_t scan;
    self->repair_scan_at = knoop_now_ms();
    int rc = knoop_journal_scan(self->journal, true, &scan);
    if (rc && at_start && !scan.read_all && (rc == KNOOP_ECORRUPT || rc == KNOOP_EIO)) {
        node_set_error(self, "journal %s could not be read through to check it: %s; the node "
                       "does not start on a journal it cannot check (move it aside and start "
                       "afresh: the node takes back from the mesh what it holds, its unsent "
                       "messages excepted)", knoop_journal_path(self->journal),
                       knoop_strerror(rc));
        knoop_error("node: %s", self->last_error);
        return rc;
    }
    if (rc) {
        uint64_t r = self->repair_retry_ms;
        self->repair_retry_ms = !r ? RESCAN_MS : r >= RETRY_MAX_MS / 2 ? RETRY_MAX_MS : 2 * r;
        unsigned long long in_s = (unsigned long long) self->repair_retry_ms / 1000;
        const char *why = knoop_journal_error(self->journal, NULL);
        if (scan.read_all)      /* the damage is known; its rebuild failed */
            node_set_error(self, "journal DAMAGED on disk: %llu of %llu log/vlog rows, not "
                           "rebuilt: %s; what they name is not delivered until they are (tried "
                           "again in %llu s)", (unsigned long long) scan.damaged_rows,
                           (unsigned long long) scan.rows, why && *why ? why : knoop_strerror(rc),
                           in_s);
        else
            node_set_error(self, "journal %s not checked: %s; what a read finds damaged is not "
                           "delivered; checked again in %llu s",
                           knoop_journal_path(self->journal), knoop_strerror(rc), in_s);
        self->last_error_repair = true;
        knoop_error("node: %s", self->last_error);
        return KNOOP_OK;
    }
    self->repair_retry_ms = 0;
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    self->repair_rows_seen = st.damaged_rows;
    if (scan.damaged || scan.damaged_rows) {
        node_set_error(self, "journal DAMAGED on disk: %llu of %llu messages, %llu of %llu "
                       "log/vlog rows (%llu rebuilt); damaged messages are not delivered and "
                       "are fetched again from the broker",
                       (unsigned long long) scan.damaged, (unsigned long long) scan.messages,
                       (unsigned long long) scan.damaged_rows, (unsigned long long) scan.rows,
                       (unsigned long long) scan.rebuilt_rows);
        knoop_error("node: %s", self->last_error);
    } else {
        knoop_info("node: journal checked: %llu messages and %llu log/vlog rows intact",
                   (unsigned long long) scan.messages, (unsigned long long) scan.rows);
    }
    return KNOOP_OK;
}

void node_repair_retry(knoop_node_t *self)
{
    if (self->repair_retry_ms && knoop_now_ms() - self->repair_scan_at >= self->repair_retry_ms)
        s_scan(self, false);
}

int node_repair_start(knoop_node_t *self)
{
    return s_scan(self, true);
}

void node_repair_step(knoop_node_t *self)
{
    uint64_t now = knoop_now_ms();
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    /* (a failed scan is tried again at its own pace: node_repair_retry) */
    if (!self->repair_retry_ms && st.damaged_rows != self->repair_rows_seen &&
        now - self->repair_scan_at >= RESCAN_MS)
        s_scan(self, false);
    size_t n = knoop_journal_damaged(self->journal, NULL);
    if (!n || !self->nbrokers || !self->dealer)
        return;
    if (n == self->repair_asked_n && now - self->repair_asked_at < REASK_MS)
        return;
    /* A new HELLO carries the lowered vector (knoop_settled_hello). */
    self->repair_asked_n = n;
    self->repair_asked_at = now;
    knoop_warn("node: %zu damaged message(s) in the journal: asking %s for them again", n,
               self->brokers[self->broker_idx].id);
    node_link_close(self, "fetching damaged messages again");
    self->next_attempt = now;
}
