/* headcam: a head-camera simulator for the quality suite (bench/quality).
 *
 * Written independently of src/demo and src/video/encode.*: it shares no code
 * or assumptions with the demo renderer, so a model that only learnt the
 * demo's look cannot pass here. A real photograph (decoded with FFmpeg's
 * libraries) becomes a far wall and a textured ground plane; a camera carried
 * on a walking, running or standing person moves through that world (gait
 * phase with per-person step frequency, vertical bob once per step, lateral
 * sway and roll once per stride, forward motion, head yaw/pitch wander and
 * look-around pans); frames get motion blur, exposure drift, white balance,
 * vignetting and sensor noise; some frames are dropped or duplicated. Frames
 * are piped as raw RGB into the `ffmpeg` command, which encodes them.
 *
 *   headcam render --photo P --out FILE --plan walk:4.5[,run:3,...] [options]
 *   headcam suite  --photos LIST --out DIR [--reduced] [--seed N]
 *
 * Everything is deterministic given the seed (own RNG, no wall clock).
 */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PI 3.14159265358979323846

/* ---------------------------------------------------------------- RNG */
typedef struct { uint64_t s; } rng_t;
static uint64_t rng_next(rng_t *r)
{ /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_u(rng_t *r) { return (rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_range(rng_t *r, double a, double b) { return a + (b - a) * rng_u(r); }
static double rng_gauss(rng_t *r)
{
    double u1 = rng_u(r), u2 = rng_u(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * PI * u2);
}
static rng_t rng_make(uint64_t a, uint64_t b)
{
    rng_t r = {a * 0x2545F4914F6CDD1Dull ^ (b + 0x632BE59BD9B4E019ull)};
    rng_next(&r);
    return r;
}

/* ------------------------------------------------------------ photo */
typedef struct { int w, h; uint8_t *px; } image; /* RGB24 */
typedef struct { int n; image lv[8]; } mips;

static int load_photo(const char *path, int maxdim, image *out)
{
    AVFormatContext *fc = NULL;
    if (avformat_open_input(&fc, path, NULL, NULL) < 0) { fprintf(stderr, "headcam: cannot open %s\n", path); return -1; }
    if (avformat_find_stream_info(fc, NULL) < 0 || fc->nb_streams < 1) { avformat_close_input(&fc); return -1; }
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0) { avformat_close_input(&fc); return -1; }
    const AVCodec *dec = avcodec_find_decoder(fc->streams[si]->codecpar->codec_id);
    AVCodecContext *cc = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(cc, fc->streams[si]->codecpar);
    cc->thread_count = 1;
    if (!dec || avcodec_open2(cc, dec, NULL) < 0) { avcodec_free_context(&cc); avformat_close_input(&fc); return -1; }
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    int got = 0;
    while (!got && av_read_frame(fc, pkt) >= 0) {
        if (pkt->stream_index == si && avcodec_send_packet(cc, pkt) >= 0 && avcodec_receive_frame(cc, fr) >= 0) got = 1;
        av_packet_unref(pkt);
    }
    if (!got) { avcodec_send_packet(cc, NULL); got = avcodec_receive_frame(cc, fr) >= 0; }
    int rc = -1;
    if (got) {
        double sc = (double)maxdim / (fr->width > fr->height ? fr->width : fr->height);
        if (sc > 1) sc = 1;
        out->w = (int)(fr->width * sc + 0.5);
        out->h = (int)(fr->height * sc + 0.5);
        out->px = malloc((size_t)out->w * out->h * 3);
        struct SwsContext *sw = sws_getContext(fr->width, fr->height, fr->format, out->w, out->h, AV_PIX_FMT_RGB24,
                                               SWS_AREA, NULL, NULL, NULL);
        uint8_t *dst[4] = {out->px};
        int ls[4] = {out->w * 3};
        if (sw) {
            sws_scale(sw, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst, ls);
            sws_freeContext(sw);
            rc = 0;
        }
    }
    if (rc) fprintf(stderr, "headcam: cannot decode %s\n", path);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&cc);
    avformat_close_input(&fc);
    return rc;
}

static void build_mips(const image *im, mips *m)
{
    m->n = 1;
    m->lv[0] = *im;
    while (m->n < 8) {
        image *p = &m->lv[m->n - 1];
        if (p->w < 8 || p->h < 8) break;
        image q = {p->w / 2, p->h / 2, NULL};
        q.px = malloc((size_t)q.w * q.h * 3);
        for (int y = 0; y < q.h; y++)
            for (int x = 0; x < q.w; x++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *a = p->px + ((size_t)(2 * y) * p->w + 2 * x) * 3 + c;
                    int s = a[0] + a[3] + a[p->w * 3] + a[p->w * 3 + 3];
                    q.px[((size_t)y * q.w + x) * 3 + c] = (uint8_t)((s + 2) >> 2);
                }
        m->lv[m->n++] = q;
    }
}

/* mirrored repeat of a coordinate into [0, n) */
static inline float mirror(float x, int n)
{
    float p = 2.0f * n;
    x = fmodf(x, p);
    if (x < 0) x += p;
    if (x >= n) x = p - x - 1e-3f;
    return x;
}

static inline void sample(const mips *m, int lv, float u, float v, float *rgb)
{
    const image *im = &m->lv[lv];
    float x = mirror(u * im->w - 0.5f, im->w), y = mirror(v * im->h - 0.5f, im->h);
    int x0 = (int)x, y0 = (int)y;
    float fx = x - x0, fy = y - y0;
    int x1 = x0 + 1 < im->w ? x0 + 1 : x0, y1 = y0 + 1 < im->h ? y0 + 1 : y0;
    const uint8_t *a = im->px + ((size_t)y0 * im->w + x0) * 3, *b = im->px + ((size_t)y0 * im->w + x1) * 3;
    const uint8_t *c = im->px + ((size_t)y1 * im->w + x0) * 3, *d = im->px + ((size_t)y1 * im->w + x1) * 3;
    for (int k = 0; k < 3; k++) {
        float t = a[k] + (b[k] - a[k]) * fx, s = c[k] + (d[k] - c[k]) * fx;
        rgb[k] = t + (s - t) * fy;
    }
}

/* ---------------------------------------------------------------- gait */
enum { STAND, WALK, RUN, NACT };
static const char *ACT_NAME[NACT] = {"stand", "walk", "run"};

/* One person's way of doing each activity (drawn per clip / per video). */
typedef struct {
    double freq;      /* steps per second (stand: breathing rate) */
    double speed;     /* forward m/s */
    double bob;       /* vertical amplitude, m (once per step) */
    double sway;      /* lateral amplitude, m (once per stride) */
    double roll;      /* roll amplitude, rad (once per stride) */
    double pitchbob;  /* pitch nod amplitude, rad (once per step) */
    double shake;     /* foot-strike jolt amplitude, m */
    double sharp;     /* bob waveform exponent (1 = sine, >1 = peaky, run has a flight phase) */
} gait;

static void draw_gait(rng_t *r, int act, gait *g)
{
    memset(g, 0, sizeof *g);
    if (act == WALK) {
        g->freq = rng_range(r, 1.5, 2.2);
        g->speed = g->freq * rng_range(r, 0.55, 0.80);
        g->bob = rng_range(r, 0.012, 0.045);
        g->sway = rng_range(r, 0.015, 0.05);
        g->roll = rng_range(r, 0.6, 2.5) * PI / 180;
        g->pitchbob = rng_range(r, 0.2, 1.2) * PI / 180;
        g->shake = rng_range(r, 0.0, 0.004);
        g->sharp = rng_range(r, 1.0, 1.4);
    } else if (act == RUN) {
        g->freq = rng_range(r, 2.4, 3.3);
        g->speed = g->freq * rng_range(r, 0.8, 1.4);
        g->bob = rng_range(r, 0.03, 0.09);
        g->sway = rng_range(r, 0.008, 0.03);
        g->roll = rng_range(r, 1.0, 3.5) * PI / 180;
        g->pitchbob = rng_range(r, 0.5, 2.0) * PI / 180;
        g->shake = rng_range(r, 0.002, 0.012);
        g->sharp = rng_range(r, 1.3, 2.2);
    } else { /* stand: breathing and postural sway; small shuffles */
        g->freq = rng_range(r, 0.2, 0.4);
        g->speed = rng_range(r, 0.0, 0.12);
        g->bob = rng_range(r, 0.002, 0.008);
        g->sway = rng_range(r, 0.005, 0.025);
        g->roll = rng_range(r, 0.2, 1.0) * PI / 180;
        g->pitchbob = rng_range(r, 0.1, 0.5) * PI / 180;
        g->shake = 0;
        g->sharp = 1;
    }
}

/* Smooth wander: sum of a few random sines (per clip). */
typedef struct { int n; double f[4], a[4], p[4]; } wander;
static void draw_wander(rng_t *r, wander *w, double amp, double fmin, double fmax)
{
    w->n = 4;
    for (int i = 0; i < 4; i++) {
        w->f[i] = rng_range(r, fmin, fmax);
        w->a[i] = amp * rng_range(r, 0.3, 1.0) / (1 + i);
        w->p[i] = rng_range(r, 0, 2 * PI);
    }
}
static double wander_at(const wander *w, double t)
{
    double s = 0;
    for (int i = 0; i < w->n; i++) s += w->a[i] * sin(2 * PI * w->f[i] * t + w->p[i]);
    return s;
}

/* A look-around: yaw (and a little pitch) goes to an offset and back. */
typedef struct { double t0, dur, hold, yaw, pitch; } glance;

typedef struct { int act; double dur; } seg;

#define MAXSEG 32
#define MAXGL 64
typedef struct {
    int nseg;
    seg s[MAXSEG];
    gait g[NACT];          /* this person's gait per activity */
    double blend;          /* transition time between activities, s */
    int nglance;
    glance gl[MAXGL];
    wander yaw, pitch, lat, tremor;
    double height, pitch0, roll0, stab; /* camera mount; stab = head pitch stabilisation */
    double jitter;         /* step timing jitter */
    /* integrated state, sampled on a fine grid */
    double dt;
    int nstate;
    double *z, *phase, *w[NACT];
} motion;

static double seg_total(const motion *m)
{
    double t = 0;
    for (int i = 0; i < m->nseg; i++) t += m->s[i].dur;
    return t;
}

/* Activity weights at time t (smooth transitions centred on segment boundaries). */
static void act_weights(const motion *m, double t, double *w)
{
    for (int k = 0; k < NACT; k++) w[k] = 0;
    double b = 0;
    for (int i = 0; i < m->nseg; i++) {
        double e = b + m->s[i].dur;
        double lo = i == 0 ? -1e9 : b, hi = i == m->nseg - 1 ? 1e9 : e;
        /* smoothstep ramps of width blend around lo and hi */
        double h = m->blend / 2;
        double up = lo < -1e8 ? 1 : fmin(1, fmax(0, (t - (lo - h)) / (2 * h)));
        double dn = hi > 1e8 ? 1 : fmin(1, fmax(0, ((hi + h) - t) / (2 * h)));
        up = up * up * (3 - 2 * up);
        dn = dn * dn * (3 - 2 * dn);
        double wt = up < dn ? up : dn;
        if (wt > 0) w[m->s[i].act] += wt;
        b = e;
    }
    double s = w[0] + w[1] + w[2];
    if (s <= 0) { w[m->s[0].act] = 1; return; }
    for (int k = 0; k < NACT; k++) w[k] /= s;
}

static void motion_integrate(motion *m, rng_t *r)
{
    double T = seg_total(m) + 1.0;
    m->dt = 1.0 / 1000;
    m->nstate = (int)(T / m->dt) + 2;
    m->z = calloc(m->nstate, sizeof(double));
    m->phase = calloc(m->nstate, sizeof(double));
    for (int k = 0; k < NACT; k++) m->w[k] = calloc(m->nstate, sizeof(double));
    double z = 0, ph = rng_u(r) * 2, fj = 0;
    for (int i = 0; i < m->nstate; i++) {
        double t = i * m->dt, w[NACT];
        act_weights(m, t, w);
        double f = 0, v = 0, fw = 0;
        for (int k = 0; k < NACT; k++) {
            if (k != STAND) { f += w[k] * m->g[k].freq; fw += w[k]; }
            v += w[k] * m->g[k].speed;
        }
        if (fw > 0) f /= fw; else f = m->g[WALK].freq;
        /* step-to-step timing jitter: a slowly varying frequency error */
        if (i % 50 == 0) fj = 0.9 * fj + m->jitter * rng_gauss(r) * 0.45;
        f *= 1 + fj;
        double sv = v * (1 + 0.12 * (1 - w[STAND]) * sin(2 * PI * ph));
        m->z[i] = z;
        m->phase[i] = ph;
        for (int k = 0; k < NACT; k++) m->w[k][i] = w[k];
        z += sv * m->dt;
        ph += f * m->dt;
    }
}

static double interp(const double *a, int n, double dt, double t)
{
    double x = t / dt;
    if (x <= 0) return a[0];
    int i = (int)x;
    if (i >= n - 1) return a[n - 1];
    return a[i] + (a[i + 1] - a[i]) * (x - i);
}

typedef struct { double x, y, z, yaw, pitch, roll; } pose;

static void pose_at(const motion *m, double t, pose *p)
{
    double w[NACT];
    for (int k = 0; k < NACT; k++) w[k] = interp(m->w[k], m->nstate, m->dt, t);
    double ph = interp(m->phase, m->nstate, m->dt, t);
    double zz = interp(m->z, m->nstate, m->dt, t);
    double bob = 0, sway = 0, roll = 0, pb = 0, shake = 0;
    double stepph = ph - floor(ph); /* 0..1 within a step */
    for (int k = WALK; k <= RUN; k++) {
        if (w[k] <= 0) continue;
        const gait *g = &m->g[k];
        double s = fabs(sin(PI * ph));                 /* once per step */
        double b = pow(s, g->sharp) - 0.5;             /* peaky for running */
        bob += w[k] * g->bob * 2 * b;
        sway += w[k] * g->sway * sin(PI * ph);        /* once per stride */
        roll += w[k] * g->roll * sin(PI * ph + 0.4);
        pb += w[k] * g->pitchbob * cos(2 * PI * ph);
        shake += w[k] * g->shake * exp(-stepph * 25) * sin(2 * PI * 14 * stepph);
    }
    if (w[STAND] > 0) { /* breathing + postural sway */
        const gait *g = &m->g[STAND];
        bob += w[STAND] * g->bob * sin(2 * PI * g->freq * t);
        sway += w[STAND] * g->sway * sin(2 * PI * 0.17 * t + 1.3);
        roll += w[STAND] * g->roll * sin(2 * PI * 0.13 * t + 0.2);
        pb += w[STAND] * g->pitchbob * sin(2 * PI * g->freq * t + 0.7);
    }
    double gy = 0, gp = 0;
    for (int i = 0; i < m->nglance; i++) {
        const glance *g = &m->gl[i];
        double u = t - g->t0;
        if (u < 0 || u > 2 * g->dur + g->hold) continue;
        double a = u < g->dur ? u / g->dur : u < g->dur + g->hold ? 1 : 1 - (u - g->dur - g->hold) / g->dur;
        a = a * a * (3 - 2 * a);
        gy += g->yaw * a;
        gp += g->pitch * a;
    }
    p->x = sway + wander_at(&m->lat, t);
    p->y = m->height + bob + shake;
    p->z = zz;
    p->yaw = wander_at(&m->yaw, t) + gy + 0.3 * wander_at(&m->tremor, t);
    p->pitch = m->pitch0 + pb * (1 - m->stab) - bob * m->stab * 0.5 + wander_at(&m->pitch, t) + gp +
               0.3 * wander_at(&m->tremor, t + 7.1);
    p->roll = m->roll0 + roll;
}

/* ------------------------------------------------------------ render */
typedef struct {
    int W, H;
    double hfov;
    const mips *tex;
    double wallz, wallw, wallh, groundm; /* wall distance (absolute z), size; ground tile size (m) */
    double wall_u0, ground_u0, ground_v0;
    float *acc;
} scene;

static void render_sub(const scene *s, const pose *p, float wgt)
{
    double f = (s->W / 2.0) / tan(s->hfov / 2);
    double cy = cos(p->yaw), sy = sin(p->yaw), cp = cos(p->pitch), sp = -sin(p->pitch) /* positive pitch looks up */, cr = cos(p->roll),
           sr = sin(p->roll);
    /* R = Ry(yaw) * Rx(pitch) * Rz(roll); camera looks down +z, y up */
    double R[9] = {cy * cr + sy * sp * sr, -cy * sr + sy * sp * cr, sy * cp,
                   cp * sr,                cp * cr,                 -sp,
                   -sy * cr + cy * sp * sr, sy * sr + cy * sp * cr,  cy * cp};
    double pixang = 1.0 / f;
    const mips *m = s->tex;
    int L = m->n;
    for (int y = 0; y < s->H; y++) {
        double vy = -(y + 0.5 - s->H / 2.0) / f;
        for (int x = 0; x < s->W; x++) {
            double vx = (x + 0.5 - s->W / 2.0) / f;
            double dx = R[0] * vx + R[1] * vy + R[2], dy = R[3] * vx + R[4] * vy + R[5],
                   dz = R[6] * vx + R[7] * vy + R[8];
            double inv = 1.0 / sqrt(dx * dx + dy * dy + dz * dz);
            dx *= inv; dy *= inv; dz *= inv;
            double tg = dy < -1e-6 ? -p->y / dy : 1e30, tw = dz > 1e-6 ? (s->wallz - p->z) / dz : 1e30;
            float rgb[3];
            double tt, texm, cosi, u, v, shade;
            if (tg < tw) {
                tt = tg;
                double X = p->x + dx * tt, Z = p->z + dz * tt;
                u = s->ground_u0 + X / s->groundm;
                v = s->ground_v0 + Z / s->groundm * ((double)m->lv[0].w / m->lv[0].h);
                texm = s->groundm / m->lv[0].w;
                cosi = -dy;
                shade = 0.8;
            } else if (tw < 1e29) {
                tt = tw;
                double X = p->x + dx * tt, Y = p->y + dy * tt;
                u = s->wall_u0 + X / s->wallw + 0.5;
                v = 1.0 - Y / s->wallh;
                texm = s->wallw / m->lv[0].w;
                cosi = dz;
                shade = 1.0;
            } else {
                float *o = s->acc + ((size_t)y * s->W + x) * 3;
                o[0] += wgt * 150; o[1] += wgt * 160; o[2] += wgt * 175;
                continue;
            }
            double fp = tt * pixang / texm / (cosi > 0.08 ? cosi : 0.08);
            int lv = 0;
            while (fp > 1.5 && lv < L - 1) { fp *= 0.5; lv++; }
            sample(m, lv, (float)u, (float)v, rgb);
            float *o = s->acc + ((size_t)y * s->W + x) * 3;
            float sw = (float)(wgt * shade);
            o[0] += sw * rgb[0]; o[1] += sw * rgb[1]; o[2] += sw * rgb[2];
        }
    }
}

/* ------------------------------------------------------------ render a video */
typedef struct {
    const char *photo, *out, *labels, *codec, *ffmpeg, *strip;
    int W, H, vfr;
    double fps;
    uint64_t seed;
    int nseg;
    seg s[MAXSEG];
} job;

static int parse_plan(const char *plan, job *j)
{
    j->nseg = 0;
    const char *p = plan;
    while (*p && j->nseg < MAXSEG) {
        char name[16];
        double d;
        int n = 0;
        if (sscanf(p, "%15[a-z]:%lf%n", name, &d, &n) != 2) return -1;
        int a = -1;
        for (int k = 0; k < NACT; k++) if (!strcmp(name, ACT_NAME[k])) a = k;
        if (a < 0 || d <= 0) return -1;
        j->s[j->nseg++] = (seg){a, d};
        p += n;
        if (*p == ',') p++;
    }
    return j->nseg > 0 ? 0 : -1;
}

static mips *photo_cache_get(const char *path)
{ /* suite mode renders many videos from each photo: keep them all decoded */
    static char *names[64];
    static mips m[64];
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], path)) return &m[i];
    if (n == 64) { /* full: forget the oldest */
        for (int i = 0; i < m[0].n; i++) free(m[0].lv[i].px);
        free(names[0]);
        memmove(names, names + 1, sizeof names[0] * 63);
        memmove(m, m + 1, sizeof m[0] * 63);
        n--;
    }
    image im;
    if (load_photo(path, 1024, &im)) return NULL;
    build_mips(&im, &m[n]);
    names[n] = strdup(path);
    return &m[n++];
}

