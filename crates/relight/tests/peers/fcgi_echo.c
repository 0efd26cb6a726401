/* A FastCGI program written against libfcgi, as the embedded devices relight serves use.
 *
 * It answers from its QUERY_STRING:
 *   (default)        text/plain: every param as NAME=value, sorted, then "body=<length>"
 *   mode=echo        the request body, streamed back as it is read
 *   mode=stderr      writes "stderr line from echo" to FastCGI stderr, then as default
 *   mode=status      answers "Status: 418 I'm a teapot"
 *   mode=location    answers "Location: /elsewhere" and no Status
 *   mode=lf          header block ended with bare LF instead of CRLF
 *   mode=big&n=N     N bytes of 'x' as the body
 *   mode=pid         its pid, as "pid=N"
 *   mode=crash       raises SIGSEGV
 *   mode=seed        system("sleep 100000000") first, as the field report's program does
 *   mode=bg          system("sleep 100000 &"), then answers: an orphan in its process group
 *   mode=hang        never answers
 *   mode=slow        answers its pid after 500 ms
 *   mode=sleep&n=MS  answers its pid after MS milliseconds
 *   mode=chunked     answers "Transfer-Encoding: chunked" and a chunked "hello" as the body
 *   mode=status999   answers "Status: 999"
 *   mode=short       answers "Content-Length: 1000" and 10 bytes
 *   mode=sendfile&path=P  answers "X-Sendfile: P" and no body
 *   mode=daemon      system("setsid sleep 100001 &"): a descendant that leaves its process group
 *                    (n=S: "sleep S" instead)
 *   mode=grow&n=MB   allocates and touches MB MiB (kept for its life), then answers its pid
 *   mode=growafter&n=MB  answers its pid, then 300 ms later grows by MB MiB while idle
 * As an authorizer (FCGI_ROLE=AUTHORIZER): a QUERY_STRING with "allow" gets 200 and
 * Variable-AUTH_USER / Variable-AUTH_LEVEL; anything else gets 403 with the params as the body.
 * With IGNORE_TERM=1 in its environment it ignores SIGTERM and starts "sleep 100000 &" first.
 * With CRASH_BEFORE_ACCEPT=FILE, if FILE exists it is removed and the program dies of SIGSEGV
 * 300 ms after starting, before it accepts anything.
 */
#include <signal.h>
#include <unistd.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *mode_of(const char *qs) {
    if (!qs) return "";
    const char *m = strstr(qs, "mode=");
    return m ? m + 5 : "";
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Grows the process by `mb` MiB of touched (resident) memory, never freed (kept where the
 * compiler cannot prove it unused). */
static char *volatile grown;
static void grow(const char *qs) {
    const char *n = strstr(qs, "n=");
    size_t len = (size_t)(n ? atol(n + 2) : 0) << 20;
    char *p = malloc(len);
    if (p) memset(p, 1, len);
    grown = p;
}

