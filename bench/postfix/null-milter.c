/*
 * The floor for issue 13's milter target: a milter that does nothing, in C, one thread per connection, with the
 * conversation detach's milter has with Postfix for plain mail. It negotiates what detach negotiates (protocol 6,
 * the actions ADDHDRS|CHGBODY|CHGHDRS|SETSYMLIST, no HELO/DATA/unknown events, no replies to connect, helo, mail,
 * rcpt, header and body, header values with their leading space, the macro "i" at end of headers and end of message)
 * and answers ACCEPT at end of headers, so that the MTA sends no body. What Postfix + this costs beyond plain
 * Postfix is what any milter costs, paid by Postfix's milter client; detach's milter cannot be cheaper than that.
 * No libmilter here (not packaged on this machine); the framing is the milter protocol's: a 4-byte big-endian
 * length, then the command byte and its data.
 *
 * Build: cc -O2 -pthread -o null-milter null-milter.c    Run: ./null-milter PORT (listens on 127.0.0.1)
 * Used by bench/postfix/run.sh as the path "null" (PATHS="milter null").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    ACT_ADDHDRS = 0x01, ACT_CHGBODY = 0x02, ACT_CHGHDRS = 0x10, ACT_SETSYMLIST = 0x100,
    P_NOHELO = 0x02, P_NR_HDR = 0x80, P_NOUNKNOWN = 0x100, P_NODATA = 0x200, P_NR_CONN = 0x1000,
    P_NR_HELO = 0x2000, P_NR_MAIL = 0x4000, P_NR_RCPT = 0x8000, P_NR_DATA = 0x10000, P_NR_UNKN = 0x20000,
    P_NR_BODY = 0x80000, P_HDR_LEADSPC = 0x100000,
    MAX_FRAME = 1024 * 1024, BUFFER = MAX_FRAME + 4,
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads as detach's milter does: into a buffer, as much as has come, acknowledging each read at once (TCP_QUICKACK,
 * which is not sticky): Postfix sends the unanswered events back to back, and behind its Nagle each small write would
 * otherwise wait for this side's delayed ACK. */
struct reader { int fd; unsigned char *buf; size_t start, end; };

static int fill(struct reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    ssize_t n = read(r->fd, r->buf + r->end, BUFFER - r->end);
    if (n <= 0) return -1;
    r->end += (size_t)n;
    int one = 1;
    setsockopt(r->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    return 0;
}

/* The next whole frame: its command in *code, its data in *data (valid until the next call). */
static int next_frame(struct reader *r, unsigned char *code, unsigned char **data, uint32_t *len)
{
    for (;;) {
        size_t have = r->end - r->start;
        if (have >= 4) {
            uint32_t n = get32(r->buf + r->start);
            if (n < 1 || n > MAX_FRAME) return -1;
            if (have >= 4 + (size_t)n) {
                *code = r->buf[r->start + 4];
                *data = r->buf + r->start + 5;
                *len = n - 1;
                r->start += 4 + (size_t)n;
                return 0;
            }
        }
        if (fill(r) < 0) return -1;
    }
}

static int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int reply(int fd, char code)
{
    unsigned char frame[5];
    put32(frame, 1);
    frame[4] = (unsigned char)code;
    return write_full(fd, frame, sizeof frame);
}

static int negotiate(int fd, const unsigned char *data, uint32_t len, uint32_t *options)
{
    if (len < 12) return -1;
    uint32_t offered_actions = get32(data + 4), offered_options = get32(data + 8);
    uint32_t actions = (ACT_ADDHDRS | ACT_CHGBODY | ACT_CHGHDRS | ACT_SETSYMLIST) & offered_actions;
    *options = (P_NOHELO | P_NODATA | P_NOUNKNOWN | P_NR_CONN | P_NR_HELO | P_NR_MAIL | P_NR_RCPT | P_NR_DATA
                | P_NR_UNKN | P_NR_HDR | P_NR_BODY | P_HDR_LEADSPC) & offered_options;
    /* Macro lists as detach asks for them: stage 4 (end of headers) and 5 (end of message), "i" each. */
    unsigned char frame[5 + 12 + 2 * 6];
    size_t n = 5;
    frame[4] = 'O';
    put32(frame + n, 6); put32(frame + n + 4, actions); put32(frame + n + 8, *options); n += 12;
    if (actions & ACT_SETSYMLIST) {
        put32(frame + n, 4); memcpy(frame + n + 4, "i", 2); n += 6;
        put32(frame + n, 5); memcpy(frame + n + 4, "i", 2); n += 6;
    }
    put32(frame, (uint32_t)(n - 4));
    return write_full(fd, frame, n);
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg, one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct reader r = { .fd = fd, .buf = malloc(BUFFER) };
    uint32_t options = 0, len;
    unsigned char code, *data;
    while (r.buf && next_frame(&r, &code, &data, &len) == 0) {
        int rc = 0;
        switch (code) {
        case 'O': rc = negotiate(fd, data, len, &options); break;
        case 'D': case 'A': case 'K': break;                        /* macros, abort, quit-new-connection */
        case 'Q': rc = -1; break;
        case 'C': if (!(options & P_NR_CONN)) rc = reply(fd, 'c'); break;
        case 'H': if (!(options & P_NR_HELO)) rc = reply(fd, 'c'); break;
        case 'M': if (!(options & P_NR_MAIL)) rc = reply(fd, 'c'); break;
        case 'R': if (!(options & P_NR_RCPT)) rc = reply(fd, 'c'); break;
        case 'T': if (!(options & P_NR_DATA)) rc = reply(fd, 'c'); break;
        case 'U': if (!(options & P_NR_UNKN)) rc = reply(fd, 'c'); break;
        case 'L': if (!(options & P_NR_HDR)) rc = reply(fd, 'c'); break;
        case 'B': if (!(options & P_NR_BODY)) rc = reply(fd, 'c'); break;
        case 'N': rc = reply(fd, 'a'); break;                        /* end of headers: accept, no body */
        case 'E': rc = reply(fd, 'a'); break;                        /* end of message */
        default: rc = -1; break;
        }
        if (rc < 0) break;
    }
    free(r.buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) {
        perror("null-milter");
        return 1;
    }
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, (void *)(intptr_t)fd) != 0) { close(fd); continue; }
        pthread_detach(thread);
    }
}
