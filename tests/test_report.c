/* Reports written for every kind of run, then checked as documents:
 * - classify with 3 classes (hostile names, NaN losses, validation, LR decay),
 *   1 class (a single progress point), 12 classes (no progress at all) and
 *   101 classes with 300k iterations (decimation keeps the files small);
 * - regress (RMSE, no confusion chart; a stale confusion.svg is removed);
 * - sequence models with per-frame timelines (fps and frame axes, unlabelled
 *   frames, a 100k-frame video, more videos than are drawn);
 * - error paths: a folder that is a file, bad arguments.
 * Every file must exist, be well-formed (tag balance, quoted attributes,
 * entities), carry the class names escaped, have no NaN/Inf in any
 * coordinate, load nothing from elsewhere, and no temp file may be left.
 * Usage: test_report [output folder]  (kept when given, for
 * tests/report_render.sh; otherwise a temp folder that is removed). */
#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "report/report.h"

static char root[512];

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (len)
        *len = got;
    return s;
}

/* ---- a small XML/HTML well-formedness checker ------------------------------------- */

static int is_void_html(const char *name, size_t n)
{
    static const char *v[] = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strlen(v[i]) == n && !strncmp(v[i], name, n))
            return 1;
    return 0;
}

static int numeric_attr(const char *a, size_t n)
{
    static const char *v[] = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height",
                              "d", "points", "transform", "viewBox", "font-size", "stroke-width"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strlen(v[i]) == n && !strncmp(v[i], a, n))
            return 1;
    return 0;
}

/* Entities must be one of XML's five or numeric. */
static int entity_ok(const char *p)
{
    static const char *e[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(p, e[i], strlen(e[i])))
            return 1;
    if (p[1] == '#') {
        const char *q = p + 2;
        while (isalnum((unsigned char)*q))
            q++;
        return *q == ';' && q > p + 2;
    }
    return 0;
}

/* Returns 1 when well-formed; counts elements named `count_tag` into *count;
 * reports the first problem. */
static int well_formed(const char *doc, int html, const char *what, const char *count_tag, int *count)
{
    const char *stack[256];
    size_t stlen[256];
    int depth = 0, bad_num = 0;
    const char *p = doc;
    if (count)
        *count = 0;
    while (*p) {
        if (*p == '&') {
            if (!entity_ok(p)) {
                CHECK(0, "%s: bare '&' at offset %ld: %.40s", what, (long)(p - doc), p);
                return 0;
            }
            p++;
            continue;
        }
        if (*p == '>') {
            CHECK(0, "%s: bare '>' in text at offset %ld: %.40s", what, (long)(p - doc), p);
            return 0;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (!strncmp(p, "<?", 2) || !strncmp(p, "<!DOCTYPE", 9)) {
            p = strchr(p, '>');
            if (!p)
                return 0;
            p++;
            continue;
        }
        if (!strncmp(p, "<!--", 4)) {
            p = strstr(p, "-->");
            if (!p)
                return 0;
            p += 3;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = 0;
        while (isalnum((unsigned char)name[nl]) || name[nl] == '-' || name[nl] == ':')
            nl++;
        if (!nl) {
            CHECK(0, "%s: bad tag at offset %ld: %.40s", what, (long)(p - doc), p);
            return 0;
        }
        const char *q = name + nl;
        /* attributes: name="value" (quoted; no '<' inside; entities valid) */
        while (*q && *q != '>' && !(*q == '/' && q[1] == '>')) {
            if (isspace((unsigned char)*q)) {
                q++;
                continue;
            }
            const char *an = q;
            while (isalnum((unsigned char)*q) || *q == '-' || *q == ':' || *q == '_')
                q++;
            size_t al = (size_t)(q - an);
            if (!al || *q != '=' || q[1] != '"') {
                CHECK(0, "%s: unquoted or malformed attribute at offset %ld: %.60s", what, (long)(an - doc), an);
                return 0;
            }
            q += 2;
            const char *v = q;
            while (*q && *q != '"') {
                if (*q == '<' || (*q == '&' && !entity_ok(q))) {
                    CHECK(0, "%s: '<' or bare '&' in an attribute at offset %ld", what, (long)(q - doc));
                    return 0;
                }
                q++;
            }
            if (!*q)
                return 0;
            if (numeric_attr(an, al)) {
                for (const char *c = v; c < q; c++)
                    if (!strncasecmp(c, "nan", 3) || !strncasecmp(c, "inf", 3))
                        bad_num++;
            }
            q++;
        }
        if (!*q)
            return 0;
        int selfclose = *q == '/';
        const char *end = q + (selfclose ? 2 : 1);
        if (count && !closing && strlen(count_tag) == nl && !strncmp(name, count_tag, nl))
            (*count)++;
        if (closing) {
            if (depth == 0 || stlen[depth - 1] != nl || strncmp(stack[depth - 1], name, nl)) {
                CHECK(0, "%s: </%.*s> closes <%.*s> at offset %ld", what, (int)nl, name,
                      depth ? (int)stlen[depth - 1] : 0, depth ? stack[depth - 1] : "", (long)(p - doc));
                return 0;
            }
            depth--;
        } else if (!selfclose && !(html && is_void_html(name, nl))) {
            if (depth == 256)
                return 0;
            stack[depth] = name;
            stlen[depth++] = nl;
            if (html && nl == 5 && !strncmp(name, "style", 5)) { /* raw text */
                const char *e = strstr(end, "</style>");
                if (!e)
                    return 0;
                end = e;
            }
        }
        p = end;
    }
    CHECK(depth == 0, "%s: %d unclosed elements (innermost <%.*s>)", what, depth, depth ? (int)stlen[depth - 1] : 0,
          depth ? stack[depth - 1] : "");
    CHECK(bad_num == 0, "%s: %d NaN/Inf in coordinates", what, bad_num);
    return depth == 0 && bad_num == 0;
}

/* ---- checks on a written report -------------------------------------------------- */

static int exists(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static void no_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        CHECK(0, "cannot list %s", dir);
        return;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, "tmp")) {
            CHECK(0, "%s: temp file left: %s", dir, e->d_name);
            n++;
        }
    closedir(d);
    (void)n;
}

