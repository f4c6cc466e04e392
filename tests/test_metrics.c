/* Metrics against references computed independently with NumPy
 * (tests/fixtures/metrics/gen_metrics_fixtures.py writes cls.txt, reg.txt and
 * seg.txt; the C side only reads them):
 * - classification: confusion, accuracy, precision/recall/F1/support, macro F1
 *   (zero_division = 0, macro over classes present), unlabelled items skipped;
 * - regression: RMSE, MAE, R^2 (NaN when the truth is constant);
 * - segments with min-length smoothing (the generator merges the slow way);
 * - action-segmentation Edit and F1@{10,25,50} (MS-TCN's eval.py, rewritten
 *   in NumPy by gen_segmetrics_fixture.py: segmetrics.txt) with and without a
 *   background class, and probability smoothing over N frames;
 * - error paths (labels out of range, NaN values, bad arguments);
 * - the aligned text table (column alignment in characters for any count
 *   width, long and UTF-8 names, index headers for many classes);
 * - the JSON members (valid JSON by a small parser, escaped names, null for NaN).
 * Usage: test_metrics [fixtures/metrics folder] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/utf8.h"
#include "train/metrics.h"

/* ---- fixture reading ------------------------------------------------------------ */

typedef struct {
    char *buf, *pos;
} toks;

static int toks_open(toks *t, const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    t->buf = malloc((size_t)n + 1);
    size_t got = fread(t->buf, 1, (size_t)n, f);
    t->buf[got] = 0;
    fclose(f);
    /* blank out comment lines */
    for (char *p = t->buf; *p;) {
        if (*p == '#')
            while (*p && *p != '\n')
                *p++ = ' ';
        while (*p && *p != '\n')
            p++;
        if (*p)
            p++;
    }
    t->pos = t->buf;
    return 1;
}

static const char *tok(toks *t)
{
    static char word[128];
    while (*t->pos == ' ' || *t->pos == '\n' || *t->pos == '\t' || *t->pos == '\r')
        t->pos++;
    size_t n = 0;
    while (*t->pos && !strchr(" \n\t\r", *t->pos) && n + 1 < sizeof word)
        word[n++] = *t->pos++;
    word[n] = 0;
    return word;
}

static long long tok_i(toks *t) { return strtoll(tok(t), NULL, 10); }
static double tok_d(toks *t) { return strtod(tok(t), NULL); }

static int close_enough(double a, double b, double tol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= tol * (fabs(b) > 1 ? fabs(b) : 1);
}

/* ---- classification ---------------------------------------------------------- */

