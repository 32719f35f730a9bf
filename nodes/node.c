/* node.c — the node object and its event loop. See node.h. */
#include "node_int.h"
#include "trust_mesh.h"
#include "crypto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool node_own_cert_problem(knoop_node_t *self, char *out, size_t size)
{
    const knoop_cert_t *mine = knoop_trust_by_id(self->trust, self->id);
    int64_t now = (int64_t) time(NULL);
    if (!mine || knoop_cert_check_time(mine, now) == KNOOP_OK)
        return false;
    char from[21], until[21];
    knoop_time_format(from, mine->valid_from);
    knoop_time_format(until, mine->valid_until);
    snprintf(out, size, "our own certificate (%s) is not valid now: valid from %s until %s; "
             "brokers will refuse this node until it is renewed", self->id, from, until);
    return true;
}

own_stream_t *node_own_find(knoop_node_t *self, uint64_t stream)
{
    for (size_t i = 0; i < self->nown; i++)
        if (self->own[i].stream == stream)
            return &self->own[i];
    return NULL;
}

void node_set_error(knoop_node_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->last_error, sizeof self->last_error, fmt, ap);
    va_end(ap);
    self->last_error_at = knoop_now_ms();
    self->last_error_journal = false;
    self->last_error_repair = false;
    self->last_error_refusal = false;
}

void node_set_journal_error(knoop_node_t *self, int rc)
{
    const char *why = knoop_journal_error(self->journal, NULL);
    node_set_error(self, "%s", *why ? why : knoop_strerror(rc));
    self->last_error_journal = true;   /* the journal has logged it */
}

void node_error_check(knoop_node_t *self)
{
    if (!self->last_error_at)
        return;
    /* A refusal by the broker (e.g. its journal full) lasts while the link
     * is up: it is over when the broker acknowledges again. */
    bool gone = self->last_error_journal ? !*knoop_journal_error(self->journal, NULL)
              : self->last_error_repair  ? !self->repair_retry_ms
              : self->last_error_refusal ? self->last_ack_at >= self->last_error_at
                                         : self->link == LINK_UP;
    if (gone) {
        self->last_error[0] = 0;
        self->last_error_at = 0;
        self->last_error_journal = false;
        self->last_error_repair = false;
        self->last_error_refusal = false;
    }
}

/* The settled summary's complete_hlc (docs/protocol.md): 0 when none was
 * recorded (a journal of an older node: no summary until a catch-up). */
static void s_load_complete(knoop_node_t *self)
{
    knoop_buf_t b = { 0 };
    if (knoop_journal_cursor_get(self->journal, COMPLETE_CURSOR, &b) == KNOOP_OK && b.len == 8)
        self->complete_hlc = self->complete_saved = knoop_get_be64(b.data);
    knoop_buf_free(&b);
}

/* Every stream this partner published, in any epoch: what was not ACKed
 * before a restart is sent again once a broker says what it holds. */
static int s_load_own(knoop_node_t *self)
{
    knoop_stream_info_t *rows;
    size_t n;
    int rc = knoop_journal_vector(self->journal, NULL, &rows, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].origin, self->id) != 0)
            continue;
        own_stream_t *no = knoop_array_grow(self->own, self->nown, &self->own_cap, sizeof *no, 16);
        if (!no) {
            free(rows);
            return KNOOP_ENOMEM;
        }
        self->own = no;
        own_stream_t *o = &self->own[self->nown++];
        memset(o, 0, sizeof *o);
        o->stream = rows[i].stream;
        snprintf(o->topic, sizeof o->topic, "%s", rows[i].topic);
        o->epoch = rows[i].epoch;
        o->hwm = rows[i].hwm;
        memcpy(o->head, rows[i].head, KNOOP_HASH_LEN);
    }
    free(rows);
    return KNOOP_OK;
}

