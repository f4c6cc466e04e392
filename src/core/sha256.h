/* SHA-256 (FIPS 180-4): streaming, one-shot, and of a whole file.
 *
 *   vl_sha256_ctx c;  vl_sha256_init(&c);  vl_sha256_update(&c, p, n);  ...  vl_sha256_final(&c, digest);
 *
 * Hex digests are 64 lowercase characters plus a NUL (VL_SHA256_HEX). */
#ifndef VL_CORE_SHA256_H
#define VL_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

#define VL_SHA256_HEX 65

typedef struct {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} vl_sha256_ctx;

void vl_sha256_init(vl_sha256_ctx *c);
void vl_sha256_update(vl_sha256_ctx *c, const void *data, size_t n);
void vl_sha256_final(vl_sha256_ctx *c, uint8_t digest[32]);
/* digest -> 64 lowercase hex characters + NUL */
void vl_sha256_hex(const uint8_t digest[32], char hex[VL_SHA256_HEX]);
/* One shot: hex digest of data[0..n). */
void vl_sha256_buf(const void *data, size_t n, char hex[VL_SHA256_HEX]);
/* Hex digest of a file's whole content; VL_ERR_IO naming the file when it
 * cannot be read. *size (may be NULL) gets the bytes hashed. */
vl_status vl_file_sha256(const char *path, char hex[VL_SHA256_HEX], int64_t *size);
/* 1 when s is 64 hex digits (either case), else 0. */
int vl_sha256_valid_hex(const char *s);

#endif
