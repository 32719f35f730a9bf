#define _XOPEN_SOURCE 700
/* bench_journal.c — durable append and replay rates of the LMDB journal,
 * beside the disk's bare fsync rate. Prints one JSON line.
 *
 *   bench_journal [DIR] [--seconds S]
 *
 * DIR (default: the current directory) must be on the disk under test, not
 * tmpfs, which ignores fsync. Messages carry 256-byte payloads and are built
 * (hashed, the last of each batch signed) outside the timed region: only
 * knoop_journal_append is timed, i.e. one durable LMDB commit per batch. */
#include "batch.h"
#include "kit.h"
#include "crypto.h"
#include "journal.h"
#include "knoop.h"
#include "msg.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bare fsync rate: rewrite one 4 KiB block and fdatasync, for `secs`. */
static double s_fsync_rate(const char *dir, double secs)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/fsync.probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char block[4096];
    memset(block, 'k', sizeof block);
    long n = 0;
    double t0 = kit_now(), t;
    do {
        if (pwrite(fd, block, sizeof block, 0) != (ssize_t) sizeof block || fdatasync(fd) != 0)
            break;
        n++;
        t = kit_now();
    } while (t - t0 < secs);
    close(fd);
    unlink(path);
    return (double) n / (kit_now() - t0);
}

typedef struct {
    const char *topic;
    uint64_t    seq;
    uint8_t     head[KNOOP_HASH_LEN];
} stream_t;

static uint8_t s_sk[KNOOP_SK_LEN];

/* Append batches of `batch` for about `secs`; return messages per second. */
static double s_append_rate(knoop_journal_t *j, stream_t *s, size_t batch, double secs)
{
    batch_t bt;
    if (!batch_init(&bt, batch)) {
        fprintf(stderr, "bench_journal: out of memory\n");
        exit(1);
    }
    uint8_t payload[256];
    memset(payload, 'p', sizeof payload);
    double timed = 0;
    uint64_t total = 0;
    while (timed < secs) {
        for (size_t i = 0; i < batch; i++) {
            knoop_body_t b = {
                .version = KNOOP_BODY_VERSION, .origin = "vr-utrecht", .topic = s->topic,
                .epoch = 77, .seq = s->seq + 1, .hlc = (knoop_now_ms() << 16) + i, .key = "",
                .type = "bench.Opaque", .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
                .payload = payload, .payload_len = sizeof payload,
            };
            if (batch_put(&bt, i, &b, s->head, i == batch - 1 ? s_sk : NULL)) {
                fprintf(stderr, "bench_journal: cannot build message\n");
                exit(1);
            }
            s->seq++;
        }
        double t0 = kit_now();
        int rc = knoop_journal_append(j, bt.ptrs, batch, bt.res);
        timed += kit_now() - t0;
        if (rc) {
            fprintf(stderr, "bench_journal: append failed: %s\n", knoop_strerror(rc));
            exit(1);
        }
        batch_clear(&bt, batch);
        total += batch;
    }
    batch_free(&bt);
    return (double) total / timed;
}

static int s_parse_each(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                        const uint8_t *env, size_t len)
{
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) == KNOOP_OK) {
        (*(uint64_t *) arg)++;
        knoop_msg_clear(&m);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = ".";
    double secs = 2.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: bench_journal [DIR] [--seconds S]\n"
                   "Prints one JSON line: fsync rate of DIR's disk, durable append rate\n"
                   "for batches of 1, 64 and 1024 messages of 256 bytes, replay rate.\n");
            return 0;
        } else
            base = argv[i];
    }
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_WARN);
    uint8_t pk[KNOOP_PK_LEN], seed[KNOOP_SEED_LEN];
    knoop_sign_keypair(pk, s_sk, seed);

    char dir[4000];
    snprintf(dir, sizeof dir, "%s/bench-journal-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_journal: mkdtemp");
        return 1;
    }
    double fsync_rate = s_fsync_rate(dir, secs);

    knoop_journal_opts_t o = { .path = dir };
    knoop_journal_t *j = NULL;
    if (knoop_journal_open(&o, &j)) {
        fprintf(stderr, "bench_journal: cannot open journal in %s\n", dir);
        return 1;
    }
    stream_t s1 = { .topic = "bench.b1" }, s64 = { .topic = "bench.b64" },
             s1024 = { .topic = "bench.b1024" };
    double r1 = s_append_rate(j, &s1, 1, secs);
    double r64 = s_append_rate(j, &s64, 64, secs);
    double r1024 = s_append_rate(j, &s1024, 1024, secs);

    uint64_t n = 0;
    double t0 = kit_now();
    knoop_journal_read_stream(j, knoop_stream_id("vr-utrecht", "bench.b1024", 77), 1,
                              UINT64_MAX, s_parse_each, &n);
    double replay = (double) n / (kit_now() - t0);
    knoop_journal_destroy(&j);
    kit_rmtree(dir);

    printf("{\"bench\":\"journal\",\"payload_bytes\":256,\"fsync_per_s\":%.0f,"
           "\"append_batch1_msgs_per_s\":%.0f,\"append_batch64_msgs_per_s\":%.0f,"
           "\"append_batch1024_msgs_per_s\":%.0f,\"replay_msgs_per_s\":%.0f,"
           "\"replayed\":%llu,\"durable\":true}\n",
           fsync_rate, r1, r64, r1024, replay, (unsigned long long) n);
    return 0;
}
