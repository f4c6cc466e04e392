/* Clip sources (folder per class, CSV manifest, random clips, sliding
 * windows) and per-frame label alignment. Every file is made at run time in
 * a scratch folder; one tiny video is encoded to test probing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "video/clips.h"
#include "video/encode.h"
#include "video/video.h"
#include "scratch.h"

static void mkdirs(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/", tmpdir, rel);
    for (char *s = p + strlen(tmpdir) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char c[1024];
            snprintf(c, sizeof c, "%s/%s", path, e->d_name);
            rm_tree(c);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* The error message names `file` (its tail is enough) and `:line:` when line > 0. */
static int names(const char *file, int line)
{
    char want[1100];
    if (line > 0)
        snprintf(want, sizeof want, "%s:%d:", file, line);
    else
        snprintf(want, sizeof want, "%s", file);
    return has(vl_errmsg(), want);
}

/* ---- (a) folder per class ------------------------------------------------------ */

static void test_folders(void)
{
    put("ucf/WalkDog/v_b.mp4", "");
    put("ucf/WalkDog/v_a.avi", "");
    put("ucf/WalkDog/v_c.MKV", "");
    put("ucf/WalkDog/notes.txt", "not a video");
    put("ucf/WalkDog/.hidden.mp4", "");
    put("ucf/WalkDog/noext", "");
    put("ucf/WalkDog/nested/x.mp4", "");
    put("ucf/Archery/a1.MoV", "");
    put("ucf/Basketball/b.webm", "");
    put("ucf/.git/x.mp4", "");
    put("ucf/readme.mp4", ""); /* a loose file is not a class */

    vl_clip_list l = {0};
    vl_status s = vl_clips_from_folders(&l, tpath("ucf"));
    CHECK(s == VL_OK, "folders: %s", vl_errmsg());
    CHECK(l.nclasses == 3, "%d classes", l.nclasses);
    if (l.nclasses == 3)
        CHECK(!strcmp(l.classes[0], "Archery") && !strcmp(l.classes[1], "Basketball") &&
                  !strcmp(l.classes[2], "WalkDog"),
              "classes %s %s %s", l.classes[0], l.classes[1], l.classes[2]);
    const char *want[] = {"ucf/Archery/a1.MoV", "ucf/Basketball/b.webm", "ucf/WalkDog/v_a.avi",
                          "ucf/WalkDog/v_b.mp4", "ucf/WalkDog/v_c.MKV"};
    const int wid[] = {0, 1, 2, 2, 2};
    CHECK(l.n == 5, "%d clips", l.n);
    for (int i = 0; i < l.n && i < 5; i++) {
        CHECK(!strcmp(l.items[i].path, tpath(want[i])), "clip %d: %s", i, l.items[i].path);
        CHECK(l.items[i].label_id == wid[i] && !strcmp(l.items[i].label, l.classes[wid[i]]), "clip %d label %s", i,
              l.items[i].label);
        CHECK(l.items[i].start == 0 && l.items[i].end == 0, "clip %d times", i);
        CHECK(!strcmp(l.items[i].group, l.items[i].path), "clip %d group %s", i, l.items[i].group);
    }
    CHECK(vl_clip_list_class(&l, "WalkDog") == 2 && vl_clip_list_class(&l, "walkdog") == -1, "class lookup");
    /* trailing slash on the root gives the same paths */
    vl_clip_list l2 = {0};
    char root2[1100];
    snprintf(root2, sizeof root2, "%s/", tpath("ucf"));
    CHECK(vl_clips_from_folders(&l2, root2) == VL_OK && l2.n == 5 && !strcmp(l2.items[0].path, l.items[0].path),
          "trailing slash: %s", l2.n ? l2.items[0].path : vl_errmsg());
    vl_clip_list_free(&l2);
    vl_clip_list_free(&l);
    CHECK(l.n == 0 && l.items == NULL && l.nclasses == 0, "free empties the list");

    CHECK(vl_is_video_file_name("a.MPEG") && vl_is_video_file_name("x.y.flv") && vl_is_video_file_name("a.Wmv") &&
              !vl_is_video_file_name("mp4") && !vl_is_video_file_name(".mp4") && !vl_is_video_file_name("a.mp4.txt") &&
              !vl_is_video_file_name("a.mp"),
          "extension list");

    /* errors leave the list as it was: a class folder without videos */
    put("ucf2/A/x.mp4", "");
    put("ucf2/B/notes.txt", "");
    put("ucf2/C/y.mp4", "");
    vl_clip_list_add(&l, "/v/zebra.mp4", 0, 0, "Zebra", NULL);
    s = vl_clips_from_folders(&l, tpath("ucf2"));
    CHECK(s == VL_ERR_FORMAT && names("ucf2/B", 0) && has(vl_errmsg(), "no video"), "empty class: %d %s", s,
          vl_errmsg());
    CHECK(l.n == 1 && l.nclasses == 1 && !strcmp(l.classes[0], "Zebra") && l.items[0].label_id == 0,
          "rolled back: n %d, classes %d", l.n, l.nclasses);

    put("ucf3/loose.mp4", "");
    mkdirs("ucf3/.hidden");
    s = vl_clips_from_folders(&l, tpath("ucf3"));
    CHECK(s == VL_ERR_FORMAT && names("ucf3", 0) && has(vl_errmsg(), "no class folders"), "no classes: %s",
          vl_errmsg());
    s = vl_clips_from_folders(&l, tpath("nonexistent"));
    CHECK(s == VL_ERR_IO && names("nonexistent", 0), "missing root: %s", vl_errmsg());
    s = vl_clips_from_folders(&l, tpath("ucf3/loose.mp4"));
    CHECK(s == VL_ERR_IO && has(vl_errmsg(), "not a folder"), "root is a file: %s", vl_errmsg());
    CHECK(l.n == 1 && l.nclasses == 1, "list unchanged after errors");

    /* classes stay sorted as sources are combined; ids are renumbered */
    vl_clip_list_add(&l, "/v/ant.mp4", 0, 0, "Ant", NULL);
    CHECK(l.nclasses == 2 && l.items[0].label_id == 1 && l.items[1].label_id == 0, "renumbered: %d %d",
          l.items[0].label_id, l.items[1].label_id);
    CHECK(vl_clip_list_add(&l, "/v/x.mp4", 0, 0, "", NULL) == VL_ERR_ARG, "empty label rejected");
    CHECK(vl_clip_list_add(&l, "/v/x.mp4", 3, 2, "Ant", NULL) == VL_ERR_ARG, "end <= start rejected");
    CHECK(vl_clip_list_add(&l, "/v/x.mp4", 0, 0, NULL, "grp") == VL_OK && l.items[2].label_id == -1 &&
              !strcmp(l.items[2].group, "grp") && l.nclasses == 2,
          "unlabelled clip with explicit group");
    vl_clip_list_free(&l);
}

