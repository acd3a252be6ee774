/* urlxml.h — URLs and XML text as the remote storages (S3, WebDAV, SFTP,
 * FTP) send and read them: one percent-encoder for every URL path and
 * query, its decoder, and XML's entities.  Pure functions of their input,
 * tested in tests/unit/test_listing.c and test_sigv4.c. */
#ifndef MB_URLXML_H
#define MB_URLXML_H

/* Percent-encoding of RFC 3986 as SigV4 wants it, which every server
 * reads: A-Z a-z 0-9 - . _ ~ are kept, every other byte (UTF-8 included)
 * becomes %XX in upper case; '/' is kept only with keep_slash (paths,
 * object keys).  malloc'd; NULL when out of memory. */
char *mb_url_encode(const char *s, int keep_slash);
/* A path, keeping '/'. */
static inline char *mb_url_escape_path(const char *path) { return mb_url_encode(path, 1); }
/* Percent-decodes in place. */
void mb_url_unescape(char *s);
/* Decodes XML's five named entities and numeric references (as UTF-8) in
 * place; the text never grows.  For S3 and WebDAV listings. */
void mb_xml_unescape(char *s);
/* "host:port" for messages and "[v6]" for URLs. */
char *mb_url_host(const char *host);

#endif
