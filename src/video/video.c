/* FFmpeg-based decoding and sampling (see video.h for the semantics).
 *
 * Pipeline: a producer thread demuxes, decodes (FFmpeg's own frame/slice
 * threads), selects frames by timestamp, converts the selected ones with
 * swscale straight from the decoder's pixel format to RGB at the target
 * scale, then rotates, crops and normalises through per-channel lookup
 * tables into one of two batch slots. The calling thread hands full slots to
 * the sink. Only selected frames are converted; memory is two slots plus
 * FFmpeg's decoder state. */
#include "video/video.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "core/mem.h"

void vl_preproc_imagenet(vl_preproc *p)
{
    *p = (vl_preproc){.width = 224, .height = 224, .resize = VL_RESIZE_SHORTER, .resize_to = 256, .bgr = 0,
                      .scale = 1.0f / 255.0f, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                      .nhwc = 0};
}

/* ---- profile (VL_PROFILE=1) ---- */

static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static int prof_on;
static pthread_mutex_t prof_mu = PTHREAD_MUTEX_INITIALIZER;
static vl_video_profile prof_total;

static void prof_init(void)
{
    const char *e = getenv("VL_PROFILE");
    prof_on = e && e[0] && strcmp(e, "0") != 0;
}

int vl_profile_enabled(void)
{
    pthread_once(&prof_once, prof_init);
    return prof_on;
}

static double prof_now(void)
{
    if (!prof_on)
        return 0.0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void prof_add(const vl_video_profile *p)
{
    if (!prof_on)
        return;
    pthread_mutex_lock(&prof_mu);
    prof_total.open += p->open;
    prof_total.read += p->read;
    prof_total.decode += p->decode;
    prof_total.convert += p->convert;
    prof_total.wait += p->wait;
    prof_total.decoded += p->decoded;
    prof_total.converted += p->converted;
    prof_total.skipped += p->skipped;
    pthread_mutex_unlock(&prof_mu);
}

void vl_video_profile_get(vl_video_profile *p)
{
    pthread_mutex_lock(&prof_mu);
    *p = prof_total;
    pthread_mutex_unlock(&prof_mu);
}

/* ---- opening ---------------------------------------------------------------- */

typedef struct {
    const char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    int si;
    double tb;       /* seconds per stream tick */
    int64_t t0;      /* stream start in ticks */
    vl_video_info info;
} vdec;

static vl_status av_fail(const char *path, const char *what, int err)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return vl_seterr(VL_ERR_FORMAT, "%s: %s: %s", path, what, buf);
}

static void vdec_close(vdec *v)
{
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
}

static int rotation_of(AVStream *st)
{
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!dm)
        return 0;
    /* av_display_rotation_get gives the counter-clockwise angle the matrix
     * applies; display needs the opposite, i.e. that many degrees clockwise. */
    double theta = -round(av_display_rotation_get((const int32_t *)dm));
    theta -= 360.0 * floor(theta / 360.0 + 0.9 / 360.0);
    int r = (int)lround(theta);
    return (r == 90 || r == 180 || r == 270) ? r : 0;
}

static double net_timeout = 30.0;

void vl_video_set_timeout(double seconds)
{
    net_timeout = seconds > 0 && seconds <= 1e6 ? seconds : 30.0;
}

double vl_video_timeout(void)
{
    return net_timeout;
}

/* "pipe:N" reads file descriptor N (FFmpeg's pipe protocol); "pipe:" alone
 * or with junk after it is not one. */
static int is_pipe_url(const char *p)
{
    if (strncmp(p, "pipe:", 5))
        return 0;
    const char *d = p + 5;
    if (!*d)
        return 0;
    for (; *d; d++)
        if (*d < '0' || *d > '9')
            return 0;
    return 1;
}

/* MP4/MOV on an input that cannot seek back: when the index (moov) comes
 * after the data (mdat), the demuxer reads to the end for the index and then
 * cannot return to the frames, which FFmpeg reports only as "invalid data". */
static int mov_needs_seek(const vdec *v)
{
    return v->fmt && v->fmt->iformat && strstr(v->fmt->iformat->name, "mp4") && v->fmt->pb &&
           !(v->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL);
}

static vl_status mov_on_pipe_fail(const char *path)
{
    return vl_seterr(VL_ERR_FORMAT, "%s: MP4 with its index at the end cannot be read from a pipe; remux with "
                                    "-movflags +faststart or pass a file", path);
}

