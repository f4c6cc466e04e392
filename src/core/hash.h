/* FNV-1a, 64 bits, a byte at a time: keys and fingerprints of small
 * records (the feature cache's keys, the training options' fingerprint,
 * shard plans). Not for hashing bulk data: the checksums of large files are
 * taken a word at a time (safetensors' "data_checksum"). */
#ifndef VL_CORE_HASH_H
#define VL_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VL_FNV_OFFSET 0xcbf29ce484222325ULL

static inline uint64_t vl_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
