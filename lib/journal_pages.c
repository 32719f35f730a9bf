/*
 * journal_pages.c — the B-trees of data.mdb checked page by page, read with
 * pread, before LMDB is let near them.
 *
 * LMDB trusts its file: it follows a child page number, a node offset or an
 * overflow length wherever the bytes say. A page damaged on disk (a torn
 * write after a power cut on a device that lies about its cache, a bad copy,
 * a flipped bit) then sends it outside its map (SIGBUS, SIGSEGV) or into an
 * assertion. The messages' own checks (journal_store.c) find damage in
 * values; this finds damage in the structure that leads to them, so that an
 * auditor's tool, or a daemon at start, names the page and fails instead of
 * crashing (journal_store.c says when a writer walks).
 *
 * The layout read here is LMDB's on-disk format 1 (MDB_DATA_VERSION 1, every
 * 0.9 release) on a 64-bit little-endian machine, which is what the journal
 * is written with (journal_open refuses other files through LMDB itself):
 *   page     pgno u64 | pad u16 | flags u16 | lower u16 | upper u16
 *            (an overflow page has a page count u32 where lower/upper are),
 *            then the node offsets (u16 each, up to lower)
 *   node     size lo u16 | size hi u16 | flags u16 | key size u16 | key | data
 *            (a branch node's child page number is lo | hi << 16 | flags << 32)
 *   tree     pad u32 | flags u16 | depth u16 | branch, leaf, overflow pages,
 *            entries, root (u64 each): 48 bytes, in the meta page for the
 *            main tree, in a main-tree node (F_SUBDATA) for a named one
 *   meta     magic u32 | version u32 | address u64 | map size u64 |
 *            free tree | main tree | last page u64 | txnid u64
 * The snapshot checked is the one a read transaction holds (its txnid), so
 * a writer running beside an auditor cannot reuse its pages meanwhile.
 */
#include "journal_int.h"
#include "knoop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG_HDR        16
#define NODE_HDR      8
#define TREE_LEN      48
#define META_MAGIC    0xBEEFC0DEu
#define META_VERSION  1
#define NO_PAGE       UINT64_MAX
#define DEPTH_MAX     32          /* LMDB's cursor stack */

#define P_BRANCH      0x01
#define P_LEAF        0x02
#define P_OVERFLOW    0x04
#define P_META        0x08
#define P_LEAF2       0x20
#define P_SUBP        0x40
#define P_KIND        (P_BRANCH | P_LEAF | P_OVERFLOW | P_META | P_LEAF2 | P_SUBP)
#define F_BIGDATA     0x01
#define F_SUBDATA     0x02

typedef struct {
    int         fd;
    size_t      psize;
    uint64_t    last;             /* the snapshot's last page */
    uint8_t    *seen;             /* a bit per page: reached once already */
    uint8_t    *pages;            /* a page per level (1..DEPTH_MAX), main tree,
                                     then named tree */
    bool        named;            /* walking a named tree (not the main one) */
    const char *tree;             /* its name */
    char       *why;
    size_t      why_len;
    const char *path;             /* for the progress lines */
    uint64_t    claimed;          /* pages reached so far */
    uint64_t    told_ms;          /* when progress was last logged (monotonic) */
} walk_t;

#define PROGRESS_MS 5000          /* a line this often on a long walk */

/* A line every PROGRESS_MS on a large file: the walk reads all of it. */
static void s_progress(walk_t *w)
{
    uint64_t now = knoop_mono_ms();
    if (now - w->told_ms < PROGRESS_MS)
        return;
    w->told_ms = now;
    knoop_info("journal %s: checking pages: %" PRIu64 " of %" PRIu64 " MiB (%u%%)", w->path,
               w->claimed * w->psize >> 20, (w->last + 1) * w->psize >> 20,
               (unsigned) (100 * w->claimed / (w->last + 1)));
}

static uint16_t s_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t s_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t s_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

__attribute__((format(printf, 3, 4)))
static int s_bad(walk_t *w, uint64_t pgno, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(w->why, w->why_len, "page %" PRIu64 " (tree '%s'): %s", pgno, w->tree, what);
    return KNOOP_ECORRUPT;
}

static int s_read(walk_t *w, uint64_t pgno, uint8_t *buf, size_t len)
{
    ssize_t n = pread(w->fd, buf, len, (off_t) (pgno * w->psize));
    if (n < 0) {
        snprintf(w->why, w->why_len, "page %" PRIu64 ": read: %s", pgno, strerror(errno));
        return knoop_err_from_errno(errno);
    }
    if ((size_t) n != len)
        return s_bad(w, pgno, "beyond the end of the file");
    return KNOOP_OK;
}

