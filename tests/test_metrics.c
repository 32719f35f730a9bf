/* test_metrics.c — the Prometheus exposition of lib/metrics (exact text for
 * counters, gauges and cumulative histogram buckets), its endpoint over a real
 * socket, HOST:PORT parsing, and the password and token helpers knoop-web uses. */
#include "testutil.h"
#include "crypto.h"
#include "hostport.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_hostport(void **state)
{
    struct sockaddr_storage a;
    socklen_t len;
    assert_int_equal(knoop_hostport_parse("127.0.0.1:8080", &a, &len), KNOOP_OK);
    assert_int_equal(a.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *) &a)->sin_port), 8080);
    assert_int_equal(knoop_hostport_parse("[::1]:9400", &a, &len), KNOOP_OK);
    assert_int_equal(a.ss_family, AF_INET6);
    const char *bad[] = { "", "localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                          "127.0.0.1:65536", "127.0.0.1:80x", ":80", "::1:80", "[::1]80",
                          "[::1]:", "1.2.3.4.5:80", NULL };
    for (int i = 0; bad[i]; i++)
        assert_int_equal(knoop_hostport_parse(bad[i], &a, &len), KNOOP_EINVAL);
}

/* Metrics on a free port of 127.0.0.1 (tries random ones). */
static knoop_metrics_t *s_new_at(knoop_metrics_collect_fn *fn, int *port)
{
    knoop_metrics_t *m = NULL;
    char err[256], addr[64];
    for (int tries = 0; tries < 20 && !m; tries++) {
        *port = 20000 + (int) (random() % 30000);
        snprintf(addr, sizeof addr, "127.0.0.1:%d", *port);
        knoop_metrics_new(addr, fn, NULL, &m, err, sizeof err);
    }
    assert_non_null(m);
    return m;
}

static knoop_metrics_t *s_new(void)
{
    int port;
    return s_new_at(NULL, &port);
}

static void test_render(void **state)
{
    knoop_metrics_t *m = s_new();
    static const double b[] = { 0.001, 0.01, 0.1 };
    knoop_metrics_family(m, "x_in_total", KNOOP_METRIC_COUNTER, "messages in", NULL, 0);
    knoop_metrics_family(m, "x_up", KNOOP_METRIC_GAUGE, "link up", NULL, 0);
    knoop_metrics_family(m, "x_seconds", KNOOP_METRIC_HISTOGRAM, "latency", b, 3);
    knoop_metrics_add(m, "x_in_total", "family=\"grip\",priority=\"flash\"", 2);
    knoop_metrics_add(m, "x_in_total", "family=\"grip\",priority=\"flash\"", 1);
    knoop_metrics_add(m, "x_in_total", "family=\"water\",priority=\"routine\"", 1);
    knoop_metrics_set(m, "x_up", "", 1);
    knoop_metrics_set(m, "x_up", "", 0);
    knoop_metrics_observe(m, "x_seconds", "", 0.0005);
    knoop_metrics_observe(m, "x_seconds", "", 0.01);      /* on a bound: in that bucket */
    knoop_metrics_observe(m, "x_seconds", "", 5);
    knoop_buf_t out = { 0 };
    assert_int_equal(knoop_metrics_render(m, &out), KNOOP_OK);
    assert_int_equal(knoop_buf_append(&out, "", 1), KNOOP_OK);
    const char *want =
        "# HELP x_in_total messages in\n# TYPE x_in_total counter\n"
        "x_in_total{family=\"grip\",priority=\"flash\"} 3\n"
        "x_in_total{family=\"water\",priority=\"routine\"} 1\n"
        "# HELP x_up link up\n# TYPE x_up gauge\nx_up 0\n"
        "# HELP x_seconds latency\n# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.001\"} 1\nx_seconds_bucket{le=\"0.01\"} 2\n"
        "x_seconds_bucket{le=\"0.1\"} 2\nx_seconds_bucket{le=\"+Inf\"} 3\n"
        "x_seconds_sum 5.0105\nx_seconds_count 3\n";
    assert_non_null(strstr((char *) out.data, want));
    assert_non_null(strstr((char *) out.data, "knoop_metrics_dropped_series_total 0\n"));
    knoop_buf_free(&out);

    /* clear forgets the series; beyond the cap values are dropped and counted */
    knoop_metrics_clear(m, "x_in_total");
    for (int i = 0; i < KNOOP_METRICS_SERIES_MAX + 5; i++) {
        char l[32];
        snprintf(l, sizeof l, "peer=\"p%d\"", i);
        knoop_metrics_set(m, "x_up", l, i);
    }
    assert_int_equal(knoop_metrics_render(m, &out), KNOOP_OK);
    assert_int_equal(knoop_buf_append(&out, "", 1), KNOOP_OK);
    assert_null(strstr((char *) out.data, "x_in_total{"));
    assert_non_null(strstr((char *) out.data, "knoop_metrics_dropped_series_total 6\n"));
    knoop_buf_free(&out);
    knoop_metrics_destroy(&m);
    knoop_metrics_destroy(&m);                 /* twice is safe */
    /* NULL metrics: every call does nothing */
    knoop_metrics_add(NULL, "x", "", 1);
    knoop_metrics_observe(NULL, "x", "", 1);
    knoop_metrics_serve(NULL);
    assert_int_equal(knoop_metrics_fd(NULL), -1);
}