static vl_status vdec_open(vdec *v, const char *path, int threads)
{
    memset(v, 0, sizeof *v);
    v->path = path;
    const char *url = path;
    const int net = strstr(path, "://") != NULL && strncmp(path, "file:", 5);
    if (!strcmp(path, "-"))
        url = "pipe:0";
    else if (is_pipe_url(path))
        url = path;
    else if (!strstr(path, "://")) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            return vl_seterr(VL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        if (S_ISDIR(sb.st_mode))
            return vl_seterr(VL_ERR_IO, "%s: is a directory, not a video file", path);
        /* FIFOs and devices report size 0 but stream data; only a regular
         * file can be known empty */
        if (S_ISREG(sb.st_mode) && sb.st_size == 0)
            return vl_seterr(VL_ERR_FORMAT, "%s: empty file (0 bytes)", path);
        if (S_ISREG(sb.st_mode)) { /* opening a FIFO here would consume its writer */
            FILE *f = fopen(path, "rb");
            if (!f)
                return vl_seterr(VL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            fclose(f);
        }
    }
    av_log_set_level(AV_LOG_QUIET); /* the library never prints */
    AVDictionary *opt = NULL;
    if (net) {
        /* A server that accepts and never answers would block forever:
         * rw_timeout bounds every read, "timeout" the connect (microseconds). */
        char us[32];
        snprintf(us, sizeof us, "%lld", (long long)(net_timeout * 1e6));
        av_dict_set(&opt, "rw_timeout", us, 0);
        /* FFmpeg < 5's RTSP took "timeout" as a listen timeout (server mode) */
        if (LIBAVFORMAT_VERSION_MAJOR >= 59 || strncmp(path, "rtsp", 4))
            av_dict_set(&opt, "timeout", us, 0);
    }
    int err = avformat_open_input(&v->fmt, url, NULL, &opt);
    av_dict_free(&opt);
    if (err < 0) {
        v->fmt = NULL;
        if (net && err == AVERROR(ETIMEDOUT))
            return vl_seterr(VL_ERR_IO, "%s: timed out after %g s without data (--timeout)", path, net_timeout);
        return av_fail(path, "not a readable video (unknown or corrupt container)", err);
    }
    if ((err = avformat_find_stream_info(v->fmt, NULL)) < 0) {
        int mov = mov_needs_seek(v);
        vdec_close(v);
        if (net && err == AVERROR(ETIMEDOUT))
            return vl_seterr(VL_ERR_IO, "%s: timed out after %g s without data (--timeout)", path, net_timeout);
        if (mov)
            return mov_on_pipe_fail(path);
        return av_fail(path, "cannot read stream information", err);
    }
    const AVCodec *codec = NULL;
    v->si = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (v->si < 0) {
        vdec_close(v);
        if (v->si == AVERROR_DECODER_NOT_FOUND)
            return vl_seterr(VL_ERR_UNSUPPORTED, "%s: no decoder for its video codec", path);
        return vl_seterr(VL_ERR_FORMAT, "%s: no video stream (audio-only or not a video file)", path);
    }
    v->st = v->fmt->streams[v->si];
    AVCodecParameters *par = v->st->codecpar;
    if (par->width <= 0 || par->height <= 0) {
        vdec_close(v);
        return vl_seterr(VL_ERR_FORMAT, "%s: video stream has no frame size (corrupt header?)", path);
    }
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec) {
        vdec_close(v);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory for the decoder", path);
    }
    avcodec_parameters_to_context(v->dec, par);
    v->dec->thread_count = threads > 0 ? threads : 0;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    if ((err = avcodec_open2(v->dec, codec, NULL)) < 0) {
        vdec_close(v);
        return av_fail(path, "cannot open the video decoder", err);
    }
    v->tb = av_q2d(v->st->time_base);
    v->t0 = v->st->start_time != AV_NOPTS_VALUE ? v->st->start_time : 0;

    vl_video_info *in = &v->info;
    in->width = par->width;
    in->height = par->height;
    in->rotation = rotation_of(v->st);
    int swap = in->rotation == 90 || in->rotation == 270;
    in->display_width = swap ? par->height : par->width;
    in->display_height = swap ? par->width : par->height;
    AVRational fr = v->st->avg_frame_rate.num ? v->st->avg_frame_rate : v->st->r_frame_rate;
    in->fps = fr.num && fr.den ? av_q2d(fr) : 0.0;
    if (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0)
        in->duration = (double)v->st->duration * v->tb;
    else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0)
        in->duration = (double)v->fmt->duration / AV_TIME_BASE;
    in->frames = v->st->nb_frames > 0 ? v->st->nb_frames : (int64_t)llround(in->duration * in->fps);
    snprintf(in->codec, sizeof in->codec, "%s", codec->name);
    snprintf(in->container, sizeof in->container, "%s", v->fmt->iformat->name);
    return VL_OK;
}

vl_status vl_video_probe(const char *path, vl_video_info *info)
{
    vdec v;
    vl_status st = vdec_open(&v, path, 1);
    if (st)
        return st;
    *info = v.info;
    vdec_close(&v);
    return VL_OK;
}

/* ---- conversion ---------------------------------------------------------------- */

typedef struct {
    const vl_preproc *pre;
    int rot;
    int sw, sh;          /* scaled size in coded orientation */
    int dw, dh;          /* scaled size in display orientation */
    int ox, oy;          /* crop offset in display orientation */
    struct SwsContext *sws;
    uint8_t *rgb;        /* [sh, sw, 3] */
    int rgb_stride;
    float lut[3][256];   /* output channel c from an 8-bit value */
    int src_chan[3];     /* output channel c reads RGB channel src_chan[c] */
} converter;

static vl_status conv_init(converter *c, const vl_preproc *pre, const vl_video_info *in, const char *path)
{
    memset(c, 0, sizeof *c);
    c->pre = pre;
    c->rot = in->rotation;
    int W = pre->width, H = pre->height;
    if (W <= 0 || H <= 0 || W > 8192 || H > 8192)
        return vl_seterr(VL_ERR_ARG, "output size %dx%d out of range", W, H);
    if (pre->resize == VL_RESIZE_EXACT) {
        c->dw = W;
        c->dh = H;
    } else {
        int target = pre->resize_to > 0 ? pre->resize_to : (W > H ? W : H);
        double s = (double)target / (in->display_width < in->display_height ? in->display_width : in->display_height);
        c->dw = (int)lround(in->display_width * s);
        c->dh = (int)lround(in->display_height * s);
        if (c->dw < W) c->dw = W;
        if (c->dh < H) c->dh = H;
    }
    c->ox = (c->dw - W) / 2;
    c->oy = (c->dh - H) / 2;
    int swap = c->rot == 90 || c->rot == 270;
    c->sw = swap ? c->dh : c->dw;
    c->sh = swap ? c->dw : c->dh;
    c->rgb_stride = (c->sw * (pre->grey ? 1 : 3) + 63) & ~63;
    c->rgb = vl_alloc((size_t)c->rgb_stride * c->sh);
    if (!c->rgb)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory for frame conversion", path);
    for (int ch = 0; ch < 3; ch++) {
        float sd = pre->std[ch] != 0.0f ? pre->std[ch] : 1.0f;
        for (int v = 0; v < 256; v++)
            c->lut[ch][v] = ((float)v * pre->scale - pre->mean[ch]) / sd;
        c->src_chan[ch] = pre->bgr ? 2 - ch : ch;
    }
    return VL_OK;
}

static void conv_free(converter *c)
{
    sws_freeContext(c->sws);
    vl_free(c->rgb);
}

/* Pixel formats whose luma is full range (JPEG) although not tagged so. */
static int full_range(const AVFrame *f)
{
    return f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P || f->format == AV_PIX_FMT_YUVJ422P ||
           f->format == AV_PIX_FMT_YUVJ444P || f->format == AV_PIX_FMT_YUVJ440P || f->format == AV_PIX_FMT_YUVJ411P;
}

