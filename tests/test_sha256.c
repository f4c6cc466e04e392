/* SHA-256 against the FIPS 180 / NIST test vectors (one-shot, streamed in
 * every split, and from a file), the hex helpers, the model metadata's
 * optional "sha256" field (round trip, bad values refused, old files without
 * it still load), and vl_backbone_verify's refusal naming both hashes. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "backbone/registry.h"
#include "check.h"
#include "core/sha256.h"
#include "model/modelfile.h"

static const struct {
    const char *msg;
    const char *hex;
} vectors[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

int main(void)
{
    char hex[VL_SHA256_HEX];
    for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
        const char *m = vectors[v].msg;
        size_t n = strlen(m);
        vl_sha256_buf(m, n, hex);
        CHECK(!strcmp(hex, vectors[v].hex), "\"%s\": %s", m, hex);
        /* streamed in two parts split at every offset, and byte by byte */
        int all = 1;
        for (size_t k = 0; k <= n; k++) {
            vl_sha256_ctx c;
            uint8_t d[32];
            vl_sha256_init(&c);
            vl_sha256_update(&c, m, k);
            vl_sha256_update(&c, m + k, n - k);
            vl_sha256_final(&c, d);
            vl_sha256_hex(d, hex);
            all &= !strcmp(hex, vectors[v].hex);
        }
        CHECK(all, "vector %zu split at every offset", v);
    }
    /* one million 'a' (FIPS 180-2 appendix B.3), in uneven chunks */
    {
        char *a = malloc(1000000);
        memset(a, 'a', 1000000);
        vl_sha256_ctx c;
        uint8_t d[32];
        vl_sha256_init(&c);
        for (size_t off = 0, k = 1; off < 1000000; off += k, k = k * 3 % 1013 + 1)
            vl_sha256_update(&c, a + off, off + k > 1000000 ? 1000000 - off : k);
        vl_sha256_final(&c, d);
        vl_sha256_hex(d, hex);
        CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "million a: %s", hex);
        /* and from a file */
        char path[] = "/tmp/vl_sha256_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0 && write(fd, a, 1000000) == 1000000, "temp file");
        close(fd);
        int64_t size = 0;
        CHECK(vl_file_sha256(path, hex, &size) == VL_OK && size == 1000000 &&
                  !strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
              "file: %s", hex);
        char h2[VL_SHA256_HEX];
        CHECK(vl_file_sha256_cached(path, h2) == VL_OK && !strcmp(h2, hex), "cached hash");
        /* a changed file (size and time) is hashed again */
        fd = open(path, O_WRONLY | O_APPEND);
        CHECK(fd >= 0 && write(fd, "b", 1) == 1, "append");
        close(fd);
        CHECK(vl_file_sha256_cached(path, h2) == VL_OK && strcmp(h2, hex), "a changed file is hashed again");
        unlink(path);
        free(a);
        CHECK(vl_file_sha256(path, hex, NULL) == VL_ERR_IO && strstr(vl_errmsg(), path), "missing file: %s",
              vl_errmsg());
    }
    CHECK(vl_sha256_valid_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015AD"), "hex, upper");
    CHECK(!vl_sha256_valid_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"), "63 digits");
    CHECK(!vl_sha256_valid_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adx"), "65 chars");
    CHECK(!vl_sha256_valid_hex("za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "not hex");

    /* model metadata: "sha256" optional, round trip, validated */
    {
        vl_model_meta m = {0}, r = {0};
        snprintf(m.backbone, sizeof m.backbone, "resnet18");
        snprintf(m.backbone_sha256, sizeof m.backbone_sha256, "%s", vectors[0].hex);
        m.feature_dim = 512;
        vl_preproc_imagenet(&m.pre);
        m.fps = 10;
        char *js = vl_model_backbone_json(&m);
        CHECK(js && strstr(js, "\"sha256\":\"ba7816bf"), "written: %s", js ? js : "(null)");
        CHECK(js && vl_model_backbone_from_json(js, "m", &r) == VL_OK && !strcmp(r.backbone_sha256, vectors[0].hex) &&
                  !strcmp(r.backbone, "resnet18"),
              "read back: %s", vl_errmsg());
        free(js);
        m.backbone_sha256[0] = 0;
        js = vl_model_backbone_json(&m);
        CHECK(js && !strstr(js, "sha256"), "absent when not known: %s", js ? js : "(null)");
        vl_model_meta o = {0};
        CHECK(js && vl_model_backbone_from_json(js, "m", &o) == VL_OK && !o.backbone_sha256[0], "old files load");
        free(js);
        vl_model_meta b = {0};
        CHECK(vl_model_backbone_from_json("{\"spec\":\"x.onnx\",\"sha256\":\"abc\"}", "m.safetensors", &b) ==
                      VL_ERR_FORMAT &&
                  strstr(vl_errmsg(), "m.safetensors") && strstr(vl_errmsg(), "sha256"),
              "a bad sha256 is refused: %s", vl_errmsg());
        CHECK(vl_model_backbone_from_json("{\"spec\":\"x.onnx\",\"sha256\":7}", "m.safetensors", &b) == VL_ERR_FORMAT,
              "a non-string sha256 is refused");
    }
    /* the refusal names both hashes */
    CHECK(vl_backbone_verify("resnet18", "/c/resnet18-v1-7.onnx", vectors[0].hex, vectors[1].hex) == VL_ERR_FORMAT &&
              strstr(vl_errmsg(), vectors[0].hex) && strstr(vl_errmsg(), vectors[1].hex) &&
              strstr(vl_errmsg(), "resnet18"),
          "%s", vl_errmsg());
    CHECK(vl_backbone_verify("a.onnx", "a.onnx", vectors[0].hex, vectors[0].hex) == VL_OK, "same hash");
    CHECK(vl_backbone_verify("a.onnx", "a.onnx", vectors[0].hex, "") == VL_OK, "not recorded: accepted");
    /* the built-in table: every entry complete, names unique */
    {
        const vl_backbone_entry *t;
        int n, ok = 1;
        unsetenv("VIDLSTM_BACKBONES");
        setenv("XDG_CONFIG_HOME", "/nonexistent-vidlstm-test", 1);
        CHECK(vl_backbone_table(&t, &n) == VL_OK && n >= 6, "table: %s", vl_errmsg());
        for (int i = 0; i < n; i++) {
            ok &= t[i].name[0] && vl_sha256_valid_hex(t[i].sha256) && t[i].size > 0 && t[i].file[0] &&
                  t[i].licence[0];
            if (t[i].npm_dir[0]) /* converted from an npm package: its files pinned too */
                ok &= vl_sha256_valid_hex(t[i].npm_model_sha256) && vl_sha256_valid_hex(t[i].npm_shard_sha256) &&
                      t[i].npm_model[0] && t[i].npm_shard[0] && t[i].npm_setup[0];
            else
                ok &= !strncmp(t[i].url, "https://", 8) && t[i].has_pre;
            for (int j = 0; j < i; j++)
                ok &= strcmp(t[i].name, t[j].name) != 0;
        }
        CHECK(ok, "entries complete and unique");
        CHECK(vl_backbone_find("resnet18") && vl_backbone_find("efficientnet-lite4")->pre.nhwc, "lookups");
        char spec[64] = "resnet18-v1-7.onnx";
        CHECK(vl_backbone_locate(spec, sizeof spec, vl_backbone_find("resnet18")->sha256) && !strcmp(spec, "resnet18"),
              "found by its hash: %s", spec);
    }
    return check_summary();
}
