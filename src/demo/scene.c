#include "demo/scene.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/error.h"
#include "core/rng.h"
#include "video/encode.h"

#define PI_D 3.14159265358979323846
#define PATH_LEN 720.0f   /* the street repeats every PATH_LEN metres along z */
#define SEG_MAX 96        /* buildings per side per period (upper bound) */
#define OBJ_MAX 512
#define TRAJ_HZ 240       /* camera trajectory sampling rate */
#define EYE 1.65f         /* eye height, metres */

/* ---- random numbers and hashes -------------------------------------------------- */

static inline uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 0x165667B1u) * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    return h;
}
static inline float hashf(uint32_t a, uint32_t b, uint32_t c) { return (float)(hash3(a, b, c) >> 8) * (1.0f / 16777216.0f); }

static double urange(vl_rng *r, double lo, double hi) { return lo + (hi - lo) * (double)vl_rng_uniform(r); }

/* ---- the scene ------------------------------------------------------------------ */

typedef struct {
    float z0, z1;     /* extent along the street */
    float height;     /* metres */
    float plaster[3]; /* upper-floor colour, 0..255 */
    float brick[3];
    float window_w;   /* window width, metres */
    uint32_t id;
} building;

enum { OBJ_POST, OBJ_TRUNK, OBJ_CANOPY, OBJ_BOX, OBJ_BENCH, OBJ_POSTHEAD };

typedef struct {
    float lo[3], hi[3]; /* axis-aligned box, metres, z within [0, PATH_LEN) */
    float col[3];
    int kind;
    uint32_t id;
} object;

typedef struct {
    uint32_t seed;
    float half_width;   /* facades at x = +-half_width */
    float grass;        /* grass strip width next to each facade */
    float tile;         /* paving tile size */
    float pave[3], grass_col[3], mortar[3];
    float sky_top[3], sky_hor[3];
    float sun[3];       /* unit vector towards the sun */
    float ambient, gain, tint[3];
    float fog;          /* 1 / fog distance */
    int nb[2];
    building b[2][SEG_MAX];
    uint8_t bidx[2][(int)PATH_LEN + 1]; /* building at each whole metre */
    int nobj;
    object obj[OBJ_MAX];
} scene;

static void col_set(float *c, double r, double g, double b)
{
    c[0] = (float)r;
    c[1] = (float)g;
    c[2] = (float)b;
}

/* The street's layout and materials come from `r` (the scene seed); the
 * weather and light of this clip from `rc`. */
static void scene_build(scene *s, vl_rng *r, vl_rng *rc)
{
    memset(s, 0, sizeof *s);
    s->seed = (uint32_t)vl_rng_next(r);
    s->half_width = (float)urange(r, 5.0, 6.5);
    s->grass = (float)urange(r, 1.0, 1.4);
    s->tile = (float)urange(r, 0.35, 0.45);
    double pv = urange(r, 130, 155);
    col_set(s->pave, pv + urange(r, -8, 8), pv + urange(r, -8, 4), pv + urange(r, -12, 2));
    col_set(s->mortar, pv * 0.6, pv * 0.6, pv * 0.58);
    col_set(s->grass_col, urange(r, 60, 85), urange(r, 105, 135), urange(r, 40, 60));
    double st = urange(rc, -6, 6), sh = urange(rc, -4, 4); /* this clip's haze */
    col_set(s->sky_top, urange(r, 80, 100) + st, urange(r, 125, 145) + st, urange(r, 200, 225) + st);
    col_set(s->sky_hor, urange(r, 195, 210) + sh, urange(r, 205, 220) + sh, urange(r, 220, 235) + sh);
    double az = urange(r, 0, 2 * PI_D), el = urange(r, 0.35, 1.0);
    col_set(s->sun, cos(el) * sin(az), sin(el), cos(el) * cos(az));
    s->ambient = (float)urange(r, 0.5, 0.6);
    s->gain = (float)urange(rc, 0.9, 1.1);
    col_set(s->tint, urange(rc, 0.97, 1.03), 1.0, urange(rc, 0.96, 1.04));
    s->fog = (float)(1.0 / urange(rc, 70, 140));
    for (int side = 0; side < 2; side++) {
        float z = 0.0f;
        int n = 0;
        while (z < PATH_LEN && n < SEG_MAX) {
            building *b = &s->b[side][n++];
            float len = (float)urange(r, 8, 18);
            b->z0 = z;
            b->z1 = z + len > PATH_LEN - 8.0f ? PATH_LEN : z + len;
            z = b->z1;
            b->height = (float)(3.0 * (int)urange(r, 2, 7) + urange(r, 0.3, 1.2));
            /* one town's palette: similar plasters and bricks, so the view changes little
             * along the path (single frames look alike wherever a clip starts) */
            double l = urange(r, 180, 210);
            col_set(b->plaster, l * urange(r, 0.95, 1.0), l * urange(r, 0.9, 0.95), l * urange(r, 0.8, 0.88));
            col_set(b->brick, urange(r, 135, 150), urange(r, 65, 75), urange(r, 45, 55));
            b->window_w = (float)urange(r, 0.9, 1.5);
            b->id = (uint32_t)vl_rng_next(r);
        }
        s->b[side][n - 1].z1 = PATH_LEN;
        s->nb[side] = n;
        for (int m = 0, i = 0; m <= (int)PATH_LEN; m++) {
            while (i + 1 < n && s->b[side][i + 1].z0 <= (float)m)
                i++;
            s->bidx[side][m] = (uint8_t)i;
        }
    }
    /* street furniture along both grass strips and the kerb line */
    for (int side = 0; side < 2; side++) {
        float sx = side ? 1.0f : -1.0f;
        float z = (float)urange(r, 0, 6);
        while (z < PATH_LEN - 4.0f && s->nobj < OBJ_MAX - 2) {
            double u = vl_rng_uniform(r);
            object *o = &s->obj[s->nobj];
            float xc = sx * (s->half_width - s->grass * 0.5f);
            o->id = (uint32_t)vl_rng_next(r);
            if (u < 0.35) { /* tree: trunk + canopy */
                float tw = (float)urange(r, 0.18, 0.32), th = (float)urange(r, 1.8, 2.6);
                float cw = (float)urange(r, 1.6, 2.8), ch = (float)urange(r, 1.8, 3.2);
                *o = (object){{xc - tw / 2, 0, z - tw / 2}, {xc + tw / 2, th, z + tw / 2}, {0}, OBJ_TRUNK, o->id};
                col_set(o->col, urange(r, 80, 110), urange(r, 60, 75), urange(r, 40, 55));
                object *c = &s->obj[++s->nobj];
                *c = (object){{xc - cw / 2, th - 0.3f, z - cw / 2}, {xc + cw / 2, th + ch, z + cw / 2}, {0},
                              OBJ_CANOPY, (uint32_t)vl_rng_next(r)};
                col_set(c->col, urange(r, 45, 75), urange(r, 85, 125), urange(r, 30, 50));
            } else if (u < 0.65) { /* lamp post with a head */
                float pw = 0.14f, ph = (float)urange(r, 3.8, 5.0);
                float px = sx * (s->half_width - s->grass - 0.3f);
                *o = (object){{px - pw / 2, 0, z - pw / 2}, {px + pw / 2, ph, z + pw / 2}, {0}, OBJ_POST, o->id};
                col_set(o->col, 55, 58, 62);
                object *h = &s->obj[++s->nobj];
                *h = (object){{px - 0.5f * (1 + sx) * 0.6f - 0.05f, ph - 0.15f, z - 0.12f},
                              {px + 0.5f * (1 - sx) * 0.6f + 0.05f, ph + 0.05f, z + 0.12f}, {0}, OBJ_POSTHEAD,
                              (uint32_t)vl_rng_next(r)};
                col_set(h->col, 50, 52, 55);
            } else if (u < 0.85) { /* bin, box or planter */
                float w = (float)urange(r, 0.5, 1.1), hgt = (float)urange(r, 0.6, 1.3);
                float px = sx * (s->half_width - s->grass - (float)urange(r, 0.4, 1.0));
                *o = (object){{px - w / 2, 0, z - w / 2}, {px + w / 2, hgt, z + w / 2}, {0}, OBJ_BOX, o->id};
                col_set(o->col, urange(r, 60, 200), urange(r, 60, 180), urange(r, 50, 160));
            } else { /* bench */
                float px = sx * (s->half_width - s->grass - 0.5f);
                *o = (object){{px - 0.25f, 0, z - 0.8f}, {px + 0.25f, 0.45f, z + 0.8f}, {0}, OBJ_BENCH, o->id};
                col_set(o->col, urange(r, 110, 140), urange(r, 80, 100), urange(r, 50, 70));
            }
            s->nobj++;
            z += (float)urange(r, 4, 11);
        }
    }
}