static vl_status conv_frame(converter *c, const AVFrame *f, float *out, const char *path)
{
    const int grey = c->pre->grey;
    struct SwsContext *prev = c->sws;
    c->sws = sws_getCachedContext(c->sws, f->width, f->height, f->format, c->sw, c->sh,
                                  grey ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!c->sws)
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: cannot convert pixel format %d", path, f->format);
    if (grey && c->sws != prev) {
        /* luma to full range, as the RGB path gives: limited-range video (16..235) is stretched */
        int *inv, *tab, sr, dr, br, ct, sat;
        if (sws_getColorspaceDetails(c->sws, &inv, &sr, &tab, &dr, &br, &ct, &sat) >= 0)
            sws_setColorspaceDetails(c->sws, inv, full_range(f), tab, 1, br, ct, sat);
    }
    uint8_t *dst[4] = {c->rgb, NULL, NULL, NULL};
    int dstride[4] = {c->rgb_stride, 0, 0, 0};
    sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dstride);

    const int W = c->pre->width, H = c->pre->height;
    const size_t plane = (size_t)W * H;
    const int bpp = grey ? 1 : 3;
    for (int y = 0; y < H; y++) {
        int Y = y + c->oy;
        if (grey && c->rot == 0) { /* the common case: a plain row copy through the table */
            const uint8_t *px = c->rgb + (size_t)Y * c->rgb_stride + c->ox;
            float *o = out + (size_t)y * W;
            for (int x = 0; x < W; x++)
                o[x] = c->lut[0][px[x]];
            continue;
        }
        if (!grey && c->rot == 0 && !c->pre->nhwc) { /* the CNN case: three planes, no rotation */
            const uint8_t *px = c->rgb + (size_t)Y * c->rgb_stride + (size_t)c->ox * 3;
            float *o0 = out + (size_t)y * W, *o1 = o0 + plane, *o2 = o1 + plane;
            const float *l0 = c->lut[0], *l1 = c->lut[1], *l2 = c->lut[2];
            const int s0 = c->src_chan[0], s1 = c->src_chan[1], s2 = c->src_chan[2];
            for (int x = 0; x < W; x++, px += 3) {
                o0[x] = l0[px[s0]];
                o1[x] = l1[px[s1]];
                o2[x] = l2[px[s2]];
            }
            continue;
        }
        for (int x = 0; x < W; x++) {
            int X = x + c->ox, cx, cy;
            switch (c->rot) {
            case 90: cx = Y; cy = c->sh - 1 - X; break;
            case 180: cx = c->sw - 1 - X; cy = c->sh - 1 - Y; break;
            case 270: cx = c->sw - 1 - Y; cy = X; break;
            default: cx = X; cy = Y; break;
            }
            const uint8_t *px = c->rgb + (size_t)cy * c->rgb_stride + (size_t)cx * bpp;
            if (grey) {
                out[(size_t)y * W + x] = c->lut[0][px[0]];
            } else if (c->pre->nhwc) {
                float *o = out + ((size_t)y * W + x) * 3;
                o[0] = c->lut[0][px[c->src_chan[0]]];
                o[1] = c->lut[1][px[c->src_chan[1]]];
                o[2] = c->lut[2][px[c->src_chan[2]]];
            } else {
                size_t i = (size_t)y * W + x;
                out[i] = c->lut[0][px[c->src_chan[0]]];
                out[plane + i] = c->lut[1][px[c->src_chan[1]]];
                out[2 * plane + i] = c->lut[2][px[c->src_chan[2]]];
            }
        }
    }
    return VL_OK;
}

/* ---- the producer/consumer pipeline ------------------------------------------------ */

typedef struct {
    float *pixels[VL_MAX_PLANES];
    double *time, *pts;
    int64_t *index;
    int *steps;
    int n;
    int nsteps; /* sum of steps[] */
    int full;
} slot;

typedef struct {
    vdec v;
    int nplanes;
    converter conv[VL_MAX_PLANES];
    int sampled_only[VL_MAX_PLANES]; /* plane not converted for frames of 0 steps */
    int skipped[VL_MAX_PLANES];      /* ... and the last frame was one */
    vl_sample_opts o;
    int64_t fsize[VL_MAX_PLANES]; /* floats per frame */
    slot s[2];
    int fill; /* slot the producer writes */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;      /* consumer asks the producer to stop */
    int done;      /* producer finished (after its last slot) */
    vl_status err; /* producer's error */
    char errmsg[1024];
    int64_t nsampled;
    vl_video_profile prof; /* VL_PROFILE: this stream's times */
} pipeline;

static void producer_fail(pipeline *P, vl_status st)
{
    P->err = st;
    snprintf(P->errmsg, sizeof P->errmsg, "%s", vl_errmsg());
}

/* Hands the current slot to the consumer and waits for the other one to be free.
 * Returns non-zero when the consumer asked to stop. */
static int publish(pipeline *P)
{
    pthread_mutex_lock(&P->mu);
    P->s[P->fill].full = 1;
    pthread_cond_broadcast(&P->cv);
    P->fill ^= 1;
    double t0 = prof_now();
    while (P->s[P->fill].full && !P->stop)
        pthread_cond_wait(&P->cv, &P->mu);
    P->prof.wait += prof_now() - t0;
    int stop = P->stop;
    pthread_mutex_unlock(&P->mu);
    P->s[P->fill].n = 0;
    P->s[P->fill].nsteps = 0;
    return stop;
}

/* Converts `f` (or copies the previous output when it is the same frame) into
 * the current slot, standing for `steps` sampled steps (all_frames mode; else
 * 1). Returns <0 on error, 1 to stop, 0 to go on. */