int knoop_node_new(const knoop_node_opts_t *opts, knoop_node_t **out)
{
    *out = NULL;
    knoop_node_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->opts = *opts;
    knoop_daemon_timing(&self->opts.heartbeat_ms, &self->opts.timeout_ms);
    if (self->opts.failback_ms <= 0)
        self->opts.failback_ms = 10000;
    self->id = strdup(opts->id);
    int rc = self->id ? KNOOP_OK : KNOOP_ENOMEM;
    if (rc)
        goto fail;
    self->next_sub_id = 1;

    self->key_stamp = knoop_key_file_stamp(opts->key_file);
    knoop_daemon_setup_t setup = {
        .who = "node", .id = opts->id, .key_file = opts->key_file, .data = opts->data,
        .trust_dir = opts->trust_dir, .types_file = opts->types_file,
        /* the node scans its whole journal at start (node_repair.c): its
         * pages are walked first, so that it never follows a damaged one */
        .journal_flags = opts->journal_flags | KNOOP_JOURNAL_CHECK_PAGES,
        .map_max = opts->map_max };
    rc = knoop_daemon_identity(&setup, &KNOOP_DAEMON_PARTS(self), NULL);
    if (rc)
        goto fail;
    char cert_problem[200];
    if (node_own_cert_problem(self, cert_problem, sizeof cert_problem))
        knoop_error("node: %s", cert_problem);
    rc = knoop_daemon_open(&setup, &KNOOP_DAEMON_PARTS(self));
    if (rc)
        goto fail;
    do
        knoop_random(&self->epoch, sizeof self->epoch);
    while (self->epoch == 0);
    self->pub_epoch = self->epoch;
    knoop_hlc_init(&self->hlc, 0);
    rc = node_repair_start(self);
    if (rc)
        goto fail;
    s_load_complete(self);
    rc = s_load_own(self);
    if (!rc)
        rc = node_standby_init(self);
    if (!rc)
        rc = node_link_init(self);
    if (!rc)
        rc = node_api_init(self);
    if (!rc)
        rc = node_metrics_init(self, opts->metrics);
    if (rc)
        goto fail;
    self->poll = knoop_poll_new(4);      /* metrics, API, link, failback probe */
    rc = self->poll ? KNOOP_OK : KNOOP_ENOMEM;
    if (rc)
        goto fail;
    knoop_info("node %s started: journal %s, publishing epoch %016llx, %zu earlier own streams, "
               "%zu broker(s), %zu subscription(s), API %s%s%s", self->id, opts->data,
               (unsigned long long) self->epoch, self->nown, self->nbrokers, opts->nsubs,
               self->api_ep, self->pair ? "; pair member, " : "",
               self->pair ? (self->active ? "active" : "standby") : "");
    *out = self;
    return KNOOP_OK;

fail:
    knoop_node_destroy(&self);
    return rc;
}

static void s_limbo_clear(knoop_node_t *self);

void knoop_node_destroy(knoop_node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_node_t *self = *self_p;
    node_link_close(self, "node stopping");
    node_api_close(self);
    knoop_poll_destroy(&self->poll);
    for (size_t i = 0; i < self->npub; i++)
        knoop_msg_clear(&self->pub_msgs[i]);
    for (size_t i = 0; i < self->nin; i++)
        knoop_frame_clear(&self->in_frames[i]);
    if (self->stashed)
        knoop_frame_clear(&self->stash);
    if (self->nlimbo)
        knoop_warn("node %s: stopping with %zu message(s) sent before a commit that failed "
                   "and not stored since: the node holds them only if the mesh gives them "
                   "back", self->id, self->nlimbo);
    s_limbo_clear(self);
    free(self->limbo);
    free(self->pub_msgs);
    free(self->reqs);
    free(self->own);
    node_forward_destroy(self);
    free(self->brokers);
    free(self->mesh);
    knoop_daemon_close(&KNOOP_DAEMON_PARTS(self));
    free(self->speak_for);
    knoop_buf_free(&self->rid);
    knoop_buf_free(&self->data);
    knoop_buf_free(&self->out);
    free(self->api_ep);
    free(self->id);
    free(self);
    *self_p = NULL;
}

void node_trust_update(knoop_node_t *self)
{
    uint64_t pos = knoop_journal_next_pos(self->journal);
    if (pos != self->trust_pos) {
        self->trust_pos = pos;
        if (knoop_trust_follow(self->journal, &self->trust_applied, self->trust, self->learned,
                               (int64_t) time(NULL)) < 0)
            knoop_error("node: cannot read the trust topics from the journal");
    }
    if (knoop_trust_refresh(self->journal, self->opts.trust_dir, self->learned,
                            &self->trust_stamp, &self->trust) != 1)
        return;
    self->trust_reloads++;
    knoop_info("node: trust store reloaded (%zu certificates)", knoop_trust_size(self->trust));
    if (self->trust_resync && self->dealer) {
        self->trust_resync = false;
        node_link_close(self, "trust store grew after deliveries were refused; "
                              "asking the broker again");
        self->next_attempt = knoop_now_ms();
    }
}