int main(void) {
    FCGX_Request req;
    const char *crash_file = getenv("CRASH_BEFORE_ACCEPT");
    if (crash_file && access(crash_file, F_OK) == 0) {
        usleep(300 * 1000);
        unlink(crash_file);
        raise(SIGSEGV);
    }
    if (getenv("IGNORE_TERM")) {
        signal(SIGTERM, SIG_IGN);
        system("sleep 100000 &");
    }
    FCGX_Init();
    FCGX_InitRequest(&req, 0, 0);
    static char buf[65536];
    while (FCGX_Accept_r(&req) >= 0) {
        const char *mode = mode_of(FCGX_GetParam("QUERY_STRING", req.envp));
        const char *role = FCGX_GetParam("FCGI_ROLE", req.envp);
        const char *qs = FCGX_GetParam("QUERY_STRING", req.envp);
        if (role && strcmp(role, "AUTHORIZER") == 0) {
            if (qs && strstr(qs, "allow")) {
                FCGX_PutS("Status: 200\r\nVariable-AUTH_USER: alice\r\nVariable-AUTH_LEVEL: 3\r\n\r\n", req.out);
            } else {
                int count = 0;
                while (req.envp[count]) count++;
                char **sorted = malloc(sizeof(char *) * (count + 1));
                memcpy(sorted, req.envp, sizeof(char *) * count);
                qsort(sorted, count, sizeof(char *), cmp);
                FCGX_PutS("Status: 403\r\nContent-Type: text/plain\r\nX-Denied: yes\r\n\r\n", req.out);
                for (int i = 0; i < count; i++) FCGX_FPrintF(req.out, "%s\n", sorted[i]);
                free(sorted);
            }
        } else if (starts(mode, "growafter")) {
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
            FCGX_Finish_r(&req);
            usleep(300 * 1000);
            grow(qs);
            continue;
        } else if (starts(mode, "grow")) {
            grow(qs);
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
        } else if (starts(mode, "pid")) {
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
        } else if (starts(mode, "crash")) {
            raise(SIGSEGV);
        } else if (starts(mode, "seed")) {
            system("sleep 100000000");
        } else if (starts(mode, "bg")) {
            system("sleep 100000 &");
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\nstarted\n");
        } else if (starts(mode, "sendfile")) {
            const char *p = strstr(qs, "path=");
            FCGX_FPrintF(req.out, "X-Sendfile: %s\r\n\r\n", p ? p + 5 : "");
        } else if (starts(mode, "daemon")) {
            /* n=SECONDS picks the sleep, so that tests running at once tell theirs apart. */
            const char *n = strstr(qs, "n=");
            char cmd[64];
            snprintf(cmd, sizeof cmd, "setsid sleep %ld &", n ? atol(n + 2) : 100001L);
            system(cmd);
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\nstarted\n");
        } else if (starts(mode, "slow")) {
            usleep(500 * 1000);
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
        } else if (starts(mode, "sleep")) {
            const char *n = strstr(qs, "n=");
            usleep((useconds_t)(n ? atoi(n + 2) : 0) * 1000);
            FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
        } else if (starts(mode, "chunked")) {
            FCGX_FPrintF(req.out, "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        } else if (starts(mode, "status999")) {
            FCGX_FPrintF(req.out, "Status: 999\r\nContent-Type: text/plain\r\n\r\nodd\n");
        } else if (starts(mode, "short")) {
            FCGX_FPrintF(req.out, "Content-Length: 1000\r\n\r\n0123456789");
        } else if (starts(mode, "hang")) {
            for (;;) pause();
        } else if (starts(mode, "echo")) {
            FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", req.out);
            int n;
            while ((n = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) FCGX_PutStr(buf, n, req.out);
        } else if (starts(mode, "status")) {
            FCGX_PutS("Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\nteapot\n", req.out);
        } else if (starts(mode, "location")) {
            FCGX_PutS("Location: /elsewhere\r\n\r\n", req.out);
        } else if (starts(mode, "lf")) {
            FCGX_PutS("Content-Type: text/plain\nX-Mode: lf\n\nbare lf\n", req.out);
        } else if (starts(mode, "big")) {
            const char *n = strstr(FCGX_GetParam("QUERY_STRING", req.envp), "n=");
            long total = n ? atol(n + 2) : 0;
            FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", req.out);
            memset(buf, 'x', sizeof buf);
            while (total > 0) {
                int chunk = total > (long)sizeof buf ? (int)sizeof buf : (int)total;
                FCGX_PutStr(buf, chunk, req.out);
                total -= chunk;
            }
        } else {
            if (starts(mode, "stderr")) FCGX_PutS("stderr line from echo\n", req.err);
            int count = 0;
            while (req.envp[count]) count++;
            char **sorted = malloc(sizeof(char *) * (count + 1));
            memcpy(sorted, req.envp, sizeof(char *) * count);
            qsort(sorted, count, sizeof(char *), cmp);
            FCGX_PutS("Content-Type: text/plain\r\n\r\n", req.out);
            for (int i = 0; i < count; i++) FCGX_FPrintF(req.out, "%s\n", sorted[i]);
            free(sorted);
            long len = 0;
            int n;
            while ((n = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) len += n;
            FCGX_FPrintF(req.out, "body=%ld\n", len);
        }
        FCGX_Finish_r(&req);
    }
    return 0;
}