static int render_video(const job *j)
{
    mips *tex = photo_cache_get(j->photo);
    if (!tex) return -1;
    rng_t r = rng_make(j->seed, 0x51ull);
    motion m;
    memset(&m, 0, sizeof m);
    m.nseg = j->nseg;
    memcpy(m.s, j->s, sizeof(seg) * j->nseg);
    for (int k = 0; k < NACT; k++) draw_gait(&r, k, &m.g[k]);
    m.blend = rng_range(&r, 0.4, 1.2);
    m.height = rng_range(&r, 1.45, 1.85);
    m.pitch0 = -rng_range(&r, 2, 16) * PI / 180;
    m.roll0 = rng_range(&r, -3, 3) * PI / 180;
    m.stab = rng_range(&r, 0.0, 0.8);
    m.jitter = rng_range(&r, 0.01, 0.06);
    draw_wander(&r, &m.yaw, rng_range(&r, 2, 8) * PI / 180, 0.03, 0.3);
    draw_wander(&r, &m.pitch, rng_range(&r, 1, 4) * PI / 180, 0.03, 0.3);
    draw_wander(&r, &m.lat, rng_range(&r, 0.05, 0.4), 0.02, 0.15);
    draw_wander(&r, &m.tremor, rng_range(&r, 0.1, 0.5) * PI / 180, 3, 9);
    double T = seg_total(&m);
    /* look-arounds: frequent when standing, occasional when moving */
    m.nglance = 0;
    for (int i = 0, t0 = 0; i < m.nseg; i++) {
        double b = 0;
        for (int q = 0; q < i; q++) b += m.s[q].dur;
        double rate = m.s[i].act == STAND ? rng_range(&r, 0.08, 0.35) : rng_range(&r, 0.0, 0.12);
        for (double t = b + rng_range(&r, 0, 1.5); t < b + m.s[i].dur && m.nglance < MAXGL;
             t += rng_range(&r, 0.5, 2.0) / fmax(rate, 1e-3) * 0.5) {
            if (rng_u(&r) > rate * 4) continue;
            glance *g = &m.gl[m.nglance++];
            g->t0 = t;
            int slow = m.s[i].act == STAND;
            g->dur = slow ? rng_range(&r, 0.8, 2.5) : rng_range(&r, 0.3, 0.9);
            g->hold = rng_range(&r, 0.2, 1.5);
            g->yaw = (rng_u(&r) < 0.5 ? -1 : 1) * rng_range(&r, 10, slow ? 60 : 35) * PI / 180;
            g->pitch = rng_range(&r, -8, 5) * PI / 180;
        }
        (void)t0;
    }
    motion_integrate(&m, &r);

    scene sc;
    memset(&sc, 0, sizeof sc);
    sc.W = j->W;
    sc.H = j->H;
    sc.hfov = rng_range(&r, 60, 95) * PI / 180;
    sc.tex = tex;
    double travel = m.z[m.nstate - 1];
    sc.wallz = travel + rng_range(&r, 12, 45);
    sc.wallw = 2 * sc.wallz * tan(sc.hfov / 2) * rng_range(&r, 1.0, 1.8);
    sc.wallh = sc.wallw * tex->lv[0].h / tex->lv[0].w;
    sc.groundm = rng_range(&r, 3, 10);
    sc.wall_u0 = rng_range(&r, -0.2, 0.2);
    sc.ground_u0 = rng_range(&r, 0, 2);
    sc.ground_v0 = rng_range(&r, 0, 2);

    double expo = rng_range(&r, 0.15, 0.7);     /* exposure, fraction of the frame interval */
    double noise = rng_range(&r, 1.0, 6.0);     /* sensor noise sigma, levels */
    double pdrop = rng_u(&r) < 0.5 ? 0 : rng_range(&r, 0.005, 0.04);
    double wb[3] = {rng_range(&r, 0.88, 1.12), 1, rng_range(&r, 0.88, 1.12)};
    double gain0 = rng_range(&r, 0.8, 1.15), ev_a = rng_range(&r, 0.03, 0.15), ev_f = rng_range(&r, 0.03, 0.2);
    double vign = rng_range(&r, 0.0, 0.35);

    int nfr = (int)floor(T * j->fps + 1e-9);
    /* ffmpeg command */
    char cmd[4096], vf[256] = "";
    const char *enc;
    if (!strcmp(j->codec, "h264")) enc = "-c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -threads 1";
    else if (!strcmp(j->codec, "vp9"))
        enc = "-c:v libvpx-vp9 -b:v 0 -crf 38 -deadline realtime -cpu-used 8 -pix_fmt yuv420p -threads 1 -row-mt 0";
    else if (!strcmp(j->codec, "mjpeg")) enc = "-c:v mjpeg -q:v 6 -pix_fmt yuvj420p -threads 1";
    else if (!strcmp(j->codec, "mpeg4")) enc = "-c:v mpeg4 -q:v 5 -pix_fmt yuv420p -threads 1";
    else { fprintf(stderr, "headcam: unknown codec %s\n", j->codec); return -1; }
    if (j->vfr) /* drop ~6% of frames, keeping the others' timestamps: a variable-frame-rate file */
        snprintf(vf, sizeof vf, "-vf \"select='gt(mod(n*7919+%u\\,17)\\,0)'\" -fps_mode vfr", (unsigned)(j->seed % 17));
    snprintf(cmd, sizeof cmd,
             "'%s' -nostdin -loglevel error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -r %g -i - %s %s "
             "-fflags +bitexact -flags:v +bitexact -map_metadata -1 '%s'",
             j->ffmpeg, j->W, j->H, j->fps, vf, enc, j->out);
    FILE *pp = popen(cmd, "w");
    if (!pp) { fprintf(stderr, "headcam: cannot run %s\n", j->ffmpeg); return -1; }

    size_t np = (size_t)j->W * j->H;
    sc.acc = malloc(np * 3 * sizeof(float));
    uint8_t *frame = malloc(np * 3), *prev = malloc(np * 3);
    rng_t nr = rng_make(j->seed, 0x77ull);
    FILE *strip = NULL;
    int rc = 0, have_prev = 0;
    pose last;
    pose_at(&m, 0, &last);
    for (int fi = 0; fi < nfr; fi++) {
        double t = fi / j->fps;
        if (have_prev && rng_u(&r) < pdrop) { /* camera stall: this frame repeats the previous one */
            if (fwrite(prev, 1, np * 3, pp) != np * 3) { rc = -1; break; }
            continue;
        }
        /* motion blur: sub-frames across the exposure; how many depends on the motion */
        pose a, b;
        pose_at(&m, t - expo / j->fps, &a);
        pose_at(&m, t, &b);
        double f = (j->W / 2.0) / tan(sc.hfov / 2);
        double ang = fabs(a.yaw - b.yaw) + fabs(a.pitch - b.pitch) + fabs(a.roll - b.roll) * 0.5;
        double mv = ang * f + (fabs(a.y - b.y) + fabs(a.x - b.x) + fabs(a.z - b.z) * 0.3) * f / 3.0;
        int K = 1 + (int)(mv / 2.0);
        if (K > 4) K = 4;
        memset(sc.acc, 0, np * 3 * sizeof(float));
        for (int k = 0; k < K; k++) {
            pose p;
            pose_at(&m, t - expo / j->fps * (K == 1 ? 0 : 1.0 - (double)k / (K - 1)), &p);
            render_sub(&sc, &p, 1.0f / K);
        }
        double gain = gain0 * exp(ev_a * sin(2 * PI * ev_f * t) + 0.5 * ev_a * sin(2 * PI * 2.7 * ev_f * t + 1));
        for (int y = 0; y < j->H; y++) {
            double ny = (y - j->H / 2.0) / (j->H / 2.0);
            for (int x = 0; x < j->W; x++) {
                double nx = (x - j->W / 2.0) / (j->W / 2.0);
                double vg = gain * (1 - vign * 0.5 * (nx * nx + ny * ny));
                size_t o = ((size_t)y * j->W + x) * 3;
                double n0 = noise * (rng_u(&nr) + rng_u(&nr) - 1) * 2.45; /* luma-ish noise */
                for (int c = 0; c < 3; c++) {
                    double v = sc.acc[o + c] * vg * wb[c] + n0 + noise * 0.5 * (rng_u(&nr) - 0.5) * 3.46;
                    frame[o + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
                }
            }
        }
        if (fwrite(frame, 1, np * 3, pp) != np * 3) { rc = -1; break; }
        memcpy(prev, frame, np * 3);
        have_prev = 1;
        if (j->strip && fi % (int)(j->fps) == 0 && fi / (int)j->fps < 6) {
            if (!strip) {
                char sc2[2048];
                snprintf(sc2, sizeof sc2,
                         "'%s' -nostdin -loglevel error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -i - "
                         "-vf scale=160:-2,tile=6x1 -frames:v 1 '%s'",
                         j->ffmpeg, j->W, j->H, j->strip);
                strip = popen(sc2, "w");
            }
            if (strip) fwrite(frame, 1, np * 3, strip);
        }
    }
    if (strip) pclose(strip);
    int st = pclose(pp);
    if (st != 0) { fprintf(stderr, "headcam: ffmpeg failed for %s\n", j->out); rc = -1; }
    free(sc.acc); free(frame); free(prev);
    free(m.z); free(m.phase);
    for (int k = 0; k < NACT; k++) free(m.w[k]);
    if (rc == 0 && j->labels) {
        FILE *lf = fopen(j->labels, "w");
        if (!lf) return -1;
        fprintf(lf, "start,end,label\n");
        double b = 0;
        for (int i = 0; i < j->nseg; i++) {
            /* merge equal neighbours */
            double e = b + j->s[i].dur;
            while (i + 1 < j->nseg && j->s[i + 1].act == j->s[i].act) e += j->s[++i].dur;
            fprintf(lf, "%.3f,%.3f,%s\n", b, i == j->nseg - 1 ? e + 1.0 : e, ACT_NAME[j->s[i].act]);
            b = e;
        }
        fclose(lf);
    }
    return rc;
}

/* ------------------------------------------------------------ suite */
typedef struct { char name[64], path[1024]; } photo;

static const char *CODECS[] = {"h264", "vp9", "mjpeg", "mpeg4", "mpeg4"};
static const char *EXTS[] = {"mp4", "mkv", "avi", "avi", "mov"};

static void pick_format(rng_t *r, int reduced, job *j, const char **ext)
{
    static const double fpss[] = {24, 25, 30};
    int ci = (int)(rng_u(r) * 5);
    j->codec = CODECS[ci];
    *ext = EXTS[ci];
    j->fps = fpss[(int)(rng_u(r) * 3)];
    double u = rng_u(r);
    if (reduced || u < 0.55) { j->W = 320; j->H = 240; }
    else if (u < 0.88) { j->W = 480; j->H = 270; }
    else { j->W = 640; j->H = 360; }
    j->vfr = (ci <= 1) && rng_u(r) < 0.25; /* some H.264/VP9 files are variable-frame-rate */
}

static int mkdirp(const char *d)
{
    char b[2048];
    snprintf(b, sizeof b, "%s", d);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(b, 0755); *p = '/'; }
    return mkdir(b, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int suite(const char *list, const char *outdir, int reduced, uint64_t seed, const char *ffmpeg, int only)
{
    photo ph[64];
    int S = 0;
    FILE *f = fopen(list, "r");
    if (!f) { fprintf(stderr, "headcam: cannot read %s\n", list); return 1; }
    char line[1200];
    while (fgets(line, sizeof line, f) && S < 64) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\r\n")] = 0;
        char *c = strchr(line, ',');
        if (!c) continue;
        *c = 0;
        snprintf(ph[S].name, sizeof ph[S].name, "%.63s", line);
        snprintf(ph[S].path, sizeof ph[S].path, "%s", c + 1);
        S++;
    }
    fclose(f);
    if (reduced && S > 8) S = 8;
    if (S < 4) { fprintf(stderr, "headcam: need at least 4 photos, have %d\n", S); return 1; }
    /* scene-disjoint split: every 4th scene (3, 7, 11, ...) is a test scene */
    int ntestsc = 0;
    for (int s = 0; s < S; s++) ntestsc += s % 4 == 3;

    struct { const char *name; int nact; int acts[3]; int nclips; double dmin, dmax; int longv; } D[3] = {
        {"walkrun", 2, {WALK, RUN}, reduced ? 32 : 176, 2, reduced ? 4 : 6, 0},
        {"walkrunstand", 3, {STAND, WALK, RUN}, reduced ? 48 : 192, 2, reduced ? 4 : 6, 0},
        {"frames", 3, {STAND, WALK, RUN}, reduced ? 12 : 20, reduced ? 12 : 20, reduced ? 18 : 40, 1},
    };
    char p[2048];
    for (int d = 0; d < 3; d++) {
        if (only >= 0 && only != d) continue;
        snprintf(p, sizeof p, "%s/%s/videos", outdir, D[d].name);
        if (mkdirp(p)) { fprintf(stderr, "headcam: cannot create %s\n", p); return 1; }
        FILE *man[4];
        const char *mn[4] = {"scene-disjoint_train", "scene-disjoint_test", "scene-balanced_train", "scene-balanced_test"};
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s/%s/%s.csv", outdir, D[d].name, mn[k]);
            man[k] = fopen(p, "w");
            if (!man[k]) return 1;
            fprintf(man[k], "path,label\n");
        }
        snprintf(p, sizeof p, "%s/%s/clips.csv", outdir, D[d].name);
        FILE *info = fopen(p, "w");
        fprintf(info, "path,scene,plan,codec,fps,width,height,vfr,split_disjoint,split_balanced\n");
        /* a split file for `vidlstm train --split-file`: validation = the clips of one training scene
         * (the video CSV has no group column; groups are the video files) */
        snprintf(p, sizeof p, "%s/%s/scene-disjoint_valsplit.txt", outdir, D[d].name);
        FILE *vs = fopen(p, "w");
        int valscene = 0; /* scene 0 is always a training scene in the disjoint split */
        int count[64][3] = {{0}};
        for (int i = 0; i < D[d].nclips; i++) {
            int s = i % S;
            rng_t r = rng_make(seed * 1000003ull + (uint64_t)d * 7919ull, (uint64_t)i);
            job j;
            memset(&j, 0, sizeof j);
            j.ffmpeg = ffmpeg;
            j.photo = ph[s].path;
            j.seed = rng_next(&r);
            const char *ext;
            pick_format(&r, reduced, &j, &ext);
            char plan[512] = "", lab[16] = "";
            int k;
            if (!D[d].longv) {
                int c = (i / S) % D[d].nact;
                k = count[s][c]++;
                int act = D[d].acts[c];
                j.nseg = 1;
                j.s[0] = (seg){act, rng_range(&r, D[d].dmin, D[d].dmax)};
                snprintf(lab, sizeof lab, "%s", ACT_NAME[act]);
                snprintf(plan, sizeof plan, "%s:%.2f", ACT_NAME[act], j.s[0].dur);
            } else {
                k = i / S;
                double total = rng_range(&r, D[d].dmin, D[d].dmax), t = 0;
                int prev = -1;
                j.nseg = 0;
                while (t < total - 0.5 && j.nseg < MAXSEG) {
                    int act;
                    do act = (int)(rng_u(&r) * 3); while (act == prev);
                    double dur = act == STAND ? rng_range(&r, 2, 7) : rng_range(&r, 3, 9);
                    if (t + dur > total) dur = total - t;
                    j.s[j.nseg++] = (seg){act, dur};
                    size_t L = strlen(plan);
                    snprintf(plan + L, sizeof plan - L, "%s%s:%.2f", L ? "+" : "", ACT_NAME[act], dur);
                    t += dur;
                    prev = act;
                }
            }
            char rel[256], out[2048], labels[2048], stripf[2048];
            if (lab[0]) snprintf(rel, sizeof rel, "videos/%03d_%s_%s.%s", i, ph[s].name, lab, ext);
            else snprintf(rel, sizeof rel, "videos/%03d_%s.%s", i, ph[s].name, ext);
            snprintf(out, sizeof out, "%s/%s/%s", outdir, D[d].name, rel);
            j.out = out;
            if (D[d].longv) {
                snprintf(labels, sizeof labels, "%s/%s/%.*s.csv", outdir, D[d].name, (int)(strrchr(rel, '.') - rel), rel);
                j.labels = labels;
            }
            if (i < D[d].nact * S && i % S == 0 && i / S < D[d].nact) { /* one strip per class (or one long video) */
                snprintf(stripf, sizeof stripf, "%s/%s/strip_%s.png", outdir, D[d].name, lab[0] ? lab : "long");
                j.strip = stripf;
            }
            fprintf(stderr, "\r  %s %d/%d  ", D[d].name, i + 1, D[d].nclips);
            if (render_video(&j)) return 1;
            int dis_test = s % 4 == 3, bal_test = k % 4 == 1;
            char labcol[300];
            if (D[d].longv) snprintf(labcol, sizeof labcol, "%.*s.csv", (int)(strrchr(rel, '.') - rel), rel);
            else snprintf(labcol, sizeof labcol, "%s", lab);
            fprintf(man[dis_test ? 1 : 0], "%s,%s\n", rel, labcol);
            fprintf(man[bal_test ? 3 : 2], "%s,%s\n", rel, labcol);
            if (!dis_test && s == valscene) fprintf(vs, "%s,val\n", rel);
            fprintf(info, "%s,%s,%s,%s,%g,%d,%d,%d,%s,%s\n", rel, ph[s].name, plan, j.codec, j.fps, j.W, j.H, j.vfr,
                    dis_test ? "test" : "train", bal_test ? "test" : "train");
        }
        fprintf(stderr, "\n");
        for (int k = 0; k < 4; k++) fclose(man[k]);
        fclose(info);
        fclose(vs);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: headcam render --photo P --out FILE --plan ACT:SECONDS[,ACT:SECONDS...] [--labels CSV]\n"
            "                      [--size WxH] [--fps F] [--codec h264|vp9|mjpeg|mpeg4] [--vfr] [--seed N]\n"
            "                      [--ffmpeg PATH] [--strip PNG]\n"
            "       headcam suite --photos LIST.csv --out DIR [--reduced] [--seed N] [--ffmpeg PATH]\n"
            "                     [--only walkrun|walkrunstand|frames]\n"
            "ACT is stand, walk or run. LIST.csv has lines name,path-to-photo.\n");
}