/* Key rotation without a restart: the operator replaces the key file (mv
 * or a symbolic link) with the key `knoop keys rotate` made, once its
 * certificate is issued and published. When the trust store holds a usable
 * certificate for the new key the node switches: new messages are signed
 * with it under a new epoch, what the old key signed is sent as it was, and
 * the link reconnects with the new Curve key. Until the certificate is
 * known the node keeps its key and says why, once. */
static void s_key_check(knoop_node_t *self)
{
    uint64_t stamp = knoop_key_file_stamp(self->opts.key_file);
    if (stamp == 0 || stamp == self->key_stamp)
        return;
    knoop_key_t *key = NULL;
    int rc = knoop_key_load(self->opts.key_file, &key);
    const char *problem = NULL;
    char why[300];
    if (rc) {
        snprintf(why, sizeof why, "it does not load (%s)", knoop_strerror(rc));
        problem = why;
    } else if (strcmp(knoop_key_id(key), self->id) != 0) {
        snprintf(why, sizeof why, "it belongs to '%s'", knoop_key_id(key));
        problem = why;
    } else if (memcmp(knoop_key_public(key), knoop_key_public(self->key), KNOOP_PK_LEN) == 0) {
        self->key_stamp = stamp;            /* the same key, rewritten */
        self->key_waiting = 0;
        knoop_key_destroy(&key);
        return;
    } else {
        const knoop_cert_t *c = knoop_trust_by_sign(self->trust, knoop_key_public(key));
        int64_t now = (int64_t) time(NULL);
        if (!c)
            problem = "the trust store has no certificate for it yet (issue it and publish it: "
                      "knoop keys issue --api EP)";
        else if (knoop_cert_revoked(c, now))
            problem = "its certificate is revoked";
        else if (knoop_cert_check_time(c, now) != KNOOP_OK)
            problem = "its certificate is not valid now";
    }
    if (problem) {
        if (self->key_waiting != stamp)
            knoop_warn("node: key file %s changed, but the node keeps its current key: %s; "
                       "looking again every second", self->opts.key_file, problem);
        self->key_waiting = stamp;
        knoop_key_destroy(&key);
        return;
    }
    char oldfp[17], newfp[17];
    knoop_fingerprint(oldfp, knoop_key_public(self->key), KNOOP_PK_LEN);
    knoop_fingerprint(newfp, knoop_key_public(key), KNOOP_PK_LEN);
    knoop_key_destroy(&self->key);
    self->key = key;
    self->key_stamp = stamp;
    self->key_waiting = 0;
    uint64_t old_epoch = self->epoch;
    do
        knoop_random(&self->epoch, sizeof self->epoch);
    while (self->epoch == 0 || self->epoch == old_epoch || self->epoch == self->pub_epoch);
    self->pub_epoch = self->epoch;
    knoop_info("node %s: switched to its new key %s (was %s): new messages go out under epoch "
               "%016llx; what the old key signed is sent as it was. Revoke the old key with "
               "knoop keys revoke --fingerprint %s", self->id, newfp, oldfp,
               (unsigned long long) self->epoch, oldfp);
    if (self->probe)
        knoop_sock_destroy(&self->probe);
    node_link_close(self, "key rotated; reconnecting with the new key");
    self->next_attempt = knoop_now_ms();
}

/* New partners and revocations reach the node over the mesh (the brokers
 * deliver the trust topics to every node; trust_mesh.h), or when an
 * operator changes its trust directory. */
static void s_trust_check(knoop_node_t *self)
{
    uint64_t now = knoop_now_ms();
    if (now - self->trust_checked < 1000)
        return;
    self->trust_checked = now;
    if (!self->expiry_warned || now - self->expiry_warned >= 86400000ull) {
        self->expiry_warned = now;
        knoop_trust_warn_expiring(self->trust, "node", (int64_t) time(NULL));
    }
    node_trust_update(self);
    s_key_check(self);
}

/* The precommit hook (docs/design-notes.md, "The origin sends before its
 * commit"): the outbox reads the new batch from the open write transaction
 * and sends it while the commit's syncs are still ahead. Only when all that
 * is unsent fits the window: each stream's part of the batch goes out up to
 * its signed last message or not at all, for an unsigned prefix of a batch
 * whose commit then failed would stay an unverifiable tail in the mesh. */
typedef struct {
    knoop_node_t *node;
    uint64_t      sent;         /* messages the hook sent */
    bool          batch_out;    /* some were of this batch: the broker may
                                   hold what a failed commit leaves out */
} early_t;

