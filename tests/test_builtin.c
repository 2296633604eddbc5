/*
 * test_builtin.c -- the built-in models and lmz_ctx_new_builtin: the level picks the
 * model, a stream names the model that made it, one context decodes streams of either
 * model and compresses with its own level's model afterwards, and asking for a model
 * that is not there fails cleanly.  (The only test program that links the embedded
 * models; the CLI's tests/test_cli.sh covers the same from the command line.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "format/container.h"   /* the compact layout's profiles */
#include "lib/internal.h"   /* the lanes a context decodes with */
#include "shared_data.h"

/* Short: lmz-m1 codes a few KB/s, and far slower under ASan. */
static const char TEXT[] =
    "The range coder spends -log2 p bits on each token, so a better model writes fewer "
    "bytes.  Both built-in models were trained on text rebuilt from Debian packages.\n";

typedef struct blob {
    void *p;
    size_t n;
} blob;

static lmz_ctx *builtin_ctx(int level)
{
    lmz_params p;
    lmz_params_default(&p);
    p.level = level;
    p.lm_always = 1;
    lmz_error err = { LMZ_OK, "" };
    lmz_ctx *ctx = lmz_ctx_new_builtin(&p, &err);
    if (!ctx) fail_msg("lmz_ctx_new_builtin(level %d): %s", level, err.message);
    return ctx;
}

static blob compress(lmz_ctx *ctx, const void *src, size_t n)
{
    blob b = { NULL, 0 };
    lmz_status st = lmz_compress_buffer(ctx, src, n, &b.p, &b.n);
    if (st != LMZ_OK) fail_msg("compress: %s", lmz_ctx_error(ctx));
    return b;
}

static void assert_decodes_to(lmz_ctx *ctx, blob packed, const void *want, size_t n)
{
    void *out = NULL;
    size_t out_n = 0;
    lmz_status st = lmz_decompress_buffer(ctx, packed.p, packed.n, &out, &out_n);
    if (st != LMZ_OK) fail_msg("decompress: %s", lmz_ctx_error(ctx));
    assert_int_equal(out_n, n);
    assert_memory_equal(out, want, n);
    free(out);
}

static void assert_stream_model(blob packed, const char *name)
{
    mem_in in = { packed.p, packed.n, 0 };
    lmz_stream_info info;
    lmz_error err = { LMZ_OK, "" };
    assert_int_equal(lmz_stream_list(mem_read, &in, &info, &err), LMZ_OK);
    assert_string_equal(info.model_name, name);
}

static void test_names_and_default(void **state)
{
    (void)state;
    assert_string_equal(lmz_builtin_model_name(0), "lmz-s2");
    assert_string_equal(lmz_builtin_model_name(1), "lmz-m1");
    assert_string_equal(lmz_builtin_model_name(2), "lmz-t1");
    assert_null(lmz_builtin_model_name(3));
    assert_null(lmz_builtin_model_name(-1));
    lmz_error err = { LMZ_OK, "" };
    lmz_model *m = lmz_model_default(&err);
    assert_non_null(m);
    lmz_model_info info;
    lmz_model_get_info(m, &info);
    assert_string_equal(info.name, "lmz-s2");
    lmz_model_close(m);
    assert_null(lmz_model_builtin("lmz-nope", &err));
    assert_int_equal(err.status, LMZ_ERR_ARG);
    assert_non_null(strstr(err.message, "lmz-nope"));
}

/* -1 codes with lmz-t1, -5 with lmz-s2 and -9 with lmz-m1; a context made for one
 * level decodes the other levels' streams, then compresses exactly as before them (its
 * own level's model again). */
static void test_level_picks_model_and_switches(void **state)
{
    (void)state;
    static const int levels[3] = { 1, 5, 9 };
    static const char *const names[3] = { "lmz-t1", "lmz-s2", "lmz-m1" };
    lmz_ctx *ctx[3];
    blob s[3];
    for (int i = 0; i < 3; i++) {
        ctx[i] = builtin_ctx(levels[i]);
        s[i] = compress(ctx[i], TEXT, sizeof TEXT - 1);
        assert_stream_model(s[i], names[i]);
    }
    for (int i = 0; i < 3; i++) {
        uint32_t own_lanes = ctx[i]->level.lanes;
        for (int j = 0; j < 3; j++) {
            assert_decodes_to(ctx[i], s[j], TEXT, sizeof TEXT - 1);
            /* Decoded with the lanes of the stream's level, its own kept for later. */
            assert_int_equal(ctx[i]->level.lanes, own_lanes);
            lmz_level_settings want;
            lmz_level_get_builtin(levels[j], 0, &want);
            assert_int_equal(lmz__stream_lanes(ctx[i], levels[j]), want.lanes);
        }
        blob again = compress(ctx[i], TEXT, sizeof TEXT - 1);
        assert_int_equal(again.n, s[i].n);
        assert_memory_equal(again.p, s[i].p, s[i].n);
        free(again.p);
    }
    for (int i = 0; i < 3; i++) {
        free(s[i].p);
        lmz_ctx_free(ctx[i]);
    }
}

