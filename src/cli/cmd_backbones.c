/* vidlstm backbones / vidlstm fetch: the table of named pretrained backbones
 * and downloading them into the cache (backbone/registry.h,
 * docs/backbones.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backbone/registry.h"
#include "cli/cli.h"
#include "core/outpath.h"
#include "core/json.h"

void cli_help_backbones(FILE *f)
{
    fputs("usage: vidlstm backbones [--json] [--cache DIR] [--verify]\n"
          "\n"
          "Lists the pretrained backbones you can name with --backbone NAME (train, extract,\n"
          "demo): name, architecture, feature tap and size, input and preprocessing, source,\n"
          "size, SHA-256, licence, and whether the file is in the cache. The built-in table\n"
          "holds ImageNet classifiers of the ONNX model zoo; a site or user table adds names\n"
          "from a JSON file: $VIDLSTM_BACKBONES, else ~/.config/vidlstm/backbones.json\n"
          "(docs/backbones.md).\n"
          "\n"
          "  --json         one JSON object: {\"cache\": DIR, \"backbones\": [...]}\n"
          "  --cache DIR    the backbone cache (default $VIDLSTM_BACKBONE_CACHE, else\n"
          "                 $XDG_CACHE_HOME/vidlstm/backbones, else ~/.cache/vidlstm/backbones)\n"
          "  --verify       hash cached files that have no recorded checksum yet\n"
          "                 (\"cached\" then says \"verified\" or \"bad\")\n",
          f);
}

void cli_help_fetch(FILE *f)
{
    fputs("usage: vidlstm fetch NAME... | --all [options]\n"
          "\n"
          "Downloads named backbones into the cache, once: the transfer goes to NAME.part\n"
          "(resumed with an HTTP Range request after a cut), is checked for size and SHA-256,\n"
          "synced, and only then renamed to its final name. A file already cached with the\n"
          "right checksum is not downloaded again; one that fails it is fetched again.\n"
          "--backbone NAME in train, extract and demo fetches a missing file the same way.\n"
          "\n"
          "  --all                    every backbone in the table\n"
          "  --cache DIR              the backbone cache (default $VIDLSTM_BACKBONE_CACHE, else\n"
          "                           $XDG_CACHE_HOME/vidlstm/backbones, else\n"
          "                           ~/.cache/vidlstm/backbones)\n"
          "  --mirror URL             fetch FILE from URL/FILE instead of the table's source\n"
          "                           (default $VIDLSTM_MIRROR; http://, https:// or file://)\n"
          "  --connect-timeout S      seconds to connect (default $VIDLSTM_CONNECT_TIMEOUT or 30)\n"
          "  --stall-timeout S        cut a transfer that receives nothing for S seconds, then\n"
          "                           retry (default $VIDLSTM_STALL_TIMEOUT or 60)\n"
          "  --retries N              tries after a failed one, waiting 1, 2, 4 ... s between\n"
          "                           (default $VIDLSTM_FETCH_RETRIES or 4; the first wait is\n"
          "                           $VIDLSTM_FETCH_BACKOFF seconds)\n"
          "  --quiet                  no progress messages\n",
          f);
}

/* ---- messages ------------------------------------------------------------------------ */

typedef struct {
    int tty, quiet;
    double last;
    int shown;
} fetch_ui;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_log(void *user, const char *line)
{
    fetch_ui *u = user;
    if (u->quiet)
        return;
    if (u->shown) {
        fputc('\n', stderr);
        u->shown = 0;
    }
    fprintf(stderr, "vidlstm: %s\n", line);
}

static void on_progress(void *user, int64_t done, int64_t total)
{
    fetch_ui *u = user;
    double t = now_s();
    if (u->quiet || !u->tty || (t - u->last < 0.5 && done < total) || total <= 0)
        return;
    u->last = t;
    u->shown = 1;
    fprintf(stderr, "\r  %.1f / %.1f MB (%d%%)", (double)done / 1e6, (double)total / 1e6,
            (int)(100.0 * (double)done / (double)total));
    if (done >= total) {
        fputc('\n', stderr);
        u->shown = 0;
    }
}

static fetch_ui default_ui;

/* `--backbone NAME` in any command: fetch messages on stderr. */
void cli_fetch_setup(int quiet)
{
    default_ui = (fetch_ui){.tty = isatty(2), .quiet = quiet};
    vl_fetch_opts o = {.log = on_log, .progress = on_progress, .user = &default_ui};
    vl_fetch_set_defaults(&o);
}

/* ---- vidlstm backbones --------------------------------------------------------------- */

