/* Files made at run time under one scratch folder (tmpdir, which the test
 * creates with mkdtemp and removes at the end): tpath names one, put writes
 * one and its parent folders. Static: each test program has its own. */
#ifndef VL_TEST_SCRATCH_H
#define VL_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[512];

/* tmpdir/rel, in one of 8 rotating buffers */
static const char *tpath(const char *rel)
{
    static char buf[8][1024];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, rel);
    return p;
}

/* Writes `text` to tmpdir/rel, creating parent folders; exits 2 when it cannot. */
static void put(const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    for (char *s = p + strlen(tmpdir) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

#endif