/* ---- camera dynamics -------------------------------------------------------------- */

typedef struct {
    float speed, step_hz, bob, sway, pitch, roll, yaw, harm2, stand;
} gait;

static void gait_draw(gait *g, vl_demo_activity a, vl_rng *r)
{
    switch (a) {
    case VL_DEMO_STAND:
        *g = (gait){0.0f, (float)urange(r, 1.6, 2.1), 0, 0, 0, 0, 0, 0, 1.0f};
        break;
    case VL_DEMO_WALK:
        *g = (gait){(float)urange(r, 1.2, 1.6), (float)urange(r, 1.6, 2.1), (float)urange(r, 0.010, 0.020),
                    (float)urange(r, 0.015, 0.03), (float)urange(r, 0.5, 1.0) * (float)(PI_D / 180),
                    (float)urange(r, 0.4, 1.0) * (float)(PI_D / 180), (float)urange(r, 0.5, 1.5) * (float)(PI_D / 180),
                    (float)urange(r, 0.0, 0.15), 0.0f};
        break;
    default:
        *g = (gait){(float)urange(r, 2.8, 4.0), (float)urange(r, 2.6, 3.2), (float)urange(r, 0.030, 0.050),
                    (float)urange(r, 0.025, 0.05), (float)urange(r, 1.5, 3.0) * (float)(PI_D / 180),
                    (float)urange(r, 1.0, 2.2) * (float)(PI_D / 180), (float)urange(r, 1.0, 2.5) * (float)(PI_D / 180),
                    (float)urange(r, 0.15, 0.35), 0.0f};
        break;
    }
}

/* smooth random signal: sum of three sinusoids with random frequencies in [lo, hi] Hz */
typedef struct {
    float f[3], ph[3], a[3];
} wobble;

static void wobble_draw(wobble *w, vl_rng *r, double lo, double hi, double amp)
{
    for (int i = 0; i < 3; i++) {
        w->f[i] = (float)(2 * PI_D * urange(r, lo, hi));
        w->ph[i] = (float)urange(r, 0, 2 * PI_D);
        w->a[i] = (float)(amp * urange(r, 0.4, 1.0) / 1.6);
    }
}
static float wobble_at(const wobble *w, double t)
{
    return w->a[0] * sinf((float)(w->f[0] * t) + w->ph[0]) + w->a[1] * sinf((float)(w->f[1] * t) + w->ph[1]) +
           w->a[2] * sinf((float)(w->f[2] * t) + w->ph[2]);
}

typedef struct {
    float x, y, z, yaw, pitch, roll;
} pose;

/* Integrates the camera over the whole video at TRAJ_HZ: *out[n] poses. */
static vl_status trajectory(const vl_demo_clip *c, const vl_demo_segment *seg, int nseg, vl_rng *r, pose **out,
                            int *nout)
{
    int n = (int)ceil(c->duration * TRAJ_HZ) + 2;
    pose *p = malloc(sizeof(pose) * (size_t)n);
    gait *targets = malloc(sizeof(gait) * (size_t)nseg);
    if (!p || !targets) {
        free(p);
        free(targets);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nseg; i++)
        gait_draw(&targets[i], seg[i].activity, r);
    wobble look_yaw, look_pitch, drift, breath, body_x, body_z, head_roll, freq_jit, lat;
    int turns = seg[0].activity == VL_DEMO_STAND;
    wobble_draw(&look_yaw, r, 0.05, 0.25, (turns ? 12.0 : 9.0) * PI_D / 180);
    wobble_draw(&look_pitch, r, 0.05, 0.3, 4.0 * PI_D / 180);
    wobble_draw(&drift, r, 0.01, 0.05, 3.0 * PI_D / 180);
    wobble_draw(&breath, r, 0.2, 0.35, 0.004);
    wobble_draw(&body_x, r, 0.08, 0.4, 0.012);
    wobble_draw(&body_z, r, 0.08, 0.4, 0.008);
    wobble_draw(&head_roll, r, 0.1, 0.5, 0.8 * PI_D / 180);
    wobble_draw(&freq_jit, r, 0.1, 0.5, 0.04);
    wobble_draw(&lat, r, 0.02, 0.08, 0.4);
    float x0 = (float)urange(r, -1.0, 1.0), pitch0 = (float)(urange(r, -5, -4) * PI_D / 180);
    double z = urange(r, 0, PATH_LEN), phase = urange(r, 0, 2 * PI_D);
    gait g = targets[0];
    const double dt = 1.0 / TRAJ_HZ, k = 1.0 - exp(-dt / 0.25);
    int si = 0;
    for (int i = 0; i < n; i++) {
        double t = i * dt;
        while (si + 1 < nseg && t >= seg[si + 1].start)
            si++;
        const gait *tg = &targets[si];
        float *gv = &g.speed;
        const float *tv = &tg->speed;
        for (int j = 0; j < 9; j++)
            if (j != 1 || tg->stand < 0.5f) /* standing keeps the last step rate (no gait anyway) */
                gv[j] += (float)k * (tv[j] - gv[j]);
        float move = 1.0f - g.stand;
        /* turns of the head while standing; a walker mostly looks ahead */
        float yaw = wobble_at(&drift, t) + wobble_at(&look_yaw, t) * (1.0f + 0.5f * g.stand) +
                    g.yaw * sinf((float)(0.5 * phase) + 0.7f);
        float pitch = pitch0 + wobble_at(&look_pitch, t) + g.pitch * sinf((float)phase + 1.0f);
        float roll = wobble_at(&head_roll, t) * (0.5f + move) + g.roll * sinf((float)(0.5 * phase));
        float bob = g.bob * (cosf((float)phase) + g.harm2 * cosf((float)(2 * phase)));
        p[i] = (pose){x0 + wobble_at(&lat, t) * move + wobble_at(&body_x, t) + g.sway * sinf((float)(0.5 * phase)),
                      EYE + bob + wobble_at(&breath, t), (float)z + wobble_at(&body_z, t), yaw, pitch, roll};
        z += g.speed * dt;
        phase += 2 * PI_D * g.step_hz * (1.0 + wobble_at(&freq_jit, t)) * dt;
    }
    free(targets);
    *out = p;
    *nout = n;
    return VL_OK;
}