static void test_cls_fixtures(const char *dir)
{
    toks t;
    if (!toks_open(&t, dir, "cls.txt")) {
        CHECK(0, "cannot read %s/cls.txt", dir);
        return;
    }
    tok(&t); /* ncases */
    int ncases = (int)tok_i(&t);
    CHECK(ncases >= 10, "only %d classification cases", ncases);
    for (int k = 0; k < ncases; k++) {
        tok(&t); /* case */
        char name[64];
        snprintf(name, sizeof name, "%s", tok(&t));
        int C = (int)tok_i(&t);
        int64_t n = tok_i(&t);
        int32_t *truth = malloc(sizeof(int32_t) * (size_t)(n + 1)), *pred = malloc(sizeof(int32_t) * (size_t)(n + 1));
        for (int64_t i = 0; i < n; i++)
            truth[i] = (int32_t)tok_i(&t);
        for (int64_t i = 0; i < n; i++)
            pred[i] = (int32_t)tok_i(&t);
        vl_cls_metrics m;
        vl_status st = vl_cls_metrics_compute(C, truth, pred, n, &m);
        CHECK(st == VL_OK, "%s: %s", name, vl_errmsg());
        int conf_ok = 1, sup_ok = 1;
        double worst = 0;
        for (int i = 0; i < C * C; i++) {
            long long want = tok_i(&t);
            conf_ok &= st == VL_OK && m.confusion[i] == want;
        }
        double acc = tok_d(&t), macro = tok_d(&t);
        int vec_ok = 1;
        for (int which = 0; which < 3; which++)
            for (int c = 0; c < C; c++) {
                double want = tok_d(&t);
                double got = st ? NAN : (which == 0 ? m.precision[c] : which == 1 ? m.recall[c] : m.f1[c]);
                vec_ok &= close_enough(got, want, 1e-12);
                if (!isnan(want) && fabs(got - want) > worst)
                    worst = fabs(got - want);
            }
        for (int c = 0; c < C; c++) {
            long long want = tok_i(&t);
            sup_ok &= st == VL_OK && m.support[c] == want;
        }
        CHECK(conf_ok, "%s: confusion differs", name);
        CHECK(sup_ok, "%s: support differs", name);
        CHECK(vec_ok, "%s: precision/recall/F1 differ (max diff %.3g)", name, worst);
        CHECK(st == VL_OK && close_enough(m.accuracy, acc, 1e-12), "%s: accuracy %.17g, want %.17g", name,
              st ? NAN : m.accuracy, acc);
        CHECK(st == VL_OK && close_enough(m.macro_f1, macro, 1e-12), "%s: macro F1 %.17g, want %.17g", name,
              st ? NAN : m.macro_f1, macro);
        if (st == VL_OK) {
            int64_t counted = 0;
            for (int64_t i = 0; i < n; i++)
                counted += truth[i] >= 0;
            CHECK(m.n == counted, "%s: n %lld, want %lld", name, (long long)m.n, (long long)counted);
        }
        vl_cls_metrics_free(&m);
        free(truth);
        free(pred);
    }
    free(t.buf);
}

static void test_cls_errors(void)
{
    int32_t truth[4] = {0, 1, 2, 1}, pred[4] = {0, 1, 1, 3};
    vl_cls_metrics m;
    CHECK(vl_cls_metrics_compute(3, truth, pred, 4, &m) == VL_ERR_ARG, "predicted 3 of 3 classes accepted");
    CHECK(strstr(vl_errmsg(), "predicted") && strstr(vl_errmsg(), "index 3"), "message: %s", vl_errmsg());
    CHECK(m.confusion == NULL, "no allocation left after an error");
    truth[0] = 7;
    pred[3] = 0;
    CHECK(vl_cls_metrics_compute(3, truth, pred, 4, &m) == VL_ERR_ARG, "true label 7 accepted");
    CHECK(strstr(vl_errmsg(), "true label 7"), "message: %s", vl_errmsg());
    truth[0] = 0;
    pred[1] = -1;
    CHECK(vl_cls_metrics_compute(3, truth, pred, 4, &m) == VL_ERR_ARG, "predicted -1 accepted");
    CHECK(vl_cls_metrics_compute(0, truth, pred, 4, &m) == VL_ERR_ARG, "0 classes accepted");
    CHECK(vl_cls_metrics_compute(3, NULL, pred, 4, &m) == VL_ERR_ARG, "NULL truth accepted");
    CHECK(vl_cls_metrics_compute(3, truth, pred, -1, &m) == VL_ERR_ARG, "negative n accepted");
    /* unlabelled truth with any prediction (even out of range) is skipped */
    truth[1] = -1;
    CHECK(vl_cls_metrics_compute(3, truth, pred, 4, &m) == VL_OK, "%s", vl_errmsg());
    CHECK(m.n == 3, "n = %lld", (long long)m.n);
    vl_cls_metrics_free(&m);
    vl_cls_metrics_free(&m); /* twice is harmless */
    vl_cls_metrics_free(NULL);
}

/* ---- regression ------------------------------------------------------------- */