/* ---- (b) CSV manifest ------------------------------------------------------------ */

static void test_manifest(void)
{
    put("m/videos/a.mp4", "");
    put("m/videos/b.mp4", "");
    put("m/videos/c,d.mp4", "");
    put("m/other/x.mp4", "");
    char text[4096];
    snprintf(text, sizeof text,
             "\xEF\xBB\xBFPath,Label,start,end\r\n"
             "# a comment\r\n"
             "\r\n"
             "   \r\n"
             "videos/a.mp4,walk\r\n"
             "  videos/a.mp4 , run , 1.5, 3\r\n"
             "\"videos/c,d.mp4\",\"say \"\"hi\"\"\",0,2\r\n"
             "%s,walk,2,\r\n"
             "videos/b.mp4,\"two\nlines\",,\n"
             "  # indented comment\n"
             "\"#videos/../videos/b.mp4\",walk",
             tpath("m/other/x.mp4"));
    put("m/list.csv", text);
    /* "#videos" is a quoted path starting with '#', not a comment: it must be
     * resolved (and fail, there is no such folder) */
    vl_clip_list l = {0};
    vl_status s = vl_clips_from_csv(&l, tpath("m/list.csv"));
    CHECK(s == VL_ERR_IO && names("m/list.csv", 12) && has(vl_errmsg(), "#videos"), "quoted '#' path: %s",
          vl_errmsg());
    CHECK(l.n == 0 && l.nclasses == 0, "rolled back to empty: %d", l.n);

    /* drop the last record */
    char *cut = strstr(text, "  # indented");
    *cut = 0;
    put("m/list.csv", text);
    s = vl_clips_from_csv(&l, tpath("m/list.csv"));
    CHECK(s == VL_OK, "manifest: %s", vl_errmsg());
    CHECK(l.n == 5, "%d clips", l.n);
    CHECK(l.nclasses == 4, "%d classes", l.nclasses);
    if (l.n == 5 && l.nclasses == 4) {
        CHECK(!strcmp(l.classes[0], "run") && !strcmp(l.classes[1], "say \"hi\"") &&
                  !strcmp(l.classes[2], "two\nlines") && !strcmp(l.classes[3], "walk"),
              "sorted classes");
        CHECK(!strcmp(l.items[0].path, tpath("m/videos/a.mp4")) && l.items[0].start == 0 && l.items[0].end == 0 &&
                  !strcmp(l.items[0].label, "walk") && l.items[0].label_id == 3,
              "row 1: %s", l.items[0].path);
        CHECK(!strcmp(l.items[1].path, tpath("m/videos/a.mp4")) && l.items[1].start == 1.5 && l.items[1].end == 3 &&
                  !strcmp(l.items[1].label, "run"),
              "row 2 (trimmed): '%s' '%s'", l.items[1].path, l.items[1].label);
        CHECK(!strcmp(l.items[2].path, tpath("m/videos/c,d.mp4")) && !strcmp(l.items[2].label, "say \"hi\"") &&
                  l.items[2].end == 2,
              "quoted: %s %s", l.items[2].path, l.items[2].label);
        CHECK(!strcmp(l.items[3].path, tpath("m/other/x.mp4")) && l.items[3].start == 2 && l.items[3].end == 0,
              "absolute path kept, empty end = to the end: %s", l.items[3].path);
        CHECK(!strcmp(l.items[4].label, "two\nlines") && l.items[4].start == 0 && l.items[4].end == 0,
              "quoted newline, empty start/end");
        CHECK(!strcmp(l.items[0].group, l.items[1].group) && !strcmp(l.items[0].group, l.items[0].path),
              "clips of one video share a group");
    }
    vl_clip_list_free(&l);

    /* no header: the first line is data; a manifest named without a folder
     * resolves against the current folder */
    put("m/nohdr.csv", "videos/b.mp4,jump");
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(tpath("m")) == 0, "chdir");
    s = vl_clips_from_csv(&l, "nohdr.csv");
    CHECK(s == VL_OK && l.n == 1 && !strcmp(l.items[0].path, "videos/b.mp4") && !strcmp(l.items[0].label, "jump"),
          "no header: %s", l.n ? l.items[0].path : vl_errmsg());
    CHECK(chdir(cwd) == 0, "chdir back");
    /* a two-field header */
    put("m/hdr2.csv", "path,label\nvideos/a.mp4,walk\n");
    s = vl_clips_from_csv(&l, tpath("m/hdr2.csv"));
    CHECK(s == VL_OK && l.n == 2 && l.nclasses == 2, "two-field header: %s", vl_errmsg());
    vl_clip_list_free(&l);

    /* a header in any order, with a group column (clips of one scene or
     * subject never straddle a grouped split) and a column of the user's */
    put("m/hdrg.csv", "Scene,notes,end,Video,start,class\nkitchen,x,3,videos/a.mp4,1,walk\n"
                      "street,,,videos/b.mp4,,run\n,,,videos/b.mp4,,run\n");
    s = vl_clips_from_csv(&l, tpath("m/hdrg.csv"));
    CHECK(s == VL_OK && l.n == 3, "named header with group: %s", vl_errmsg());
    if (l.n == 3) {
        CHECK(!strcmp(l.items[0].path, tpath("m/videos/a.mp4")) && l.items[0].start == 1 && l.items[0].end == 3 &&
                  !strcmp(l.items[0].label, "walk") && !strcmp(l.items[0].group, "kitchen"),
              "row 1 by name: %s %g %g %s %s", l.items[0].path, l.items[0].start, l.items[0].end, l.items[0].label,
              l.items[0].group);
        CHECK(!strcmp(l.items[1].group, "street") && l.items[1].end == 0, "row 2: group %s", l.items[1].group);
        CHECK(!strcmp(l.items[2].group, l.items[2].path), "an empty group falls back to the video: %s",
              l.items[2].group);
    }
    vl_clip_list_free(&l);

    put("m/hdrsp.csv", "path , Label, group\nvideos/a.mp4, walk, g1\nvideos/b.mp4, run, g2\n");
    s = vl_clips_from_csv(&l, tpath("m/hdrsp.csv"));
    CHECK(s == VL_OK && l.n == 2 && l.nclasses == 2 && !strcmp(l.items[1].group, "g2"),
          "header names with blanks around them: %s", s ? vl_errmsg() : "values");
    vl_clip_list_free(&l);

    /* every error names the manifest and the line; the list is left as it was */
    struct {
        const char *name, *text;
        int line;
        vl_status st;
        const char *what;
    } bad[] = {
        {"m/e_field.csv", "videos/a.mp4\n", 1, VL_ERR_FORMAT, "1 field"},
        {"m/e_three.csv", "path,label\nvideos/a.mp4,walk\nvideos/a.mp4,walk,1\n", 3, VL_ERR_FORMAT, "3 fields"},
        {"m/e_five.csv", "videos/a.mp4,walk,1,2,3\n", 1, VL_ERR_FORMAT, "5 fields"},
        {"m/e_label.csv", "videos/a.mp4,\n", 1, VL_ERR_FORMAT, "missing label"},
        {"m/e_path.csv", "\n\n,walk\n", 3, VL_ERR_FORMAT, "missing path"},
        {"m/e_num.csv", "# c\nvideos/a.mp4,walk,abc,3\n", 2, VL_ERR_FORMAT, "bad start time 'abc'"},
        {"m/e_num2.csv", "videos/a.mp4,walk,1,3s\n", 1, VL_ERR_FORMAT, "bad end time '3s'"},
        {"m/e_nan.csv", "videos/a.mp4,walk,nan,3\n", 1, VL_ERR_FORMAT, "bad start time"},
        {"m/e_order.csv", "videos/a.mp4,walk,3,3\n", 1, VL_ERR_FORMAT, "end 3 <= start 3"},
        {"m/e_neg.csv", "videos/a.mp4,walk,-1,3\n", 1, VL_ERR_FORMAT, "negative start"},
        {"m/e_missing.csv", "videos/a.mp4,walk\nvideos/nope.mp4,walk\n", 2, VL_ERR_IO, "nope.mp4"},
        {"m/e_dir.csv", "videos,walk\n", 1, VL_ERR_FORMAT, "not a file"},
        {"m/e_quote.csv", "videos/a.mp4,walk\n\"videos/a.mp4,walk\n", 2, VL_ERR_FORMAT, "unterminated"},
        {"m/e_after.csv", "\"videos/a.mp4\"x,walk\n", 1, VL_ERR_FORMAT, "after a closing quote"},
        /* line numbers keep counting inside a quoted newline */
        {"m/e_lines.csv", "videos/a.mp4,\"a\nb\"\nvideos/a.mp4,walk,x,1\n", 3, VL_ERR_FORMAT, "bad start"},
        {"m/e_empty.csv", "# nothing\n\npath,label\n", 0, VL_ERR_FORMAT, "no clips"},
        {"m/e_nolabel.csv", "path,start,group\nvideos/a.mp4,1,g\n", 1, VL_ERR_FORMAT, "needs path and label"},
        {"m/e_twice.csv", "path,label,class\nvideos/a.mp4,walk,walk\n", 1, VL_ERR_FORMAT, "same role"},
    };
    vl_clip_list_add(&l, "/v/keep.mp4", 0, 0, "keep", NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(bad[i].name, bad[i].text);
        s = vl_clips_from_csv(&l, tpath(bad[i].name));
        CHECK(s == bad[i].st && names(bad[i].name, bad[i].line) && has(vl_errmsg(), bad[i].what),
              "%s: status %d, message '%s'", bad[i].name, s, vl_errmsg());
        CHECK(l.n == 1 && l.nclasses == 1 && l.items[0].label_id == 0, "%s: list changed (%d clips)", bad[i].name,
              l.n);
    }
    s = vl_clips_from_csv(&l, tpath("m/none.csv"));
    CHECK(s == VL_ERR_IO && names("m/none.csv", 0), "missing manifest: %s", vl_errmsg());
    vl_clip_list_free(&l);
}

