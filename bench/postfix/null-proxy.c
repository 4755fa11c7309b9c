/*
 * The floor for issue 17's 5 KB proxy target: a before-queue "filter" that does nothing but pass bytes both ways
 * between Postfix's before-filter smtpd and its after-filter smtpd (the reinjection port), one thread per
 * connection. Postfix's proxy architecture (a second smtpd per message, the proxy client's command-by-command
 * conversation) costs this much whatever the filter does; detach's proxy, which reads every command and spools
 * every message, cannot be cheaper.
 *
 * Build: cc -O2 -pthread -o null-proxy null-proxy.c    Run: ./null-proxy LISTEN_PORT NEXT_HOP_PORT (127.0.0.1)
 * Used by bench/postfix/run.sh as the path "relay" (PATHS="proxy relay").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t next_hop_port;

static int connect_next_hop(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(next_hop_port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Copies what one side has to the other; 0 at its end of stream (then the other side's writing half is closed). */
static int pass(int from, int to, char *buffer, size_t size)
{
    ssize_t n = read(from, buffer, size);
    if (n <= 0) {
        shutdown(to, SHUT_WR);
        return 0;
    }
    for (ssize_t done = 0; done < n;) {
        ssize_t w = write(to, buffer + done, (size_t)(n - done));
        if (w <= 0) return -1;
        done += w;
    }
    return 1;
}

static void *relay(void *arg)
{
    int client = (int)(intptr_t)arg, one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int upstream = connect_next_hop();
    char buffer[64 * 1024];
    if (upstream >= 0) {
        int sock[2] = { client, upstream };
        struct pollfd fds[2] = { { .fd = client, .events = POLLIN }, { .fd = upstream, .events = POLLIN } };
        int open = 2;
        while (open > 0 && poll(fds, 2, -1) > 0) {
            for (int i = 0; i < 2; i++) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                int rc = pass(sock[i], sock[1 - i], buffer, sizeof buffer);
                if (rc < 0) { open = 0; break; }
                if (rc == 0) { fds[i].fd = -1; open--; } /* poll ignores a negative fd */
            }
        }
        close(upstream);
    }
    close(client);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: %s LISTEN_PORT NEXT_HOP_PORT\n", argv[0]); return 2; }
    next_hop_port = (uint16_t)atoi(argv[2]);
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) {
        perror("null-proxy");
        return 1;
    }
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        pthread_t thread;
        if (pthread_create(&thread, NULL, relay, (void *)(intptr_t)fd) != 0) { close(fd); continue; }
        pthread_detach(thread);
    }
}
