/* test_s3.c — the S3 adapter's decisions that need no server: addressing
 * defaults, prefix, credentials, part size limits, and the XML it reads.
 * (tests/e2e/test_s3.sh runs it against a real server.) */
#include "check.h"
#include "curlxfer.h"
#include "registry.h"
#include "s3client.h"
#include "urlxml.h"
#include "testutil.h"

#include <stdlib.h>

/* A config as the engine gives it: the pairs, then the s3 schema's defaults. */
static struct mb_config config(const char *const *pairs)
{
    struct mb_config cfg = { 0 };
    for (; *pairs; pairs += 2)
        mb_config_set(&cfg, pairs[0], pairs[1]);
    mb_config_set_defaults(&cfg, mb_storage_find("s3")->options);
    return cfg;
}

static const char *schema_default(const char *name)
{
    for (const struct mb_option *o = mb_storage_find("s3")->options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->default_value;
    return NULL;
}

static int init(struct s3_client *c, const char *const *pairs, struct mb_error *err)
{
    struct mb_config cfg = config(pairs);
    int rc = s3_client_init(c, &cfg, err);
    mb_config_free(&cfg);
    return rc;
}

/* The schema's defaults are the ones that apply: the client keeps no
 * fallback of its own. */
static void test_defaults(void)
{
    struct s3_client c;
    struct mb_error err = { { 0 } };
    const char *minimal[] = { "bucket", "shop", "access_key", "AK", "secret_key", "SK", NULL };
    CHECK(init(&c, minimal, &err) == 0 && c.retries == atoi(schema_default("retries"))
              && c.timeout == atol(schema_default("timeout")) && strcmp(c.region, schema_default("region")) == 0,
          "retries, timeout and region are the schema's defaults (%d, %ld)", c.retries, c.timeout);
    s3_client_free(&c);

    struct mb_config bare = { 0 }; /* no engine: no defaults */
    for (const char *const *p = minimal; *p; p += 2)
        mb_config_set(&bare, p[0], p[1]);
    mb_config_set(&bare, "region", "eu-west-1");
    CHECK(s3_client_init(&c, &bare, &err) == 0 && c.retries == 0 && c.timeout == 1,
          "without the engine's defaults the client invents none (retries %d, timeout %ld)", c.retries,
          c.timeout);
    s3_client_free(&c);
    mb_config_free(&bare);
}

static void test_addressing(void)
{
    struct s3_client c;
    struct mb_error err = { { 0 } };
    const char *aws[] = { "bucket", "shop", "region", "eu-west-1", "access_key", "AK",
                          "secret_key", "SK", NULL };
    CHECK(init(&c, aws, &err) == 0 && !c.path_style
              && strcmp(c.base_url, "https://shop.s3.eu-west-1.amazonaws.com") == 0
              && strcmp(c.bucket_path, "") == 0,
          "no endpoint: AWS in the region, virtual-host style (%s)", c.base_url);
    s3_client_free(&c);

    const char *minio[] = { "bucket", "shop", "endpoint", "http://127.0.0.1:9000/",
                            "access_key", "AK", "secret_key", "SK", "prefix", "db", NULL };
    CHECK(init(&c, minio, &err) == 0 && c.path_style && strcmp(c.region, "us-east-1") == 0
              && strcmp(c.base_url, "http://127.0.0.1:9000") == 0
              && strcmp(c.bucket_path, "/shop") == 0 && strcmp(c.host, "127.0.0.1:9000") == 0,
          "another endpoint: path style, region us-east-1 by default");
    CHECK(strcmp(c.prefix, "db/") == 0, "a prefix is a folder: \"db\" becomes \"db/\"");
    s3_client_free(&c);

    const char *forced[] = { "bucket", "shop", "endpoint", "https://s3.example.com",
                             "path_style", "false", "access_key", "AK", "secret_key", "SK", NULL };
    CHECK(init(&c, forced, &err) == 0 && !c.path_style
              && strcmp(c.host, "shop.s3.example.com") == 0,
          "path_style = false puts the bucket in the host name anywhere");
    s3_client_free(&c);

    const char *dotted[] = { "bucket", "my.shop", "access_key", "AK", "secret_key", "SK", NULL };
    CHECK(init(&c, dotted, &err) == 0 && c.path_style,
          "a bucket name with a dot uses path style on AWS (TLS names have no dots in a label)");
    s3_client_free(&c);

    const char *bad[] = { "bucket", "shop", "endpoint", "s3.example.com/x", "access_key", "AK",
                          "secret_key", "SK", NULL };
    CHECK(init(&c, bad, &err) != 0 && strstr(err.msg, "not scheme://host"),
          "an endpoint that is not scheme://host[:port] is refused: %s", err.msg);
}

static void test_credentials(void)
{
    struct s3_client c;
    struct mb_error err = { { 0 } };
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    const char *none[] = { "bucket", "shop", NULL };
    CHECK(init(&c, none, &err) != 0 && strstr(err.msg, "no credentials"),
          "no credentials at all is a clear error: %s", err.msg);
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
    memset(&err, 0, sizeof err);
    CHECK(init(&c, none, &err) == 0 && strcmp(c.access_key, "ENVKEY") == 0
              && c.session_token && strcmp(c.session_token, "ENVTOKEN") == 0,
          "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are used");
    s3_client_free(&c);
    const char *job[] = { "bucket", "shop", "access_key", "JOBKEY", "secret_key", "JOBSECRET", NULL };
    CHECK(init(&c, job, &err) == 0 && strcmp(c.access_key, "JOBKEY") == 0 && !c.session_token,
          "the job's keys win over the environment, without its session token");
    s3_client_free(&c);
}

static void test_part_size(void)
{
    const struct mb_storage_ops *ops = mb_storage_find("s3");
    CHECK(ops && ops->version == MB_STORAGE_OPS_VERSION, "the registry has the s3 storage");
    if (!ops)
        return;
    const char *small[] = { "bucket", "b", "access_key", "A", "secret_key", "S",
                            "part_size", "1048576", NULL };
    struct mb_config cfg = config(small);
    struct mb_error err = { { 0 } };
    struct mb_storage *s = mb_storage_open(ops, &cfg, &err);
    CHECK(!s && strstr(err.msg, "5 MiB"), "a part size under S3's 5 MiB minimum is refused: %s",
          err.msg);
    mb_storage_release(s);
    mb_config_free(&cfg);
}

static void test_xml(void)
{
    const char *xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                      "<Contents><Key>a &amp; b &lt;&#233;&#x20AC;&gt;</Key><Size>12</Size></Contents>"
                      "<Contents><Key>second</Key><Size>3</Size></Contents></ListBucketResult>";
    const char *end = xml + strlen(xml), *pos = xml, *a, *b;
    int blocks = 0;
    char *first = NULL;
    while (s3_xml_block(&pos, end, "Contents", &a, &b)) {
        const char *p = a;
        char *key = s3_xml_next(&p, b, "Key");
        if (blocks++ == 0)
            first = key;
        else
            free(key);
    }
    CHECK(blocks == 2, "each <Contents> block is found");
    CHECK(first && strcmp(first, "a & b <\xc3\xa9\xe2\x82\xac>") == 0,
          "entities and character references in keys are decoded to UTF-8");
    free(first);
    pos = xml;
    char *missing = s3_xml_next(&pos, end, "NextContinuationToken");
    CHECK(missing == NULL, "a missing element is NULL");

    char text[] = "&#x1F600;&nbsp;&#0;&quot;&#65;&amp";
    mb_xml_unescape(text);
    CHECK(strcmp(text, "\xf0\x9f\x98\x80&nbsp;&#0;\"A&amp") == 0,
          "mb_xml_unescape: 4-byte references decode, unknown or broken ones stay as written (%s)", text);
}

int main(void)
{
    test_defaults();
    test_addressing();
    test_credentials();
    test_part_size();
    test_xml();
    return check_done();
}
