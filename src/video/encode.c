#include "video/encode.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/error.h"

struct vl_video_writer {
    char path[4096], tmp[4200];
    vl_writer_opts o;
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int64_t n;
    int64_t last_pts;
};

static vl_status fail(vl_video_writer *w, const char *what, int err)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return vl_seterr(VL_ERR_IO, "%s: %s: %s", w->path, what, buf);
}

static void release(vl_video_writer *w)
{
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    if (w->fmt) {
        if (w->fmt->pb)
            avio_closep(&w->fmt->pb);
        avformat_free_context(w->fmt);
    }
    free(w);
}

vl_status vl_video_writer_open(const char *path, const vl_writer_opts *o, vl_video_writer **out)
{
    *out = NULL;
    if (o->width <= 0 || o->height <= 0 || o->fps_num <= 0 || o->fps_den <= 0)
        return vl_seterr(VL_ERR_ARG, "%s: invalid writer size or rate", path);
    vl_video_writer *w = calloc(1, sizeof *w);
    if (!w)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    const char *ext = strrchr(path, '.');
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp%s", path, ext ? ext : "");
    w->o = *o;
    w->last_pts = -1;
    av_log_set_level(AV_LOG_QUIET);
    int err = avformat_alloc_output_context2(&w->fmt, NULL, NULL, w->tmp); /* the url the muxer may reopen (faststart) */
    if (err < 0 || !w->fmt) {
        release(w);
        return vl_seterr(VL_ERR_ARG, "%s: no container for this file extension", path);
    }
    const AVCodec *codec = avcodec_find_encoder_by_name(o->codec ? o->codec : "mpeg4");
    if (!codec) {
        release(w);
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: encoder '%s' not available", path, o->codec ? o->codec : "mpeg4");
    }
    w->st = avformat_new_stream(w->fmt, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->st || !w->enc || !w->frame || !w->pkt) {
        release(w);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    AVCodecContext *c = w->enc;
    c->width = o->width;
    c->height = o->height;
    c->time_base = o->vfr ? (AVRational){1, o->fps_num * 1000} : (AVRational){o->fps_den, o->fps_num};
    c->framerate = (AVRational){o->fps_num, o->fps_den};
    c->gop_size = o->gop > 0 ? o->gop : 12;
    c->max_b_frames = o->bframes > 0 ? o->bframes : 0;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    if (!strcmp(codec->name, "mjpeg")) {
        c->pix_fmt = AV_PIX_FMT_YUVJ420P;
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * (o->quality > 0 ? o->quality : 3);
    } else if (!strcmp(codec->name, "mpeg4")) {
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * (o->quality > 0 ? o->quality : 3);
    } else if (!strcmp(codec->name, "libx264")) {
        av_opt_set(c->priv_data, "preset", "ultrafast", 0);
        char crf[16];
        snprintf(crf, sizeof crf, "%d", o->quality > 0 ? o->quality : 18);
        av_opt_set(c->priv_data, "crf", crf, 0);
    } else if (!strcmp(codec->name, "libx265")) {
        av_opt_set(c->priv_data, "x265-params", "log-level=none", 0); /* x265 prints on its own otherwise */
    } else if (!strncmp(codec->name, "libvpx", 6)) {
        av_opt_set(c->priv_data, "deadline", "realtime", 0);
        av_opt_set(c->priv_data, "cpu-used", "8", 0);
        c->bit_rate = 0;
        c->qmin = 4;
        c->qmax = o->quality > 0 ? o->quality : 20;
        av_opt_set_int(c->priv_data, "crf", o->quality > 0 ? o->quality : 10, 0);
    }
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((err = avcodec_open2(c, codec, NULL)) < 0) {
        vl_status st = fail(w, "cannot open encoder", err);
        release(w);
        return st;
    }
    avcodec_parameters_from_context(w->st->codecpar, c);
    w->st->time_base = c->time_base;
    w->st->avg_frame_rate = c->framerate;
    if (o->rotation) {
        int32_t *m = (int32_t *)av_stream_new_side_data(w->st, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9);
        if (m)
            av_display_rotation_set(m, (double)o->rotation); /* FFmpeg 5.1: a clockwise angle (get returns -angle) */
    }
    if ((err = avio_open(&w->fmt->pb, w->tmp, AVIO_FLAG_WRITE)) < 0) {
        vl_status st = fail(w, "cannot create", err);
        release(w);
        return st;
    }
    AVDictionary *mux = NULL;
    /* MP4/MOV: index first, so the file can be read from a pipe as it arrives */
    if (!strcmp(w->fmt->oformat->name, "mp4") || !strcmp(w->fmt->oformat->name, "mov"))
        av_dict_set(&mux, "movflags", "+faststart", 0);
    if ((err = avformat_write_header(w->fmt, &mux)) < 0) {
        vl_status st = fail(w, "cannot write header", err);
        av_dict_free(&mux);
        vl_video_writer_abort(w);
        return st;
    }
    w->frame->format = c->pix_fmt;
    w->frame->width = c->width;
    w->frame->height = c->height;
    if ((err = av_frame_get_buffer(w->frame, 0)) < 0) {
        vl_status st = fail(w, "cannot allocate a frame", err);
        vl_video_writer_abort(w);
        return st;
    }
    w->sws = sws_getContext(c->width, c->height, AV_PIX_FMT_RGB24, c->width, c->height, c->pix_fmt,
                            SWS_BILINEAR, NULL, NULL, NULL);
    if (!w->sws) {
        vl_video_writer_abort(w);
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: cannot convert RGB to the encoder's pixel format", path);
    }
    *out = w;
    return VL_OK;
}

static vl_status drain(vl_video_writer *w)
{
    for (;;) {
        int err = avcodec_receive_packet(w->enc, w->pkt);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return VL_OK;
        if (err < 0)
            return fail(w, "encoding failed", err);
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        if ((err = av_interleaved_write_frame(w->fmt, w->pkt)) < 0)
            return fail(w, "write failed", err);
    }
}

vl_status vl_video_writer_add(vl_video_writer *w, const uint8_t *rgb, double time)
{
    int err = av_frame_make_writable(w->frame);
    if (err < 0)
        return fail(w, "frame not writable", err);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int sstride[4] = {3 * w->o.width, 0, 0, 0};
    sws_scale(w->sws, src, sstride, 0, w->o.height, w->frame->data, w->frame->linesize);
    int64_t pts = w->n;
    if (w->o.vfr)
        pts = llround(time * w->o.fps_num * 1000.0);
    if (pts <= w->last_pts)
        return vl_seterr(VL_ERR_ARG, "%s: frame times must increase (%.6f s)", w->path, time);
    w->last_pts = pts;
    w->frame->pts = pts;
    w->n++;
    if ((err = avcodec_send_frame(w->enc, w->frame)) < 0)
        return fail(w, "encoding failed", err);
    return drain(w);
}

vl_status vl_video_writer_close(vl_video_writer *w)
{
    vl_status st = VL_OK;
    int err = avcodec_send_frame(w->enc, NULL);
    if (err < 0 && err != AVERROR_EOF)
        st = fail(w, "flush failed", err);
    if (!st)
        st = drain(w);
    if (!st && (err = av_write_trailer(w->fmt)) < 0)
        st = fail(w, "cannot finish the file", err);
    if (w->fmt->pb)
        avio_closep(&w->fmt->pb);
    if (!st)
        st = vl_atomic_commit_file(w->tmp, w->path); /* fsync, rename, fsync the folder */
    else
        remove(w->tmp);
    release(w);
    return st;
}

void vl_video_writer_abort(vl_video_writer *w)
{
    if (w->fmt && w->fmt->pb)
        avio_closep(&w->fmt->pb);
    remove(w->tmp);
    release(w);
}