/* Claims pages [pgno, pgno + n) for the tree: in the snapshot, reached once. */
static int s_claim(walk_t *w, uint64_t from, uint64_t pgno, uint64_t n)
{
    if (pgno < 2 || pgno > w->last || n > w->last + 1 - pgno)
        return s_bad(w, from, "refers to page %" PRIu64 " (%" PRIu64 " long), outside "
                     "pages 2..%" PRIu64, pgno, n, w->last);
    for (uint64_t p = pgno; p < pgno + n; p++) {
        if (w->seen[p >> 3] & (1u << (p & 7)))
            return s_bad(w, from, "refers to page %" PRIu64 ", reached already", p);
        w->seen[p >> 3] |= (uint8_t) (1u << (p & 7));
    }
    w->claimed += n;
    if ((w->claimed & 4095) < n)
        s_progress(w);
    return KNOOP_OK;
}

static int s_tree(walk_t *w, uint64_t from, const uint8_t *db);

static int s_overflow(walk_t *w, uint64_t leaf, uint64_t pgno, uint64_t dsize)
{
    uint8_t hdr[PG_HDR];
    uint64_t need = (PG_HDR + dsize + w->psize - 1) / w->psize;
    int rc = s_claim(w, leaf, pgno, need);
    if (rc == KNOOP_OK)
        rc = s_read(w, pgno, hdr, sizeof hdr);
    if (rc)
        return rc;
    if (s_u64(hdr) != pgno || !(s_u16(hdr + 10) & P_OVERFLOW))
        return s_bad(w, pgno, "not the overflow page leaf %" PRIu64 " says it is", leaf);
    if (s_u32(hdr + 12) < need || s_u32(hdr + 12) > w->last + 1 - pgno)
        return s_bad(w, pgno, "an overflow of %" PRIu32 " pages where %" PRIu64
                     " are needed", s_u32(hdr + 12), need);
    return KNOOP_OK;
}

/* The page PGNO at LEVEL (1: a leaf) and everything under it. */
static int s_page(walk_t *w, uint64_t pgno, unsigned level)
{
    uint8_t *p = w->pages + ((w->named ? DEPTH_MAX : 0) + level - 1) * w->psize;
    int rc = s_read(w, pgno, p, w->psize);
    if (rc)
        return rc;
    uint16_t flags = s_u16(p + 10), lower = s_u16(p + 12), upper = s_u16(p + 14);
    if (s_u64(p) != pgno)
        return s_bad(w, pgno, "says it is page %" PRIu64, s_u64(p));
    /* exactly one kind: LMDB descends while the branch bit is set */
    if ((flags & P_KIND) != (level > 1 ? P_BRANCH : P_LEAF))
        return s_bad(w, pgno, "flags %#x where a %s page belongs", flags,
                     level > 1 ? "branch" : "leaf");
    if (lower < PG_HDR || lower > upper || upper > w->psize || (lower & 1))
        return s_bad(w, pgno, "free space from %u to %u, which cannot be", lower, upper);
    unsigned nkeys = (lower - PG_HDR) / 2;
    /* LMDB asserts two on every descent, and reads a leaf's first node
     * without looking at the count; it never commits fewer */
    if (nkeys < (level > 1 ? 2u : 1u))
        return s_bad(w, pgno, "a %s of %u keys", level > 1 ? "branch" : "leaf", nkeys);
    for (unsigned i = 0; i < nkeys; i++) {
        size_t off = s_u16(p + PG_HDR + 2 * i);
        if (off < upper || off > w->psize - NODE_HDR)
            return s_bad(w, pgno, "node %u at offset %zu, outside the page's nodes", i, off);
        const uint8_t *n = p + off;
        uint64_t dsize = s_u16(n) | (uint64_t) s_u16(n + 2) << 16;
        uint16_t nflags = s_u16(n + 4), ksize = s_u16(n + 6);
        if (off + NODE_HDR + ksize > w->psize)
            return s_bad(w, pgno, "node %u: a key of %u bytes, past the page", i, ksize);
        const uint8_t *data = n + NODE_HDR + ksize;
        size_t room = w->psize - (off + NODE_HDR + ksize);
        if (level > 1) {
            uint64_t child = dsize | (uint64_t) nflags << 32;
            rc = s_claim(w, pgno, child, 1);
            if (rc == KNOOP_OK)
                rc = s_page(w, child, level - 1);
            if (rc)
                return rc;
            continue;
        }
        /* a journal has no duplicate keys; the main tree holds the named
         * trees' records and nothing else, and they hold plain values */
        if (w->named ? (nflags & ~F_BIGDATA) != 0 : nflags != F_SUBDATA)
            return s_bad(w, pgno, "node %u: flags %#x", i, nflags);
        if (nflags & F_BIGDATA) {
            if (room < 8)
                return s_bad(w, pgno, "node %u: its overflow page number past the page", i);
            rc = s_overflow(w, pgno, s_u64(data), dsize);
        } else if (dsize > room) {
            rc = s_bad(w, pgno, "node %u: %" PRIu64 " bytes of data, past the page", i, dsize);
        } else if (nflags & F_SUBDATA) {
            if (dsize != TREE_LEN)
                return s_bad(w, pgno, "node %u: a tree record of %" PRIu64 " bytes", i, dsize);
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int) (ksize < 31 ? ksize : 31),
                     (const char *) (n + NODE_HDR));
            w->named = true;
            w->tree = name;
            rc = s_tree(w, pgno, data);
            w->named = false;
            w->tree = "main";
        }
        if (rc)
            return rc;
    }
    return KNOOP_OK;
}