static int s_collected;
static void s_collect(void *arg, knoop_metrics_t *m)
{
    s_collected++;
    knoop_metrics_set(m, "y_sessions", "", 42);
}

/* A real scrape over TCP, answered only when the owner calls serve. */
static void test_endpoint(void **state)
{
    int port = 0;
    knoop_metrics_t *m = s_new_at(s_collect, &port);
    knoop_metrics_family(m, "y_sessions", KNOOP_METRIC_GAUGE, "sessions", NULL, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t) sizeof req - 1);
    char resp[8192];
    size_t got = 0;
    for (int i = 0; i < 200 && got < sizeof resp - 1; i++) {
        struct pollfd p[1] = { { knoop_metrics_fd(m), POLLIN, 0 } };
        poll(p, 1, 10);
        knoop_metrics_serve(m);
        ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t) n;
        else if (n == 0)
            break;
    }
    resp[got] = '\0';
    close(fd);
    assert_non_null(strstr(resp, "200 OK"));
    assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
    assert_non_null(strstr(resp, "\ny_sessions 42\n"));
    assert_int_equal(s_collected, 1);
    knoop_metrics_destroy(&m);

    char e2[256];
    knoop_metrics_t *bad = NULL;
    assert_int_equal(knoop_metrics_new("nowhere", NULL, NULL, &bad, e2, sizeof e2), KNOOP_EINVAL);
    assert_non_null(strstr(e2, "not a numeric HOST:PORT"));
    assert_null(bad);
}

static void test_passwords(void **state)
{
    char h[KNOOP_PWHASH_MAX];
    assert_int_equal(knoop_password_hash(h, "correct horse"), KNOOP_OK);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_int_equal(knoop_password_verify(h, "correct horse"), KNOOP_OK);
    assert_int_equal(knoop_password_verify(h, "correct horse "), KNOOP_EPERM);
    assert_int_equal(knoop_password_verify(h, ""), KNOOP_EPERM);
    assert_int_equal(knoop_password_verify("$argon2id$garbage", "correct horse"), KNOOP_EPERM);
    assert_true(knoop_equal_ct("abcdef", "abcdef", 6));
    assert_false(knoop_equal_ct("abcdef", "abcdeg", 6));
}

static void test_helpers(void **state)
{
    char fam[32];
    knoop_metrics_topic_family("grip.vr-utrecht", fam);
    assert_string_equal(fam, "grip");
    knoop_metrics_topic_family("duiding", fam);
    assert_string_equal(fam, "duiding");
    assert_string_equal(knoop_metrics_reason(KNOOP_EPERM), "eperm");
    assert_string_equal(knoop_metrics_reason(-1000), "other");
}

int main(void)
{
    knoop_crypto_init();
    srandom((unsigned) getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
