/* Sharded extraction: plan, part lists, merge (see shard.h). */
#include "cli/shard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/hash.h"
#include "core/csv.h"
#include "core/atomic.h"
#include "core/sha256.h"
#include "dist/dist.h"
#include "video/video.h"


void cli_shard_free(cli_shard *s)
{
    free(s->owner);
    free(s->cost);
    *s = (cli_shard){0};
}

int cli_shard_plan(const char *cmd, const char *data, const vl_videodata_opts *vo, const char *spec,
                   const char *opts_key, cli_shard *s)
{
    *s = (cli_shard){.count = 1};
    if (vl_dist_shard(spec, &s->index, &s->count, &s->from))
        return cli_fail_status(cmd);
    if (s->count == 1)
        return 0;
    vl_clip_list cl = {0};
    if (vl_videodata_clips(data, vo, &cl))
        return cli_fail_status(cmd);
    s->nclips = cl.n;
    s->owner = malloc(sizeof(int) * (size_t)(cl.n ? cl.n : 1));
    s->cost = malloc(sizeof(double) * (size_t)(cl.n ? cl.n : 1));
    if (!s->owner || !s->cost) {
        vl_clip_list_free(&cl);
        cli_shard_free(s);
        return cli_fail(cmd, "out of memory");
    }
    /* Estimated source frames of each clip: what decoding costs (every source
     * frame is decoded whatever the sampling). One probe per video (clips of
     * a video come together); a video that cannot be probed counts as 10 s at
     * 25 fps and fails with its own message when extracted. */
    uint64_t h = 0xcbf29ce484222325ULL;
    h = vl_fnv(h, opts_key, strlen(opts_key) + 1);
    h = vl_fnv(h, &cl.n, sizeof cl.n);
    const char *last = NULL;
    vl_video_info vi = {0};
    int have = 0;
    for (int i = 0; i < cl.n; i++) {
        const vl_clip *c = &cl.items[i];
        if (!last || strcmp(last, c->path)) {
            have = vl_video_probe(c->path, &vi) == VL_OK;
            last = c->path;
        }
        double fps = have && vi.fps > 0 ? vi.fps : 25.0, dur = have && vi.duration > 0 ? vi.duration : 10.0;
        double len = c->end > 0 ? c->end - c->start : dur - c->start;
        s->cost[i] = fps * (len > 0 ? len : 1.0 / fps);
        h = vl_fnv(h, c->path, strlen(c->path) + 1);
        h = vl_fnv(h, &c->start, sizeof c->start);
        h = vl_fnv(h, &c->end, sizeof c->end);
        if (c->label)
            h = vl_fnv(h, c->label, strlen(c->label) + 1);
    }
    s->key = h;
    vl_dist_balance(s->cost, cl.n, s->count, s->owner);
    vl_clip_list_free(&cl);
    return 0;
}

static int mkdir_one(const char *p) { return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1; }

int cli_shard_write_part(const char *cmd, const char *outdir, const cli_shard *s, const char *rows)
{
    char dir[4200], p[4300];
    snprintf(dir, sizeof dir, "%s/shards", outdir);
    if (mkdir_one(dir))
        return cli_fail(cmd, "%s: cannot create: %s", dir, strerror(errno));
    snprintf(p, sizeof p, "%s/part-%04d-of-%04d.csv", dir, s->index, s->count);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return cli_fail(cmd, "out of memory");
    fprintf(m, "vidlstm-shard,%d,%d,%d,%016llx\n%s", s->index, s->count, s->nclips, (unsigned long long)s->key, rows);
    if (fclose(m) != 0) {
        free(buf);
        return cli_fail(cmd, "out of memory");
    }
    vl_status st = vl_write_file_atomic(p, buf, len);
    free(buf);
    return st ? cli_fail_status(cmd) : 0;
}

/* As cmd_extract writes manifest fields. */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") || s[0] == ' ' || s[0] == '#') {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

typedef struct {
    char *path, *label, *group;
} mrow;