/* The tree whose 48-byte record is DB, named in page FROM. */
static int s_tree(walk_t *w, uint64_t from, const uint8_t *db)
{
    uint16_t flags = s_u16(db + 4), depth = s_u16(db + 6);
    uint64_t root = s_u64(db + 40);
    /* the journal's trees are plain (no integer, reversed or duplicate
     * keys): other flags would change how LMDB compares and reads keys */
    if (flags != 0)
        return s_bad(w, from, "a tree with flags %#x", flags);
    if (root == NO_PAGE)
        return depth == 0 ? KNOOP_OK : s_bad(w, from, "an empty tree of depth %u", depth);
    if (depth < 1 || depth > DEPTH_MAX)
        return s_bad(w, from, "a tree of depth %u", depth);
    int rc = s_claim(w, from, root, 1);
    return rc ? rc : s_page(w, root, depth);
}

int journal_check_pages(const char *path, uint64_t txnid, char *why, size_t why_len)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", path);
    walk_t w = { .fd = open(file, O_RDONLY | O_CLOEXEC), .tree = "main", .why = why,
                 .why_len = why_len, .path = path, .told_ms = knoop_mono_ms() };
    *why = '\0';
    if (w.fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", file, strerror(errno));
        return knoop_err_from_errno(errno);
    }
    /* The meta pages: page 0 gives the page size, which places page 1. The
     * one checked is the snapshot's (txnid); if two commits came since, it
     * was overwritten, and the newer is checked (the held snapshot keeps the
     * pages of every later one from reuse). LMDB opened the file, so page
     * 0 is a meta page. */
    uint8_t meta[2][PG_HDR + 136];
    int pick = -1, rc = KNOOP_OK;
    for (int i = 0; i < 2 && rc == KNOOP_OK; i++) {
        off_t at = i == 0 ? 0 : (off_t) s_u32(meta[0] + PG_HDR + 24);
        if (pread(w.fd, meta[i], sizeof meta[i], at) != (ssize_t) sizeof meta[i]) {
            rc = s_bad(&w, (uint64_t) i, "a meta page cut short");
            break;
        }
        const uint8_t *m = meta[i] + PG_HDR;
        uint64_t t = s_u64(m + 128);
        if (s_u32(m) != META_MAGIC || s_u32(m + 4) != META_VERSION || t < txnid)
            continue;
        if (pick < 0 || t == txnid ||
            (s_u64(meta[pick] + PG_HDR + 128) != txnid && t > s_u64(meta[pick] + PG_HDR + 128)))
            pick = i;
    }
    struct stat st;
    if (rc == KNOOP_OK && pick < 0)
        rc = s_bad(&w, 0, "no meta page of transaction %" PRIu64 " or later", txnid);
    if (rc == KNOOP_OK && fstat(w.fd, &st) != 0) {
        snprintf(why, why_len, "cannot stat %s: %s", file, strerror(errno));
        rc = knoop_err_from_errno(errno);
    }
    if (rc == KNOOP_OK) {
        const uint8_t *m = meta[pick] + PG_HDR;
        w.psize = s_u32(m + 24);
        w.last = s_u64(m + 120);
        if (w.psize < 512 || w.psize > 65536 || (w.psize & (w.psize - 1)))
            rc = s_bad(&w, (uint64_t) pick, "a page size of %zu", w.psize);
        else if (w.last >= (uint64_t) st.st_size / w.psize)
            rc = s_bad(&w, (uint64_t) pick, "pages up to %" PRIu64 " in a file of %lld bytes",
                       w.last, (long long) st.st_size);
    }
    if (rc == KNOOP_OK) {
        w.seen = calloc(w.last / 8 + 1, 1);
        w.pages = malloc(2 * DEPTH_MAX * w.psize);
        if (w.seen && w.pages) {
            rc = s_tree(&w, (uint64_t) pick, meta[pick] + PG_HDR + 24 + TREE_LEN);
        } else {
            rc = KNOOP_ENOMEM;
            snprintf(why, why_len, "out of memory");
        }
    }
    free(w.pages);
    free(w.seen);
    close(w.fd);
    return rc;
}
