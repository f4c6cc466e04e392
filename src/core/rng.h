/* Deterministic random numbers (xoshiro256**, seeded through splitmix64).
 * Same seed -> same stream on every platform; used for initialisation,
 * dropout masks and shuffling. */
#ifndef VL_CORE_RNG_H
#define VL_CORE_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } vl_rng;

void vl_rng_seed(vl_rng *r, uint64_t seed);
uint64_t vl_rng_next(vl_rng *r);
float vl_rng_uniform(vl_rng *r);              /* [0, 1) with 24 random bits */
float vl_rng_uniform_range(vl_rng *r, float lo, float hi);
double vl_rng_normal(vl_rng *r);              /* standard normal (Box-Muller) */
uint64_t vl_rng_below(vl_rng *r, uint64_t n); /* uniform in [0, n), unbiased */

#endif