static pose pose_at(const pose *p, int n, double t)
{
    double u = t * TRAJ_HZ;
    int i = (int)u;
    if (i < 0)
        return p[0];
    if (i >= n - 1)
        return p[n - 1];
    float a = (float)(u - i);
    const float *p0 = &p[i].x, *p1 = &p[i + 1].x;
    pose q;
    float *qv = &q.x;
    for (int j = 0; j < 6; j++)
        qv[j] = p0[j] + a * (p1[j] - p0[j]);
    return q;
}

/* Camera basis in world coordinates (x right, y up, z along the street). */
static void pose_basis(const pose *q, float R[3], float U[3], float F[3])
{
    float cy = cosf(q->yaw), sy = sinf(q->yaw), cp = cosf(q->pitch), sp = sinf(q->pitch);
    float cr = cosf(q->roll), sr = sinf(q->roll);
    float f0[3] = {sy, 0, cy}, r0[3] = {cy, 0, -sy}, u0[3] = {0, 1, 0};
    float u1[3], f1[3];
    for (int j = 0; j < 3; j++) {
        f1[j] = f0[j] * cp + u0[j] * sp;
        u1[j] = u0[j] * cp - f0[j] * sp;
    }
    for (int j = 0; j < 3; j++) {
        R[j] = r0[j] * cr - u1[j] * sr;
        U[j] = u1[j] * cr + r0[j] * sr;
        F[j] = f1[j];
    }
}

/* ---- the renderer ------------------------------------------------------------------ */

enum { HIT_SKY = 0, HIT_GROUND = 1, HIT_WALL_L = 2, HIT_WALL_R = 3, HIT_OBJ = 4 };

typedef struct {
    int w, h;
    float focal;         /* pixels */
    float *xc, *yc;      /* [w], [h] camera-plane coordinates */
    float *inorm;        /* [h * w] 1 / |direction| (rotation does not change it) */
    float *depth;        /* [h * w] */
    int16_t *hit;        /* [h * w] */
    uint8_t *face;       /* [h * w] object face axis */
    float *acc;          /* [h * w * 3] the frame being made */
    float *tmp;          /* [h * w * 3] motion blur scratch */
    uint8_t *rgb;        /* [h * w * 3] */
    int vis[OBJ_MAX];    /* objects near the camera this sub-frame */
    float voff[OBJ_MAX]; /* their z offset (period wrap) */
} renderer;

static void renderer_free(renderer *rd)
{
    free(rd->xc);
    free(rd->yc);
    free(rd->inorm);
    free(rd->depth);
    free(rd->hit);
    free(rd->face);
    free(rd->acc);
    free(rd->tmp);
    free(rd->rgb);
}