static void s_send_early(void *arg)
{
    early_t *e = arg;
    knoop_node_t *self = e->node;
    uint64_t pending = 0;
    for (size_t i = 0; i < self->nown; i++)
        if (!self->own[i].blocked && self->own[i].hwm > self->own[i].sent)
            pending += self->own[i].hwm - self->own[i].sent;
    if (self->inflight + pending > self->window)
        return;                         /* sent after the commit, as ever */
    uint64_t before = self->inflight;
    node_link_send_outbox(self);
    e->sent += self->inflight - before;
    for (size_t i = 0; i < self->npub && !e->batch_out; i++) {
        const knoop_msg_t *m = &self->pub_msgs[i];
        if (i && m->stream == self->pub_msgs[i - 1].stream)
            continue;                   /* the first of each run will do */
        own_stream_t *o = node_own_find(self, m->stream);
        e->batch_out = o && o->sent >= m->b.seq;
    }
}

/* Below this much free space (plus four times the batch) the node sends
 * only after its commit: a full disk then refuses a batch that never left,
 * as it always did, and the application's "not stored" stays unambiguous. */
#define EARLY_ROOM ((uint64_t) 64 << 20)

static bool s_early_ok(knoop_node_t *self, size_t npub)
{
    if (!npub || self->opts.send_late || self->link != LINK_UP ||
        knoop_journal_error(self->journal, NULL)[0])
        return false;
    uint64_t need = EARLY_ROOM, room = 0;
    for (size_t i = 0; i < npub; i++)
        need += 4 * (uint64_t) self->pub_msgs[i].body_len;
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    uint64_t map_room = st.map_max > st.used_bytes ? st.map_max - st.used_bytes : 0;
    if (knoop_journal_free_bytes(self->journal, &room) == 0 && room >= need && map_room >= need)
        return true;
    self->late_low_room++;
    return false;
}

/* A commit failed after the outbox had sent from it: the broker may hold,
 * and deliver, seqs this journal does not. A message published on those
 * streams now would be a second, different message under the same seq (a
 * fork), so new messages go on new streams under a fresh epoch, and the
 * link starts again: the WELCOME then shows the mesh ahead of our copy, and
 * the catch-up takes back what had gone out. */
static void s_early_failed(knoop_node_t *self, int rc)
{
    uint64_t old = self->pub_epoch;
    do
        knoop_random(&self->pub_epoch, sizeof self->pub_epoch);
    while (self->pub_epoch == 0 || self->pub_epoch == old || self->pub_epoch == self->epoch);
    self->early_failed++;
    knoop_warn("node %s: the journal commit failed (%s) after its messages had gone to the "
               "broker (sent before the commit): new messages go out under epoch %016llx; "
               "what the mesh took is taken back into the journal", self->id,
               knoop_strerror(rc), (unsigned long long) self->pub_epoch);
    if (self->dealer) {     /* not closed already for failed deliveries */
        node_link_close(self, "a commit failed after its messages were sent; reconnecting "
                              "to take them back");
        self->next_attempt = knoop_now_ms();    /* at once: a standby is watching */
    }
}

/* The limbo (node_api.c, s_limbo_keep) is stored in a commit of its own,
 * after the loop pass's (so that nothing in it can make the pass's
 * publishes, deliveries and cursors fail with it): as soon as the journal
 * writes again, else once a LIMBO_RETRY_MS. After LIMBO_TRIES failures for
 * another reason than the storage (no room, EIO) it is given up, with an
 * error: what the mesh holds of it still comes back in the catch-up. */
#define LIMBO_RETRY_MS 1000
#define LIMBO_TRIES    5

static void s_limbo_clear(knoop_node_t *self)
{
    for (size_t i = 0; i < self->nlimbo; i++)
        knoop_buf_free(&self->limbo[i]);
    self->nlimbo = 0;
    self->limbo_failures = 0;
}