static int emit(pipeline *P, const AVFrame *f, double t, double pts, int64_t idx, int64_t serial, int steps,
                int64_t *last_conv_serial, const float **last_conv)
{
    slot *s = &P->s[P->fill];
    if (!f) { /* a skipped frame (no pixels) was selected: never deliver a wrong frame */
        producer_fail(P, vl_seterr(VL_ERR_FORMAT, "%s: a frame skipped as unsampled was sampled (irregular timestamps "
                                                  "or frame order?); decode every frame with VL_DECODE_ALL=1",
                                   P->v.path));
        return -1;
    }
    /* same decoded frame again (rate above the source's): copy, from the
     * frame *last_conv points at in plane 0, each plane's same position */
    int again = *last_conv && *last_conv_serial == serial;
    size_t from = again ? (size_t)(*last_conv - s->pixels[0]) / (size_t)P->fsize[0] : 0;
    for (int k = 0; k < P->nplanes; k++) {
        float *dst = s->pixels[k] + (size_t)s->n * P->fsize[k];
        if (P->sampled_only[k] && steps == 0) {
            P->skipped[k] = 1;
            continue;
        }
        if (again && !P->skipped[k]) {
            memcpy(dst, s->pixels[k] + from * P->fsize[k], sizeof(float) * (size_t)P->fsize[k]);
        } else {
            double t0 = prof_now();
            vl_status st = conv_frame(&P->conv[k], f, dst, P->v.path);
            P->prof.convert += prof_now() - t0;
            P->prof.converted++;
            if (st) {
                producer_fail(P, st);
                return -1;
            }
        }
        P->skipped[k] = 0;
    }
    *last_conv = s->pixels[0] + (size_t)s->n * P->fsize[0];
    *last_conv_serial = serial;
    s->time[s->n] = t;
    s->pts[s->n] = pts;
    s->index[s->n] = idx;
    s->steps[s->n] = steps;
    s->n++;
    s->nsteps += steps;
    P->nsampled += steps;
    if (P->o.max_frames > 0 && P->nsampled >= P->o.max_frames)
        return 1;
    if (s->n == P->o.batch) {
        *last_conv = NULL; /* the copy source moves to the other slot */
        return publish(P) ? 1 : 0;
    }
    return 0;
}

/* Times closer than this are equal: stream ticks are rationals, targets
 * start + k / fps are not, and their doubles differ in the last bits. */
#define TEPS 1e-6

/* Rate sampling: emits `prev` (the frame on screen) for every target time
 * still before `limit`, advancing *next_t and *k: once per target, or in
 * all-frames mode once with the count of targets (0 too, between sampled
 * frames, once sampling has begun). Returns emit's result. */
static int emit_targets(pipeline *P, double limit, double *next_t, int64_t *k, const AVFrame *prev, double prev_pts,
                        int64_t prev_idx, int64_t prev_serial, int64_t *last_conv_serial, const float **last_conv)
{
    const vl_sample_opts *o = &P->o;
    if (o->all_frames) {
        double t_first = *next_t;
        int n = 0;
        while (*next_t < limit - TEPS && (o->max_frames <= 0 || P->nsampled + n < o->max_frames)) {
            n++;
            ++*k;
            *next_t = o->start + (double)*k / o->fps;
        }
        if (n == 0 && P->nsampled == 0)
            return 0;
        return emit(P, prev, n ? t_first : prev_pts, prev_pts, prev_idx, prev_serial, n, last_conv_serial, last_conv);
    }
    int stop = 0;
    while (*next_t < limit - TEPS && !stop) {
        stop = emit(P, prev, *next_t, prev_pts, prev_idx, prev_serial, 1, last_conv_serial, last_conv);
        ++*k;
        *next_t = o->start + (double)*k / o->fps;
    }
    return stop;
}

/* ---- skipping frames nobody samples ------------------------------------------------ *
 *
 * Sampling a few frames a second out of 25-30, exact decoding of every frame
 * costs as much as the CNN. A frame no sampled time needs and that no other
 * frame references need not be decoded, and skipping it changes no other
 * frame's pixels:
 * - H.264: the packet goes to the decoder with skip_frame = AVDISCARD_NONREF,
 *   so the decoder drops it when it is a non-reference frame (nal_ref_idc 0)
 *   and decodes it as usual when it is a reference one (FFmpeg copies
 *   skip_frame per packet also into its frame threads);
 * - HEVC with a single temporal sub-layer (hevc_one_sublayer): the same,
 *   the decoder dropping sub-layer non-reference pictures;
 * - intra-only codecs (MJPEG, ...): the packet is not sent at all.
 * Other codecs (VP8/VP9 with invisible frames, MPEG-4, AV1, ...) skip
 * nothing, nor does all_frames mode, nor VL_DECODE_ALL=1.
 *
 * Whether a packet's frame is needed follows from its presentation interval
 * [pts, next pts): packets wait in a short look-ahead queue (deeper than the
 * reorder depth), and the next pts is the smallest larger one seen so far; a
 * packet seen later can only shorten the interval, so the test errs towards
 * decoding. A skipped frame still counts: the producer handles a placeholder
 * with the packet's timestamp exactly where the decoder would have returned
 * the frame (before the first returned frame with a larger timestamp, or at
 * the end), through the same code as decoded frames (frame counter, index,
 * frame duration, clip end), and a placeholder that a sampled time selects
 * is an error, never a silent wrong frame. Skipping starts after the first
 * decoded frame, never for frames presented before it (leading pictures the
 * decoder may drop), and stops for good at the first sign that decoder
 * output and packets do not pair one to one in timestamp order (no pts,
 * repeated pts, a frame with an unknown timestamp, a packet without a frame).
 * Packets marked AV_PKT_FLAG_DISCARD (before an MP4 edit list's start: the
 * decoder decodes them and drops their frames) are no frames here either. */

enum { SKIP_HIST = 64, SKIP_LA_MAX = 24, SKIP_OUT_MAX = 4096 };

typedef struct {
    int64_t ts;
    int cand; /* sent with AVDISCARD_NONREF, or not sent (intra-only) */
} outent;

typedef struct {
    int mode;  /* 0: skip nothing; 1: AVDISCARD_NONREF; 2: intra-only, do not send */
    int on;    /* no anomaly seen */
    int depth; /* look-ahead packets */
    AVPacket *q[SKIP_LA_MAX];
    int qh, qn;
    int64_t hist[SKIP_HIST]; /* pts of the last packets that left the queue */
    int hn, hpos;
    int64_t min_ts;          /* smallest pts seen (INT64_MAX: none) */
    int64_t nseen_from;      /* every-k: packets seen with pts >= start */
    outent out[SKIP_OUT_MAX];/* packets whose frame has not come back yet, by pts */
    int nout;
    int64_t nreal, first_real_ts;
} skipper;

/* Environment VL_DECODE_ALL=1: decode every frame (the reference the tests compare with). */
static int decode_all_env(void)
{
    const char *e = getenv("VL_DECODE_ALL");
    return e && e[0] && strcmp(e, "0") != 0;
}

/* HEVC: a sub-layer non-reference picture (TRAIL_N, RASL_N, ...: what
 * AVDISCARD_NONREF drops) can still be a reference of a higher temporal
 * sub-layer; with a single sub-layer it is nobody's. The count is in the
 * hvcC record (MP4/MKV: numTemporalLayers, 0 = unknown); Annex B extradata
 * (MPEG-TS, raw) does not say it: skip nothing there. */