static void test_reg_fixtures(const char *dir)
{
    toks t;
    if (!toks_open(&t, dir, "reg.txt")) {
        CHECK(0, "cannot read %s/reg.txt", dir);
        return;
    }
    tok(&t);
    int ncases = (int)tok_i(&t);
    CHECK(ncases >= 5, "only %d regression cases", ncases);
    for (int k = 0; k < ncases; k++) {
        tok(&t);
        char name[64];
        snprintf(name, sizeof name, "%s", tok(&t));
        int64_t n = tok_i(&t);
        float *tr = malloc(sizeof(float) * (size_t)(n + 1)), *pr = malloc(sizeof(float) * (size_t)(n + 1));
        for (int64_t i = 0; i < n; i++)
            tr[i] = (float)tok_d(&t);
        for (int64_t i = 0; i < n; i++)
            pr[i] = (float)tok_d(&t);
        double rmse = tok_d(&t), mae = tok_d(&t), r2 = tok_d(&t);
        vl_reg_metrics m;
        vl_status st = vl_reg_metrics_compute(tr, pr, n, &m);
        CHECK(st == VL_OK, "%s: %s", name, vl_errmsg());
        CHECK(m.n == n, "%s: n", name);
        CHECK(close_enough(m.rmse, rmse, 1e-9), "%s: rmse %.17g want %.17g", name, m.rmse, rmse);
        CHECK(close_enough(m.mae, mae, 1e-9), "%s: mae %.17g want %.17g", name, m.mae, mae);
        /* R^2 near 1 loses relative precision to cancellation: absolute 1e-9 */
        CHECK(close_enough(m.r2, r2, 1e-9), "%s: r2 %.17g want %.17g", name, m.r2, r2);
        free(tr);
        free(pr);
    }
    free(t.buf);
    float a[3] = {1, 2, 3}, b[3] = {1, NAN, 3};
    vl_reg_metrics m;
    CHECK(vl_reg_metrics_compute(a, b, 3, &m) == VL_ERR_NUMERIC, "NaN prediction accepted");
    CHECK(strstr(vl_errmsg(), "predicted") && strstr(vl_errmsg(), "index 1"), "message: %s", vl_errmsg());
    b[1] = INFINITY;
    CHECK(vl_reg_metrics_compute(b, a, 3, &m) == VL_ERR_NUMERIC, "Inf truth accepted");
    CHECK(strstr(vl_errmsg(), "true"), "message: %s", vl_errmsg());
    CHECK(vl_reg_metrics_compute(NULL, a, 3, &m) == VL_ERR_ARG, "NULL truth accepted");
}

/* ---- segments ------------------------------------------------------------------- */

