/* healthchecks.c — a healthchecks.io check (or a self-hosted one), as a
 * dead man's switch: the ping URL gets "/start" when a run starts, nothing
 * when it succeeded, "/fail" when it failed or was partial (or any other
 * event that is not good news), and "/log" for a test (healthchecks'
 * log endpoint: recorded, the check's state unchanged).  Every ping
 * carries rid=<the run's id>, so healthchecks pairs a start with its end
 * and measures the run.  The body is the run's log tail, newest lines
 * kept (the summary for start), within 10,000 bytes: self-hosted
 * healthchecks keeps 10,000 bytes of a body by default (PING_BODY_LIMIT),
 * and it would keep the head, losing the newest lines. */
#include "notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL "healthchecks notifier"
#define BODY_MAX 10000

static const char *ping_suffix(const char *event)
{
    if (strcmp(event, "start") == 0)
        return "/start";
    if (strcmp(event, "success") == 0)
        return "";
    if (strcmp(event, "test") == 0)
        return "/log";
    return "/fail"; /* failure, partial, drill_failed ... */
}

/* The ping URL for event: suffix appended to the path (before any query)
 * and rid added to the query.  curl_free it; NULL when url is not one. */
static char *ping_url(const char *url, const char *event, const char *run_id)
{
    CURLU *u = curl_url();
    char *path = NULL, *result = NULL, *rid = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto done;
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--; /* "https://hc-ping.com/UUID/" pings like ".../UUID" */
    char *pinged = mb_strdup_printf("%.*s%s", (int)len, path, ping_suffix(event));
    rid = mb_strdup_printf("rid=%s", run_id);
    if (pinged && rid && curl_url_set(u, CURLUPART_PATH, pinged, 0) == CURLUE_OK
        && curl_url_set(u, CURLUPART_QUERY, rid, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK)
        curl_url_get(u, CURLUPART_URL, &result, 0);
    free(pinged);
done:
    free(rid);
    curl_free(path);
    curl_url_cleanup(u);
    return result;
}

static int add_tail(struct mb_buf *b, const void *log, size_t max_chars)
{
    return mb_text_add_tail(b, log, max_chars);
}

static int add_head(struct mb_buf *b, const void *text, size_t max_chars)
{
    return mb_text_add_head(b, text, max_chars);
}

static int healthchecks_send(const struct mb_config *cfg, const struct mb_notice *notice,
                             double deadline, struct mb_delivery *out, struct mb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *url = mb_config_get(cfg, "url");
    char host[256];
    if (!url || !*url) {
        mb_error_set(err, LABEL ": \"url\" is required");
        return -1;
    }
    mb_url_host_of(url, host, sizeof host);
    char *ping = ping_url(url, notice->event, notice->run_id);
    if (!ping) {
        mb_error_set(err, LABEL " %s: the url is not a URL", host);
        return -1;
    }
    struct mb_buf body = { 0 };
    int start = strcmp(notice->event, "start") == 0;
    int rc = -1;
    if (mb_text_fit_bytes(&body, BODY_MAX, start ? add_head : add_tail,
                          start || !notice->log[0] ? notice->summary : notice->log) != 0) {
        mb_error_set(err, LABEL " %s: out of memory", host);
    } else {
        struct mb_notice_post post = {
            .label = LABEL,
            .url = ping,
            .content_type = "text/plain; charset=utf-8",
            .body = body.data ? body.data : "",
            .body_len = body.len,
        };
        rc = mb_notice_post(cfg, &post, deadline, out, err);
    }
    mb_buf_free(&body);
    curl_free(ping);
    return rc;
}

static const struct mb_option healthchecks_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 1,
      .help = "the check's ping URL (https://hc-ping.com/UUID): /start, /fail and /log are added" },
    MB_NOTIFY_COMMON_OPTIONS,
    { NULL },
};

const struct mb_notify_ops mb_notify_healthchecks = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "healthchecks",
    .options = healthchecks_options,
    .default_on = "start success partial failure",
    .send = healthchecks_send,
};
