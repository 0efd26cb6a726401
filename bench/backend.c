/* The benchmark's FastCGI backend, a plain libfcgi program as embedded products ship them:
 *   .../hello  answers "Hello from libfcgi" (13 + 5 bytes of body)
 *   .../64k    answers 64 KiB
 *   .../echo   reads the request body, then answers it
 *   .../slow   answers "slow" after 200 ms (the soak's requests that are in flight when a
 *              process is killed or a client leaves)
 * anything else: 404. Built by bench/run.sh with -O2 -lfcgi. */
#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char big[64 * 1024];

int main(void) {
    memset(big, 'x', sizeof big);
    FCGX_Init();
    FCGX_Request req;
    FCGX_InitRequest(&req, 0, 0);
    char buf[65536];
    while (FCGX_Accept_r(&req) >= 0) {
        const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
        if (!uri) uri = "";
        if (strstr(uri, "/hello")) {
            FCGX_PutS("Content-Type: text/plain\r\n\r\nHello from libfcgi\n", req.out);
        } else if (strstr(uri, "/slow")) {
            usleep(200 * 1000);
            FCGX_PutS("Content-Type: text/plain\r\n\r\nslow\n", req.out);
        } else if (strstr(uri, "/64k")) {
            FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", req.out);
            FCGX_PutStr(big, sizeof big, req.out);
        } else if (strstr(uri, "/echo")) {
            /* The whole body first, then the answer, as applications do (nginx does not read
             * the response before it has sent the whole request). */
            size_t len = 0, cap = 0;
            char *body = NULL;
            int n;
            while ((n = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) {
                if (len + n > cap) {
                    cap = (len + n) * 2;
                    body = realloc(body, cap);
                }
                memcpy(body + len, buf, n);
                len += n;
            }
            FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", req.out);
            if (len) FCGX_PutStr(body, (int)len, req.out);
            free(body);
        } else {
            FCGX_PutS("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnot here\n", req.out);
        }
        FCGX_Finish_r(&req);
    }
    return 0;
}
