/* test_sigv4.c — the signer against published vectors.
 *
 * The first group is from the AWS "aws-sig-v4-test-suite" (service
 * "service", us-east-1, 2015-08-30T12:36:00Z, key AKIDEXAMPLE); the second
 * from the S3 documentation's worked examples (examplebucket, 2013-05-24).
 * The values are literal data, copied from the published expected output. */
#include "check.h"
#include "sigv4.h"
#include "urlxml.h"

#include <stdlib.h>
#include <string.h>

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"

static struct sigv4_request suite_request(const char *method, const char *path, const char *query,
                                          const struct sigv4_header *h, size_t n,
                                          const char *payload_hash)
{
    return (struct sigv4_request){ method, path, query, h, n, payload_hash, SUITE_DATE,
                                   "us-east-1", "service" };
}

/* Checks the whole Authorization header, and the canonical request when given. */
static void check_vector(const char *name, const char *access_key, const char *secret,
                         const struct sigv4_request *r, const char *creq, const char *authz)
{
    if (creq) {
        char *got = sigv4_canonical_request(r);
        CHECK(got && strcmp(got, creq) == 0, "%s: canonical request", name);
        if (got && strcmp(got, creq) != 0)
            printf("#   got:\n%s\n#   expected:\n%s\n", got, creq);
        free(got);
    }
    if (!authz)
        return;
    char *got = sigv4_authorization(access_key, secret, r);
    CHECK(got && strcmp(got, authz) == 0, "%s: Authorization header", name);
    if (got && strcmp(got, authz) != 0)
        printf("#   got: %s\n", got);
    free(got);
}

static char *encoded_path(const char *raw)
{
    return mb_url_encode(raw, 1);
}

