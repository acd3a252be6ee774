/* registry.h — the engine's side of the adapters (src/registry.c): finding
 * one by type, and opening and holding storages. */
#ifndef MB_REGISTRY_H
#define MB_REGISTRY_H

#include "adapters.h"

/* NULL when no adapter has that type (or only one this core cannot use). */
const struct mb_source_ops *mb_source_find(const char *type);
const struct mb_storage_ops *mb_storage_find(const char *type);
const struct mb_notify_ops *mb_notify_find(const char *type);
/* The i-th adapter of the registry, NULL past the end (listings show the
 * ones find takes). */
const struct mb_source_ops *mb_source_at(size_t i);
const struct mb_storage_ops *mb_storage_at(size_t i);
const struct mb_notify_ops *mb_notify_at(size_t i);

/* Gives cfg the default of each option in options (ending with { NULL })
 * that it lacks: the schema's default is the one that applies, so the
 * bindings call this on every config they hand an adapter.  0, or -1 when
 * out of memory. */
int mb_config_set_defaults(struct mb_config *cfg, const struct mb_option *options);

/* Opens a storage of ops's adapter from cfg: one reference, the caller's. */
struct mb_storage *mb_storage_open(const struct mb_storage_ops *ops, const struct mb_config *cfg,
                                   struct mb_error *err);
/* Takes one more reference: each open writer or reader of the storage
 * holds one until it is closed itself. */
void mb_storage_retain(struct mb_storage *storage);
/* Drops one reference (NULL is fine); the last one frees the storage. */
void mb_storage_release(struct mb_storage *storage);

/* Removes one incomplete upload of artifact, refusing an upload that is
 * not one of artifact's (never an artifact or a sidecar). */
int mb_storage_remove_incomplete(struct mb_storage *storage, const char *artifact,
                                 const char *upload, struct mb_error *err);

#endif