typedef struct {
    int progress_paths; /* <path> elements in progress.svg */
    size_t html_len;
} report_stats;

/* Checks every file of a report in dir; `must` lists strings the HTML must
 * contain, `mustnot` strings it must not. */
static report_stats check_report(const char *dir, int confusion, int timeline, const char *const *must,
                                 const char *const *mustnot)
{
    report_stats rs = {0};
    char path[1024], what[1100];
    const char *files[4] = {"progress.svg", "confusion.svg", "timeline.svg", "report.html"};
    int want[4] = {1, confusion, timeline, 1};
    for (int i = 0; i < 4; i++) {
        CHECK(exists(dir, files[i]) == want[i], "%s/%s: %s", dir, files[i], want[i] ? "missing" : "should not exist");
        if (!want[i])
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        size_t len = 0;
        char *s = slurp(path, &len);
        if (!s)
            continue;
        snprintf(what, sizeof what, "%s", path);
        int np = 0;
        well_formed(s, i == 3, what, "path", &np);
        if (i == 0)
            rs.progress_paths = np;
        if (i < 3) {
            CHECK(!strncmp(s, "<?xml", 5) && strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\""), "%s: header", what);
        } else {
            rs.html_len = len;
            CHECK(!strncmp(s, "<!DOCTYPE html>", 15), "%s: doctype", what);
            CHECK(!strstr(s, "<script") && !strstr(s, "<link") && !strstr(s, "src=") && !strstr(s, "<iframe") &&
                      !strstr(s, "@import") && !strstr(s, "https:"),
                  "%s: loads something from elsewhere", what);
            for (const char *h = strstr(s, "http"); h; h = strstr(h + 1, "http"))
                CHECK(!strncmp(h, "http://www.w3.org/2000/svg\"", 27), "%s: external reference %.40s", what, h);
            for (const char *u = strstr(s, "url("); u; u = strstr(u + 1, "url("))
                CHECK(u[4] == '#', "%s: external url %.40s", what, u);
            CHECK(!strstr(s, "<?xml"), "%s: XML declaration inside the HTML", what);
            int nsvg = 0;
            for (const char *v = strstr(s, "<svg "); v; v = strstr(v + 1, "<svg "))
                nsvg++;
            CHECK(nsvg == 1 + confusion + timeline, "%s: %d inline SVGs", what, nsvg);
            for (int k = 0; must && must[k]; k++)
                CHECK(strstr(s, must[k]) != NULL, "%s: missing %s", what, must[k]);
            for (int k = 0; mustnot && mustnot[k]; k++)
                CHECK(strstr(s, mustnot[k]) == NULL, "%s: contains %s", what, mustnot[k]);
        }
        free(s);
    }
    no_temp_files(dir);
    return rs;
}