/* ---- (c) random clips ------------------------------------------------------------ */

static int same_list(const vl_clip_list *a, const vl_clip_list *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].start != b->items[i].start || a->items[i].end != b->items[i].end ||
            strcmp(a->items[i].path, b->items[i].path))
            return 0;
    return 1;
}

static void test_random(void)
{
    vl_rng r;
    vl_clip_list a = {0}, b = {0}, c = {0};
    vl_rng_seed(&r, 42);
    vl_status s = vl_clips_random(&a, "walk.mp4", "walking", 600, 100, 2, 5, &r);
    CHECK(s == VL_OK && a.n == 100, "random: %s", vl_errmsg());
    double minl = 1e9, maxl = 0, mins = 1e9, maxe = 0;
    int ok = 1;
    for (int i = 0; i < a.n; i++) {
        const vl_clip *k = &a.items[i];
        double len = k->end - k->start;
        ok &= k->start >= 0 && k->end <= 600 && len >= 2 && len <= 5 && k->label_id == 0 &&
              !strcmp(k->group, "walk.mp4") && !strcmp(k->label, "walking");
        minl = len < minl ? len : minl;
        maxl = len > maxl ? len : maxl;
        mins = k->start < mins ? k->start : mins;
        maxe = k->end > maxe ? k->end : maxe;
    }
    CHECK(ok, "every clip inside the video with a length in [2, 5]");
    CHECK(minl < 2.3 && maxl > 4.7, "lengths spread over [2, 5]: %g .. %g", minl, maxl);
    CHECK(mins < 30 && maxe > 570, "starts spread over the video: %g .. %g", mins, maxe);

    vl_rng_seed(&r, 42);
    vl_clips_random(&b, "walk.mp4", "walking", 600, 100, 2, 5, &r);
    CHECK(same_list(&a, &b), "same seed, same clips");
    vl_rng_seed(&r, 43);
    vl_clips_random(&c, "walk.mp4", "walking", 600, 100, 2, 5, &r);
    CHECK(!same_list(&a, &c), "different seed, different clips");
    int differ = 0;
    for (int i = 0; i < a.n && i < c.n; i++)
        differ += a.items[i].start != c.items[i].start;
    CHECK(differ == 100, "%d of 100 starts differ", differ);
    vl_clip_list_free(&b);
    vl_clip_list_free(&c);

    /* one rng through two videos of the same length: their clips differ */
    vl_rng_seed(&r, 5);
    vl_clips_random(&b, "v1.mp4", "x", 60, 3, 2, 5, &r);
    vl_clips_random(&b, "v2.mp4", "y", 60, 3, 2, 5, &r);
    CHECK(b.n == 6 && b.items[0].start != b.items[3].start && b.nclasses == 2 && !strcmp(b.items[3].group, "v2.mp4"),
          "two videos, one stream");
    vl_clip_list_free(&b);

    /* max longer than the video: lengths capped at D; D == min: the whole video */
    vl_rng_seed(&r, 1);
    s = vl_clips_random(&b, "short.mp4", "x", 3, 50, 2, 5, &r);
    ok = s == VL_OK && b.n == 50;
    for (int i = 0; i < b.n; i++)
        ok &= b.items[i].start >= 0 && b.items[i].end <= 3 && b.items[i].end - b.items[i].start >= 2;
    CHECK(ok, "capped at the video's length");
    vl_clip_list_free(&b);
    s = vl_clips_random(&b, "exact.mp4", "x", 2, 4, 2, 5, &r);
    CHECK(s == VL_OK && b.n == 4 && b.items[3].start == 0 && b.items[3].end == 2, "D == min");
    vl_clip_list_free(&b);

    /* errors */
    s = vl_clips_random(&a, "tiny.mp4", "x", 1.5, 10, 2, 5, &r);
    CHECK(s == VL_ERR_FORMAT && names("tiny.mp4", 0) && has(vl_errmsg(), "shorter"), "too short: %s", vl_errmsg());
    CHECK(vl_clips_random(&a, "v.mp4", "x", 60, 0, 2, 5, &r) == VL_ERR_ARG, "n = 0");
    CHECK(vl_clips_random(&a, "v.mp4", "x", 60, 5, 0, 5, &r) == VL_ERR_ARG, "min = 0");
    CHECK(vl_clips_random(&a, "v.mp4", "x", 60, 5, 3, 2, &r) == VL_ERR_ARG, "min > max");
    CHECK(vl_clips_random(&a, "v.mp4", "x", -1, 5, 2, 3, &r) == VL_ERR_ARG && names("v.mp4", 0), "D < 0: %s",
          vl_errmsg());
    CHECK(vl_clips_random(&a, "v.mp4", "x", 60, 5, 2, 3, NULL) == VL_ERR_ARG, "no rng");
    CHECK(a.n == 100 && a.nclasses == 1, "failed calls add nothing");
    vl_clip_list_free(&a);
}