static int hevc_one_sublayer(const AVCodecParameters *par)
{
    const uint8_t *x = par->extradata;
    return x && par->extradata_size >= 23 && x[0] == 1 && ((x[21] >> 3) & 7) == 1;
}

/* H.264 must be progressive: the two fields of a frame may come in two
 * packets (two skipped packets, one missing frame). HEVC codes each field as
 * a picture of its own, returned as a frame of its own. */
static void skip_init(skipper *S, const vdec *v, const vl_sample_opts *o)
{
    memset(S, 0, sizeof *S);
    S->min_ts = INT64_MAX;
    const AVCodecDescriptor *d = avcodec_descriptor_get(v->dec->codec_id);
    const AVCodecParameters *par = v->st->codecpar;
    if (o->all_frames || decode_all_env() || (o->fps <= 0 && o->every_k <= 1))
        S->mode = 0;
    else if (d && (d->props & AV_CODEC_PROP_INTRA_ONLY))
        S->mode = 2;
    else if (v->dec->codec_id == AV_CODEC_ID_H264 && !strcmp(v->dec->codec->name, "h264") &&
             par->field_order == AV_FIELD_PROGRESSIVE)
        S->mode = 1;
    else if (v->dec->codec_id == AV_CODEC_ID_HEVC && !strcmp(v->dec->codec->name, "hevc") && hevc_one_sublayer(par))
        S->mode = 1;
    S->on = S->mode != 0;
    if (S->on) {
        int delay = v->dec->has_b_frames > par->video_delay ? v->dec->has_b_frames : par->video_delay;
        S->depth = delay + 4 < SKIP_LA_MAX ? delay + 4 : SKIP_LA_MAX;
    }
}

static void skip_free(skipper *S)
{
    while (S->qn > 0) {
        av_packet_free(&S->q[S->qh]);
        S->qh = (S->qh + 1) % SKIP_LA_MAX;
        S->qn--;
    }
}

/* Slack around the producer's own comparisons (TEPS), seconds: placeholders
 * carry the very doubles a decoded frame would, and targets are computed by
 * the same expression, so this only absorbs last-bit differences; it keeps a
 * sample time exactly on a frame's pts out of the previous frame's interval. */
#define SKIP_MARGIN 1e-9

/* Is the frame of `pkt` (look-ahead queue head, pts known) needed by the sampling? */
static int skip_needed(const skipper *S, const vdec *v, const vl_sample_opts *o, const AVPacket *pkt)
{
    const int64_t ts = pkt->pts;
    int64_t next = INT64_MAX;
    int64_t nge = 0; /* other seen packets with pts >= ts and >= start */
    const double p = (double)(ts - v->t0) * v->tb;
    const double tstart = o->start - TEPS;
    for (int i = 0; i < S->hn + S->qn; i++) {
        const AVPacket *qp = i < S->hn ? NULL : S->q[(S->qh + i - S->hn) % SKIP_LA_MAX];
        if (qp && (qp->flags & AV_PKT_FLAG_DISCARD))
            continue; /* no frame */
        int64_t t = qp ? qp->pts : S->hist[i];
        if (t > ts && t < next)
            next = t;
        if (t >= ts && (double)(t - v->t0) * v->tb >= tstart)
            nge++;
    }
    if (o->fps > 0) {
        /* the producer hands this frame the targets in [p - TEPS, next - TEPS), and below end - TEPS */
        const double lo = S->min_ts < ts ? p - TEPS - SKIP_MARGIN : -INFINITY;
        const double hi = next != INT64_MAX ? (double)(next - v->t0) * v->tb - TEPS + SKIP_MARGIN : INFINITY;
        const double end = o->end > 0 ? o->end - TEPS + SKIP_MARGIN : INFINITY;
        int64_t k = 0;
        if (lo > o->start) {
            k = (int64_t)floor((lo - o->start) * o->fps) - 1;
            if (k < 0)
                k = 0;
        }
        double t = o->start + (double)k / o->fps;
        while (t < lo) {
            k++;
            t = o->start + (double)k / o->fps;
        }
        return t < hi && t < end;
    }
    /* every k-th frame: the producer's own tests on the same doubles */
    if (!(p >= tstart))
        return 0;
    if (o->end > 0 && !(p < o->end - TEPS))
        return 0;
    int64_t rank = S->nseen_from - 1 - nge; /* frames from start presented before this one */
    return rank % o->every_k == 0;
}

/* A packet leaves the look-ahead: returns 1 when it is a candidate for skipping. */
static int skip_decide(skipper *S, const vdec *v, const vl_sample_opts *o, const AVPacket *pkt)
{
    if (pkt->flags & AV_PKT_FLAG_DISCARD) /* decoded for reference only, its frame dropped (MP4 edit lists) */
        return 0;
    int cand = S->on && S->nreal > 0 && pkt->pts != AV_NOPTS_VALUE && pkt->pts > S->first_real_ts &&
               !skip_needed(S, v, o, pkt);
    /* remember it among the packets whose frame is to come */
    if (pkt->pts == AV_NOPTS_VALUE) {
        S->on = 0;
        return 0;
    }
    if (S->nout == SKIP_OUT_MAX) { /* the decoder returns nothing: stop pairing */
        S->on = 0;
        return 0;
    }
    int i = S->nout;
    while (i > 0 && S->out[i - 1].ts >= pkt->pts) {
        if (S->out[i - 1].ts == pkt->pts)
            S->on = 0, cand = 0; /* repeated pts: pairing ambiguous */
        S->out[i] = S->out[i - 1];
        i--;
    }
    S->out[i] = (outent){pkt->pts, cand};
    S->nout++;
    S->hist[S->hpos] = pkt->pts;
    S->hpos = (S->hpos + 1) % SKIP_HIST;
    if (S->hn < SKIP_HIST)
        S->hn++;
    return cand;
}

/* Producer state: what the frame handling carries from frame to frame. */
typedef struct {
    double fdur;
    int64_t counter; /* frames handled (decoded or skipped), for index when no seek happened */
    int seeked, full_index;
    double end, next_t;
    int64_t k;
    int have_prev, prev_skipped; /* prev_skipped: `prev` stands for a skipped frame (no pixels) */
    double prev_pts, last_pts;
    int64_t prev_idx, prev_serial, last_conv_idx;
    const float *last_conv;
    AVFrame *prev;
} prodstate;