static void describe_pre(const vl_backbone_entry *e, char *out, size_t cap)
{
    if (!e->has_pre) {
        snprintf(out, cap, "as the ONNX file declares (ImageNet normalisation)");
        return;
    }
    const vl_preproc *p = &e->pre;
    char rs[64];
    if (p->resize == VL_RESIZE_EXACT)
        snprintf(rs, sizeof rs, "resized to %dx%d", p->width, p->height);
    else
        snprintf(rs, sizeof rs, "shorter side %d, centre crop %dx%d", p->resize_to, p->width, p->height);
    snprintf(out, cap, "%s, %s, %s, (x*%g - mean (%g, %g, %g)) / std (%g, %g, %g)", p->nhwc ? "NHWC" : "NCHW", rs,
             p->bgr ? "BGR" : "RGB", (double)p->scale, (double)p->mean[0], (double)p->mean[1], (double)p->mean[2],
             (double)p->std[0], (double)p->std[1], (double)p->std[2]);
}

static const char *cached_word(int c)
{
    return c == 2 ? "verified" : c == 1 ? "yes" : c < 0 ? "bad (fetched again when used)" : "no";
}

int cmd_backbones(int argc, char **argv)
{
    cli_args a = {.argc = argc, .argv = argv, .cmd = "backbones"};
    int json = 0, verify = 0;
    vl_fetch_opts o = {0};
    for (a.i = 0; a.i < argc; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_backbones(stdout);
            return 0;
        } else if (cli_flag(&a, "--json")) json = 1;
        else if (cli_flag(&a, "--verify")) verify = 1;
        else if (cli_opt(&a, "--cache")) o.cache = a.val;
        else if (!a.bad)
            return cli_fail("backbones", "unexpected argument '%s' (see vidlstm backbones --help)", argv[a.i]);
        if (a.bad)
            return 2;
    }
    const vl_backbone_entry *t;
    int n;
    if (vl_backbone_table(&t, &n))
        return cli_fail_status("backbones");
    char dir[4096], pre[512];
    vl_backbone_cache_dir(&o, dir, sizeof dir);
    if (json) {
        vl_jbuf b = {0};
        vl_jbuf_puts(&b, "{\"cache\":");
        vl_jbuf_string(&b, dir);
        vl_jbuf_puts(&b, ",\"backbones\":[");
        for (int i = 0; i < n; i++) {
            const vl_backbone_entry *e = &t[i];
            int c = vl_backbone_cached(e, &o, verify);
            vl_jbuf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            vl_jbuf_string(&b, e->name);
            vl_jbuf_puts(&b, ",\"architecture\":");
            vl_jbuf_string(&b, e->arch);
            vl_jbuf_puts(&b, ",\"tap\":");
            vl_jbuf_string(&b, e->tap);
            vl_jbuf_printf(&b, ",\"feature_dim\":%d", e->feature_dim);
            if (e->has_pre) {
                const vl_preproc *p = &e->pre;
                vl_jbuf_printf(&b, ",\"preproc\":{\"width\":%d,\"height\":%d,\"resize\":\"%s\",\"resize_to\":%d,"
                                   "\"bgr\":%s,\"nhwc\":%s,\"scale\":",
                               p->width, p->height, p->resize == VL_RESIZE_EXACT ? "exact" : "shorter", p->resize_to,
                               p->bgr ? "true" : "false", p->nhwc ? "true" : "false");
                vl_jbuf_float(&b, p->scale);
                vl_jbuf_puts(&b, ",\"mean\":[");
                for (int k = 0; k < 3; k++) {
                    vl_jbuf_puts(&b, k ? "," : "");
                    vl_jbuf_float(&b, p->mean[k]);
                }
                vl_jbuf_puts(&b, "],\"std\":[");
                for (int k = 0; k < 3; k++) {
                    vl_jbuf_puts(&b, k ? "," : "");
                    vl_jbuf_float(&b, p->std[k]);
                }
                vl_jbuf_puts(&b, "]}");
            } else {
                vl_jbuf_puts(&b, ",\"preproc\":null");
            }
            vl_jbuf_puts(&b, ",\"file\":");
            vl_jbuf_string(&b, e->file);
            vl_jbuf_puts(&b, ",\"url\":");
            vl_jbuf_string(&b, e->url);
            vl_jbuf_printf(&b, ",\"size\":%lld,\"sha256\":", (long long)e->size);
            vl_jbuf_string(&b, e->sha256);
            vl_jbuf_puts(&b, ",\"licence\":");
            vl_jbuf_string(&b, e->licence);
            vl_jbuf_puts(&b, ",\"note\":");
            vl_jbuf_string(&b, e->note);
            vl_jbuf_puts(&b, ",\"origin\":");
            vl_jbuf_string(&b, e->origin);
            vl_jbuf_printf(&b, ",\"cached\":\"%s\"}", cached_word(c));
        }
        vl_jbuf_puts(&b, "]}");
        char *s = vl_jbuf_take(&b);
        if (!s)
            return cli_fail("backbones", "out of memory");
        puts(s);
        free(s);
        return 0;
    }
    printf("cache: %s\n", dir);
    for (int i = 0; i < n; i++) {
        const vl_backbone_entry *e = &t[i];
        int c = vl_backbone_cached(e, &o, verify);
        describe_pre(e, pre, sizeof pre);
        printf("\n%s  %s\n", e->name, e->arch);
        printf("  features:  %s%s%s", e->tap[0] ? "tap " : "the final classifier's input", e->tap,
               e->feature_dim ? "" : "\n");
        if (e->feature_dim)
            printf(", %d per frame\n", e->feature_dim);
        printf("  input:     %s\n", pre);
        printf("  source:    %s\n", e->url);
        printf("  file:      %s, %.1f MB, SHA-256 %.16s...\n", e->file, (double)e->size / 1e6, e->sha256);
        printf("  licence:   %s\n", e->licence[0] ? e->licence : "not stated");
        printf("  cached:    %s%s\n", cached_word(c),
               c == 1 && !verify ? " (checked when used; --verify checks now)" : "");
        if (e->note[0])
            printf("  note:      %s\n", e->note);
        if (strcmp(e->origin, "built-in"))
            printf("  from:      %s\n", e->origin);
    }
    return 0;
}