/* ---- (d) sliding windows ---------------------------------------------------------- */

static int windows_ok(const vl_clip_list *l, double len, double stride, double D)
{
    for (int i = 0; i < l->n; i++) {
        const vl_clip *k = &l->items[i];
        if (k->start < 0 || k->end > D || fabs(k->end - k->start - len) > 1e-9)
            return 0;
    }
    return 1;
}

static void test_windows(void)
{
    vl_clip_list l = {0};
    vl_status s = vl_clips_windows(&l, "v.mp4", NULL, 10, 2, 1, 0);
    CHECK(s == VL_OK && l.n == 9 && windows_ok(&l, 2, 1, 10), "10 s / 2 s / 1 s: %d", l.n);
    CHECK(l.n == 9 && l.items[8].start == 8 && l.items[8].end == 10 && l.items[3].start == 3, "bounds");
    CHECK(l.n && l.items[0].label == NULL && l.items[0].label_id == -1 && l.nclasses == 0 &&
              !strcmp(l.items[0].group, "v.mp4"),
          "unlabelled windows");
    vl_clip_list_free(&l);
    vl_clips_windows(&l, "v.mp4", "a", 10, 2, 1, 1);
    CHECK(l.n == 9, "cover_end adds nothing when the last window ends at D: %d", l.n);
    vl_clip_list_free(&l);

    vl_clips_windows(&l, "v.mp4", "a", 10.5, 2, 1, 0);
    CHECK(l.n == 9 && l.items[8].end == 10, "10.5 s without cover_end: %d", l.n);
    vl_clip_list_free(&l);
    vl_clips_windows(&l, "v.mp4", "a", 10.5, 2, 1, 1);
    CHECK(l.n == 10 && l.items[9].start == 8.5 && l.items[9].end == 10.5 && windows_ok(&l, 2, 1, 10.5),
          "10.5 s with cover_end: %d", l.n);
    vl_clip_list_free(&l);

    vl_clips_windows(&l, "v.mp4", "a", 10, 3, 3, 0);
    CHECK(l.n == 3 && l.items[2].start == 6 && l.items[2].end == 9, "non-overlapping: %d", l.n);
    vl_clip_list_free(&l);
    vl_clips_windows(&l, "v.mp4", "a", 10, 3, 3, 1);
    CHECK(l.n == 4 && l.items[3].start == 7 && l.items[3].end == 10, "non-overlapping + end: %d", l.n);
    vl_clip_list_free(&l);

    /* k * 0.1 + 2 overshoots 10 by rounding at k = 80: still 81 windows, none past D */
    vl_clips_windows(&l, "v.mp4", "a", 10, 2, 0.1, 1);
    CHECK(l.n == 81 && windows_ok(&l, 2, 0.1, 10), "fine stride: %d", l.n);
    vl_clip_list_free(&l);
    vl_clips_windows(&l, "v.mp4", "a", 2, 2, 0.5, 1);
    CHECK(l.n == 1 && l.items[0].start == 0 && l.items[0].end == 2, "D == L: one window");
    vl_clip_list_free(&l);
    vl_clips_windows(&l, "v.mp4", "a", 1, 2, 5, 0);
    CHECK(l.n == 0, "D < L adds nothing");
    /* stride longer than the window: gaps */
    vl_clips_windows(&l, "v.mp4", "a", 10, 1, 4, 0);
    CHECK(l.n == 3 && l.items[2].start == 8 && l.items[2].end == 9, "gapped: %d", l.n);
    vl_clip_list_free(&l);

    s = vl_clips_windows(&l, "v.mp4", "a", 10, 0, 1, 0);
    CHECK(s == VL_ERR_ARG && has(vl_errmsg(), "window length"), "L = 0: %s", vl_errmsg());
    s = vl_clips_windows(&l, "v.mp4", "a", 10, 2, 0, 0);
    CHECK(s == VL_ERR_ARG && has(vl_errmsg(), "stride"), "S = 0: %s", vl_errmsg());
    s = vl_clips_windows(&l, "v.mp4", "a", 10, 2, -1, 0);
    CHECK(s == VL_ERR_ARG, "S < 0");
    s = vl_clips_windows(&l, "v.mp4", "a", 1, 2, 1, 1);
    CHECK(s == VL_ERR_ARG && names("v.mp4", 0) && has(vl_errmsg(), "shorter than the window"), "D < L: %s",
          vl_errmsg());
    CHECK(l.n == 0 && l.nclasses == 0, "errors add nothing");
}