static void test_suite_vectors(void)
{
    const char *pre = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                      "aws4_request, SignedHeaders=";
    char authz[512];
    struct sigv4_header plain[] = { { "Host", "example.amazonaws.com" },
                                    { "X-Amz-Date", SUITE_DATE } };
    struct sigv4_request r = suite_request("GET", "/", "", plain, 2, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-date, Signature=%s", pre,
             "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    check_vector("get-vanilla", "AKIDEXAMPLE", SUITE_SECRET, &r,
                 "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\n" SIGV4_EMPTY_SHA256, authz);

    const char *order_key[] = { "Param1", "value2", "Param1", "Value1" };
    char *q = sigv4_canonical_query(order_key, 2);
    CHECK(q && strcmp(q, "Param1=Value1&Param1=value2") == 0,
          "get-vanilla-query-order-key: repeated keys sort by value");
    r = suite_request("GET", "/", q, plain, 2, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-date, Signature=%s", pre,
             "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
    check_vector("get-vanilla-query-order-key", "AKIDEXAMPLE", SUITE_SECRET, &r, NULL, authz);
    free(q);

    const char *order_case[] = { "Param2", "value2", "Param1", "value1" };
    q = sigv4_canonical_query(order_case, 2);
    r = suite_request("GET", "/", q, plain, 2, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-date, Signature=%s", pre,
             "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    check_vector("get-vanilla-query-order-key-case", "AKIDEXAMPLE", SUITE_SECRET, &r, NULL,
                 authz);
    free(q);

    char *path = encoded_path("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    r = suite_request("GET", path, "", plain, 2, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-date, Signature=%s", pre,
             "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    check_vector("get-unreserved", "AKIDEXAMPLE", SUITE_SECRET, &r, NULL, authz);
    free(path);

    path = encoded_path("/\xe1\x88\xb4"); /* U+1234 */
    CHECK(path && strcmp(path, "/%E1%88%B4") == 0, "get-utf8: UTF-8 bytes are %%XX in upper case");
    r = suite_request("GET", path, "", plain, 2, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-date, Signature=%s", pre,
             "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
    check_vector("get-utf8", "AKIDEXAMPLE", SUITE_SECRET, &r, NULL, authz);
    free(path);

    path = encoded_path("/example space/");
    r = suite_request("GET", path, "", plain, 2, SIGV4_EMPTY_SHA256);
    check_vector("get-space", "AKIDEXAMPLE", SUITE_SECRET, &r,
                 "GET\n/example%20space/\n\nhost:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" SIGV4_EMPTY_SHA256, NULL);
    free(path);

    struct sigv4_header dup[] = { { "Host", "example.amazonaws.com" }, { "My-Header1", "value2" },
                                  { "My-Header1", "value2" }, { "My-Header1", "value1" },
                                  { "X-Amz-Date", SUITE_DATE } };
    r = suite_request("GET", "/", "", dup, 5, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;my-header1;x-amz-date, Signature=%s", pre,
             "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
    check_vector("get-header-key-duplicate", "AKIDEXAMPLE", SUITE_SECRET, &r,
                 "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                 "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" SIGV4_EMPTY_SHA256,
                 authz);

    struct sigv4_header trim[] = { { "Host", "example.amazonaws.com" }, { "My-Header1", " value1" },
                                   { "My-Header2", " \"a   b   c\"" },
                                   { "X-Amz-Date", SUITE_DATE } };
    r = suite_request("GET", "/", "", trim, 4, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;my-header1;my-header2;x-amz-date, Signature=%s", pre,
             "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
    check_vector("get-header-value-trim", "AKIDEXAMPLE", SUITE_SECRET, &r, NULL, authz);

    char body_hash[65];
    sigv4_sha256_hex("Param1=value1", 13, body_hash);
    struct sigv4_header form[] = { { "Content-Type", "application/x-www-form-urlencoded" },
                                   { "Host", "example.amazonaws.com" },
                                   { "X-Amz-Date", SUITE_DATE } };
    r = suite_request("POST", "/", "", form, 3, body_hash);
    snprintf(authz, sizeof authz, "%scontent-type;host;x-amz-date, Signature=%s", pre,
             "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    check_vector("post-x-www-form-urlencoded", "AKIDEXAMPLE", SUITE_SECRET, &r,
                 "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
                 "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "content-type;host;x-amz-date\n"
                 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                 authz);
}

static struct sigv4_request s3_request(const char *method, const char *path, const char *query,
                                       const struct sigv4_header *h, size_t n,
                                       const char *payload_hash)
{
    return (struct sigv4_request){ method, path, query, h, n, payload_hash, S3_DATE,
                                   "us-east-1", "s3" };
}

static void test_s3_examples(void)
{
    const char *pre = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                      "aws4_request, SignedHeaders=";
    char authz[512];
    struct sigv4_header get[] = { { "Host", "examplebucket.s3.amazonaws.com" },
                                  { "Range", "bytes=0-9" },
                                  { "x-amz-content-sha256", SIGV4_EMPTY_SHA256 },
                                  { "x-amz-date", S3_DATE } };
    struct sigv4_request r = s3_request("GET", "/test.txt", "", get, 4, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;range;x-amz-content-sha256;x-amz-date, Signature=%s",
             pre, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    check_vector("S3 GET object with a range", "AKIAIOSFODNN7EXAMPLE", S3_SECRET, &r, NULL, authz);

    char hash[65];
    sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
    CHECK(strcmp(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072") == 0,
          "sha256 of the PUT example's payload");
    struct sigv4_header put[] = { { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
                                  { "Host", "examplebucket.s3.amazonaws.com" },
                                  { "x-amz-content-sha256", hash }, { "x-amz-date", S3_DATE },
                                  { "x-amz-storage-class", "REDUCED_REDUNDANCY" } };
    char *path = mb_url_encode("/test$file.text", 1);
    CHECK(path && strcmp(path, "/test%24file.text") == 0, "a key's '$' is percent-encoded");
    r = s3_request("PUT", path, "", put, 5, hash);
    snprintf(authz, sizeof authz,
             "%sdate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=%s", pre,
             "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    check_vector("S3 PUT object", "AKIAIOSFODNN7EXAMPLE", S3_SECRET, &r, NULL, authz);
    free(path);

    struct sigv4_header list[] = { { "Host", "examplebucket.s3.amazonaws.com" },
                                   { "x-amz-content-sha256", SIGV4_EMPTY_SHA256 },
                                   { "x-amz-date", S3_DATE } };
    const char *pairs[] = { "prefix", "J", "max-keys", "2" };
    char *q = sigv4_canonical_query(pairs, 2);
    r = s3_request("GET", "/", q, list, 3, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-content-sha256;x-amz-date, Signature=%s", pre,
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    check_vector("S3 GET bucket (list objects)", "AKIAIOSFODNN7EXAMPLE", S3_SECRET, &r, NULL, authz);
    free(q);

    const char *lifecycle[] = { "lifecycle", NULL };
    q = sigv4_canonical_query(lifecycle, 1);
    CHECK(q && strcmp(q, "lifecycle=") == 0, "a query key without a value signs as \"key=\"");
    r = s3_request("GET", "/", q, list, 3, SIGV4_EMPTY_SHA256);
    snprintf(authz, sizeof authz, "%shost;x-amz-content-sha256;x-amz-date, Signature=%s", pre,
             "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    check_vector("S3 GET bucket lifecycle", "AKIAIOSFODNN7EXAMPLE", S3_SECRET, &r, NULL, authz);
    free(q);
}

static void test_encoding_rules(void)
{
    char *s = mb_url_encode("shop/a b+c=d&e%f/é", 1);
    CHECK(s && strcmp(s, "shop/a%20b%2Bc%3Dd%26e%25f/%C3%A9") == 0,
          "keys: space is %%20 (never '+'), reserved characters and non-ASCII are encoded");
    free(s);
    s = mb_url_encode("a/b c", 0);
    CHECK(s && strcmp(s, "a%2Fb%20c") == 0, "query values: '/' is encoded too");
    free(s);
    char date[17];
    sigv4_amz_date(1440938160, date);
    CHECK(strcmp(date, SUITE_DATE) == 0, "x-amz-date is the UTC time in basic ISO 8601");
}

int main(void)
{
    test_suite_vectors();
    test_s3_examples();
    test_encoding_rules();
    return check_done();
}
