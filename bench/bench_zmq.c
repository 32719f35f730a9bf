/* bench_zmq.c — the bare limit beside which the broker's figures are read:
 * how many 256-byte messages per second ZeroMQ moves over loopback TCP from
 * a DEALER to a ROUTER, with CURVE (as knooppunt runs) and without.
 * Prints one JSON line.
 *
 *   bench_zmq [--messages N]    (default 500,000) */
#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double s_run(bool curve, long n)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 0;                        /* unbounded: measure the pipe, not HWM */
    zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (curve) {
        char spub[41], ssec[41], cpub[41], csec[41];
        zmq_curve_keypair(spub, ssec);
        zmq_curve_keypair(cpub, csec);
        int one = 1;
        zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, ssec, 40);
        zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, spub, 40);
        zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, cpub, 40);
        zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, csec, 40);
    }
    zmq_bind(router, "tcp://127.0.0.1:*");
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
    zmq_connect(dealer, ep);
    char msg[256];
    memset(msg, 'k', sizeof msg);
    /* Warm up: the handshake is not what we measure. */
    zmq_send(dealer, msg, sizeof msg, 0);
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_recv(&m, router, 0);
    zmq_msg_recv(&m, router, 0);
    double t0 = s_now();
    for (long i = 0; i < n; i++)
        zmq_send(dealer, msg, sizeof msg, 0);
    for (long i = 0; i < n; i++) {
        zmq_msg_recv(&m, router, 0);    /* routing id */
        zmq_msg_recv(&m, router, 0);    /* body */
    }
    double rate = (double) n / (s_now() - t0);
    zmq_msg_close(&m);
    int zero = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    return rate;
}

int main(int argc, char **argv)
{
    long n = 500000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--messages") && i + 1 < argc)
            n = atol(argv[++i]);
        else {
            printf("usage: bench_zmq [--messages N]\n"
                   "Prints one JSON line: DEALER->ROUTER msgs/s over loopback TCP, 256-byte\n"
                   "messages, with and without CURVE.\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    double plain = s_run(false, n), curve = s_run(true, n);
    printf("{\"bench\":\"zmq\",\"payload_bytes\":256,\"messages\":%ld,"
           "\"plain_msgs_per_s\":%.0f,\"curve_msgs_per_s\":%.0f}\n", n, plain, curve);
    return 0;
}