/* ---- (e) per-frame labels --------------------------------------------------------- */

static vl_frame_labels *load(const char *rel, const char *text)
{
    put(rel, text);
    vl_frame_labels *fl = NULL;
    vl_status s = vl_frame_labels_load(tpath(rel), &fl);
    CHECK(s == VL_OK && fl, "%s: %s", rel, vl_errmsg());
    return fl;
}

static void test_frame_labels(void)
{
    /* segments, out of order, with a header; boundary at 2.0 s */
    vl_frame_labels *seg = load("lab/seg.csv", "Start,End,Label\n# run after walk\n2.0,4.0,run\n\n0,2.0,walk\n");
    /* the same labelling as source frames of a 30 fps video, no header */
    char text[8192] = "";
    for (int f = 0; f < 120; f++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%s\n", f, f < 60 ? "walk" : "run");
    vl_frame_labels *frm = load("lab/frames.csv", text);
    if (!seg || !frm)
        return;
    CHECK(seg->kind == VL_LABELS_SEGMENTS && seg->n == 2 && seg->start[0] == 0 && seg->line[0] == 5,
          "segments sorted by start, lines kept");
    CHECK(frm->kind == VL_LABELS_FRAMES && frm->n == 120 && frm->nclasses == 2 && !strcmp(frm->classes[0], "run"),
          "frames form");

    /* 5 fps from 30 fps: sampled frame k has time k/5 and source index 6k */
    enum { N = 20 };
    double t[N];
    int64_t idx[N];
    for (int k = 0; k < N; k++) {
        t[k] = 0.0 + k / 5.0;
        idx[k] = 6 * k;
    }
    int32_t ys[N], yf[N], naive[N];
    vl_status s = vl_frame_labels_align(seg, N, t, NULL, NULL, 0, 0, ys);
    CHECK(s == VL_OK, "align segments: %s", vl_errmsg());
    s = vl_frame_labels_align(frm, N, NULL, idx, NULL, 0, 0, yf);
    CHECK(s == VL_OK, "align frames: %s", vl_errmsg());
    const int WALK = 1, RUN = 0; /* sorted: run, walk */
    CHECK(ys[9] == WALK && ys[10] == RUN, "t = 1.8 walk, t = 2.0 run: %d %d", ys[9], ys[10]);
    int agree = 1;
    for (int k = 0; k < N; k++)
        agree &= ys[k] == (k < 10 ? WALK : RUN) && yf[k] == ys[k];
    CHECK(agree, "both forms align by the video's clock");
    /* counting sampled frames as source frames would label all 20 'walk' */
    int64_t count_idx[N];
    for (int k = 0; k < N; k++)
        count_idx[k] = k;
    vl_frame_labels_align(frm, N, NULL, count_idx, NULL, 0, 0, naive);
    CHECK(naive[10] == WALK && yf[10] == RUN, "alignment by source index differs from counting");
    /* rounding just below a boundary counts as on it */
    double tb[2] = {2.0 - 1e-12, 4.0 - 2e-9};
    s = vl_frame_labels_align(seg, 2, tb, NULL, NULL, 0, 0, ys);
    CHECK(s == VL_OK && ys[0] == RUN && ys[1] == RUN, "boundary tolerance: %d %d", ys[0], ys[1]);

    /* ids in a caller's vocabulary */
    const char *vocab[] = {"idle", "run", "walk"};
    s = vl_frame_labels_align(seg, N, t, NULL, vocab, 3, 0, ys);
    CHECK(s == VL_OK && ys[0] == 2 && ys[19] == 1, "vocabulary ids: %d %d", ys[0], ys[19]);
    const char *small[] = {"walk"};
    s = vl_frame_labels_align(seg, N, t, NULL, small, 1, 0, ys);
    CHECK(s == VL_ERR_FORMAT && names("lab/seg.csv", 3) && has(vl_errmsg(), "'run'"), "label not in vocabulary: %s",
          vl_errmsg());

    /* unlabelled frames: an error naming the file and the time/frame, or -1 */
    double tend[3] = {0.5, 4.0, 3.9};
    s = vl_frame_labels_align(seg, 3, tend, NULL, NULL, 0, 0, ys);
    CHECK(s == VL_ERR_FORMAT && names("lab/seg.csv", 0) && has(vl_errmsg(), "at 4 s"), "past the end: %s",
          vl_errmsg());
    s = vl_frame_labels_align(seg, 3, tend, NULL, NULL, 0, 1, ys);
    CHECK(s == VL_OK && ys[0] == WALK && ys[1] == -1 && ys[2] == RUN, "allow_unlabelled: %d %d %d", ys[0], ys[1],
          ys[2]);
    int64_t iend[2] = {119, 120};
    s = vl_frame_labels_align(frm, 2, NULL, iend, NULL, 0, 0, ys);
    CHECK(s == VL_ERR_FORMAT && names("lab/frames.csv", 0) && has(vl_errmsg(), "frame 120"), "frame 120: %s",
          vl_errmsg());
    s = vl_frame_labels_align(frm, 2, NULL, iend, NULL, 0, 1, ys);
    CHECK(s == VL_OK && ys[0] == RUN && ys[1] == -1, "frame 120 unlabelled");
    CHECK(vl_frame_labels_align(frm, 2, NULL, NULL, NULL, 0, 0, ys) == VL_ERR_ARG, "frames need index");
    CHECK(vl_frame_labels_align(seg, 2, NULL, iend, NULL, 0, 0, ys) == VL_ERR_ARG, "segments need times");
    CHECK(vl_frame_labels_align(seg, 0, NULL, NULL, NULL, 0, 0, NULL) == VL_OK, "n = 0");
    vl_frame_labels_free(seg);
    vl_frame_labels_free(frm);

    /* gaps between segments; headerless three columns; quoted labels */
    seg = load("lab/gap.csv", "0,1,\"a,b\"\n2,3,c\n");
    if (seg) {
        double tg[3] = {0.5, 1.5, 2.5};
        CHECK(seg->kind == VL_LABELS_SEGMENTS && !strcmp(seg->classes[0], "a,b"), "headerless segments");
        s = vl_frame_labels_align(seg, 3, tg, NULL, NULL, 0, 1, ys);
        CHECK(s == VL_OK && ys[0] == 0 && ys[1] == -1 && ys[2] == 1, "gap: %d %d %d", ys[0], ys[1], ys[2]);
        vl_frame_labels_free(seg);
    }
    frm = load("lab/hdr.csv", "FRAME, label\r\n5,x\r\n3,y\r\n");
    if (frm) {
        int64_t i2[2] = {3, 5};
        s = vl_frame_labels_align(frm, 2, NULL, i2, NULL, 0, 0, ys);
        CHECK(frm->kind == VL_LABELS_FRAMES && s == VL_OK && !strcmp(frm->classes[ys[0]], "y") &&
                  !strcmp(frm->classes[ys[1]], "x"),
              "frame header, unsorted rows");
        vl_frame_labels_free(frm);
    }

    struct {
        const char *name, *text;
        int line;
        const char *what;
    } bad[] = {
        {"lab/e_hdr.csv", "time,label\n0,a\n", 1, "unrecognised header"},
        {"lab/e_cols.csv", "# c\n0,1,2,a\n", 2, "4 fields"},
        {"lab/e_mixed.csv", "0,a\n1,b\n2,3,c\n", 3, "frame,label form"},
        {"lab/e_mixed2.csv", "start,end,label\n0,1,a\n2,b\n", 3, "start,end,label form"},
        {"lab/e_frame.csv", "0,a\n1.5,b\n", 2, "bad frame number '1.5'"},
        {"lab/e_negf.csv", "0,a\n-3,b\n", 2, "negative frame"},
        {"lab/e_dup.csv", "frame,label\n0,a\n1,b\n\n1,c\n", 5, "already labelled on line 3"},
        {"lab/e_overlap.csv", "0,2,a\n4,5,c\n1.5,3,b\n", 3, "overlaps"},
        {"lab/e_order.csv", "0,2,a\n3,3,b\n", 2, "end 3 <= start 3"},
        {"lab/e_negs.csv", "-1,2,a\n", 1, "negative start"},
        {"lab/e_bad.csv", "0,2,a\n3,x,b\n", 2, "bad end time 'x'"},
        {"lab/e_label.csv", "0,a\n1,\n", 2, "missing label"},
        {"lab/e_quote.csv", "0,a\n1,\"b\n", 2, "unterminated"},
        {"lab/e_empty.csv", "start,end,label\n# none\n", 0, "no labels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(bad[i].name, bad[i].text);
        vl_frame_labels *fl = (vl_frame_labels *)1;
        s = vl_frame_labels_load(tpath(bad[i].name), &fl);
        CHECK(s == VL_ERR_FORMAT && fl == NULL && names(bad[i].name, bad[i].line) && has(vl_errmsg(), bad[i].what),
              "%s: status %d, message '%s'", bad[i].name, s, vl_errmsg());
    }
    vl_frame_labels *fl;
    s = vl_frame_labels_load(tpath("lab/none.csv"), &fl);
    CHECK(s == VL_ERR_IO && names("lab/none.csv", 0), "missing label file: %s", vl_errmsg());
}

/* Every accepted header name, columns in any order, extra columns ignored;
 * frame ranges; header errors that list the accepted names. */
static void test_label_headers(void)
{
    static const char *const frame_names[] = {"frame", "Frame_Index", "frame_idx", "FRAME_ID", "index",
                                              "idx", "frame_number", "frameno"};
    static const char *const label_names[] = {"label", "class", "Action", "activity", "label_name", "CLASS_NAME"};
    static const char *const seg_names[][2] = {{"start", "end"},         {"start_s", "end_s"},
                                               {"Start_Sec", "End_Sec"}, {"start_time", "end_time"},
                                               {"t_start", "t_end"},     {"begin", "end"},
                                               {"onset", "offset"}};
    char text[512], name[64];
    int32_t y[3];
    int k = 0;
    for (size_t f = 0; f < sizeof frame_names / sizeof *frame_names; f++)
        for (size_t l = 0; l < sizeof label_names / sizeof *label_names; l++, k++) {
            /* label first, an unknown column between: order comes from the header */
            snprintf(text, sizeof text, "%s,note,%s\nrun,x,4\nwalk,y,0\n", label_names[l], frame_names[f]);
            snprintf(name, sizeof name, "lab/h_f%d.csv", k);
            vl_frame_labels *fl = load(name, text);
            if (!fl)
                continue;
            int64_t idx[3] = {0, 4, 2};
            vl_status st = vl_frame_labels_align(fl, 3, NULL, idx, NULL, 0, 1, y);
            CHECK(fl->kind == VL_LABELS_FRAMES && st == VL_OK && !strcmp(fl->classes[y[0]], "walk") &&
                      !strcmp(fl->classes[y[1]], "run") && y[2] == -1,
                  "header %s,note,%s: kind %d, %s", label_names[l], frame_names[f], fl->kind, vl_errmsg());
            vl_frame_labels_free(fl);
        }
    for (size_t g = 0; g < sizeof seg_names / sizeof *seg_names; g++)
        for (size_t l = 0; l < sizeof label_names / sizeof *label_names; l++, k++) {
            /* end, label, start: any order */
            snprintf(text, sizeof text, "%s,%s,%s\n2,walk,0\n5,run,2\n", seg_names[g][1], label_names[l],
                     seg_names[g][0]);
            snprintf(name, sizeof name, "lab/h_s%d.csv", k);
            vl_frame_labels *fl = load(name, text);
            if (!fl)
                continue;
            double t[3] = {0.5, 2.5, 6};
            vl_status st = vl_frame_labels_align(fl, 3, t, NULL, NULL, 0, 1, y);
            CHECK(fl->kind == VL_LABELS_SEGMENTS && st == VL_OK && !strcmp(fl->classes[y[0]], "walk") &&
                      !strcmp(fl->classes[y[1]], "run") && y[2] == -1,
                  "header %s,%s,%s: kind %d, %s", seg_names[g][1], label_names[l], seg_names[g][0], fl->kind,
                  vl_errmsg());
            vl_frame_labels_free(fl);
        }
    /* frame ranges, inclusive at both ends, with a gap at 5 */
    vl_frame_labels *fl = load("lab/h_range.csv", "label,End_Frame,start_frame\nwalk,4,0\nrun,9,6\n");
    if (fl) {
        int64_t idx[6] = {0, 4, 5, 6, 9, 10};
        int32_t yr[6];
        vl_status st = vl_frame_labels_align(fl, 6, NULL, idx, NULL, 0, 1, yr);
        int w = !strcmp(fl->classes[0], "walk") ? 0 : 1, r = 1 - w;
        CHECK(fl->kind == VL_LABELS_FRAMES && fl->n == 2 && st == VL_OK && yr[0] == w && yr[1] == w &&
                  yr[2] == -1 && yr[3] == r && yr[4] == r && yr[5] == -1,
              "frame ranges: %d %d %d %d %d %d (%s)", yr[0], yr[1], yr[2], yr[3], yr[4], yr[5], vl_errmsg());
        st = vl_frame_labels_align(fl, 6, NULL, idx, NULL, 0, 0, yr);
        CHECK(st == VL_ERR_FORMAT && has(vl_errmsg(), "no label for source frame 5"), "range gap: %s", vl_errmsg());
        vl_frame_labels_free(fl);
    }
    struct {
        const char *name, *text;
        int line;
        const char *what;
    } bad[] = {
        {"lab/hx_time.csv", "time,label\n0,a\n", 1, "unrecognised header"},
        {"lab/hx_nolabel.csv", "frame,name\n0,a\n", 1, "unrecognised header"},
        {"lab/hx_noend.csv", "start,label\n0,a\n", 1, "unrecognised header"},
        {"lab/hx_both.csv", "frame,start,end,label\n0,0,1,a\n", 1, "both frame and segment columns"},
        {"lab/hx_two.csv", "label,class,frame\na,b,0\n", 1, "two label columns ('label' and 'class')"},
        {"lab/hx_rorder.csv", "start_frame,end_frame,label\n5,3,a\n", 2, "end frame 3 < start frame 5"},
        {"lab/hx_roverlap.csv", "start_frame,end_frame,label\n0,4,a\n8,9,c\n4,6,b\n", 4,
         "frame 4 is already labelled on line 2"},
        {"lab/hx_rbad.csv", "start_frame,end_frame,label\n0,x,a\n", 2, "bad end frame 'x'"},
        {"lab/hx_fields.csv", "class,frame_idx,note\na,0,x\nb,1\n", 3, "2 fields"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(bad[i].name, bad[i].text);
        vl_frame_labels *b = (vl_frame_labels *)1;
        vl_status s = vl_frame_labels_load(tpath(bad[i].name), &b);
        CHECK(s == VL_ERR_FORMAT && b == NULL && names(bad[i].name, bad[i].line) && has(vl_errmsg(), bad[i].what),
              "%s: status %d, message '%s'", bad[i].name, s, vl_errmsg());
    }
    /* the unrecognised-header error lists what is accepted */
    put("lab/hx_list.csv", "when,what\n0,a\n");
    vl_frame_labels *b = NULL;
    vl_frame_labels_load(tpath("lab/hx_list.csv"), &b);
    const char *m = vl_errmsg();
    CHECK(has(m, "frame_number") && has(m, "activity") && has(m, "start_time") && has(m, "onset") &&
              has(m, "t_end") && has(m, "start_frame") && has(m, "inclusive"),
          "accepted names not listed: %s", m);
}

/* ---- probing a real (tiny) video for (c) and (d) ------------------------------------ */

static void test_probe(void)
{
    const char *path = tpath("real/walk/clip.avi");
    mkdirs("real/walk");
    vl_writer_opts o = {.codec = "mpeg4", .width = 32, .height = 32, .fps_num = 10, .fps_den = 1};
    vl_video_writer *w;
    if (vl_video_writer_open(path, &o, &w) != VL_OK) {
        CHECK(0, "writer: %s", vl_errmsg());
        return;
    }
    uint8_t rgb[32 * 32 * 3];
    for (int f = 0; f < 30; f++) {
        memset(rgb, f * 8, sizeof rgb);
        vl_video_writer_add(w, rgb, f / 10.0);
    }
    if (vl_video_writer_close(w) != VL_OK) {
        CHECK(0, "writer close: %s", vl_errmsg());
        return;
    }
    vl_video_info info;
    CHECK(vl_video_probe(path, &info) == VL_OK && info.duration > 2.5 && info.duration < 3.5, "probe: %g",
          info.duration);

    vl_clip_list l = {0};
    vl_rng r;
    vl_rng_seed(&r, 9);
    vl_status s = vl_clips_random(&l, path, "walk", 0, 20, 1, 2, &r);
    int ok = s == VL_OK && l.n == 20;
    for (int i = 0; i < l.n; i++)
        ok &= l.items[i].start >= 0 && l.items[i].end <= info.duration;
    CHECK(ok, "random clips from a probed length: %s", vl_errmsg());
    s = vl_clips_random(&l, path, "walk", 0, 2, 10, 12, &r);
    CHECK(s == VL_ERR_FORMAT && names("clip.avi", 0) && has(vl_errmsg(), "shorter"), "probed too short: %s",
          vl_errmsg());
    vl_clip_list_free(&l);
    s = vl_clips_windows(&l, path, NULL, 0, 1, 1, 0);
    CHECK(s == VL_OK && l.n == (int)floor(info.duration + 1e-9), "windows from a probed length: %d", l.n);
    vl_clip_list_free(&l);
    s = vl_clips_from_folders(&l, tpath("real"));
    CHECK(s == VL_OK && l.n == 1 && !strcmp(l.items[0].path, path), "folder with a real video");
    vl_clip_list_free(&l);

    put("real/fake.mp4", "not a video");
    s = vl_clips_windows(&l, tpath("real/fake.mp4"), NULL, 0, 1, 1, 0);
    CHECK(s != VL_OK && names("fake.mp4", 0) && l.n == 0, "probe failure: %s", vl_errmsg());
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/vl_clips_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_folders();
    test_manifest();
    test_random();
    test_windows();
    test_frame_labels();
    test_label_headers();
    test_probe();
    rm_tree(tmpdir);
    return check_summary();
}
