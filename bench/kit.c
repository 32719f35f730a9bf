/* kit.c — see kit.h. */
#define _GNU_SOURCE
#include "kit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double kit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int kit_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

bool kit_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *) &a, sizeof a) == 0;
    close(fd);
    return ok;
}

bool kit_child_init(pid_t parent, const char *log)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)              /* the parent died before prctl */
        return false;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0)
        return false;
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    close(nul);
    return true;
}

bool kit_reap(pid_t pid, int options, int *status, double *cpu_s)
{
    struct rusage ru;
    int st;
    pid_t r = wait4(pid, &st, options, &ru);
    if (r == pid) {
        *status = st;
        *cpu_s = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        return true;
    }
    return r < 0 && errno == ECHILD;
}

void kit_log_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 4096 ? size - 4096 : 0;
    fseek(f, from, SEEK_SET);
    char buf[4097];
    size_t n = fread(buf, 1, 4096, f);
    buf[n] = 0;
    fclose(f);
    int seen = 0;
    char *p = buf + n;
    while (p > buf && seen <= lines)
        if (*--p == '\n')
            seen++;
    fprintf(stderr, "--- last lines of %s ---\n%s", path, p == buf ? p : p + 1);
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

void kit_rmtree(const char *dir)
{
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int kit_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double kit_pct(const double *sorted, size_t n, double pct)
{
    if (!n)
        return 0;
    double r = pct / 100.0 * (double) n;
    size_t k = (size_t) r;
    if ((double) k < r)
        k++;
    return sorted[k ? k - 1 : 0];
}