int cli_shard_merge(const char *cmd, const char *outdir, int count, int lenient, int *nclips)
{
    char dir[4200], p[4400];
    snprintf(dir, sizeof dir, "%s/shards", outdir);
    DIR *dh = opendir(dir);
    if (!dh) {
        if (lenient)
            return 2;
        return cli_fail(cmd, "%s: no shard lists here (%s): run the shards first (vidlstm extract --shard I/N, or "
                             "under mpirun)",
                        dir, strerror(errno));
    }
    /* the count: given, or the one every part file names */
    int n = count, other = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        int i, c;
        char tail[8];
        if (sscanf(e->d_name, "part-%d-of-%d%7s", &i, &c, tail) != 3 || strcmp(tail, ".csv"))
            continue;
        if (count == 0 && n == 0)
            n = c;
        else if (c != n)
            other = c;
    }
    closedir(dh);
    if (n == 0) {
        if (lenient)
            return 2;
        return cli_fail(cmd, "%s: no shard lists here: run the shards first", dir);
    }
    if (count == 0 && other)
        return cli_fail(cmd, "%s holds the lists of runs cut into %d and into %d shards: remove the older ones (or "
                             "the folder) and run the shards again",
                        dir, n, other);
    int *missing = calloc((size_t)n, sizeof(int)), nmiss = 0;
    if (!missing)
        return cli_fail(cmd, "out of memory");
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/part-%04d-of-%04d.csv", dir, i, n);
        struct stat sb;
        if (stat(p, &sb) != 0)
            missing[nmiss++] = i;
    }
    if (nmiss) {
        int rc = 2;
        if (!lenient) {
            char list[256] = "";
            for (int k = 0; k < nmiss && strlen(list) < 200; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", k ? ", " : "", missing[k]);
            rc = cli_fail(cmd, "%s: shard%s %s%s of %d not finished (no list): run %s again (the clips they did "
                               "finish are in the feature cache)",
                          dir, nmiss > 1 ? "s" : "", list, nmiss * 8 > 200 ? ", ..." : "", n,
                          nmiss > 1 ? "them" : "it");
        }
        free(missing);
        return rc;
    }
    free(missing);

    mrow *rows = NULL;
    int M = -1, rc = 1;
    unsigned long long key = 0;
    char *seen = NULL;
    /* first the lists' headers: one run, one count (before any file is read) */
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/part-%04d-of-%04d.csv", dir, i, n);
        FILE *f = fopen(p, "r");
        char line[256] = "";
        int pi, pn, pm;
        unsigned long long pk;
        if (!f || !fgets(line, sizeof line, f) ||
            sscanf(line, "vidlstm-shard,%d,%d,%d,%llx", &pi, &pn, &pm, &pk) != 4 || pi != i || pn != n || pm < 0) {
            if (f)
                fclose(f);
            return cli_fail(cmd, "%s: not a shard list of vidlstm extract (or damaged)", p);
        }
        fclose(f);
        if (i == 0) {
            M = pm;
            key = pk;
        } else if (pm != M || pk != key) {
            return cli_fail(cmd, "%s belongs to another run (other videos or options) than %s/part-0000-of-%04d.csv: "
                                 "remove %s and run the shards again",
                            p, dir, n, dir);
        }
    }
    M = -1;
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/part-%04d-of-%04d.csv", dir, i, n);
        vl_csv r;
        if (vl_csv_open(&r, p)) {
            cli_fail_status(cmd);
            goto out;
        }
        int got = vl_csv_next(&r), pi, pn, pm;
        unsigned long long pk;
        if (got != 1 || r.nf != 5 || strcmp(r.f[0], "vidlstm-shard") || sscanf(r.f[1], "%d", &pi) != 1 ||
            sscanf(r.f[2], "%d", &pn) != 1 || sscanf(r.f[3], "%d", &pm) != 1 || sscanf(r.f[4], "%llx", &pk) != 1 ||
            pi != i || pn != n || pm < 0) {
            cli_fail(cmd, "%s: not a shard list of vidlstm extract (or damaged)", p);
            vl_csv_close(&r);
            goto out;
        }
        if (M < 0) {
            M = pm;
            key = pk;
            rows = calloc((size_t)(M ? M : 1), sizeof *rows);
            seen = calloc((size_t)(M ? M : 1), 1);
            if (!rows || !seen) {
                cli_fail(cmd, "out of memory");
                vl_csv_close(&r);
                goto out;
            }
        } else if (pm != M || pk != key) {
            cli_fail(cmd, "%s belongs to another run (other videos or options) than part 0: remove %s and run the "
                          "shards again",
                     p, dir);
            vl_csv_close(&r);
            goto out;
        }
        while ((got = vl_csv_next(&r)) == 1) {
            int idx;
            char *end;
            long v = strtol(r.f[0], &end, 10);
            idx = (int)v;
            if (r.nf != 7 || *end || v < 0 || v >= M) {
                cli_fail(cmd, "%s:%d: not a shard list row (index,path,label,group,frames,sha256,label_sha256)", p,
                         r.rec_line);
                got = -2;
                break;
            }
            if (seen[idx]) {
                cli_fail(cmd, "%s:%d: clip %d is in two shards", p, r.rec_line, idx);
                got = -2;
                break;
            }
            seen[idx] = 1;
            /* the files must be what the shard wrote: whole, unchanged */
            for (int k = 0; k < 2; k++) {
                const char *rel = k ? r.f[2] : r.f[1], *want = k ? r.f[6] : r.f[5];
                if (k && !*want)
                    continue; /* a clip label, not a label file */
                char fp[4400], hex[VL_SHA256_HEX];
                snprintf(fp, sizeof fp, "%s/%s", outdir, rel);
                if (vl_file_sha256(fp, hex, NULL)) {
                    cli_fail(cmd, "%s (listed in %s): %s", fp, p, vl_errmsg());
                    got = -2;
                    break;
                }
                if (strcmp(hex, want)) {
                    cli_fail(cmd, "%s: its SHA-256 is not the one shard %d recorded (damaged or changed since): run "
                                  "shard %d again",
                             fp, i, i);
                    got = -2;
                    break;
                }
            }
            if (got == -2)
                break;
            rows[idx] = (mrow){vl_strdup(r.f[1]), vl_strdup(r.f[2]), vl_strdup(r.f[3])};
            if (!rows[idx].path || !rows[idx].label || !rows[idx].group) {
                cli_fail(cmd, "out of memory");
                got = -2;
                break;
            }
        }
        if (got == -1)
            cli_fail_status(cmd);
        vl_csv_close(&r);
        if (got < 0)
            goto out;
    }
    for (int i = 0; i < M; i++)
        if (!seen[i]) {
            cli_fail(cmd, "%s: clip %d of %d is in no shard's list", dir, i, M);
            goto out;
        }
    {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m) {
            cli_fail(cmd, "out of memory");
            goto out;
        }
        fprintf(m, "path,label,group\n");
        for (int i = 0; i < M; i++) {
            csv_field(m, rows[i].path);
            fputc(',', m);
            csv_field(m, rows[i].label);
            fputc(',', m);
            csv_field(m, rows[i].group);
            fputc('\n', m);
        }
        if (fclose(m) != 0) {
            free(buf);
            cli_fail(cmd, "out of memory");
            goto out;
        }
        snprintf(p, sizeof p, "%s/manifest.csv", outdir);
        vl_status st = vl_write_file_atomic(p, buf, len);
        free(buf);
        if (st) {
            cli_fail_status(cmd);
            goto out;
        }
    }
    if (nclips)
        *nclips = M;
    rc = 0;
out:
    for (int i = 0; rows && i < M; i++) {
        free(rows[i].path);
        free(rows[i].label);
        free(rows[i].group);
    }
    free(rows);
    free(seen);
    return rc;
}
