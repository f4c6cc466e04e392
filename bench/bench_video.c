/* Video ingestion benchmark: stream a video through decode + sampling +
 * resize + normalisation (vl_video_stream) and report throughput and peak
 * memory. bench/bench_video.sh runs it next to the ffmpeg command line doing
 * the same decode/sample/scale work on the same file.
 *
 *   bench_video FILE [--fps 5] [--size 224] [--batch 16] [--threads N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "video/video.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double checksum;
} acc;

static int sink(void *user, const vl_frame_batch *b)
{
    acc *a = user;
    a->checksum += b->pixels[0] + b->pixels[(size_t)b->n * 3 * 224 * 224 / 2]; /* touch the data */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench_video FILE [--fps F] [--size S] [--batch B] [--threads N]\n", stderr);
        return 2;
    }
    vl_sample_opts o = {.fps = 5.0, .batch = 16};
    int size = 224;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--fps")) o.fps = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) o.batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) o.threads = atoi(argv[i + 1]);
        else { fprintf(stderr, "bench_video: unknown option %s\n", argv[i]); return 2; }
    }
    vl_video_info info;
    if (vl_video_probe(argv[1], &info)) {
        fprintf(stderr, "bench_video: %s\n", vl_errmsg());
        return 1;
    }
    /* The same work as `ffmpeg -vf fps=F,scale=S:S:flags=bilinear`: exact
     * resize, then (beyond ffmpeg) normalisation to float NCHW. */
    vl_preproc p;
    vl_preproc_imagenet(&p);
    p.width = p.height = size;
    p.resize = VL_RESIZE_EXACT;
    acc a = {0};
    int64_t n = 0;
    double t0 = now_s();
    if (vl_video_stream(argv[1], &o, &p, sink, &a, &n)) {
        fprintf(stderr, "bench_video: %s\n", vl_errmsg());
        return 1;
    }
    double dt = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"vidlstm\", \"file\": \"%s\", \"width\": %d, \"height\": %d, \"codec\": \"%s\", \"duration_s\": %.1f, "
           "\"source_frames\": %lld, \"sampled\": %lld, \"fps\": %g, \"size\": %d, \"wall_s\": %.2f, "
           "\"source_frames_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"checksum\": %.3f}\n",
           argv[1], info.width, info.height, info.codec, info.duration, (long long)info.frames, (long long)n, o.fps,
           size, dt, (double)info.frames / dt, (double)ru.ru_maxrss / 1024.0, a.checksum);
    return 0;
}