static void test_seg_fixtures(const char *dir)
{
    toks t;
    if (!toks_open(&t, dir, "seg.txt")) {
        CHECK(0, "cannot read %s/seg.txt", dir);
        return;
    }
    tok(&t);
    int ncases = (int)tok_i(&t);
    CHECK(ncases >= 5, "only %d segment cases", ncases);
    for (int k = 0; k < ncases; k++) {
        tok(&t);
        char name[64];
        snprintf(name, sizeof name, "%s", tok(&t));
        int64_t T = tok_i(&t);
        int min_len = (int)tok_i(&t);
        int64_t nseg = tok_i(&t);
        int32_t *lab = malloc(sizeof(int32_t) * (size_t)(T + 1));
        float *conf = malloc(sizeof(float) * (size_t)(T + 1));
        for (int64_t i = 0; i < T; i++)
            lab[i] = (int32_t)tok_i(&t);
        for (int64_t i = 0; i < T; i++)
            conf[i] = (float)tok_d(&t);
        vl_segment *seg = NULL;
        int64_t ns = -1;
        vl_status st = vl_segments_from_frames(lab, conf, T, min_len, &seg, &ns);
        CHECK(st == VL_OK, "%s: %s", name, vl_errmsg());
        CHECK(ns == nseg, "%s: %lld segments, want %lld", name, (long long)ns, (long long)nseg);
        int ok = 1;
        for (int64_t i = 0; i < nseg; i++) {
            long long s = tok_i(&t), e = tok_i(&t), l = tok_i(&t);
            double c = tok_d(&t);
            if (i < ns)
                ok &= seg[i].start == s && seg[i].end == e && seg[i].label == l && fabs(seg[i].confidence - c) < 1e-6;
        }
        CHECK(ok, "%s: segments differ", name);
        /* segments tile [0, T) */
        int tiles = 1;
        for (int64_t i = 0; i < ns; i++)
            tiles &= seg[i].start == (i ? seg[i - 1].end : 0) && seg[i].end > seg[i].start &&
                     (i == 0 || seg[i].label != seg[i - 1].label);
        CHECK(tiles && (ns == 0 || seg[ns - 1].end == T), "%s: segments do not tile the frames", name);
        free(seg);
        /* without confidences every segment has confidence 1 */
        if (T > 0) {
            CHECK(vl_segments_from_frames(lab, NULL, T, min_len, &seg, &ns) == VL_OK, "%s", vl_errmsg());
            CHECK(ns > 0 && seg[0].confidence == 1.0f, "%s: conf NULL -> %g", name, ns > 0 ? seg[0].confidence : -1);
            free(seg);
        }
        free(lab);
        free(conf);
    }
    free(t.buf);
    vl_segment *seg;
    int64_t ns;
    int32_t l[2] = {0, 1};
    CHECK(vl_segments_from_frames(NULL, NULL, 2, 1, &seg, &ns) == VL_ERR_ARG, "NULL labels accepted");
    CHECK(vl_segments_from_frames(l, NULL, -1, 1, &seg, &ns) == VL_ERR_ARG, "negative T accepted");
    CHECK(vl_segments_from_frames(l, NULL, 2, 1, NULL, &ns) == VL_ERR_ARG, "NULL out accepted");
    /* a long flickering sequence stays fast (no quadratic merging) and is smoothed */
    int64_t T = 200000;
    int32_t *big = malloc(sizeof(int32_t) * (size_t)T);
    for (int64_t i = 0; i < T; i++)
        big[i] = (i / 50) % 3 == 0 ? (int32_t)(i % 2) : (int32_t)((i / 50) % 3);
    CHECK(vl_segments_from_frames(big, NULL, T, 5, &seg, &ns) == VL_OK, "%s", vl_errmsg());
    int shortest = 1 << 30;
    for (int64_t i = 0; i < ns; i++)
        shortest = (int)(seg[i].end - seg[i].start) < shortest ? (int)(seg[i].end - seg[i].start) : shortest;
    CHECK(ns > 1 && shortest >= 5, "flicker not smoothed: %lld segments, shortest %d", (long long)ns, shortest);
    free(seg);
    free(big);
}

/* ---- text table ------------------------------------------------------------------- */

static char *print_to_string(const vl_cls_metrics *m, const char *const *names, int json)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (json)
        fputc('{', f);
    if (json)
        vl_cls_metrics_json(f, m, names);
    else
        vl_cls_metrics_print(f, m, names);
    if (json)
        fputc('}', f);
    fclose(f);
    return s;
}

static int chars(const char *s, const char *end)
{
    int n = 0, len;
    uint32_t cp;
    while (s < end && (len = vl_utf8_next(s, &cp)) > 0) {
        s += len;
        n++;
    }
    return n;
}

/* The confusion block: the lines after "confusion matrix" up to the blank
 * line must all have the same width in characters, and every column's right
 * edge must line up (numbers are right-aligned). Returns the line count. */
static int check_aligned(const char *text, const char *what)
{
    const char *p = strstr(text, "confusion matrix");
    if (!p) {
        CHECK(0, "%s: no confusion matrix in\n%s", what, text);
        return 0;
    }
    p = strchr(p, '\n') + 1;
    int width = -1, lines = 0, same = 1;
    while (*p && *p != '\n') {
        const char *e = strchr(p, '\n');
        int w = chars(p, e);
        if (width < 0)
            width = w;
        same &= w == width;
        lines++;
        p = e + 1;
    }
    CHECK(same, "%s: confusion lines differ in width:\n%s", what, text);
    /* per-class table rows too */
    p = strstr(text, "precision");
    if (p) {
        while (p > text && p[-1] != '\n')
            p--;
        int w0 = -1, ok = 1;
        while (*p && *p != '\n') {
            const char *e = strchr(p, '\n');
            int w = chars(p, e);
            if (w0 < 0)
                w0 = w;
            ok &= w == w0;
            p = e + 1;
        }
        CHECK(ok, "%s: per-class lines differ in width:\n%s", what, text);
    } else {
        CHECK(0, "%s: no per-class table", what);
    }
    return lines;
}