/* One frame in presentation order, decoded (`frame`, consumed) or skipped
 * (NULL: timestamp `ts` only). Returns <0 on error, 1 to stop, 0 to go on. */
static int handle_frame(pipeline *P, prodstate *F, AVFrame *frame, int64_t ts)
{
    vdec *v = &P->v;
    const vl_sample_opts *o = &P->o;
    double pts = ts != AV_NOPTS_VALUE ? (double)(ts - v->t0) * v->tb : F->last_pts + F->fdur;
    if (pts <= F->last_pts) /* broken or repeated timestamps: keep time moving */
        pts = F->last_pts + F->fdur * 1e-3;
    if (F->last_pts > -INFINITY && pts - F->last_pts > 0 && pts - F->last_pts < 10.0)
        F->fdur = pts - F->last_pts; /* duration of the frame on screen before this one */
    F->last_pts = pts;
    int64_t idx = F->counter;
    if (F->seeked) {
        int e = F->full_index && ts != AV_NOPTS_VALUE
                    ? av_index_search_timestamp(v->st, ts, AVSEEK_FLAG_ANY | AVSEEK_FLAG_BACKWARD)
                    : -1;
        idx = e >= 0 ? e : llround(pts * v->info.fps);
    }
    F->counter++;
    int stop = 0;
    if (o->fps > 0) {
        if (F->have_prev)
            stop = emit_targets(P, pts < F->end ? pts : F->end, &F->next_t, &F->k, F->prev_skipped ? NULL : F->prev,
                                F->prev_pts, F->prev_idx, F->prev_serial, &F->last_conv_idx, &F->last_conv);
        av_frame_unref(F->prev);
        if (frame)
            av_frame_move_ref(F->prev, frame);
        F->prev_skipped = frame == NULL;
        F->have_prev = 1;
        F->prev_pts = pts;
        F->prev_idx = idx;
        F->prev_serial = F->counter - 1;
        if (F->next_t >= F->end - TEPS && stop >= 0)
            stop = 1;
    } else {
        if (pts >= o->start - TEPS && pts < F->end - TEPS) {
            if (F->k % (o->every_k > 0 ? o->every_k : 1) == 0)
                stop = emit(P, frame, pts, pts, idx, F->counter - 1, 1, &F->last_conv_idx, &F->last_conv);
            else if (o->all_frames)
                stop = emit(P, frame, pts, pts, idx, F->counter - 1, 0, &F->last_conv_idx, &F->last_conv);
            F->k++;
        } else if (pts >= F->end - TEPS) {
            stop = 1;
        }
        if (frame)
            av_frame_unref(frame);
    }
    return stop;
}

/* The skipped frames presented before timestamp `ts` (all when ts is
 * INT64_MAX), in order. Packets before `ts` that were decoded but gave no
 * frame end the skipping. Returns as handle_frame. */
static int flush_skipped(pipeline *P, skipper *S, prodstate *F, int64_t ts)
{
    int n = 0;
    while (n < S->nout && S->out[n].ts < ts)
        n++;
    int stop = 0, i = 0;
    for (; i < n && !stop; i++) {
        if (S->out[i].cand) {
            P->prof.skipped++;
            stop = handle_frame(P, F, NULL, S->out[i].ts);
        } else if (ts != INT64_MAX) {
            S->on = 0; /* a packet without a frame */
        }
    }
    memmove(S->out, S->out + i, sizeof(outent) * (size_t)(S->nout - i));
    S->nout -= i;
    return stop;
}

/* A decoded frame came back with timestamp ts: pairs it with its packet. */
static void skip_pair(skipper *S, int64_t ts)
{
    if (ts == AV_NOPTS_VALUE || S->nout == 0 || S->out[0].ts != ts) {
        S->on = 0;
        return;
    }
    memmove(S->out, S->out + 1, sizeof(outent) * (size_t)(S->nout - 1));
    S->nout--;
    if (S->nreal++ == 0)
        S->first_real_ts = ts;
}

/* Sends `pkt` (or, intra-only, holds it back when skipped). Returns avcodec_send_packet's result. */
static int send_one(pipeline *P, skipper *S, AVPacket *pkt)
{
    vdec *v = &P->v;
    int cand = S->mode ? skip_decide(S, v, &P->o, pkt) : 0;
    if (cand && S->mode == 2)
        return 0;
    if (S->mode == 1)
        v->dec->skip_frame = cand ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    double t0 = prof_now();
    int ret = avcodec_send_packet(v->dec, pkt);
    P->prof.decode += prof_now() - t0;
    return ret;
}