static void s_limbo_store(knoop_node_t *self)
{
    if (!self->nlimbo || (knoop_journal_error(self->journal, NULL)[0] &&
                          knoop_now_ms() - self->limbo_tried < LIMBO_RETRY_MS))
        return;
    self->limbo_tried = knoop_now_ms();
    size_t n = self->nlimbo, parsed = 0;
    knoop_msg_t *lm = calloc(n, sizeof *lm);
    const knoop_msg_t **ptrs = calloc(n, sizeof *ptrs);
    int *res = calloc(n, sizeof *res);
    int rc = lm && ptrs && res ? KNOOP_OK : KNOOP_ENOMEM;
    for (size_t i = 0; rc == KNOOP_OK && i < n; i++) {
        int prc = knoop_msg_parse(&lm[parsed], self->limbo[i].data, self->limbo[i].len);
        if (prc == KNOOP_ENOMEM)
            rc = prc;                   /* all of it again next time */
        else if (prc)
            knoop_error("node %s: a message kept after a failed commit does not parse (%s); "
                        "dropped", self->id, knoop_strerror(prc));
        else {
            ptrs[parsed] = &lm[parsed];
            parsed++;
        }
    }
    if (rc == KNOOP_OK && parsed)
        rc = knoop_journal_commit(self->journal, ptrs, parsed, res, 0, NULL, 0);
    size_t stored = 0;
    for (size_t i = 0; rc == KNOOP_OK && i < parsed; i++) {
        if (res[i] == KNOOP_OK)
            stored++;
        else if (res[i] != KNOOP_EDUPLICATE)
            knoop_error("node %s: %s seq %llu, sent before a commit that failed, could not be "
                        "stored later: %s", self->id, lm[i].b.topic,
                        (unsigned long long) lm[i].b.seq, knoop_strerror(res[i]));
        own_stream_t *o = node_own_find(self, lm[i].stream);
        knoop_stream_info_t info;
        if (o && knoop_journal_stream(self->journal, o->stream, &info) == KNOOP_OK &&
            info.hwm > o->hwm) {
            o->hwm = info.hwm;          /* the outbox sends it on */
            memcpy(o->head, info.head, KNOOP_HASH_LEN);
        }
    }
    if (rc == KNOOP_OK) {
        knoop_info("node %s: %zu message(s) sent before a commit that failed are stored now "
                   "(%zu held already)", self->id, stored, parsed - stored);
        s_limbo_clear(self);
        if (stored)
            self->journal_grew = true;
    } else if (rc != KNOOP_EFULL && rc != KNOOP_EIO && rc != KNOOP_ENOMEM &&
               ++self->limbo_failures >= LIMBO_TRIES) {
        knoop_error("node %s: %zu message(s) sent before a commit that failed could not be "
                    "stored in %d tries (%s); given up: the node holds them only if the mesh "
                    "gives them back", self->id, n, LIMBO_TRIES, knoop_strerror(rc));
        s_limbo_clear(self);
    }
    for (size_t i = 0; lm && i < parsed; i++)
        knoop_msg_clear(&lm[i]);
    free(lm);
    free(ptrs);
    free(res);
}

/* The one durable commit of a loop pass (docs/design-notes.md, "one commit
 * per pass"): the publish batch, the deliveries from the broker and the
 * durable subscriptions' cursors in one journal transaction, one fsync pair
 * on the latency path instead of one per kind. Then, in this order, the
 * applications' publish replies, the ACK and CREDIT to the broker, and the
 * cursors marked written: nothing is acknowledged before it is durable. */
static void s_commit(knoop_node_t *self)
{
    bool cursors = self->complete_dirty;
    for (api_sub_t *s = self->subs; s && !cursors; s = s->next)
        cursors = s->cursor_dirty;
    if (!self->npub && !self->nreqs && !self->nin && !cursors)
        return;
    int sign_rc = node_api_publish_sign(self);
    knoop_ingest_batch_t ib;
    knoop_ingest_t in;
    memset(&ib, 0, sizeof ib);
    memset(&in, 0, sizeof in);
    int in_rc = self->nin ? node_link_deliveries_parse(self, &ib, &in) : KNOOP_OK;
    size_t npub = sign_rc == KNOOP_OK ? self->npub : 0;
    size_t nin = in_rc == KNOOP_OK ? ib.n : 0;
    size_t n = npub + nin;
    const knoop_msg_t **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    int *res = calloc(n ? n : 1, sizeof *res);
    knoop_journal_cursor_t *cur = NULL;
    size_t ncur = node_api_cursors(self, &cur);
    bool complete = self->complete_dirty;
    if (complete) {
        knoop_journal_cursor_t *nc = realloc(cur, (ncur + 1) * sizeof *nc);
        if (nc) {
            cur = nc;
            knoop_put_be64(self->complete_val, self->complete_hlc);
            cur[ncur++] = (knoop_journal_cursor_t) { COMPLETE_CURSOR, self->complete_val, 8 };
        } else {
            complete = false;           /* the next commit tries again */
        }
    }
    int rc = ptrs && res ? KNOOP_OK : KNOOP_ENOMEM;
    early_t early = { .node = self };
    if (rc == KNOOP_OK) {
        for (size_t i = 0; i < npub; i++)
            ptrs[i] = &self->pub_msgs[i];
        for (size_t i = 0; i < nin; i++)
            ptrs[npub + i] = ib.ptrs[i];
        /* Send before the commit only while the journal writes (during a
         * full disk every retry of a batch would go out anew) and has room. */
        bool early_ok = s_early_ok(self, npub);
        uint64_t t0 = knoop_daemon_usecs();
        rc = knoop_journal_commit_then(self->journal, ptrs, n, res, 0, cur, ncur,
                                       early_ok ? s_send_early : NULL, &early);
        if (rc == KNOOP_OK && n)
            knoop_metrics_commit(self->metrics, (double) (knoop_daemon_usecs() - t0) / 1e6, npub);
        if (rc == KNOOP_OK)
            self->sent_early += early.sent;
    }
    self->early_lost = rc != KNOOP_OK && early.batch_out;
    node_api_cursors_done(self, rc);
    if (complete && rc == KNOOP_OK) {
        self->complete_saved = knoop_get_be64(self->complete_val);
        self->complete_written_at = knoop_now_ms();
        self->complete_dirty = self->complete_hlc != self->complete_saved;
    }
    node_api_publish_done(self, sign_rc ? sign_rc : rc, res);
    if (self->nin || ib.n)
        node_link_deliveries_done(self, in_rc ? in_rc : rc, &ib, res + npub, &in);
    if (self->early_lost) {
        s_early_failed(self, rc);
        self->early_lost = false;
    }
    free(cur);
    free(ptrs);
    free(res);
}

