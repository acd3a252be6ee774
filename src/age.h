/* age.h — the age v1 file format (https://age-encryption.org/v1) as
 * streaming transforms, plus the key helpers moonbak needs.
 *
 * Only the binary format is produced and accepted (ASCII armor is rejected
 * with a clear message).  Recipient types: X25519 ("age1...") and scrypt
 * (passphrase).  Everything is built on OpenSSL 3; no other library.
 *
 * Secrets (identities, passphrases, file keys) are copied into memory owned
 * by the transform and wiped with OPENSSL_cleanse when it is destroyed; the
 * caller's strings are never retained and never appear in error messages. */
#ifndef MB_AGE_H
#define MB_AGE_H

#include "transform.h"

#define MB_AGE_SCRYPT_DEFAULT_WORK_FACTOR 18 /* log2(N), what age uses */
#define MB_AGE_SCRYPT_MAX_WORK_FACTOR 22     /* decrypt refuses above (DoS: 4 GiB) */

/* Buffer sizes including the terminating NUL. */
#define MB_AGE_SECRET_KEY_SIZE 80 /* "AGE-SECRET-KEY-1" + 58 chars = 74 */
#define MB_AGE_RECIPIENT_SIZE 70  /* "age1" + 58 chars = 62 */

/* Encrypts to n_recipients "age1..." X25519 recipients, or (n_recipients
 * == 0) to passphrase with an scrypt stanza; exactly one of the two. */
struct mb_transform *mb_age_encrypt_new(const char *const *recipients, size_t n_recipients,
                                        const char *passphrase, struct mb_error *err);

/* Decrypts with any of the "AGE-SECRET-KEY-1..." identities and/or the
 * passphrase (at least one must be given).  finish() fails on truncation. */
struct mb_transform *mb_age_decrypt_new(const char *const *identities, size_t n_identities,
                                        const char *passphrase, struct mb_error *err);

/* log2(N) used by later mb_age_encrypt_new passphrase calls; 0 restores the
 * default.  Meant for tests (a process-wide setting, not thread-safe).
 * Returns 0, or -1 when outside 1..MB_AGE_SCRYPT_MAX_WORK_FACTOR. */
int mb_age_set_scrypt_work_factor(int log2n);

/* A fresh X25519 key pair: secret "AGE-SECRET-KEY-1..." (upper case) and
 * public "age1..." (lower case).  Returns 0 or -1 with err set. */
int mb_age_keygen(char *secret, size_t secret_len, char *public_key, size_t public_len,
                  struct mb_error *err);

/* The "age1..." recipient of an "AGE-SECRET-KEY-1..." identity. */
int mb_age_identity_to_recipient(const char *identity, char *out, size_t outlen,
                                 struct mb_error *err);

/* Decodes an "age1..." recipient into its X25519 public key. */
int mb_age_parse_recipient(const char *s, uint8_t pub[32], struct mb_error *err);

/* Bech32 (BIP 173 without the 90-character limit), exposed for tests.
 * encode: data are 8-bit bytes, converted to 5-bit groups here; upper
 * selects the all-upper-case form.  decode: checks the checksum and case,
 * writes the lower-cased HRP and the 8-bit data (*data_len: in capacity,
 * out length).  Both return 0 or -1 with err set. */
int mb_age_bech32_encode(const char *hrp, const uint8_t *data, size_t len, int upper, char *out,
                         size_t outlen, struct mb_error *err);
int mb_age_bech32_decode(const char *s, char *hrp, size_t hrp_cap, uint8_t *data,
                         size_t *data_len, struct mb_error *err);

#endif
