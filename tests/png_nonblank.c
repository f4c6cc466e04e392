/* Decodes a PNG with FFmpeg (libavformat + libavcodec + libswscale) and checks
 * that it is not blank: enough non-white pixels, enough distinct colours,
 * and some saturated ones (chart lines and cells, not just grey text).
 * Used by report_render.sh on Chromium's screenshots of report.html.
 *
 * Usage: png_nonblank FILE.png [min_nonwhite_percent=2] [min_colours=12]
 * Prints `N passed, N failed` like the other tests; exits non-zero when the
 * image cannot be decoded or looks blank. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Decodes the first frame of `path` into packed RGB24; returns 0 on success. */
static int decode_rgb(const char *path, uint8_t **rgb, int *w, int *h)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frm = av_frame_alloc();
    struct SwsContext *sws = NULL;
    int ret = -1, got = 0;
    if (!pkt || !frm || avformat_open_input(&fmt, path, NULL, NULL) < 0 || avformat_find_stream_info(fmt, NULL) < 0)
        goto done;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0)
        goto done;
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    if (!codec || !(dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar) < 0 || avcodec_open2(dec, codec, NULL) < 0)
        goto done;
    while (!got && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == si && avcodec_send_packet(dec, pkt) >= 0)
            got = avcodec_receive_frame(dec, frm) >= 0;
        av_packet_unref(pkt);
    }
    if (!got) { /* drain */
        avcodec_send_packet(dec, NULL);
        got = avcodec_receive_frame(dec, frm) >= 0;
    }
    if (!got)
        goto done;
    *w = frm->width;
    *h = frm->height;
    sws = sws_getContext(frm->width, frm->height, (enum AVPixelFormat)frm->format, frm->width, frm->height,
                         AV_PIX_FMT_RGB24, SWS_POINT, NULL, NULL, NULL);
    *rgb = malloc((size_t)frm->width * frm->height * 3);
    if (!sws || !*rgb)
        goto done;
    uint8_t *dst[4] = {*rgb, NULL, NULL, NULL};
    int dstride[4] = {frm->width * 3, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)frm->data, frm->linesize, 0, frm->height, dst, dstride);
    ret = 0;
done:
    sws_freeContext(sws);
    av_frame_free(&frm);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: png_nonblank FILE.png [min_nonwhite_percent] [min_colours]\n");
        return 2;
    }
    double min_pct = argc > 2 ? atof(argv[2]) : 2.0;
    int min_colours = argc > 3 ? atoi(argv[3]) : 12;
    av_log_set_level(AV_LOG_ERROR);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    int ok = decode_rgb(argv[1], &rgb, &w, &h) == 0;
    CHECK(ok, "%s: cannot decode as an image", argv[1]);
    if (ok) {
        /* colours quantised to 5 bits per channel, counted when they cover
         * at least 20 pixels (antialiasing alone does not make a chart) */
        uint32_t *hist = calloc(1 << 15, sizeof *hist);
        size_t n = (size_t)w * h, nonwhite = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = rgb + 3 * i;
            if (p[0] < 245 || p[1] < 245 || p[2] < 245)
                nonwhite++;
            hist[((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3)]++;
        }
        int colours = 0, chroma = 0;
        for (int i = 0; i < 1 << 15; i++) {
            int r = i >> 10, g = (i >> 5) & 31, b = i & 31;
            int mx = r > g ? (r > b ? r : b) : (g > b ? g : b), mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
            colours += hist[i] >= 20;
            chroma += hist[i] >= 20 && mx - mn >= 5; /* saturated: chart colours, not text greys */
        }
        free(hist);
        double pct = 100.0 * (double)nonwhite / (double)(n ? n : 1);
        printf("%s: %dx%d, %.2f%% non-white, %d colours (%d saturated)\n", argv[1], w, h, pct, colours, chroma);
        CHECK(w >= 100 && h >= 100, "%s: tiny image %dx%d", argv[1], w, h);
        CHECK(pct >= min_pct, "%s: only %.2f%% non-white pixels (want >= %.2f%%)", argv[1], pct, min_pct);
        CHECK(colours >= min_colours, "%s: only %d distinct colours (want >= %d)", argv[1], colours, min_colours);
        CHECK(chroma >= 4, "%s: only %d saturated colours: no chart drawn?", argv[1], chroma);
    }
    free(rgb);
    return check_summary();
}
