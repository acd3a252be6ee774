/* test_cancel.c — the cancel token (src/cancel.h) and what it stops: a
 * sleep on another thread, a curl request's retry back-off.  A back-off or
 * sleep that ignored the token would last an hour: the test would hang
 * (and the runner's timeout fail it), never pass by luck. */
#include "cancel.h"
#include "check.h"
#include "curlxfer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AN_HOUR 3600.0

static struct mb_cancel token;

static void on_signal(int sig) { mb_cancel_set(&token, sig); }

static void *sleep_an_hour(void *arg)
{
    *(int *)arg = mb_cancel_sleep(&token, AN_HOUR);
    return NULL;
}

static void test_token(void)
{
    CHECK(mb_cancel_init(&token) == 0 && mb_cancel_reason(&token) == 0, "a new token is not cancelled");
    CHECK(mb_cancel_sleep(&token, 0.001) == 0, "a short sleep on it ends normally");
    CHECK(mb_cancel_reason(NULL) == 0 && mb_cancel_sleep(NULL, 0.001) == 0, "NULL is never cancelled");

    int slept = 1;
    pthread_t sleeper;
    pthread_create(&sleeper, NULL, sleep_an_hour, &slept);
    signal(SIGINT, on_signal);
    raise(SIGINT); /* the handler runs on this thread, the sleeper sleeps on its own */
    pthread_join(sleeper, NULL);
    CHECK(slept == -1 && mb_cancel_reason(&token) == SIGINT,
          "a signal handler cancels it and an hour's sleep on another thread ends at once");
    mb_cancel_set(&token, SIGTERM);
    CHECK(mb_cancel_reason(&token) == SIGINT, "the first reason stays");
    CHECK(mb_cancel_sleep(&token, AN_HOUR) == -1, "once cancelled, sleeps end at once, for good");
}

/* A port where nothing listens: bound, never listening, so connects are refused. */
static int refusing_port(int *fd)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0
        || getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

static void test_retry_backoff(void)
{
    int fd, port = refusing_port(&fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    struct mb_cancel cancelled;
    mb_cancel_init(&cancelled);
    mb_cancel_set(&cancelled, SIGINT);
    struct mb_curl_conf conf = { .timeout = 10, .retries = 5, .cancel = &cancelled };
    struct mb_error err = { { 0 } };
    struct mb_curl_req *r = mb_curl_req_new(&conf, url, &err);
    struct mb_curl_retry how = { .retries = 5, .first_delay_ms = (long)(AN_HOUR * 1000) };
    int rc = r ? mb_curl_req_perform_retry(r, &how) : 0;
    char why[512] = "";
    if (r)
        mb_curl_req_describe(r, why, sizeof why);
    CHECK(port > 0 && rc == -1 && r->attempts == 1 && strstr(why, "interrupted by signal 2")
              && strstr(why, "onnect"),
          "a cancelled request is not retried: the hour-long back-off ends at once (%s)", why);
    mb_curl_req_free(r);
    close(fd);
}

static int transient(CURLcode code, int http, long status)
{
    struct mb_curl_req r = { .code = code, .http = http, .status = status };
    return mb_curl_req_transient(&r);
}

static void test_classifier(void)
{
    CHECK(transient(CURLE_COULDNT_CONNECT, 0, 0) && transient(CURLE_RECV_ERROR, 1, 0)
              && transient(CURLE_COULDNT_RESOLVE_HOST, 1, 0) && transient(CURLE_OPERATION_TIMEDOUT, 0, 0)
              && transient(CURLE_FAILED_INIT, 0, 0) && transient(CURLE_HTTP2_STREAM, 1, 0),
          "connection-level failures are worth another attempt");
    CHECK(!transient(CURLE_LOGIN_DENIED, 0, 0) && !transient(CURLE_REMOTE_FILE_NOT_FOUND, 0, 0)
              && !transient(CURLE_ABORTED_BY_CALLBACK, 1, 0),
          "a refused login, a missing file, a cancelled transfer are not");
    CHECK(transient(CURLE_OK, 1, 500) && transient(CURLE_OK, 1, 503) && transient(CURLE_OK, 1, 429)
              && transient(CURLE_HTTP_RETURNED_ERROR, 1, 408),
          "HTTP 5xx, 408 and 429 are worth another attempt");
    CHECK(!transient(CURLE_OK, 1, 501) && !transient(CURLE_OK, 1, 404) && !transient(CURLE_OK, 1, 200)
              && !transient(CURLE_OK, 0, 550),
          "HTTP 501, 404 are not, nor an FTP reply of 550");
}

int main(void)
{
    test_token();
    test_retry_backoff();
    test_classifier();
    return check_done();
}