static void test_text(void)
{
    /* 3 classes, one with a long name, one in UTF-8, counts of several widths */
    const char *names[3] = {"walk", "a_really_long_class_name_that_goes_on_part_7", "caf\xC3\xA9 \xE2\x80\x94 sit"};
    int64_t N = 123456 + 3;
    int32_t *t = malloc(sizeof(int32_t) * (size_t)N), *p = malloc(sizeof(int32_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        t[i] = i < 123456 ? 0 : (int32_t)(i - 123456);
        p[i] = i < 123450 ? 0 : (int32_t)(i % 3);
    }
    vl_cls_metrics m;
    CHECK(vl_cls_metrics_compute(3, t, p, N, &m) == VL_OK, "%s", vl_errmsg());
    char *s = print_to_string(&m, names, 0);
    CHECK(check_aligned(s, "3 classes") == 4, "3 classes: wrong line count\n%s", s);
    CHECK(strstr(s, "123453") != NULL, "big count missing\n%s", s);
    CHECK(strstr(s, "accuracy  0.99997"), "imperfect accuracy printed as 1\n%s", s);
    CHECK(strstr(s, "walk") && strstr(s, "caf\xC3\xA9"), "names missing\n%s", s);
    CHECK(strstr(s, "a_really_long_class_name_that_goes_on_part_7") == NULL && strstr(s, "~"),
          "long name not truncated\n%s", s);
    CHECK(strstr(s, "_7"), "truncation dropped the distinguishing tail\n%s", s);
    CHECK(strstr(s, "accuracy") && strstr(s, "macro"), "headline missing\n%s", s);
    free(s);
    /* no names: indices as names */
    s = print_to_string(&m, NULL, 0);
    check_aligned(s, "no names");
    free(s);
    vl_cls_metrics_free(&m);
    free(t);
    free(p);

    /* a control character in a name must not break the layout */
    const char *bad[2] = {"line\nbreak", "tab\there"};
    int32_t t2[4] = {0, 1, 1, 0}, p2[4] = {0, 1, 0, 0};
    CHECK(vl_cls_metrics_compute(2, t2, p2, 4, &m) == VL_OK, "%s", vl_errmsg());
    s = print_to_string(&m, bad, 0);
    CHECK(check_aligned(s, "control chars") == 3, "control chars: wrong line count\n%s", s);
    free(s);
    vl_cls_metrics_free(&m);

    /* 101 classes: columns by index, still aligned */
    int C = 101;
    char namebuf[101][40];
    const char *nm[101];
    for (int c = 0; c < C; c++) {
        snprintf(namebuf[c], sizeof namebuf[c], "UCF_action_class_number_%03d", c);
        nm[c] = namebuf[c];
    }
    int64_t n = 5000;
    t = malloc(sizeof(int32_t) * (size_t)n);
    p = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        t[i] = (int32_t)(i % C);
        p[i] = (int32_t)(i % 7 ? i % C : (i * 13) % C);
    }
    CHECK(vl_cls_metrics_compute(C, t, p, n, &m) == VL_OK, "%s", vl_errmsg());
    s = print_to_string(&m, nm, 0);
    CHECK(check_aligned(s, "101 classes") == C + 1, "101 classes: wrong line count");
    CHECK(strstr(s, "by index"), "101 classes: expected index headers");
    free(s);
    /* ---- JSON for the same ---- */
    s = print_to_string(&m, nm, 1);
    CHECK(strstr(s, "\"classes\":[\"UCF_action_class_number_000\"") != NULL, "classes array");
    free(s);
    vl_cls_metrics_free(&m);
    free(t);
    free(p);
}

/* ---- JSON --------------------------------------------------------------------------- */

