/* A small HTTP/1.1 server for the fetch tests (tests/cli_fetch.sh). Listens on
 * 127.0.0.1 on an ephemeral port, written to PORTFILE (atomically), and
 * serves files from ROOT by the first path segment's mode:
 *   /good/F       F, with Range requests (206)
 *   /cut/F        a request without Range gets the full Content-Length but
 *                 only the first half of F, then the connection closes; a
 *                 Range request is served properly (so a resume completes)
 *   /alwayscut/F  every request: headers for the asked range, 100 bytes, close
 *   /hang/F       reads the request and never answers
 *   anything else, or a missing F: 404
 * Every request is logged to LOGFILE as "METHOD PATH range=VALUE|-".
 * usage: http_server ROOT PORTFILE LOGFILE   (runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *root;
static FILE *logfile;
static pthread_mutex_t loglock = PTHREAD_MUTEX_INITIALIZER;

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void reply_404(int fd)
{
    const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
    send_all(fd, r, strlen(r));
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192];
    size_t n = 0;
    req[0] = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = 0;
    }
    req[n] = 0;
    char method[16] = "", path[4096] = "";
    sscanf(req, "%15s %4095s", method, path);
    long long from = -1;
    const char *rg = strcasestr(req, "\r\nRange: bytes=");
    if (rg)
        from = atoll(rg + 15);
    pthread_mutex_lock(&loglock);
    if (rg)
        fprintf(logfile, "%s %s range=bytes=%lld-\n", method, path, from);
    else
        fprintf(logfile, "%s %s range=-\n", method, path);
    fflush(logfile);
    pthread_mutex_unlock(&loglock);

    char mode[32] = "";
    const char *name = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (name && (size_t)(name - path - 1) < sizeof mode)
        memcpy(mode, path + 1, (size_t)(name - path - 1));
    if (!strcmp(mode, "hang")) {
        char b[256];
        while (recv(fd, b, sizeof b, 0) > 0) {
        }
        close(fd);
        return NULL;
    }
    char file[8192];
    struct stat sb;
    FILE *f = NULL;
    if (name && !strstr(name, "..") && snprintf(file, sizeof file, "%s%s", root, name) < (int)sizeof file &&
        stat(file, &sb) == 0 && S_ISREG(sb.st_mode))
        f = fopen(file, "rb");
    if (!f || (strcmp(mode, "good") && strcmp(mode, "cut") && strcmp(mode, "alwayscut"))) {
        if (f)
            fclose(f);
        reply_404(fd);
        close(fd);
        return NULL;
    }
    long long size = sb.st_size;
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(data);
        close(fd);
        return NULL;
    }
    fclose(f);
    char h[512];
    long long start = from >= 0 && from < size ? from : 0;
    if (from >= size) {
        snprintf(h, sizeof h, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%lld\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n", size);
        send_all(fd, h, strlen(h));
    } else {
        if (from >= 0)
            snprintf(h, sizeof h, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %lld-%lld/%lld\r\n"
                                  "Content-Length: %lld\r\nConnection: close\r\n\r\n", start, size - 1, size, size - start);
        else
            snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n", size);
        send_all(fd, h, strlen(h));
        long long len = size - start;
        if (!strcmp(mode, "cut") && from < 0)
            len = size / 2;
        if (!strcmp(mode, "alwayscut"))
            len = len < 100 ? len / 2 : 100;
        send_all(fd, data + start, (size_t)len);
    }
    free(data);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: http_server ROOT PORTFILE LOGFILE\n");
        return 2;
    }
    root = argv[1];
    logfile = fopen(argv[3], "a");
    if (!logfile) {
        perror(argv[3]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        perror("http_server: bind/listen");
        return 1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *pf = fopen(tmp, "w");
    if (!pf || fprintf(pf, "%d\n", ntohs(a.sin_port)) < 0 || fclose(pf) != 0 || rename(tmp, argv[2]) != 0) {
        perror(argv[2]);
        return 1;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) != 0) {
            close(c);
            continue;
        }
        pthread_detach(t);
    }
}