/* ---- data ------------------------------------------------------------------------ */

static uint64_t rs = 88172645463325252ULL;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* n points, `per_epoch` iterations per epoch, logged every `every`, validation every `vevery`. */
static vl_progress_point *make_progress(int n, int per_epoch, int vevery, int regress, int nan_every)
{
    vl_progress_point *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        int it = i + 1;
        double prog = (double)it / n;
        double loss = 2.0 * exp(-4 * prog) + 0.1 + 0.15 * (urand() - 0.5);
        p[i] = (vl_progress_point){
            .iteration = it,
            .epoch = 1 + i / per_epoch,
            .loss = (float)loss,
            .metric = regress ? (float)(1.5 * exp(-3 * prog) + 0.2 + 0.1 * urand())
                              : (float)fmin(1.0, 0.3 + 0.65 * prog + 0.1 * (urand() - 0.5)),
            .val_loss = NAN,
            .val_metric = NAN,
            .lr = (float)(1e-3 * pow(0.5, i / (per_epoch * 3))),
        };
        if (it % vevery == 0 || it == 1) {
            p[i].val_loss = (float)(loss * 1.1 + 0.05);
            p[i].val_metric = regress ? p[i].metric * 1.1f : p[i].metric * 0.95f;
        }
        if (nan_every && i % nan_every == nan_every - 1)
            p[i].loss = NAN;
    }
    if (n > 10)
        p[2].loss = 40.0f; /* an early spike */
    return p;
}

static vl_cls_metrics make_confusion(int C, int64_t n, double acc, int drop_class)
{
    int32_t *t = malloc(sizeof(int32_t) * (size_t)n), *p = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        t[i] = (int32_t)(urand() * C);
        p[i] = urand() < acc ? t[i] : (int32_t)(urand() * C);
        if (drop_class >= 0 && p[i] == drop_class)
            p[i] = 0;
    }
    vl_cls_metrics m;
    vl_status st = vl_cls_metrics_compute(C, t, p, n, &m);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    free(t);
    free(p);
    return m;
}

static void sub(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", root, name); }

/* ---- cases ------------------------------------------------------------------------ */

static void test_classify3(void)
{
    char dir[600];
    sub(dir, sizeof dir, "classify3/nested/dir"); /* mkdir -p */
    const char *names[3] = {"walk <fast> & \"free\"", "run's", "jump"};
    vl_cls_metrics m = make_confusion(3, 300, 0.7, -1);
    vl_progress_point *p = make_progress(600, 100, 50, 0, 97);
    const char *keys[4] = {"Model", "Data <path>", "Validation accuracy", "Notes"};
    const char *vals[4] = {"BiLSTM 128 x 2 & dropout 0.5", "data/<class>/<video>", "87.5%",
                           "line one\nline two \"quoted\""};
    vl_report r = {.title = "Walk & run <demo>", .progress = p, .nprogress = 600, .confusion = &m,
                   .class_names = names, .summary_keys = keys, .summary_values = vals, .nsummary = 4};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"walk &lt;fast&gt; &amp; &quot;free&quot;", "run&apos;s", "Walk &amp; run &lt;demo&gt;",
                          "Data &lt;path&gt;", "data/&lt;class&gt;/&lt;video&gt;", "Precision", "Recall",
                          "Training progress", "Confusion matrix", NULL};
    const char *mustnot[] = {"<fast>", "<demo>", "<path>", "nan", "NaN", NULL};
    check_report(dir, 1, 0, must, mustnot);
    /* the SVGs carry the escaped names too */
    char path[700];
    snprintf(path, sizeof path, "%s/confusion.svg", dir);
    char *s = slurp(path, NULL);
    CHECK(s && strstr(s, "walk &lt;fast&gt; &amp; &quot;free&quot;") && strstr(s, "jump"), "confusion.svg names");
    free(s);
    snprintf(path, sizeof path, "%s/progress.svg", dir);
    s = slurp(path, NULL);
    CHECK(s && strstr(s, "not drawn"), "progress.svg: no note about the NaN losses");
    CHECK(s && strstr(s, "epoch 2") && strstr(s, "Accuracy (%)"), "progress.svg: epochs/axis label");
    CHECK(s && strstr(s, "clipped"), "progress.svg: the early spike is not noted");
    free(s);
    /* writing again over the same folder works and leaves no temp files */
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    no_temp_files(dir);
    vl_cls_metrics_free(&m);
    free(p);
}