/* A strict little JSON validator (RFC 8259 grammar; strings must be valid UTF-8
 * with no raw control characters). */
static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}
static const char *js_value(const char *p, int depth);
static const char *js_string(const char *p)
{
    if (*p != '"')
        return NULL;
    p++;
    while (*p != '"') {
        uint32_t cp;
        if (!*p || (unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p)) {
                p++;
            } else {
                return NULL;
            }
            continue;
        }
        int len = vl_utf8_next(p, &cp);
        if (cp == 0xFFFD && len == 1) /* malformed byte (a real U+FFFD is 3 bytes) */
            return NULL;
        p += len;
    }
    return p + 1;
}
static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}
static const char *js_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = js_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = js_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = js_string(js_ws(p));
                if (!p)
                    return NULL;
                p = js_ws(p);
                if (*p != ':')
                    return NULL;
                p++;
            }
            p = js_value(p, depth + 1);
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"')
        return js_string(p);
    if (!strncmp(p, "true", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    if (!strncmp(p, "null", 4))
        return p + 4;
    return js_number(p);
}
static int json_valid(const char *s)
{
    const char *e = js_value(s, 0);
    return e && *js_ws(e) == 0;
}

static void test_json(void)
{
    CHECK(json_valid("{\"a\":[1,2.5e-3,null,\"x\\u00e9\"],\"b\":{}}"), "validator rejects valid JSON");
    CHECK(!json_valid("{\"a\":nan}") && !json_valid("{\"a\":1,}") && !json_valid("{\"a\":\"\x01\"}"),
          "validator accepts invalid JSON");
    const char *names[4] = {"say \"hi\"", "back\\slash", "new\nline\x01", "bad \xff utf8"};
    int32_t t[6] = {0, 1, 2, 0, 1, -1}, p[6] = {0, 1, 1, 0, 0, 3};
    vl_cls_metrics m;
    CHECK(vl_cls_metrics_compute(4, t, p, 6, &m) == VL_OK, "%s", vl_errmsg());
    char *s = print_to_string(&m, names, 1);
    CHECK(json_valid(s), "invalid JSON: %s", s);
    CHECK(strstr(s, "\"say \\\"hi\\\"\"") && strstr(s, "\"back\\\\slash\"") && strstr(s, "new\\nline\\u0001"),
          "names not escaped: %s", s);
    CHECK(strstr(s, "bad \xEF\xBF\xBD utf8"), "invalid UTF-8 not replaced: %s", s);
    CHECK(strstr(s, "\"accuracy\":0.6") && strstr(s, "\"n\":5"), "values: %s", s);
    CHECK(strstr(s, "\"confusion\":[[2,0,0,0],[1,1,0,0],[0,1,0,0],[0,0,0,0]]"), "confusion: %s", s);
    CHECK(strstr(s, "\"support\":0}]"), "last class support: %s", s);
    free(s);
    vl_cls_metrics_free(&m);
    /* nothing labelled: accuracy and macro F1 are NaN and written as null */
    int32_t tu[2] = {-1, -1};
    CHECK(vl_cls_metrics_compute(2, tu, p, 2, &m) == VL_OK, "%s", vl_errmsg());
    CHECK(isnan(m.accuracy) && isnan(m.macro_f1), "empty: accuracy %g macro %g", m.accuracy, m.macro_f1);
    s = print_to_string(&m, NULL, 1);
    CHECK(json_valid(s), "invalid JSON: %s", s);
    CHECK(strstr(s, "\"accuracy\":null") && strstr(s, "\"macro_f1\":null") && !strstr(s, "nan"),
          "NaN not written as null: %s", s);
    CHECK(strstr(s, "\"classes\":[\"0\",\"1\"]"), "index names: %s", s);
    free(s);
    s = print_to_string(&m, NULL, 0);
    CHECK(strstr(s, "accuracy  -"), "empty text: %s", s);
    free(s);
    vl_cls_metrics_free(&m);

    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    vl_json_write_string(f, NULL);
    fputc(' ', f);
    vl_json_write_string(f, "\t\x7f");
    fclose(f);
    CHECK(!strcmp(out, "null \"\\t\\u007f\""), "write_string: %s", out);
    free(out);
}

/* ---- action segmentation: Edit, F1@k; smoothing ---------------------------------- */

static void test_segmetrics_fixtures(const char *dir)
{
    toks t;
    if (!toks_open(&t, dir, "segmetrics.txt")) {
        CHECK(0, "cannot read %s/segmetrics.txt", dir);
        return;
    }
    tok(&t); /* ncases */
    int ncases = (int)tok_i(&t);
    CHECK(ncases >= 10, "only %d segmentation cases", ncases);
    for (int k = 0; k < ncases; k++) {
        tok(&t); /* case */
        char name[64];
        snprintf(name, sizeof name, "%s", tok(&t));
        int64_t nv = tok_i(&t);
        int32_t bg = (int32_t)tok_i(&t);
        int64_t *off = calloc((size_t)nv + 1, sizeof *off);
        int32_t *truth = NULL, *pred = NULL;
        for (int64_t v = 0; v < nv; v++) {
            int64_t T = tok_i(&t);
            off[v + 1] = off[v] + T;
            truth = realloc(truth, sizeof *truth * (size_t)(off[v + 1] + 1));
            pred = realloc(pred, sizeof *pred * (size_t)(off[v + 1] + 1));
            for (int64_t i = 0; i < T; i++)
                truth[off[v] + i] = (int32_t)tok_i(&t);
            for (int64_t i = 0; i < T; i++)
                pred[off[v] + i] = (int32_t)tok_i(&t);
        }
        double edit = tok_d(&t), f1[3];
        for (int j = 0; j < 3; j++)
            f1[j] = tok_d(&t);
        vl_seg_metrics m;
        vl_status st = vl_seg_metrics_compute(truth, pred, off, nv, bg, &m);
        CHECK(st == VL_OK, "%s: %s", name, vl_errmsg());
        CHECK(m.videos == nv, "%s: videos %lld", name, (long long)m.videos);
        CHECK(close_enough(m.edit, edit, 1e-12), "%s: edit %.17g, want %.17g", name, m.edit, edit);
        for (int j = 0; j < 3; j++) {
            long long tp = tok_i(&t), fp = tok_i(&t), fn = tok_i(&t);
            CHECK(m.tp[j] == tp && m.fp[j] == fp && m.fn[j] == fn,
                  "%s: overlap %g: tp/fp/fn %lld/%lld/%lld, want %lld/%lld/%lld", name, vl_seg_overlaps[j],
                  (long long)m.tp[j], (long long)m.fp[j], (long long)m.fn[j], tp, fp, fn);
            CHECK(close_enough(m.f1[j], f1[j], 1e-12), "%s: F1@%g %.17g, want %.17g", name,
                  100 * vl_seg_overlaps[j], m.f1[j], f1[j]);
        }
        free(off);
        free(truth);
        free(pred);
    }
    tok(&t); /* nsmooth */
    int ns = (int)tok_i(&t);
    CHECK(ns >= 4, "only %d smoothing cases", ns);
    for (int k = 0; k < ns; k++) {
        tok(&t); /* smooth */
        char name[64];
        snprintf(name, sizeof name, "%s", tok(&t));
        int64_t T = tok_i(&t);
        int C = (int)tok_i(&t), n = (int)tok_i(&t);
        float *p = malloc(sizeof(float) * (size_t)(T * C)), *o = malloc(sizeof(float) * (size_t)(T * C));
        for (int64_t i = 0; i < T * C; i++)
            p[i] = (float)tok_d(&t);
        CHECK(vl_smooth_probs(p, T, C, n, o) == VL_OK, "%s: %s", name, vl_errmsg());
        double worst = 0;
        for (int64_t i = 0; i < T * C; i++) {
            double want = tok_d(&t);
            if (fabs(o[i] - want) > worst)
                worst = fabs(o[i] - want);
        }
        CHECK(worst < 1e-6, "%s: smoothed probabilities differ by %.3g", name, worst);
        int am_ok = 1;
        for (int64_t i = 0; i < T; i++) {
            int want = (int)tok_i(&t), arg = 0;
            for (int c = 1; c < C; c++)
                if (o[i * C + c] > o[i * C + arg])
                    arg = c;
            am_ok &= arg == want;
        }
        CHECK(am_ok, "%s: argmax of the smoothed probabilities differs", name);
        free(p);
        free(o);
    }
    free(t.buf);
}

static void test_segmetrics_edges(void)
{
    vl_seg_metrics m;
    int32_t y[6] = {0, 0, 1, 1, 2, 2}, p[6] = {0, 0, 1, 1, 2, 2};
    int64_t off[3] = {0, 6, 6}; /* a second, empty video */
    CHECK(vl_seg_metrics_compute(y, p, off, 2, -1, &m) == VL_OK, "%s", vl_errmsg());
    CHECK(m.edit == 100.0 && m.f1[0] == 100.0 && m.f1[2] == 100.0, "perfect + empty video: edit %g f1 %g", m.edit,
          m.f1[2]);
    /* everything background: no segments anywhere */
    CHECK(vl_seg_metrics_compute(y, p, off, 1, -1, &m) == VL_OK && m.tp[2] == 3, "tp %lld", (long long)m.tp[2]);
    int32_t z[4] = {1, 1, 1, 1};
    int64_t o4[2] = {0, 4};
    CHECK(vl_seg_metrics_compute(z, z, o4, 1, 1, &m) == VL_OK, "%s", vl_errmsg());
    CHECK(m.edit == 100.0 && m.f1[0] == 0.0 && m.tp[0] == 0 && m.fp[0] == 0 && m.fn[0] == 0,
          "all background: edit %g f1 %g", m.edit, m.f1[0]);
    CHECK(vl_seg_metrics_compute(y, p, off, 0, -1, &m) == VL_OK && isnan(m.edit) && isnan(m.f1[1]),
          "no videos: edit %g", m.edit);
    int64_t bad[3] = {0, 6, 3};
    CHECK(vl_seg_metrics_compute(y, p, bad, 2, -1, &m) == VL_ERR_ARG, "descending offsets accepted");
    CHECK(strstr(vl_errmsg(), "video 1"), "message: %s", vl_errmsg());
    int64_t bad0[2] = {1, 6};
    CHECK(vl_seg_metrics_compute(y, p, bad0, 1, -1, &m) == VL_ERR_ARG, "offsets not from 0 accepted");
    CHECK(vl_seg_metrics_compute(y, p, NULL, 1, -1, &m) == VL_ERR_ARG, "NULL offsets accepted");
    CHECK(vl_seg_metrics_compute(NULL, p, off, 1, -1, &m) == VL_ERR_ARG, "NULL truth accepted");
    CHECK(vl_seg_metrics_compute(y, p, off, 1, -1, NULL) == VL_ERR_ARG, "NULL out accepted");
    float pr[6] = {1, 0, 0, 1, 1, 0}, o[6];
    CHECK(vl_smooth_probs(pr, 3, 2, 1, o) == VL_OK && !memcmp(pr, o, sizeof o), "n = 1 is not a copy");
    CHECK(vl_smooth_probs(pr, 3, 2, 3, pr) == VL_ERR_ARG, "in-place smoothing accepted");
    CHECK(vl_smooth_probs(pr, 3, 0, 3, o) == VL_ERR_ARG, "0 classes accepted");
    CHECK(vl_smooth_probs(pr, 3, 2, 3, o) == VL_OK && fabs(o[2] - 2.0 / 3) < 1e-6 && fabs(o[0] - 0.5) < 1e-6,
          "window of 3: %g %g", o[0], o[2]);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures/metrics";
    test_cls_fixtures(dir);
    test_cls_errors();
    test_reg_fixtures(dir);
    test_seg_fixtures(dir);
    test_segmetrics_fixtures(dir);
    test_segmetrics_edges();
    test_text();
    test_json();
    return check_summary();
}
