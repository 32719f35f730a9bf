/* trust_reload.c — the trust store loaded again when it changed on disk.
 * See trust_reload.h. */
#include "trust_reload.h"
#include "journal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

void knoop_trust_watch_close(knoop_trust_watch_t *w)
{
    if (w->armed)
        close(w->fd);
    w->armed = false;
    w->fd = -1;
}

/* Watch both directories: anything that adds, removes, renames or rewrites
 * a file in them. false (not armed) when either cannot be watched. */
static bool s_arm(knoop_trust_watch_t *w, const char *dir, const char *learned)
{
    knoop_trust_watch_close(w);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return false;
    const uint32_t mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                          IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    bool ok = inotify_add_watch(fd, dir, mask) >= 0;
    if (ok && learned && inotify_add_watch(fd, learned, mask) < 0) {
        /* Not made yet (the daemon makes it when it first learns
         * something): watch for its making in the directory above, for
         * entries made only (the journal writes beside it all the time). */
        char parent[PATH_MAX];
        const char *slash = strrchr(learned, '/');
        size_t n = slash ? (size_t) (slash - learned) : 0;
        ok = errno == ENOENT && n && n < sizeof parent;
        if (ok) {
            memcpy(parent, learned, n);
            parent[n] = 0;
            ok = inotify_add_watch(fd, parent, IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF |
                                                   IN_MOVE_SELF) >= 0;
        }
    }
    if (!ok) {
        close(fd);
        return false;
    }
    w->fd = fd;
    w->armed = true;
    return true;
}

/* Whether the watch saw anything since the last call (its events read
 * and dropped). A failed read counts as a change. */
static bool s_changed(knoop_trust_watch_t *w)
{
    bool any = false;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n > 0) {
            any = true;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return any;
        if (n < 0 && errno == EINTR)
            continue;
        return true;
    }
}

int knoop_trust_refresh(knoop_journal_t *journal, const char *dir, const char *learned,
                        knoop_trust_watch_t *w, knoop_trust_t **trust)
{
    uint64_t now = knoop_now_ms();
    if (*trust && w->stamp && w->armed && now - w->walked_at < KNOOP_TRUST_WALK_MS &&
        !s_changed(w))
        return 0;
    /* Armed (again) before the walk: a change during the walk is seen by
     * the next call. After a change the watch starts afresh, so that a
     * directory replaced is watched, not its old inode. */
    s_arm(w, dir, learned);
    uint64_t st = knoop_trust_stamp(dir, learned);
    w->walked_at = now;
    if (*trust && st == w->stamp)
        return 0;
    w->stamp = st;
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
