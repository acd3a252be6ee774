/* chat.h — what the chat notifiers (discord.c, slack.c) share: text made
 * safe for a JSON string and fitted to a service's limit as the service
 * counts it; and their payload builders, here so that the unit tests
 * (tests/unit/test_chat_payloads.c) can check a payload without a server.
 * Implemented in adapters/notify/chat.c, discord.c and slack.c. */
#ifndef MB_CHAT_H
#define MB_CHAT_H

#include "notice.h"

/* How mb_chat_fit treats a text. */
enum {
    MB_CHAT_TAIL = 1,         /* keep the newest lines (a log), else the start */
    MB_CHAT_NO_FENCE = 2,     /* the text goes inside a ``` code block: no backtick
                                 may end it, each becomes U+02CB (ˋ) */
    MB_CHAT_SLACK_ESCAPE = 4, /* Slack's control characters & < > become
                                 &amp; &lt; &gt; (counted as sent) */
};

/* Appends text to out, valid UTF-8 (a byte that starts no valid sequence
 * becomes U+FFFD) and at most limit UTF-16 code units long.  Discord
 * counts code points (its API is Python), JavaScript clients UTF-16 units;
 * units are never fewer than code points, so the result fits under either
 * count.  Cut on a character boundary, never inside an escape: 0, or -1
 * out of memory. */
int mb_chat_fit(struct mb_buf *out, const char *text, size_t limit, int how);

/* The length of UTF-8 text s in UTF-16 code units (a character beyond
 * U+FFFF counts 2). */
size_t mb_chat_units(const char *s);

/* The body the discord and slack notifiers POST for notice (JSON, malloc'd
 * UTF-8), NULL when out of memory.  cfg: the notifier's options (discord's
 * username). */
char *mb_discord_payload(const struct mb_config *cfg, const struct mb_notice *notice);
char *mb_slack_payload(const struct mb_config *cfg, const struct mb_notice *notice);

/* Discord's limits (its "Embed Limits"; content's 2000). */
#define DISCORD_TITLE_MAX 256
#define DISCORD_DESCRIPTION_MAX 4096
#define DISCORD_FIELDS_MAX 25
#define DISCORD_FIELD_NAME_MAX 256
#define DISCORD_FIELD_VALUE_MAX 1024
#define DISCORD_FOOTER_MAX 2048
#define DISCORD_EMBED_TOTAL_MAX 6000 /* title, description, fields, footer, author */
#define DISCORD_USERNAME_MAX 80

/* The seconds a Discord 429's JSON body asks to wait ("retry_after"), or
 * -1 when it says nothing readable. */
double mb_discord_retry_after(const char *body, size_t len);

/* Slack's Block Kit limits. */
#define SLACK_HEADER_MAX 150
#define SLACK_SECTION_TEXT_MAX 3000
#define SLACK_FIELDS_MAX 10
#define SLACK_FIELD_TEXT_MAX 2000
#define SLACK_TEXT_MAX 3000 /* the fallback text: Slack truncates far later (40,000) */

#endif