static void test_classify1(void)
{
    char dir[600];
    sub(dir, sizeof dir, "classify1");
    const char *names[1] = {"only"};
    vl_cls_metrics m = make_confusion(1, 10, 1.0, -1);
    vl_progress_point p = {.iteration = 1, .epoch = 1, .loss = 0.7f, .metric = 1.0f, .val_loss = 0.6f,
                           .val_metric = 1.0f, .lr = 0.01f};
    vl_report r = {.title = "one class", .progress = &p, .nprogress = 1, .confusion = &m, .class_names = names};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"only", NULL};
    check_report(dir, 1, 0, must, NULL);
    vl_cls_metrics_free(&m);
}

static void test_classify12(void)
{
    char dir[600];
    sub(dir, sizeof dir, "classify12");
    const char *names[12] = {"ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam",
                             "BandMarching", "BaseballPitch", "Basketball", "BasketballDunk", "BenchPress",
                             "Biking", "Billiards"};
    vl_cls_metrics m = make_confusion(12, 2400, 0.75, 11); /* class 11 never predicted */
    vl_report r = {.title = "UCF-12, no progress", .confusion = &m, .class_names = names};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"ApplyEyeMakeup", "Billiards", "no training progress recorded", NULL};
    check_report(dir, 1, 0, must, NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/confusion.svg", dir);
    char *s = slurp(path, NULL);
    CHECK(s && strstr(s, "never predicted"), "confusion.svg: class never predicted not explained");
    free(s);
    vl_cls_metrics_free(&m);
}

static void test_classify101(void)
{
    char dir[600];
    sub(dir, sizeof dir, "classify101");
    char nb[101][48];
    const char *names[101];
    for (int c = 0; c < 101; c++) {
        snprintf(nb[c], sizeof nb[c], c % 10 == 3 ? "A_very_long_action_class_name_number_%d" : "Action%d", c);
        names[c] = nb[c];
    }
    vl_cls_metrics m = make_confusion(101, 20000, 0.8, -1);
    int n = 300000;
    vl_progress_point *p = make_progress(n, 3000, 1000, 0, 0);
    vl_report r = {.title = "UCF101", .progress = p, .nprogress = n, .confusion = &m, .class_names = names};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"Action100", "A_very_long_action_class", NULL};
    report_stats st = check_report(dir, 1, 0, must, NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/progress.svg", dir);
    size_t len = 0;
    char *s = slurp(path, &len);
    CHECK(len < 600000, "progress.svg for 300k iterations is %zu bytes: not decimated", len);
    CHECK(s && strstr(s, "300k"), "progress.svg: iteration ticks not abbreviated");
    free(s);
    CHECK(st.html_len < 4000000, "report.html is %zu bytes", st.html_len);
    snprintf(path, sizeof path, "%s/confusion.svg", dir);
    s = slurp(path, &len);
    /* cells are too small for numbers: tooltips carry them */
    CHECK(s && strstr(s, "hover a cell"), "confusion.svg (101): in-cell numbers not dropped");
    free(s);
    vl_cls_metrics_free(&m);
    free(p);
}

static void test_regress(void)
{
    char dir[600];
    sub(dir, sizeof dir, "regress");
    /* a stale confusion.svg from an earlier classify report in the same folder */
    const char *names[2] = {"a", "b"};
    vl_cls_metrics m = make_confusion(2, 50, 0.8, -1);
    vl_report r0 = {.title = "before", .confusion = &m, .class_names = names};
    CHECK(vl_report_write(dir, &r0) == VL_OK, "%s", vl_errmsg());
    CHECK(exists(dir, "confusion.svg"), "setup: confusion.svg");
    vl_progress_point *p = make_progress(400, 40, 20, 1, 0);
    const char *keys[2] = {"Validation RMSE", "R\xC2\xB2"};
    const char *vals[2] = {"0.231", "0.87"};
    vl_report r = {.title = "Speed regression", .regress = 1, .progress = p, .nprogress = 400, .confusion = &m,
                   .summary_keys = keys, .summary_values = vals, .nsummary = 2};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"RMSE", "R\xC2\xB2", NULL};
    const char *mustnot[] = {"Confusion matrix", NULL};
    check_report(dir, 0, 0, must, mustnot);
    vl_cls_metrics_free(&m);
    free(p);
}