/* A stream of a model that is not built in: LMZ_ERR_MODEL_MISMATCH naming it, and the
 * context still works afterwards. */
static void test_foreign_stream(void **state)
{
    (void)state;
    lmz_error err = { LMZ_OK, "" };
    lmz_model *other = lmz_model_open("tests/fixtures/ref/llama-gqa-tied-gpt2.gguf", &err);
    if (!other) fail_msg("fixture: %s", err.message);
    lmz_params p;
    lmz_params_default(&p);
    p.lm_always = 1;
    lmz_ctx *octx = lmz_ctx_new(other, &p, &err);
    assert_non_null(octx);
    blob foreign = compress(octx, TEXT, sizeof TEXT - 1);
    lmz_ctx *ctx = builtin_ctx(5);
    void *out = NULL;
    size_t out_n = 0;
    assert_int_equal(lmz_decompress_buffer(ctx, foreign.p, foreign.n, &out, &out_n),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(lmz_ctx_error(ctx), "but the loaded model is"));
    blob mine = compress(ctx, TEXT, sizeof TEXT - 1);
    assert_stream_model(mine, "lmz-s2");
    assert_decodes_to(ctx, mine, TEXT, sizeof TEXT - 1);
    free(mine.p);
    free(foreign.p);
    lmz_ctx_free(ctx);
    lmz_ctx_free(octx);
    lmz_model_close(other);
}

/* doc/format.md 11's profiles are the built-in levels as this build has them: the
 * model's ids, context, keep, KV precision and chunk size; profiles 1..9 with mixed
 * coding version 1, 10..18 with version 2, 19..27 with version 3.  A change to a level or a model must add a
 * profile, never edit one (old compact streams name them), so this fails until the
 * table says so.  And a level's stream is compact, names its version-3 profile, and
 * costs 11 bytes of container around a payload under 16 KiB. */
static void test_profiles_are_the_levels(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 3u * LMZ_LEVEL_MAX; n++) {
        int level = (int)(n - 1) % LMZ_LEVEL_MAX + 1;
        const lmzf_profile *pr = lmzf_profile_get(n);
        assert_non_null(pr);
        assert_int_equal(pr->mix_version, (n - 1) / LMZ_LEVEL_MAX + 1);
        lmz_error err = { LMZ_OK, "" };
        lmz_model *m = lmz_model_builtin(lmz_builtin_model_name(lmz_level_builtin(level)), &err);
        if (!m) fail_msg("%s", err.message);
        lmz_model_info info;
        lmz_model_get_info(m, &info);
        lmz_level_settings set;
        lmz_level_get_builtin(level, info.n_ctx_train, &set);
        assert_string_equal(pr->model_name, info.name);
        assert_memory_equal(pr->model_id, info.model_hash, LMZF_ID_SIZE);
        assert_memory_equal(pr->tokenizer_id, info.tokenizer_hash, LMZF_ID_SIZE);
        assert_int_equal(pr->context, set.context);
        assert_int_equal(pr->keep, set.keep);
        assert_int_equal(pr->kv_f16, set.kv_f16);
        assert_int_equal(pr->chunk_size, set.chunk_size);
        assert_int_equal(pr->level, level);
        lmz_model_close(m);
    }
    assert_null(lmzf_profile_get(3 * LMZ_LEVEL_MAX + 1));
    assert_null(lmzf_profile_get(0));

    lmz_ctx *ctx = builtin_ctx(5);
    blob b = compress(ctx, TEXT, sizeof TEXT - 1);
    const uint8_t *p = b.p;
    assert_true(lmzf_is_compact_tag(p[0]) && (p[0] - LMZF_COMPACT_TAG_MIN) >= LMZF_COMPACT_LM);
    assert_int_equal(p[1], 2 * LMZ_LEVEL_MAX + 5);
    assert_int_equal(p[2], lmzf_profile_get(2 * LMZ_LEVEL_MAX + 5)->model_id[0]);
    /* tag, profile, model check, raw_size and payload_size (both under 16 KiB: at most
     * 2 bytes each), payload, check */
    size_t raw_len = (p[3] & 0x80) ? 2 : 1, at = 3 + raw_len;
    size_t payload_len = (p[at] & 0x80) ? 2 : 1;
    uint32_t payload = p[at] & 0x7Fu;
    if (payload_len == 2) payload |= (uint32_t)p[at + 1] << 7;
    assert_int_equal(b.n, 3 + raw_len + payload_len + payload + 4);
    assert_true(b.n - payload <= 11);
    assert_decodes_to(ctx, b, TEXT, sizeof TEXT - 1);
    free(b.p);
    lmz_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_default),
        cmocka_unit_test(test_level_picks_model_and_switches),
        cmocka_unit_test(test_foreign_stream),
        cmocka_unit_test(test_profiles_are_the_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