int knoop_node_run(knoop_node_t *self, volatile int *stop)
{
    while (!*stop) {
        knoop_poll_t *p = self->poll;
        knoop_poll_clear(p);
        if (self->metrics)
            knoop_poll_add_fd(p, knoop_metrics_fd(self->metrics));
        knoop_poll_add(p, self->api);
        knoop_poll_add(p, self->dealer);
        knoop_poll_add(p, self->probe);
        knoop_poll_wait(p, self->journal_grew || self->stashed ? 0 : 50);
        knoop_metrics_serve(self->metrics);
        self->journal_grew = false;

        /* Read everything ready from apps and broker, commit once. */
        node_api_read(self);
        node_link_read(self);
        s_commit(self);
        s_limbo_store(self);
        node_link_read_probe(self);
        node_link_step(self);
        node_standby_step(self);
        node_link_send_outbox(self);
        node_forward_send(self);
        node_api_verdicts(self);
        node_api_pump(self);
        s_trust_check(self);
        node_repair_retry(self);        /* after a failed journal check */
        node_error_check(self);
    }
    self->complete_dirty = self->complete_hlc != self->complete_saved;   /* keep the latest */
    s_commit(self);
    self->limbo_tried = 0;              /* one last try, whatever the last one did */
    s_limbo_store(self);
    if (*stop != KNOOP_RUN_AGAIN)
        knoop_info("node %s stopping", self->id);
    return 0;
}

void knoop_node_reload_files(knoop_node_t *self)
{
    node_trust_update(self);
}

int knoop_node_set_speak_for(knoop_node_t *self, const char *const *ids, size_t n)
{
    size_t size = n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], "*") != 0 && !knoop_id_valid(ids[i])) {
            knoop_error("node: --speak-for '%s': not a partner id (or *); the speak-for list "
                        "in force stays", ids[i]);
            return KNOOP_EINVAL;
        }
        size += strlen(ids[i]) + 1;
    }
    /* One block: the pointers, then the strings they point at. */
    char **copy = malloc(size ? size : 1);
    if (!copy) {
        knoop_error("node: out of memory; the speak-for list in force stays");
        return KNOOP_ENOMEM;
    }
    char *text = (char *) (copy + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]) + 1;
        memcpy(text, ids[i], len);
        copy[i] = text;
        text += len;
    }
    knoop_info("node: speak-for list read again: %zu entr%s (were %zu)", n, n == 1 ? "y" : "ies",
               self->opts.nspeak_for);
    free(self->speak_for);
    self->speak_for = copy;
    self->opts.speak_for = (const char *const *) copy;
    self->opts.nspeak_for = n;
    return KNOOP_OK;
}

int knoop_node_reload_types(knoop_node_t *self, const char *path)
{
    return knoop_typemap_reload(&self->types, path, "node");
}

int knoop_node_set_map_max(knoop_node_t *self, size_t map_max)
{
    return knoop_journal_set_map_max(self->journal, map_max);
}
