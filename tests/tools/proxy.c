/* knoop-test-proxy — a fault-injecting TCP proxy for the partition tests.
 *
 *   knoop-test-proxy LISTEN_PORT TARGET_PORT     (both on 127.0.0.1)
 *
 * Forwards every connection to the target. SIGUSR1 cuts the link: every
 * open connection is closed and new ones are closed at once, as a network
 * partition looks to both ends. SIGUSR2 heals it. SIGTERM ends it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <unistd.h>

#define MAXC 64

static volatile sig_atomic_t s_cut, s_stop;
static void s_on_usr1(int sig) { s_cut = 1; }
static void s_on_usr2(int sig) { s_cut = 0; }
static void s_on_term(int sig) { s_stop = 1; }

static int s_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &a, sizeof a) || listen(fd, 16)) {
        perror("knoop-test-proxy: listen");
        exit(1);
    }
    return fd;
}

static int s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: knoop-test-proxy LISTEN_PORT TARGET_PORT\n"
                        "SIGUSR1 cuts every connection (partition), SIGUSR2 heals\n");
        return 2;
    }
    int target = atoi(argv[2]);
    signal(SIGUSR1, s_on_usr1);
    signal(SIGUSR2, s_on_usr2);
    signal(SIGTERM, s_on_term);
    signal(SIGPIPE, SIG_IGN);
    int lfd = s_listen(atoi(argv[1]));
    int a[MAXC], b[MAXC], n = 0;
    char buf[65536];
    while (!s_stop) {
        if (s_cut && n) {
            for (int i = 0; i < n; i++) {
                close(a[i]);
                close(b[i]);
            }
            n = 0;
        }
        struct pollfd p[1 + 2 * MAXC];
        p[0] = (struct pollfd) { lfd, POLLIN, 0 };
        for (int i = 0; i < n; i++) {
            p[1 + 2 * i] = (struct pollfd) { a[i], POLLIN, 0 };
            p[2 + 2 * i] = (struct pollfd) { b[i], POLLIN, 0 };
        }
        if (poll(p, (nfds_t) (1 + 2 * n), 100) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                int t = s_cut || n == MAXC ? -1 : s_connect(target);
                if (t < 0)
                    close(c);
                else {
                    a[n] = c;
                    b[n] = t;
                    n++;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            int ends[2][2] = { { a[i], b[i] }, { b[i], a[i] } };
            short rev[2] = { p[1 + 2 * i].revents, p[2 + 2 * i].revents };
            bool dead = false;
            for (int d = 0; d < 2 && !dead; d++) {
                if (!(rev[d] & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t r = read(ends[d][0], buf, sizeof buf);
                if (r <= 0 || write(ends[d][1], buf, (size_t) r) != r)
                    dead = true;
            }
            if (dead) {
                close(a[i]);
                close(b[i]);
                a[i] = a[n - 1];
                b[i] = b[n - 1];
                n--;
                i--;
            }
        }
    }
    return 0;
}