static vl_status renderer_init(renderer *rd, int w, int h, float hfov)
{
    memset(rd, 0, sizeof *rd);
    rd->w = w;
    rd->h = h;
    size_t np = (size_t)w * h;
    rd->xc = malloc(sizeof(float) * (size_t)w);
    rd->yc = malloc(sizeof(float) * (size_t)h);
    rd->inorm = malloc(sizeof(float) * np);
    rd->depth = malloc(sizeof(float) * np);
    rd->hit = malloc(sizeof(int16_t) * np);
    rd->face = malloc(np);
    rd->acc = malloc(sizeof(float) * np * 3);
    rd->tmp = malloc(sizeof(float) * np * 3);
    rd->rgb = malloc(np * 3);
    if (!rd->xc || !rd->yc || !rd->inorm || !rd->depth || !rd->hit || !rd->face || !rd->acc || !rd->tmp || !rd->rgb) {
        renderer_free(rd);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    rd->focal = 0.5f * (float)w / tanf(0.5f * hfov);
    for (int u = 0; u < w; u++)
        rd->xc[u] = ((float)u + 0.5f - 0.5f * (float)w) / rd->focal;
    for (int v = 0; v < h; v++)
        rd->yc[v] = -((float)v + 0.5f - 0.5f * (float)h) / rd->focal;
    for (int v = 0; v < h; v++)
        for (int u = 0; u < w; u++)
            rd->inorm[(size_t)v * w + u] = 1.0f / sqrtf(rd->xc[u] * rd->xc[u] + rd->yc[v] * rd->yc[v] + 1.0f);
    return VL_OK;
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* z in [0, PATH_LEN] */
static inline const building *building_at(const scene *s, int side, float z)
{
    int m = (int)z;
    m = m < 0 ? 0 : m > (int)PATH_LEN ? (int)PATH_LEN : m;
    int i = s->bidx[side][m];
    if (i + 1 < s->nb[side] && z >= s->b[side][i + 1].z0)
        i++;
    return &s->b[side][i];
}

static inline float wrapz(float z)
{
    float m = z - floorf(z * (1.0f / PATH_LEN)) * PATH_LEN;
    return m < 0.0f ? 0.0f : m;
}

/* Ground colour at (x, z); fp = footprint of the pixel in metres (fades detail). */
static void shade_ground(const scene *s, float x, float z, float fp, float *c)
{
    float ax = fabsf(x);
    float detail = clampf(1.0f - fp * 12.0f, 0.0f, 1.0f);
    if (ax > s->half_width - s->grass) { /* grass: blades as fine cell noise */
        int ix = (int)floorf(x * 40.0f), iz = (int)floorf(z * 25.0f);
        float n = hashf((uint32_t)ix, (uint32_t)iz, s->seed) - 0.5f;
        float m = hashf((uint32_t)(ix >> 3), (uint32_t)(iz >> 3), s->seed ^ 7u) - 0.5f;
        float g = 1.0f + 0.5f * n * detail + 0.25f * m * clampf(1.0f - fp * 2.0f, 0, 1);
        for (int j = 0; j < 3; j++)
            c[j] = s->grass_col[j] * g;
        return;
    }
    float tz = z / s->tile;
    int row = (int)floorf(tz);
    float tx = x / s->tile + ((row & 1) ? 0.5f : 0.0f);
    int col = (int)floorf(tx);
    float fx = tx - (float)col, fz = tz - (float)row;
    float lw = 0.06f;
    float edge = (fx < lw || fz < lw) ? 1.0f : 0.0f;
    float mortar = edge * clampf(1.0f - fp / (s->tile * 0.25f), 0.0f, 1.0f);
    float tv = (hashf((uint32_t)col, (uint32_t)row, s->seed) - 0.5f) * 0.22f;
    int gx = (int)floorf(x * 60.0f), gz = (int)floorf(z * 60.0f);
    float grain = (hashf((uint32_t)gx, (uint32_t)gz, s->seed ^ 3u) - 0.5f) * 0.25f * detail;
    float tile = 1.0f + tv * clampf(1.0f - fp / s->tile, 0.0f, 1.0f) + grain;
    for (int j = 0; j < 3; j++)
        c[j] = s->pave[j] * tile * (1.0f - mortar) + s->mortar[j] * mortar;
}

/* Facade colour at height y, position z along the street (wrapped), on one side. */
static void shade_wall(const scene *s, const building *b, float y, float z, float fp, float *c)
{
    if (y < 3.0f) { /* ground floor: bricks, a dark shop window every ~6 m */
        float sz = (z - b->z0) / 6.0f;
        int bay = (int)floorf(sz);
        float fz = sz - (float)bay;
        if (y > 0.6f && y < 2.5f && fz > 0.2f && fz < 0.75f && (hash3((uint32_t)bay, b->id, 5u) & 1u)) {
            float e = (fz < 0.23f || fz > 0.72f || y < 0.66f || y > 2.44f) ? 0.5f : 1.0f;
            float refl = 0.85f + 0.3f * (y - 0.6f) / 1.9f;
            c[0] = 40.0f * e * refl + 20.0f;
            c[1] = 48.0f * e * refl + 20.0f;
            c[2] = 58.0f * e * refl + 22.0f;
            return;
        }
        float by = y / 0.075f;
        int brow = (int)floorf(by);
        float bz = z / 0.24f + ((brow & 1) ? 0.5f : 0.0f);
        int bcol = (int)floorf(bz);
        float fy = by - (float)brow, fzz = bz - (float)bcol;
        float m = ((fy < 0.15f || fzz < 0.06f) ? 1.0f : 0.0f) * clampf(1.0f - fp / 0.02f, 0.0f, 1.0f);
        float v = 1.0f + (hashf((uint32_t)bcol, (uint32_t)brow, b->id) - 0.5f) * 0.3f *
                             clampf(1.0f - fp / 0.08f, 0.0f, 1.0f);
        for (int j = 0; j < 3; j++)
            c[j] = b->brick[j] * v * (1.0f - m) + 185.0f * m;
        return;
    }
    /* upper floors: plaster with a window grid (3 m bays, 3 m floors) and a cornice */
    float py = (y - 3.0f) / 3.0f, pz = (z - b->z0) / 3.0f;
    int fl = (int)floorf(py), bay = (int)floorf(pz);
    float fy = py - (float)fl, fz = pz - (float)bay;
    float ww = b->window_w / 3.0f;
    float noise = (hashf((uint32_t)(z * 20.0f), (uint32_t)(y * 20.0f), b->id) - 0.5f) * 0.08f *
                  clampf(1.0f - fp / 0.1f, 0.0f, 1.0f);
    if (y > b->height - 0.35f) {
        for (int j = 0; j < 3; j++)
            c[j] = b->plaster[j] * 0.78f;
        return;
    }
    if (fz > 0.5f - ww / 2 && fz < 0.5f + ww / 2 && fy > 0.25f && fy < 0.75f && pz < (b->z1 - b->z0) / 3.0f - 0.2f) {
        float frame = (fz < 0.5f - ww / 2 + 0.03f || fz > 0.5f + ww / 2 - 0.03f || fy < 0.28f || fy > 0.72f) ? 1.0f : 0.0f;
        float lit = hashf((uint32_t)bay, (uint32_t)fl, b->id) > 0.8f ? 1.6f : 1.0f;
        float sky = 0.7f + 0.5f * fy;
        c[0] = frame ? 225.0f : 45.0f * sky * lit;
        c[1] = frame ? 225.0f : 58.0f * sky * lit;
        c[2] = frame ? 220.0f : 75.0f * sky * lit;
        return;
    }
    for (int j = 0; j < 3; j++)
        c[j] = b->plaster[j] * (1.0f + noise);
}

static void shade_object(const scene *s, const object *o, int axis, const float *p, float fp, float *c)
{
    float v = 1.0f;
    if (o->kind == OBJ_CANOPY) {
        int a = (int)floorf(p[0] * 12.0f), b = (int)floorf(p[1] * 12.0f), d = (int)floorf(p[2] * 12.0f);
        float n = hashf((uint32_t)(a + d), (uint32_t)b, o->id) - 0.5f;
        float m = hashf((uint32_t)((a + d) >> 2), (uint32_t)(b >> 2), o->id ^ 9u) - 0.5f;
        v = 1.0f + 0.6f * n * clampf(1.0f - fp * 8.0f, 0, 1) + 0.4f * m;
    } else if (o->kind == OBJ_TRUNK) {
        v = 1.0f + (hashf((uint32_t)(p[1] * 30.0f), (uint32_t)axis, o->id) - 0.5f) * 0.4f;
    } else if (o->kind == OBJ_BENCH) {
        float fy = p[1] * 12.0f;
        v = (fy - floorf(fy) < 0.2f) ? 0.6f : 1.0f;
    } else {
        v = 1.0f + (hashf((uint32_t)(p[0] * 25.0f + p[2] * 25.0f), (uint32_t)(p[1] * 25.0f), o->id) - 0.5f) * 0.15f;
        if (o->kind == OBJ_BOX && p[1] > o->hi[1] - 0.06f)
            v *= 0.75f;
    }
    for (int j = 0; j < 3; j++)
        c[j] = o->col[j] * v;
}

/* Renders one sub-frame from pose q, adding weight * colour to rd->acc. */
static void render_pose(renderer *rd, const scene *s, const pose *q, float weight)
{
    const int w = rd->w, h = rd->h;
    float R[3], U[3], F[3];
    pose_basis(q, R, U, F);
    float cam[3] = {q->x, q->y, q->z};
    float hw = s->half_width;
    /* pass 1: ray directions, ground, facades, sky */
    for (int v = 0; v < h; v++) {
        float rowv[3] = {U[0] * rd->yc[v] + F[0], U[1] * rd->yc[v] + F[1], U[2] * rd->yc[v] + F[2]};
        float *dep = rd->depth + (size_t)v * w;
        int16_t *hit = rd->hit + (size_t)v * w;
        for (int u = 0; u < w; u++) {
            float dx = rowv[0] + rd->xc[u] * R[0], dy = rowv[1] + rd->xc[u] * R[1], dz = rowv[2] + rd->xc[u] * R[2];
            float t = 1e30f;
            int k = HIT_SKY;
            if (dy < 0.0f) {
                t = -cam[1] / dy;
                k = HIT_GROUND;
            }
            if (dx > 1e-6f || dx < -1e-6f) {
                float tw = ((dx > 0 ? hw : -hw) - cam[0]) / dx;
                if (tw < t) {
                    float y = cam[1] + tw * dy;
                    const building *b = building_at(s, dx > 0, wrapz(cam[2] + tw * dz));
                    if (y < b->height) {
                        t = tw;
                        k = dx > 0 ? HIT_WALL_R : HIT_WALL_L;
                    }
                }
            }
            dep[u] = t;
            hit[u] = (int16_t)k;
        }
    }
    /* pass 2: objects near the camera, each cast only over its projected bounding box */
    int nvis = 0;
    for (int i = 0; i < s->nobj; i++) {
        float dz = s->obj[i].lo[2] - wrapz(cam[2]);
        if (dz < -PATH_LEN / 2)
            dz += PATH_LEN;
        if (dz > PATH_LEN / 2)
            dz -= PATH_LEN;
        if (dz > -4.0f && dz < 70.0f) {
            rd->vis[nvis] = i;
            rd->voff[nvis++] = dz; /* lo z relative to the camera */
        }
    }
    for (int n = 0; n < nvis; n++) {
        const object *o = &s->obj[rd->vis[n]];
        float lo[3] = {o->lo[0] - cam[0], o->lo[1] - cam[1], rd->voff[n]};
        float hi[3] = {o->hi[0] - cam[0], o->hi[1] - cam[1], rd->voff[n] + (o->hi[2] - o->lo[2])};
        int u0 = 0, u1 = w - 1, v0 = 0, v1 = h - 1, behind = 0;
        float umin = 1e30f, umax = -1e30f, vmin = 1e30f, vmax = -1e30f;
        for (int cnr = 0; cnr < 8; cnr++) {
            float p[3] = {(cnr & 1) ? hi[0] : lo[0], (cnr & 2) ? hi[1] : lo[1], (cnr & 4) ? hi[2] : lo[2]};
            float zc = p[0] * F[0] + p[1] * F[1] + p[2] * F[2];
            if (zc < 0.05f) {
                behind++;
                continue;
            }
            float xu = (p[0] * R[0] + p[1] * R[1] + p[2] * R[2]) / zc * rd->focal + 0.5f * (float)w;
            float yv = -(p[0] * U[0] + p[1] * U[1] + p[2] * U[2]) / zc * rd->focal + 0.5f * (float)h;
            umin = fminf(umin, xu);
            umax = fmaxf(umax, xu);
            vmin = fminf(vmin, yv);
            vmax = fmaxf(vmax, yv);
        }
        if (behind == 8)
            continue; /* wholly behind the camera */
        if (!behind) {
            if (umax < 0 || vmax < 0 || umin > (float)w || vmin > (float)h)
                continue;
            u0 = (int)fmaxf(0.0f, floorf(umin) - 1);
            u1 = (int)fminf((float)(w - 1), ceilf(umax) + 1);
            v0 = (int)fmaxf(0.0f, floorf(vmin) - 1);
            v1 = (int)fminf((float)(h - 1), ceilf(vmax) + 1);
        }
        for (int v = v0; v <= v1; v++) {
            float rowv[3] = {U[0] * rd->yc[v] + F[0], U[1] * rd->yc[v] + F[1], U[2] * rd->yc[v] + F[2]};
            for (int u = u0; u <= u1; u++) {
                size_t pi = (size_t)v * w + u;
                float d[3] = {rowv[0] + rd->xc[u] * R[0], rowv[1] + rd->xc[u] * R[1], rowv[2] + rd->xc[u] * R[2]};
                float tn = 0.0f, tf = rd->depth[pi];
                int ax = 0;
                for (int j = 0; j < 3; j++) {
                    float inv = 1.0f / d[j];
                    float ta = lo[j] * inv, tb = hi[j] * inv;
                    if (ta > tb) {
                        float tmp = ta;
                        ta = tb;
                        tb = tmp;
                    }
                    if (ta > tn) {
                        tn = ta;
                        ax = j;
                    }
                    tf = tb < tf ? tb : tf;
                }
                if (tn < tf && tn > 0.0f) {
                    rd->depth[pi] = tn;
                    rd->hit[pi] = (int16_t)(HIT_OBJ + rd->vis[n]);
                    rd->face[pi] = (uint8_t)(ax * 2 + (d[ax] > 0));
                }
            }
        }
    }
    /* pass 3: shading, lighting, fog */
    float pix = 1.0f / rd->focal;
    float wall_light[2], obj_light[6];
    wall_light[0] = s->ambient + (1 - s->ambient) * fmaxf(0.0f, s->sun[0]);  /* left wall faces +x */
    wall_light[1] = s->ambient + (1 - s->ambient) * fmaxf(0.0f, -s->sun[0]); /* right wall faces -x */
    float ground_light = s->ambient + (1 - s->ambient) * s->sun[1];
    for (int j = 0; j < 3; j++) {
        obj_light[2 * j] = s->ambient + (1 - s->ambient) * fmaxf(0.0f, s->sun[j]);      /* ray +: face normal - */
        obj_light[2 * j + 1] = s->ambient + (1 - s->ambient) * fmaxf(0.0f, -s->sun[j]); /* ... */
    }
    for (int v = 0; v < h; v++) {
        float rowv[3] = {U[0] * rd->yc[v] + F[0], U[1] * rd->yc[v] + F[1], U[2] * rd->yc[v] + F[2]};
        for (int u = 0; u < w; u++) {
            size_t pi = (size_t)v * w + u;
            float d[3] = {rowv[0] + rd->xc[u] * R[0], rowv[1] + rd->xc[u] * R[1], rowv[2] + rd->xc[u] * R[2]};
            float t = rd->depth[pi];
            int k = rd->hit[pi];
            float c[3], light = 1.0f;
            float in = rd->inorm[pi];
            if (k == HIT_SKY) {
                float e = clampf(d[1] * in * 2.5f, 0.0f, 1.0f);
                for (int j = 0; j < 3; j++)
                    c[j] = s->sky_hor[j] + (s->sky_top[j] - s->sky_hor[j]) * e;
                float *a = rd->acc + 3 * pi;
                for (int j = 0; j < 3; j++)
                    a[j] += weight * c[j];
                continue;
            }
            float p[3] = {cam[0] + t * d[0], cam[1] + t * d[1], cam[2] + t * d[2]};
            float dist = t / in;
            if (k == HIT_GROUND) {
                float fp = dist * pix / fmaxf(fabsf(d[1]) * in, 0.05f);
                shade_ground(s, p[0], wrapz(p[2]), fp, c);
                light = ground_light;
            } else if (k == HIT_WALL_L || k == HIT_WALL_R) {
                int side = k == HIT_WALL_R;
                float fp = dist * pix / fmaxf(fabsf(d[0]) * in, 0.05f);
                float zw = wrapz(p[2]);
                shade_wall(s, building_at(s, side, zw), p[1], zw, fp, c);
                light = wall_light[side];
            } else {
                const object *o = &s->obj[k - HIT_OBJ];
                float pl[3] = {p[0], p[1], wrapz(p[2])};
                int f = rd->face[pi];
                shade_object(s, o, f >> 1, pl, dist * pix, c);
                light = obj_light[f];
            }
            float fx = dist * s->fog, fog = 1.0f - 1.0f / (1.0f + fx + 0.5f * fx * fx); /* ~ 1 - exp(-fx) */
            float *a = rd->acc + 3 * pi;
            for (int j = 0; j < 3; j++)
                a[j] += weight * (c[j] * light * (1.0f - fog) + s->sky_hor[j] * fog);
        }
    }
}

/* ---- one video ------------------------------------------------------------------------ */

/* Where the centre of view of pose a lands in pose b's image (pixels from the centre). */
static void image_shift(const pose *a, const pose *b, float focal, float *du, float *dv)
{
    float Ra[3], Ua[3], Fa[3], Rb[3], Ub[3], Fb[3];
    pose_basis(a, Ra, Ua, Fa);
    pose_basis(b, Rb, Ub, Fb);
    float p[3] = {a->x + 10.0f * Fa[0] - b->x, a->y + 10.0f * Fa[1] - b->y, a->z + 10.0f * Fa[2] - b->z};
    float zc = p[0] * Fb[0] + p[1] * Fb[1] + p[2] * Fb[2];
    if (zc < 0.1f) {
        *du = *dv = 0.0f;
        return;
    }
    *du = focal * (p[0] * Rb[0] + p[1] * Rb[1] + p[2] * Rb[2]) / zc;
    *dv = -focal * (p[0] * Ub[0] + p[1] * Ub[1] + p[2] * Ub[2]) / zc;
}

/* Averages rd->acc over n taps spread along (-du/2, -dv/2) .. (du/2, dv/2), clamped at the edges. */
static void motion_blur(renderer *rd, float du, float dv)
{
    float len = sqrtf(du * du + dv * dv);
    int n = (int)ceilf(len);
    if (n < 2)
        return;
    n = n > 12 ? 12 : n;
    const int w = rd->w, h = rd->h;
    int ox[12], oy[12];
    for (int i = 0; i < n; i++) {
        float f = ((float)i + 0.5f) / (float)n - 0.5f;
        ox[i] = (int)lroundf(f * du);
        oy[i] = (int)lroundf(f * dv);
    }
    float *out = rd->tmp;
    memset(out, 0, sizeof(float) * (size_t)w * h * 3);
    for (int i = 0; i < n; i++)
        for (int v = 0; v < h; v++) {
            int sv = v + oy[i];
            sv = sv < 0 ? 0 : sv >= h ? h - 1 : sv;
            const float *src = rd->acc + (size_t)sv * w * 3;
            float *dst = out + (size_t)v * w * 3;
            int u0 = ox[i] < 0 ? -ox[i] : 0, u1 = ox[i] > 0 ? w - ox[i] : w;
            for (int u = 0; u < u0 && u < w; u++)
                for (int j = 0; j < 3; j++)
                    dst[3 * u + j] += src[j];
            const float *sp = src + 3 * ox[i];
            for (int q = 3 * u0; q < 3 * u1; q++)
                dst[q] += sp[q];
            for (int u = u1 > u0 ? u1 : u0; u < w; u++)
                for (int j = 0; j < 3; j++)
                    dst[3 * u + j] += src[3 * (w - 1) + j];
        }
    float inv = 1.0f / (float)n;
    for (size_t q = 0; q < (size_t)w * h * 3; q++)
        rd->acc[q] = out[q] * inv;
}

static vl_status check_spec(const vl_demo_clip *c, vl_demo_segment *one, const vl_demo_segment **seg, int *nseg)
{
    if (!c || c->width < 16 || c->height < 16 || (c->width & 1) || (c->height & 1) || c->width > 8192 ||
        c->height > 8192)
        return vl_seterr(VL_ERR_ARG, "demo clip: size must be even, 16..8192 (got %dx%d)", c ? c->width : 0,
                         c ? c->height : 0);
    if (c->fps <= 0 || c->fps > 240)
        return vl_seterr(VL_ERR_ARG, "demo clip: fps must be 1..240 (got %d)", c->fps);
    if (!(c->duration > 0.0) || c->duration > 36000.0)
        return vl_seterr(VL_ERR_ARG, "demo clip: duration must be in (0, 36000] s");
    if (c->nsegments <= 0) {
        if ((int)c->activity < 0 || c->activity >= VL_DEMO_NACTIVITIES)
            return vl_seterr(VL_ERR_ARG, "demo clip: unknown activity %d", (int)c->activity);
        *one = (vl_demo_segment){0.0, c->duration, c->activity};
        *seg = one;
        *nseg = 1;
        return VL_OK;
    }
    if (!c->segments)
        return vl_seterr(VL_ERR_ARG, "demo clip: nsegments > 0 but no segments");
    for (int i = 0; i < c->nsegments; i++) {
        const vl_demo_segment *g = &c->segments[i];
        if ((int)g->activity < 0 || g->activity >= VL_DEMO_NACTIVITIES || !(g->end > g->start) ||
            fabs(g->start - (i ? c->segments[i - 1].end : 0.0)) > 1e-9)
            return vl_seterr(VL_ERR_ARG, "demo clip: segment %d is not a contiguous [start, end) with a known activity",
                             i);
    }
    if (c->segments[c->nsegments - 1].end < c->duration - 1e-9)
        return vl_seterr(VL_ERR_ARG, "demo clip: segments end at %.3f s, before the duration %.3f s",
                         c->segments[c->nsegments - 1].end, c->duration);
    *seg = c->segments;
    *nseg = c->nsegments;
    return VL_OK;
}

vl_status vl_demo_render_frames(const vl_demo_clip *spec, vl_demo_frame_sink sink, void *user)
{
    vl_demo_segment one;
    const vl_demo_segment *seg = NULL;
    int nseg = 0;
    vl_status st = check_spec(spec, &one, &seg, &nseg);
    if (st)
        return st;
    vl_rng r;
    vl_rng_seed(&r, spec->seed * 0x9E3779B97F4A7C15ULL + 0x5DEECE66DULL);
    scene *s = malloc(sizeof *s);
    if (!s)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    vl_rng rs;
    vl_rng_seed(&rs, (spec->scene ? spec->scene : spec->seed) * 0xD1B54A32D192ED03ULL + 0x2545F4914F6CDD1DULL);
    scene_build(s, &rs, &r);
    float hfov = (float)(urange(&r, 68, 74) * PI_D / 180);
    float shutter = (float)urange(&r, 0.45, 0.55);   /* fraction of the frame interval */
    float noise = (float)urange(&r, 2.5, 3.5);     /* sensor noise, grey levels (std-ish) */
    wobble flicker;
    wobble_draw(&flicker, &r, 0.05, 0.4, 0.10); /* clouds */
    pose *traj = NULL;
    int ntraj = 0;
    renderer rd;
    if ((st = trajectory(spec, seg, nseg, &r, &traj, &ntraj))) {
        free(s);
        return st;
    }
    if ((st = renderer_init(&rd, spec->width, spec->height, hfov))) {
        free(s);
        free(traj);
        return st;
    }
    uint32_t noise_seed = (uint32_t)vl_rng_next(&r);
    const int w = spec->width, h = spec->height;
    const size_t np = (size_t)w * h;
    int nframes = (int)ceil(spec->duration * spec->fps - 1e-9);
    float ae = 1.0f, awb[3] = {1.0f, 1.0f, 1.0f}, ae_rate = (float)(1.0 - exp(-1.0 / (0.6 * spec->fps)));
    for (int k = 0; k < nframes; k++) {
        double t = (double)k / spec->fps, exposure = shutter / spec->fps;
        /* motion blur: render the middle of the exposure, then average the image along
         * the path the centre of view travels during the exposure (rotation dominates a
         * head camera's blur; roll and forward-motion blur are left out) */
        pose a = pose_at(traj, ntraj, t - 0.5 * exposure), b = pose_at(traj, ntraj, t + 0.5 * exposure);
        pose q = pose_at(traj, ntraj, t);
        memset(rd.acc, 0, sizeof(float) * np * 3);
        render_pose(&rd, s, &q, 1.0f);
        float du, dv;
        image_shift(&a, &b, rd.focal, &du, &dv);
        motion_blur(&rd, du, dv);
        /* auto exposure and auto white balance: the camera's gains follow the
         * scene's mean level and (mostly) grey-world colour, with a lag */
        double mc[3] = {0, 0, 0};
        size_t cnt = 0;
        for (size_t i = 0; i < np; i += 5, cnt++)
            for (int j = 0; j < 3; j++)
                mc[j] += rd.acc[3 * i + j] * s->tint[j];
        float light = s->gain * (1.0f + wobble_at(&flicker, t));
        double mean = (mc[0] + mc[1] + mc[2]) / (3.0 * (double)cnt) * light;
        float want = clampf((float)(118.0 / (mean > 1.0 ? mean : 1.0)), 0.6f, 1.6f);
        ae = k == 0 ? want : ae + ae_rate * (want - ae);
        float gc[3];
        for (int j = 0; j < 3; j++) {
            float wb = clampf(powf((float)((mc[0] + mc[1] + mc[2]) / (3.0 * mc[j] + 1e-6)), 0.8f), 0.7f, 1.4f);
            awb[j] = k == 0 ? wb : awb[j] + ae_rate * (wb - awb[j]);
            gc[j] = ae * light * s->tint[j] * awb[j];
        }
        for (size_t i = 0; i < np; i++) {
            uint32_t hsh = hash3((uint32_t)i, (uint32_t)k, noise_seed);
            /* triangular noise from two 8-bit uniforms, shared across channels + a little chroma */
            float n = ((float)(hsh & 255u) + (float)((hsh >> 8) & 255u) - 255.0f) * (noise / 128.0f);
            float nc = ((float)((hsh >> 16) & 255u) - 127.5f) * (noise / 512.0f);
            for (int j = 0; j < 3; j++) {
                float val = rd.acc[3 * i + j] * gc[j] + n + (j == 1 ? -nc : nc);
                rd.rgb[3 * i + j] = (uint8_t)clampf(val + 0.5f, 0.0f, 255.0f);
            }
        }
        if (sink(user, k, t, rd.rgb))
            break;
    }
    renderer_free(&rd);
    free(traj);
    free(s);
    return VL_OK;
}

typedef struct {
    vl_video_writer *w;
    vl_status st;
} write_ctx;

static int write_frame(void *user, int k, double time, const uint8_t *rgb)
{
    write_ctx *c = user;
    c->st = vl_video_writer_add(c->w, rgb, time);
    return c->st != VL_OK;
}

vl_status vl_demo_render_clip(const char *path, const vl_demo_clip *spec)
{
    vl_demo_segment one;
    const vl_demo_segment *seg = NULL;
    int nseg = 0;
    vl_status st = check_spec(spec, &one, &seg, &nseg);
    if (st)
        return st;
    vl_writer_opts wo = {.codec = spec->codec ? spec->codec : "libx264", .width = spec->width,
                         .height = spec->height, .fps_num = spec->fps, .fps_den = 1, .quality = spec->quality,
                         .gop = 2 * spec->fps};
    write_ctx c = {0};
    if ((st = vl_video_writer_open(path, &wo, &c.w)))
        return st;
    st = vl_demo_render_frames(spec, write_frame, &c);
    if (!st)
        st = c.st;
    if (st) {
        vl_video_writer_abort(c.w);
        return st;
    }
    return vl_video_writer_close(c.w);
}

/* ---- the dataset ------------------------------------------------------------------------ */

typedef struct {
    char path[4096];
    char csv[4096];      /* long videos: the label file */
    vl_demo_clip spec;
    vl_demo_segment seg[64];
} demo_job;

typedef struct {
    demo_job *jobs;
    int njobs;
    atomic_int next;
    atomic_int failed;
    pthread_mutex_t lock;
    vl_status st;
    char msg[1024];
    int64_t frames;
} demo_pool;

static vl_status write_labels(const demo_job *j)
{
    vl_atomic a;
    vl_status st = vl_atomic_open(j->csv, &a);
    if (st)
        return st;
    fprintf(a.f, "start,end,label\n");
    for (int i = 0; i < j->spec.nsegments; i++) {
        const char *name = vl_demo_activity_name(j->seg[i].activity);
        /* the last stretch runs half a frame past the last frame's end: rounding-proof */
        double end = i == j->spec.nsegments - 1 ? j->seg[i].end + 0.5 / j->spec.fps : j->seg[i].end;
        fprintf(a.f, "%.6f,%.6f,%s\n", j->seg[i].start, end, name ? name : "?");
    }
    return vl_atomic_commit(&a);
}

static void *demo_worker(void *arg)
{
    demo_pool *p = arg;
    for (;;) {
        if (atomic_load(&p->failed))
            break;
        int i = atomic_fetch_add(&p->next, 1);
        if (i >= p->njobs)
            break;
        demo_job *j = &p->jobs[i];
        vl_status st = vl_demo_render_clip(j->path, &j->spec);
        if (!st && j->csv[0])
            st = write_labels(j);
        pthread_mutex_lock(&p->lock);
        if (st && !p->st) {
            p->st = st;
            snprintf(p->msg, sizeof p->msg, "%s", vl_errmsg());
            atomic_store(&p->failed, 1);
        }
        if (!st)
            p->frames += (int64_t)ceil(j->spec.duration * j->spec.fps - 1e-9);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

static vl_status make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return VL_OK;
    return vl_seterr(VL_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
}

const char *vl_demo_activity_name(vl_demo_activity a)
{
    static const char *const names[] = {"stand", "walk", "run"};
    return (int)a >= 0 && a < VL_DEMO_NACTIVITIES ? names[a] : NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vl_status vl_demo_make_dataset(const char *dir, const vl_demo_opts *opts, vl_demo_summary *summary)
{
    double t0 = now_s();
    vl_demo_opts o = opts ? *opts : (vl_demo_opts){0};
    if (!o.clips_per_class)
        o.clips_per_class = 40;
    if (o.clips_per_class < 0)
        o.clips_per_class = 0;
    if (!(o.clip_min > 0))
        o.clip_min = 3.0;
    if (!(o.clip_max > 0))
        o.clip_max = 6.0;
    if (!o.long_videos)
        o.long_videos = 12;
    if (o.long_videos < 0)
        o.long_videos = 0;
    if (!(o.long_min > 0))
        o.long_min = 20.0;
    if (!(o.long_max > 0))
        o.long_max = 40.0;
    if (!(o.seg_min > 0))
        o.seg_min = 3.0;
    if (!(o.seg_max > 0))
        o.seg_max = 8.0;
    if (!(o.scale > 0))
        o.scale = 1.0;
    if (!o.codec)
        o.codec = "libx264";
    if (o.scenes <= 0)
        o.scenes = 1;
    if (o.scenes > 64)
        o.scenes = 64;
    if (o.clip_max < o.clip_min || o.long_max < o.long_min || o.seg_max < o.seg_min || o.fps < 0 || o.scale > 8)
        return vl_seterr(VL_ERR_ARG, "demo dataset: invalid options (min > max, negative fps or scale > 8)");
    int threads = o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    int nclass = o.with_stand ? 3 : 2;
    int njobs = nclass * o.clips_per_class + o.long_videos;
    demo_job *jobs = calloc((size_t)(njobs ? njobs : 1), sizeof *jobs);
    if (!jobs)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    char sub[4096];
    vl_status st = make_dir(dir);
    snprintf(sub, sizeof sub, "%s/clips", dir);
    if (!st && o.clips_per_class)
        st = make_dir(sub);
    for (int c = 0; !st && o.clips_per_class && c < nclass; c++) {
        snprintf(sub, sizeof sub, "%s/clips/%s", dir, vl_demo_activity_name((vl_demo_activity)(c + !o.with_stand)));
        st = make_dir(sub);
    }
    snprintf(sub, sizeof sub, "%s/long", dir);
    if (!st && o.long_videos)
        st = make_dir(sub);
    if (st) {
        free(jobs);
        return st;
    }
    static const int sizes[3][2] = {{320, 240}, {384, 216}, {256, 192}};
    static const int rates[3] = {24, 25, 30};
    vl_rng r;
    vl_rng_seed(&r, o.seed ^ 0xD3E0C1A5B7F29E4DULL);
    uint64_t street[64];
    for (int i = 0; i < o.scenes; i++)
        street[i] = vl_rng_next(&r) | 1u; /* non-zero */
    int nclips = 0, nlong = 0;
    double secs = 0.0;
    for (int i = 0; i < njobs; i++) {
        demo_job *j = &jobs[i];
        int is_long = i >= nclass * o.clips_per_class;
        int sz = (int)vl_rng_below(&r, 3);
        j->spec.width = 2 * (int)lround((o.width ? o.width : sizes[sz][0]) * o.scale / 2);
        j->spec.height = 2 * (int)lround((o.height ? o.height : sizes[sz][1]) * o.scale / 2);
        if (j->spec.width < 16)
            j->spec.width = 16;
        if (j->spec.height < 16)
            j->spec.height = 16;
        j->spec.fps = o.fps ? o.fps : rates[vl_rng_below(&r, 3)];
        j->spec.codec = o.codec;
        j->spec.quality = o.quality ? o.quality : !strcmp(o.codec, "libx264") ? 23 : 0;
        j->spec.seed = vl_rng_next(&r);
        /* clip k of each class and long video k walk street k % scenes */
        int kk = is_long ? i - nclass * o.clips_per_class : i % o.clips_per_class;
        j->spec.scene = street[kk % o.scenes];
        if (!is_long) {
            int c = i / o.clips_per_class, k = i % o.clips_per_class;
            const char *name = vl_demo_activity_name((vl_demo_activity)(c + !o.with_stand));
            j->spec.activity = (vl_demo_activity)(c + !o.with_stand);
            j->spec.duration = urange(&r, o.clip_min, o.clip_max);
            snprintf(j->path, sizeof j->path, "%s/clips/%s/%s_%03d.mp4", dir, name, name, k);
            nclips++;
        } else {
            int k = i - nclass * o.clips_per_class;
            double len = urange(&r, o.long_min, o.long_max), t = 0.0;
            int n = 0, prev = -1;
            while (t < len - 1e-9 && n < 64) {
                double sl = urange(&r, o.seg_min, o.seg_max);
                if (len - (t + sl) < o.seg_min * 0.5 || n == 63)
                    sl = len - t; /* no sliver at the end */
                int a = (int)vl_rng_below(&r, prev < 0 ? 3 : 2);
                if (prev >= 0 && a >= prev)
                    a++; /* a different activity from the previous stretch */
                j->seg[n++] = (vl_demo_segment){t, t + sl, (vl_demo_activity)a};
                prev = a;
                t += sl;
            }
            /* boundaries on frame times, so the labels cover every frame exactly */
            int fps = j->spec.fps;
            len = ceil(len * fps - 1e-9) / fps;
            for (int q = 0; q < n; q++) {
                j->seg[q].start = q ? j->seg[q - 1].end : 0.0;
                j->seg[q].end = q == n - 1 ? len : round(j->seg[q].end * fps) / fps;
            }
            j->spec.duration = len;
            j->spec.segments = j->seg;
            j->spec.nsegments = n;
            snprintf(j->path, sizeof j->path, "%s/long/long_%02d.mp4", dir, k);
            snprintf(j->csv, sizeof j->csv, "%s/long/long_%02d.csv", dir, k);
            nlong++;
        }
        secs += j->spec.duration;
    }
    demo_pool p = {.jobs = jobs, .njobs = njobs};
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, 0);
    pthread_mutex_init(&p.lock, NULL);
    if (threads > njobs)
        threads = njobs > 0 ? njobs : 1;
    pthread_t tid[64];
    if (threads > 64)
        threads = 64;
    int started = 0;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[started], NULL, demo_worker, &p) == 0)
            started++;
    demo_worker(&p);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&p.lock);
    free(jobs);
    if (p.st)
        return vl_seterr(p.st, "%s", p.msg);
    if (summary)
        *summary = (vl_demo_summary){nclips, nlong, p.frames, secs, now_s() - t0};
    return VL_OK;
}
