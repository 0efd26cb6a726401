/*! The program from the field report (shared/seed/): every request runs
 *  system("sleep 100000000"), so the shell and the sleep inherit the listening socket on fd 0.
 *  Verbatim but for one line: FCGX_Init(). Without it libfcgi 2.4 (Debian's) returns -9998 from
 *  FCGX_Accept_r at once and the handler runs without ever accepting a request. */
#include <stdio.h>
#include <fcgiapp.h>
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

int main(int argc, const char *argv)
{
    FCGX_Init();
    while (1) {
        FCGX_Request request = {0};
        FCGX_InitRequest(&request, 0, 0);
        FCGX_Accept_r(&request);
        system("sleep 100000000");
        FCGX_Finish_r(&request);
    }

    return 0;
}