static void test_sequence(void)
{
    char dir[600];
    sub(dir, sizeof dir, "sequence");
    const char *names[5] = {"idle", "reach", "grasp", "lift & place", "release <end>"};
    vl_timeline tl[70];
    int32_t *bufs[140];
    int64_t lens[4] = {300, 1234, 100000, 40};
    for (int v = 0; v < 70; v++) {
        int64_t T = lens[v % 4];
        int32_t *t = malloc(sizeof(int32_t) * (size_t)T), *p = malloc(sizeof(int32_t) * (size_t)T);
        int32_t cur = 0;
        for (int64_t i = 0; i < T; i++) {
            if (urand() < 15.0 / T)
                cur = (int32_t)(urand() * 5);
            t[i] = cur;
            p[i] = urand() < 0.9 ? cur : (int32_t)(urand() * 5);
            if (v % 4 == 1 && i < 60) /* unlabelled lead-in */
                t[i] = -1;
        }
        bufs[2 * v] = t;
        bufs[2 * v + 1] = p;
        tl[v] = (vl_timeline){.name = v == 0 ? "kitchen <cam 1> & \"door\"" : NULL, .T = T, .truth = t, .pred = p,
                              .fps = v % 2 ? 0 : 30};
    }
    tl[5].name = "a_video_file_name_that_is_far_too_long_to_fit_in_the_title_row_of_a_timeline_block_"
                 "so_it_has_to_be_cut_somewhere_sensible_before_the_accuracy_text_on_the_right.mp4";
    vl_cls_metrics m = make_confusion(5, 500, 0.85, -1);
    vl_progress_point *p = make_progress(200, 20, 10, 0, 0);
    vl_report r = {.title = "Assembly steps", .progress = p, .nprogress = 200, .confusion = &m, .class_names = names,
                   .timelines = tl, .ntimelines = 4};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"kitchen &lt;cam 1&gt; &amp; &quot;door&quot;", "lift &amp; place", "release &lt;end&gt;",
                          "unlabelled", "Per-frame timeline", NULL};
    check_report(dir, 1, 1, must, NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/timeline.svg", dir);
    size_t len = 0;
    char *s = slurp(path, &len);
    CHECK(len < 400000, "timeline.svg is %zu bytes for a 100k-frame video", len);
    CHECK(s && strstr(s, "frame accuracy"), "timeline.svg: accuracy per video");
    free(s);

    /* many videos, names only from r.nclasses (no confusion), long names */
    char dir2[600];
    sub(dir2, sizeof dir2, "sequence_many");
    vl_report r2 = {.title = "many videos", .class_names = names, .nclasses = 5, .timelines = tl, .ntimelines = 70};
    CHECK(vl_report_write(dir2, &r2) == VL_OK, "%s", vl_errmsg());
    const char *must2[] = {"The first 60 of 70 videos", "lift &amp; place", "\xE2\x80\xA6", NULL};
    check_report(dir2, 0, 1, must2, NULL);
    /* a timeline with a label beyond the names gets a generic name */
    bufs[1][0] = 9;
    vl_report r3 = {.title = "unknown label", .class_names = names, .nclasses = 5, .timelines = tl, .ntimelines = 1};
    char dir3[600];
    sub(dir3, sizeof dir3, "sequence_unknown");
    CHECK(vl_report_write(dir3, &r3) == VL_OK, "%s", vl_errmsg());
    const char *must3[] = {"class 9", NULL};
    check_report(dir3, 0, 1, must3, NULL);
    for (int i = 0; i < 140; i++)
        free(bufs[i]);
    vl_cls_metrics_free(&m);
    free(p);
}

/* Hostile progress values: Inf, -Inf, 1e30, negative losses, repeated and
 * decreasing iterations, accuracy outside [0, 1], NaN learning rates. */