/* ---- vidlstm fetch ------------------------------------------------------------------- */

int cmd_fetch(int argc, char **argv)
{
    cli_args a = {.argc = argc, .argv = argv, .cmd = "fetch"};
    vl_fetch_opts o = {0};
    fetch_ui ui = {.tty = isatty(2)};
    int all = 0, nnames = 0;
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    if (!names)
        return cli_fail("fetch", "out of memory");
    int rc = 0;
    for (a.i = 0; a.i < argc; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_fetch(stdout);
            free(names);
            return 0;
        } else if (cli_flag(&a, "--all")) all = 1;
        else if (cli_flag(&a, "--quiet")) ui.quiet = 1;
        else if (cli_opt(&a, "--cache")) o.cache = a.val;
        else if (cli_opt(&a, "--mirror")) o.mirror = a.val;
        else if (cli_opt(&a, "--connect-timeout")) o.connect_timeout = cli_num(&a, 0.001, 86400);
        else if (cli_opt(&a, "--stall-timeout")) o.stall_timeout = cli_num(&a, 1, 86400);
        else if (cli_opt(&a, "--retries")) {
            int r = cli_int(&a, 0, 100);
            o.retries = r == 0 ? -1 : r;
        } else if (argv[a.i][0] != '-' || !argv[a.i][1]) names[nnames++] = argv[a.i];
        else if (!a.bad) {
            free(names);
            return cli_fail("fetch", "unexpected argument '%s' (see vidlstm fetch --help)", argv[a.i]);
        }
        if (a.bad) {
            free(names);
            return 2;
        }
    }
    const vl_backbone_entry *t;
    int n;
    if (vl_backbone_table(&t, &n)) {
        free(names);
        return cli_fail_status("fetch");
    }
    if (!nnames && !all) {
        free(names);
        fputs("usage: vidlstm fetch NAME... | --all [options] (vidlstm backbones lists the names)\n", stderr);
        return 2;
    }
    /* every name first: one error for an unknown one, before downloading anything */
    for (int i = 0; i < nnames; i++)
        if (!vl_backbone_find(names[i])) {
            char known[2048];
            vl_backbone_names(known, sizeof known);
            rc = cli_fail("fetch", "%s: no known backbone of that name (known: %s)", names[i], known);
            free(names);
            return rc;
        }
    if (o.cache && vl_output_dir_check("--cache", o.cache, NULL, 0)) {
        free(names);
        return cli_fail_status("fetch");
    }
    o.log = on_log;
    o.progress = on_progress;
    o.user = &ui;
    char path[4400];
    for (int i = 0; i < (all ? n : nnames); i++) {
        const vl_backbone_entry *e = all ? &t[i] : vl_backbone_find(names[i]);
        if (vl_backbone_fetch(e, &o, path, sizeof path)) {
            rc = cli_fail_status("fetch");
            continue;
        }
        printf("%s %s\n", e->name, path);
    }
    free(names);
    return rc;
}