int main(int argc, char **argv)
{
    av_log_set_level(AV_LOG_ERROR);
    if (argc < 2) { usage(); return 2; }
    job j;
    memset(&j, 0, sizeof j);
    j.W = 320; j.H = 240; j.fps = 25; j.codec = "h264"; j.ffmpeg = "ffmpeg"; j.seed = 1;
    const char *photos = NULL, *plan = NULL;
    int reduced = 0, only = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(n) (!strcmp(a, n) && v && (++i, 1))
        if (OPT("--photo")) j.photo = v;
        else if (OPT("--photos")) photos = v;
        else if (OPT("--out")) j.out = v;
        else if (OPT("--plan")) plan = v;
        else if (OPT("--labels")) j.labels = v;
        else if (OPT("--size")) { if (sscanf(v, "%dx%d", &j.W, &j.H) != 2) { usage(); return 2; } }
        else if (OPT("--fps")) j.fps = atof(v);
        else if (OPT("--codec")) j.codec = v;
        else if (OPT("--seed")) j.seed = strtoull(v, NULL, 10);
        else if (OPT("--ffmpeg")) j.ffmpeg = v;
        else if (OPT("--strip")) j.strip = v;
        else if (OPT("--only")) only = !strcmp(v, "walkrun") ? 0 : !strcmp(v, "walkrunstand") ? 1 : !strcmp(v, "frames") ? 2 : -2;
        else if (!strcmp(a, "--vfr")) j.vfr = 1;
        else if (!strcmp(a, "--reduced")) reduced = 1;
        else { fprintf(stderr, "headcam: unknown option %s\n", a); usage(); return 2; }
    }
    if (!strcmp(argv[1], "render")) {
        if (!j.photo || !j.out || !plan || parse_plan(plan, &j) || j.W < 16 || j.H < 16 || j.fps <= 0) { usage(); return 2; }
        return render_video(&j) ? 1 : 0;
    }
    if (!strcmp(argv[1], "suite")) {
        if (!photos || !j.out || only == -2) { usage(); return 2; }
        return suite(photos, j.out, reduced, j.seed, j.ffmpeg, only);
    }
    usage();
    return 2;
}