static void test_hostile(void)
{
    char dir[600];
    sub(dir, sizeof dir, "hostile");
    int n = 80;
    vl_progress_point *p = calloc((size_t)n, sizeof *p);
    for (int i = 0; i < n; i++) {
        static const float odd[8] = {INFINITY, -INFINITY, 1e30f, -5.0f, NAN, 0.0f, 1e-30f, 3.0f};
        p[i] = (vl_progress_point){.iteration = i < 40 ? 7 : 100 - i, .epoch = i % 3 + 1, .loss = odd[i % 8],
                                   .metric = odd[(i + 3) % 8], .val_loss = odd[(i + 5) % 8],
                                   .val_metric = odd[(i + 1) % 8] * 2, .lr = odd[(i + 2) % 8]};
    }
    vl_report r = {.title = "hostile", .progress = p, .nprogress = n};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    check_report(dir, 0, 0, NULL, NULL);
    r.regress = 1;
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    check_report(dir, 0, 0, NULL, NULL);
    /* all points NaN, and one huge iteration number */
    for (int i = 0; i < n; i++)
        p[i] = (vl_progress_point){.iteration = 2000000000 - n + i, .epoch = 1, .loss = NAN, .metric = NAN,
                                   .val_loss = NAN, .val_metric = NAN, .lr = NAN};
    CHECK(vl_report_write(dir, &r) == VL_OK, "%s", vl_errmsg());
    const char *must[] = {"no data recorded", NULL};
    check_report(dir, 0, 0, must, NULL);
    /* ticks 10 iterations apart near 2e9 must not all print as 2e+09 */
    char path[700];
    snprintf(path, sizeof path, "%s/progress.svg", dir);
    char *s = slurp(path, NULL);
    CHECK(s && !strstr(s, "e+09") && strstr(s, "1999999950"), "progress.svg: iteration ticks near 2e9 collapse");
    free(s);
    free(p);
}

static void test_errors(void)
{
    char file[600], dir[700];
    sub(file, sizeof file, "plainfile");
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file);
    vl_report r = {.title = "x"};
    CHECK(vl_report_write(dir, &r) == VL_ERR_IO, "folder under a file accepted");
    CHECK(strstr(vl_errmsg(), "plainfile") != NULL, "message does not name the path: %s", vl_errmsg());
    CHECK(vl_report_write(file, &r) == VL_ERR_IO, "a file as the folder accepted");
    CHECK(vl_report_write(NULL, &r) == VL_ERR_ARG, "NULL folder accepted");
    CHECK(vl_report_write(root, NULL) == VL_ERR_ARG, "NULL report accepted");
    vl_report bad = {.nprogress = 3};
    CHECK(vl_report_write(root, &bad) == VL_ERR_ARG, "progress count without array accepted");
    vl_timeline tl = {.name = "clip7", .T = 5};
    vl_report bad2 = {.timelines = &tl, .ntimelines = 1};
    CHECK(vl_report_write(root, &bad2) == VL_ERR_ARG, "timeline without arrays accepted");
    CHECK(strstr(vl_errmsg(), "clip7") != NULL, "message does not name the timeline: %s", vl_errmsg());
    if (geteuid() != 0) { /* root ignores permissions */
        char ro[600];
        sub(ro, sizeof ro, "readonly");
        mkdir(ro, 0555);
        CHECK(vl_report_write(ro, &r) == VL_ERR_IO, "read-only folder accepted");
        CHECK(strstr(vl_errmsg(), "readonly/progress.svg") != NULL, "message: %s", vl_errmsg());
        rmdir(ro);
    }
    remove(file);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub2[1024];
            snprintf(sub2, sizeof sub2, "%s/%s", path, e->d_name);
            rm_rf(sub2);
        }
        closedir(d);
        rmdir(path);
    } else {
        remove(path);
    }
}

int main(int argc, char **argv)
{
    int keep = argc > 1;
    if (keep) {
        snprintf(root, sizeof root, "%s", argv[1]);
        mkdir(root, 0777);
    } else {
        snprintf(root, sizeof root, "/tmp/vl_test_report_XXXXXX");
        if (!mkdtemp(root)) {
            perror("mkdtemp");
            return 1;
        }
    }
    test_classify3();
    test_classify1();
    test_classify12();
    test_classify101();
    test_regress();
    test_sequence();
    test_hostile();
    test_errors();
    if (!keep)
        rm_rf(root);
    return check_summary();
}
