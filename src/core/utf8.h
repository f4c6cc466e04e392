/* UTF-8 decoding for writers that must count characters or re-encode text
 * (aligned text tables, JSON, XML). Header-only: two small inline functions. */
#ifndef VL_CORE_UTF8_H
#define VL_CORE_UTF8_H

#include <stdint.h>

/* Decodes the character at s into *cp and returns its length in bytes
 * (0 at the terminating NUL). A malformed, overlong or surrogate sequence
 * consumes one byte and yields U+FFFD, so every string decodes. */
static inline int vl_utf8_next(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0) {
        *cp = 0;
        return 0;
    }
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) {
        len = 2, c = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        len = 3, c = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        len = 4, c = u[0] & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) { /* also stops at NUL */
            *cp = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return len;
}

/* Encodes cp into buf (at least 4 bytes); returns the byte count. */
static inline int vl_utf8_put(char *buf, uint32_t cp)
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The byte offset of the first byte that does not start a well-formed
 * UTF-8 character (vl_utf8_next's rules), or -1 when all of s is valid. */
static inline long vl_utf8_invalid_at(const char *s)
{
    const char *p = s;
    uint32_t cp;
    int len;
    while ((len = vl_utf8_next(p, &cp)) > 0) {
        if (cp == 0xFFFD && len == 1)
            return (long)(p - s);
        p += len;
    }
    return -1;
}

#endif