static void *producer(void *arg)
{
    pipeline *P = arg;
    vdec *v = &P->v;
    const vl_sample_opts *o = &P->o;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    skipper *S = calloc(1, sizeof *S);
    prodstate F = {.prev = av_frame_alloc()};
    if (!pkt || !frame || !F.prev || !S) {
        producer_fail(P, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", v->path));
        goto out;
    }
    F.fdur = v->info.fps > 0 ? 1.0 / v->info.fps : 0.04;
    /* After a seek, `index` (the source frame number) must be recovered:
     * - exactly from the container's index when it lists every frame and
     *   frames are not reordered (MP4, MOV, AVI without B-frames);
     * - as round(pts * fps) when the stream looks constant-rate (exact then);
     * - otherwise (variable rate, no full index: e.g. phone MKV) we do not
     *   seek but decode from the start and count; frames before `start` are
     *   decoded, never converted. */
    F.full_index = v->info.frames > 0 && avformat_index_get_entries_count(v->st) >= v->info.frames &&
                   !v->dec->has_b_frames;
    AVRational afr = v->st->avg_frame_rate, rfr = v->st->r_frame_rate;
    const int looks_cfr = afr.num > 0 && afr.den > 0 && rfr.num > 0 && av_cmp_q(afr, rfr) == 0;
    if (o->start > 0 && (F.full_index || looks_cfr)) {
        int64_t ts = v->t0 + (int64_t)floor(o->start / v->tb);
        if (av_seek_frame(v->fmt, v->si, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
            avcodec_flush_buffers(v->dec);
            F.seeked = 1;
        }
    }
    skip_init(S, v, o);
    F.end = o->end > 0 ? o->end : INFINITY;
    F.next_t = o->start; /* rate mode: next target time */
    F.k = 0;             /* rate mode: targets emitted; every-k mode: frames seen since start */
    F.last_pts = -INFINITY;
    F.prev_serial = -1;
    F.last_conv_idx = -1;
    int bad = 0, eof = 0, finished = 0, decoded_any = 0, drained = 0;

    while (!finished) {
        int ret;
        if (!drained) {
            AVPacket *send = NULL; /* a packet to send now (NULL at the end: drain) */
            if (!eof) {
                double t0 = prof_now();
                ret = av_read_frame(v->fmt, pkt);
                P->prof.read += prof_now() - t0;
                if (ret == AVERROR_EOF || (ret == AVERROR(EIO) && avio_feof(v->fmt->pb))) {
                    eof = 1;
                } else if (ret < 0) {
                    if (ret == AVERROR(ETIMEDOUT)) {
                        producer_fail(P, vl_seterr(VL_ERR_IO, "%s: timed out after %g s without data (--timeout)",
                                                   v->path, net_timeout));
                        goto out;
                    }
                    if (!decoded_any && mov_needs_seek(v)) {
                        producer_fail(P, mov_on_pipe_fail(v->path));
                        goto out;
                    }
                    if (++bad > o->max_bad_packets) {
                        producer_fail(P, av_fail(v->path, "unreadable data (too many errors in a row)", ret));
                        goto out;
                    }
                    continue;
                } else if (pkt->stream_index != v->si) {
                    av_packet_unref(pkt);
                    continue;
                } else if (S->depth > 0) { /* into the look-ahead */
                    AVPacket *q = av_packet_alloc();
                    if (!q) {
                        producer_fail(P, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", v->path));
                        goto out;
                    }
                    av_packet_move_ref(q, pkt);
                    if (q->flags & AV_PKT_FLAG_DISCARD) {
                        /* gives no frame: not one of the frames counted */
                    } else if (q->pts != AV_NOPTS_VALUE) {
                        if (q->pts < S->min_ts)
                            S->min_ts = q->pts;
                        if ((double)(q->pts - v->t0) * v->tb >= o->start - TEPS)
                            S->nseen_from++;
                    } else {
                        S->on = 0;
                    }
                    S->q[(S->qh + S->qn) % SKIP_LA_MAX] = q;
                    S->qn++;
                    if (S->qn <= S->depth)
                        continue; /* read on */
                } else {
                    send = pkt;
                }
            }
            if (!send && S->qn > 0) { /* the look-ahead's oldest packet */
                send = S->q[S->qh];
                S->q[S->qh] = NULL;
                S->qh = (S->qh + 1) % SKIP_LA_MAX;
                S->qn--;
            }
            if (send) {
                ret = send_one(P, S, send);
                if (send == pkt)
                    av_packet_unref(pkt);
                else
                    av_packet_free(&send);
                if (ret < 0 && ret != AVERROR(EAGAIN)) {
                    if (++bad > o->max_bad_packets) {
                        producer_fail(P, av_fail(v->path, "corrupt video data (too many decode errors in a row)", ret));
                        goto out;
                    }
                    continue;
                }
            } else { /* end of the data and of the look-ahead */
                avcodec_send_packet(v->dec, NULL);
                drained = 1;
            }
        }
        while (!finished) {
            double t0 = prof_now();
            ret = avcodec_receive_frame(v->dec, frame);
            P->prof.decode += prof_now() - t0;
            if (ret == AVERROR(EAGAIN))
                break;
            if (ret == AVERROR_EOF) {
                finished = 1;
                if (S->mode) { /* the skipped frames after the last decoded one */
                    int stop = flush_skipped(P, S, &F, INT64_MAX);
                    if (stop < 0)
                        goto out;
                    if (stop)
                        finished = 2;
                }
                break;
            }
            if (ret < 0) {
                if (++bad > o->max_bad_packets) {
                    producer_fail(P, av_fail(v->path, "corrupt video data (too many decode errors in a row)", ret));
                    goto out;
                }
                continue;
            }
            bad = 0;
            decoded_any = 1;
            P->prof.decoded++;
            pthread_mutex_lock(&P->mu);
            int asked_stop = P->stop;
            pthread_mutex_unlock(&P->mu);
            if (asked_stop) { /* the consumer is done: stop decoding now */
                av_frame_unref(frame);
                finished = 2;
                break;
            }
            int64_t ts = frame->best_effort_timestamp;
            int stop = 0;
            if (S->mode) {
                if (ts != AV_NOPTS_VALUE)
                    stop = flush_skipped(P, S, &F, ts);
                skip_pair(S, ts);
            }
            if (!stop)
                stop = handle_frame(P, &F, frame, ts);
            else
                av_frame_unref(frame);
            if (stop < 0)
                goto out;
            if (stop) {
                finished = 2; /* stopped on purpose: no end-of-video checks */
                break;
            }
        }
    }
    if (!decoded_any) {
        producer_fail(P, vl_seterr(VL_ERR_FORMAT, "%s: no decodable video frames (truncated or corrupt)", v->path));
        goto out;
    }
    if (finished == 1) {
        /* End of the video: the last frame stays on screen for one frame duration. */
        double video_end = F.last_pts + F.fdur;
        /* Data that stops well short of the video stream's own declared
         * length is a truncated file whose index survived (an MP4 written
         * index-first): an error, not a silently shorter video. Only the
         * stream's duration counts (the container's may include longer audio). */
        double declared = (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0) ? (double)v->st->duration * v->tb : 0.0;
        double tol = 3.0 * F.fdur > 0.5 ? 3.0 * F.fdur : 0.5;
        if (declared > 0 && video_end < declared - tol && (o->end <= 0 || o->end > video_end + tol)) {
            producer_fail(P, vl_seterr(VL_ERR_FORMAT, "%s: truncated: its frames end at %.3f s, but the video stream is "
                                                      "%.3f s long",
                                       v->path, video_end, declared));
            goto out;
        }
        /* A clip end up to one frame past the end still counts as the end
         * (label files often round the last time up), as at open time. */
        if (o->end > 0 && video_end < o->end - F.fdur - 1e-3) {
            producer_fail(P, vl_seterr(VL_ERR_SHAPE, "%s: video is %.3f s long, shorter than the requested clip end %.3f s",
                                       v->path, video_end, o->end));
            goto out;
        }
        if (o->fps > 0 && F.have_prev) {
            int stop = emit_targets(P, F.end < video_end ? F.end : video_end, &F.next_t, &F.k,
                                    F.prev_skipped ? NULL : F.prev, F.prev_pts, F.prev_idx, F.prev_serial,
                                    &F.last_conv_idx, &F.last_conv);
            if (stop < 0)
                goto out;
        }
        if (P->nsampled == 0 && o->start >= video_end) {
            producer_fail(P, vl_seterr(VL_ERR_SHAPE, "%s: start %.3f s is beyond the end of the video (%.3f s)",
                                       v->path, o->start, video_end));
            goto out;
        }
    }
    if (P->s[P->fill].n > 0)
        publish(P);
out:
    if (S)
        skip_free(S);
    free(S);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    av_frame_free(&F.prev);
    pthread_mutex_lock(&P->mu);
    P->done = 1;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    return NULL;
}

vl_status vl_video_stream(const char *path, const vl_sample_opts *opts, const vl_preproc *pre, vl_frame_sink sink,
                          void *user, int64_t *nsampled)
{
    return vl_video_stream_planes(path, opts, &pre, NULL, 1, sink, user, nsampled);
}

vl_status vl_video_stream_planes(const char *path, const vl_sample_opts *opts, const vl_preproc *const *pre,
                                 const int *sampled_only, int nplanes, vl_frame_sink sink, void *user,
                                 int64_t *nsampled)
{
    if (nsampled)
        *nsampled = 0;
    vl_sample_opts o = *opts;
    if (o.batch <= 0) o.batch = 16;
    if (o.max_bad_packets <= 0) o.max_bad_packets = 32;
    if (nplanes < 1 || nplanes > VL_MAX_PLANES)
        return vl_seterr(VL_ERR_ARG, "%s: %d preprocessings (1..%d)", path, nplanes, VL_MAX_PLANES);
    if (o.fps < 0 || o.every_k < 0 || o.start < 0 || (o.end > 0 && o.end <= o.start))
        return vl_seterr(VL_ERR_ARG, "%s: invalid sampling (fps %g, every %d, start %g, end %g)", path, o.fps, o.every_k,
                         o.start, o.end);
    pipeline *P = calloc(1, sizeof *P);
    if (!P)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    vl_profile_enabled();
    double t_open = prof_now();
    vl_status st = vdec_open(&P->v, path, o.threads);
    if (st) {
        free(P);
        return st;
    }
    const vl_video_info info = P->v.info, *in = &info; /* survives P on the error paths */
    if (in->duration > 0 && o.start >= in->duration) {
        vdec_close(&P->v);
        free(P);
        return vl_seterr(VL_ERR_SHAPE, "%s: start %.3f s is beyond the end of the video (%.3f s)", path, o.start,
                         in->duration);
    }
    double fd = in->fps > 0 ? 1.0 / in->fps : 0.0;
    if (in->duration > 0 && o.end > 0 && o.end > in->duration + fd + 1e-3) {
        vdec_close(&P->v);
        free(P);
        return vl_seterr(VL_ERR_SHAPE, "%s: video is %.3f s long, shorter than the requested clip end %.3f s", path,
                         in->duration, o.end);
    }
    P->nplanes = nplanes;
    for (int k = 0; k < nplanes; k++) {
        if ((st = conv_init(&P->conv[k], pre[k], in, path))) {
            for (int j = 0; j < k; j++)
                conv_free(&P->conv[j]);
            vdec_close(&P->v);
            free(P);
            return st;
        }
        P->fsize[k] = vl_preproc_frame_size(pre[k]);
        /* plane 0 is always whole: it locates repeated frames (emit) */
        P->sampled_only[k] = k > 0 && sampled_only && sampled_only[k];
    }
    P->o = o;
    P->prof.open = prof_now() - t_open;
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < nplanes; k++)
            if (!(P->s[i].pixels[k] = vl_alloc(sizeof(float) * (size_t)P->fsize[k] * o.batch)))
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for frame batches", path);
        P->s[i].time = malloc(sizeof(double) * o.batch);
        P->s[i].pts = malloc(sizeof(double) * o.batch);
        P->s[i].index = malloc(sizeof(int64_t) * o.batch);
        P->s[i].steps = malloc(sizeof(int) * o.batch);
        if (!P->s[i].time || !P->s[i].pts || !P->s[i].index || !P->s[i].steps)
            st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for frame batches", path);
    }
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    pthread_t th;
    if (!st && pthread_create(&th, NULL, producer, P) != 0)
        st = vl_seterr(VL_ERR_NOMEM, "%s: cannot start the decoding thread", path);
    if (!st) {
        int take = 0;
        int64_t first = 0;
        for (;;) {
            pthread_mutex_lock(&P->mu);
            while (!P->s[take].full && !P->done)
                pthread_cond_wait(&P->cv, &P->mu);
            int have = P->s[take].full;
            pthread_mutex_unlock(&P->mu);
            if (!have)
                break;
            slot *s = &P->s[take];
            vl_frame_batch b = {.n = s->n, .pixels = s->pixels[0], .time = s->time, .pts = s->pts, .index = s->index,
                                .first = first, .steps = o.all_frames ? s->steps : NULL, .nplanes = nplanes};
            for (int k = 0; k < nplanes; k++)
                b.planes[k] = s->pixels[k];
            first += o.all_frames ? s->nsteps : s->n;
            int stop = sink(user, &b);
            pthread_mutex_lock(&P->mu);
            s->full = 0;
            if (stop)
                P->stop = 1;
            pthread_cond_broadcast(&P->cv);
            pthread_mutex_unlock(&P->mu);
            if (stop)
                break;
            take ^= 1;
        }
        pthread_join(th, NULL);
        if (P->err && !P->stop)
            st = vl_seterr(P->err, "%s", P->errmsg);
        if (nsampled)
            *nsampled = first;
    }
    pthread_mutex_destroy(&P->mu);
    pthread_cond_destroy(&P->cv);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < nplanes; k++)
            vl_free(P->s[i].pixels[k]);
        free(P->s[i].time);
        free(P->s[i].pts);
        free(P->s[i].index);
        free(P->s[i].steps);
    }
    for (int k = 0; k < nplanes; k++)
        conv_free(&P->conv[k]);
    double t_close = prof_now();
    vdec_close(&P->v);
    P->prof.open += prof_now() - t_close;
    prof_add(&P->prof);
    free(P);
    return st;
}
