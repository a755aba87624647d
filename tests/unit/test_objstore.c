/*
 * Unit tests of common/objstore: URL parsing and joining, upload tokens, the URI encoder and
 * XML reader, the whole file:// backend (crash-safe puts, listing order, prefixes as
 * directories, two-phase uploads, concurrent writers), and the S3 client against a scripted
 * HTTP server on 127.0.0.1: request shapes (path and query encoding, signing headers),
 * retries (503, 429 SlowDown, 500 in a 200, give-up after 5 attempts), no retry on 4xx,
 * listing pages, idempotent commits, and that no message carries the secret.
 * The real-server tests (s3rver checking signatures) are tests/integration/0010-objstore.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/buf.h"
#include "common/base/err.h"
#include "common/base/mem.h"
#include "common/objstore/objstore.h"
#include "common/objstore/objstore_int.h"

#define SECRET "s3cr3t-never-shown"

/* ---- URLs, join, tokens, text helpers ---- */

static void test_url_parse(void **state)
{
    (void)state;
    struct cf_obj_url u;
    struct cf_err err;
    assert_int_equal(cf_obj_url_parse("file:///tmp/x/", &u, &err), 0);
    assert_int_equal(u.kind, CF_OBJ_FILE);
    assert_string_equal(u.path, "/tmp/x");
    assert_string_equal(u.raw, "file:///tmp/x/");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("file://localhost/a b", &u, &err), 0);
    assert_string_equal(u.path, "/a b");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("file:///", &u, &err), 0);
    assert_string_equal(u.path, "/");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("rel/dir//", &u, &err), 0);
    assert_int_equal(u.kind, CF_OBJ_FILE);
    assert_string_equal(u.path, "rel/dir");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("/abs", &u, &err), 0);
    assert_string_equal(u.path, "/abs");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("s3://my-bucket.x/a/b c", &u, &err), 0);
    assert_int_equal(u.kind, CF_OBJ_S3);
    assert_string_equal(u.bucket, "my-bucket.x");
    assert_string_equal(u.key, "a/b c");
    cf_obj_url_free(&u);
    assert_int_equal(cf_obj_url_parse("gs://b", &u, &err), 0);
    assert_int_equal(u.kind, CF_OBJ_GS);
    assert_string_equal(u.bucket, "b");
    assert_string_equal(u.key, "");
    cf_obj_url_free(&u);

    assert_int_equal(cf_obj_url_parse("s3://", &u, &err), CF_EINVAL);
    assert_non_null(strstr(err.msg, "no bucket"));
    assert_int_equal(cf_obj_url_parse("s3:///k", &u, &err), CF_EINVAL);
    assert_int_equal(cf_obj_url_parse("s3://us@er/k", &u, &err), CF_EINVAL);
    assert_non_null(strstr(err.msg, "bad bucket name"));
    assert_int_equal(cf_obj_url_parse("file://rel/x", &u, &err), CF_EINVAL);
    assert_int_equal(cf_obj_url_parse("", &u, &err), CF_EINVAL);
    assert_int_equal(cf_obj_url_parse("hdfs://nn/x", &u, &err), CF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "hdfs://nn/x"));

    /* Object operations need an object, not a bucket or a "directory". */
    assert_int_equal(cf_obj_put("s3://b", "x", 1, &err), CF_EINVAL);
    assert_int_equal(cf_obj_put("s3://b/dir/", "x", 1, &err), CF_EINVAL);
    assert_int_equal(cf_obj_exists("gs://b/", &err), CF_EINVAL);
    assert_int_equal(cf_obj_delete("http://h/x", &err), CF_EUNSUPPORTED);
}

static void check_join(const char *base, const char *name, const char *want)
{
    char *got = cf_obj_join(base, name);
    assert_string_equal(got, want);
    free(got);
}

static void test_join(void **state)
{
    (void)state;
    check_join("s3://b/p", "x/y", "s3://b/p/x/y");
    check_join("s3://b/p/", "x/y", "s3://b/p/x/y");
    check_join("s3://b/p//", "//x", "s3://b/p/x");
    check_join("s3://b", "x", "s3://b/x");
    check_join("s3://b/", "x", "s3://b/x");
    check_join("file:///", "x", "file:///x");
    check_join("file:///tmp", "x", "file:///tmp/x");
    check_join("/", "x", "/x");
    check_join("rel", "x", "rel/x");
    check_join("", "x", "x");
    check_join("s3://b/p/", "", "s3://b/p/");
}

static void test_token_round_trip(void **state)
{
    (void)state;
    char *etags[] = {"\"abc\"", "\"d e%f\"", "x"};
    struct cf_obj_token t = {
        .url = "s3://b/dir with space/100%/é\nx",
        .size = 18446744073709551615ull,
        .id = "up+id/==",
        .etags = etags,
        .n_parts = 3,
    };
    char *s = cf_obj_token_format(&t);
    assert_null(strchr(s, '\n'));
    for (const char *p = s; *p; p++) {
        assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(strncmp(s, "cfup1 ", 6), 0);
    struct cf_obj_token back;
    struct cf_err err;
    assert_int_equal(cf_obj_token_parse(s, &back, &err), 0);
    assert_string_equal(back.url, t.url);
    assert_true(back.size == t.size);
    assert_string_equal(back.id, t.id);
    assert_int_equal(back.n_parts, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.etags[i], etags[i]);
    }
    cf_obj_token_free(&back);
    free(s);

    struct cf_obj_token file = {.url = "file:///a/b", .size = 0, .id = "/a/.b.inprogress-1"};
    s = cf_obj_token_format(&file);
    assert_string_equal(s, "cfup1 file:///a/b 0 /a/.b.inprogress-1");
    assert_int_equal(cf_obj_token_parse(s, &back, &err), 0);
    assert_int_equal(back.n_parts, 0);
    cf_obj_token_free(&back);
    free(s);

    const char *bad[] = {"",
                         "cfup1",
                         "cfup1 ",
                         "cfup1 u",
                         "cfup1 u 1",
                         "cfup1 u x id",
                         "cfup1 u -1 id",
                         "cfup1 u 1 id ",
                         "cfup1 u  1 id",
                         "cfup1 u 1 %zz",
                         "cfup1 u 1 %0",
                         "cfup1 u 1 a%00b",
                         "cfup2 u 1 id",
                         "cfup1 u 99999999999999999999 id"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cf_obj_token_parse(bad[i], &back, &err), CF_EINVAL);
        assert_non_null(strstr(err.msg, "invalid upload token"));
    }
    assert_int_equal(cf_obj_upload_commit("garbage", &err), CF_EINVAL);
    assert_int_equal(cf_obj_upload_abort("cfup1 ftp://x 1 y", &err), CF_EUNSUPPORTED);
}

static void test_uri_encode(void **state)
{
    (void)state;
    struct cf_buf b;
    cf_buf_init(&b);
    const char *s = "a b/c~d-e_f.g+h=i&j%k\xc3\xa9";
    cf_obj_uri_encode(&b, s, strlen(s), 1);
    assert_string_equal(b.data, "a%20b/c~d-e_f.g%2Bh%3Di%26j%25k%C3%A9");
    cf_buf_reset(&b);
    cf_obj_uri_encode(&b, s, strlen(s), 0);
    assert_string_equal(b.data, "a%20b%2Fc~d-e_f.g%2Bh%3Di%26j%25k%C3%A9");
    cf_buf_destroy(&b);
}

static void test_xml(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?><R xmlns=\"x\"><KeyCount>2</KeyCount>"
                      "<Contents><Key>a&amp;b&lt;&gt;&quot;&apos;&#x27;&#39;&#233;</Key>"
                      "<Size>3</Size></Contents><Contents><Key>plain</Key></Contents>"
                      "<Empty/><Attr a=\"1\">v</Attr><Bad>&bogus; &#xZZ; &</Bad></R>";
    size_t len = strlen(xml), pos = 0;
    const char *in;
    size_t in_len;
    struct cf_buf t;
    cf_buf_init(&t);
    /* <KeyCount> is not <Key>; the first <Key> is inside the first <Contents>. */
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Contents", &in, &in_len), 1);
    size_t p = 0;
    const char *v;
    size_t v_len;
    assert_int_equal(cf_obj_xml_find(in, in_len, &p, "Key", &v, &v_len), 1);
    cf_obj_xml_text(&t, v, v_len);
    assert_string_equal(t.data, "a&b<>\"'''\xc3\xa9");
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Contents", &in, &in_len), 1);
    p = 0;
    assert_int_equal(cf_obj_xml_find(in, in_len, &p, "Key", &v, &v_len), 1);
    assert_int_equal(v_len, 5);
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Contents", &in, &in_len), 0);
    pos = 0;
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Empty", &v, &v_len), 1);
    assert_int_equal(v_len, 0);
    pos = 0;
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Attr", &v, &v_len), 1);
    assert_int_equal(v_len, 1);
    pos = 0;
    assert_int_equal(cf_obj_xml_find(xml, len, &pos, "Bad", &v, &v_len), 1);
    cf_buf_reset(&t);
    cf_obj_xml_text(&t, v, v_len);
    assert_string_equal(t.data, "&bogus; &#xZZ; &");
    pos = 0;
    assert_int_equal(cf_obj_xml_find("<A>unclosed", 11, &pos, "A", &v, &v_len), 0);
    cf_buf_destroy(&t);
}

/* ---- the file backend ---- */

static char g_dir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "%s/cf-objstore-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    struct cf_err err;
    assert_int_equal(cf_obj_delete_prefix(g_dir, &err), 0);
    struct stat st;
    assert_int_equal(stat(g_dir, &st), -1);
    cf_obj_set_part_size(0);
    return 0;
}

/* g_dir + "/" + rel, as "file://..." when file_url. Caller frees. */
static char *at(const char *rel, int file_url)
{
    return cf_asprintf("%s%s/%s", file_url ? "file://" : "", g_dir, rel);
}

/* Number of entries in a directory, "." and ".." excluded. */
static int dir_entries(const char *rel)
{
    char *path = at(rel, 0);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    if (d) {
        closedir(d);
    }
    free(path);
    return n;
}

static void test_file_objects(void **state)
{
    (void)state;
    struct cf_err err;
    char *url = at("a/b/obj.bin", 1);
    const char data[] = "bin\0ary\0data";
    assert_int_equal(cf_obj_put(url, data, sizeof(data), &err), 0);
    assert_int_equal(dir_entries("a/b"), 1); /* no temp file left */
    struct cf_buf b;
    cf_buf_init(&b);
    cf_buf_puts(&b, "prefix:");
    assert_int_equal(cf_obj_get(url, &b, &err), 0); /* appends */
    assert_int_equal(b.len, 7 + sizeof(data));
    assert_memory_equal(b.data + 7, data, sizeof(data));
    assert_int_equal(cf_obj_exists(url, &err), 1);
    assert_int_equal(cf_obj_put(url, "v2", 2, &err), 0);
    cf_buf_reset(&b);
    assert_int_equal(cf_obj_get(url, &b, &err), 0);
    assert_string_equal(b.data, "v2");

    char *absent = at("a/nope", 1);
    cf_buf_reset(&b);
    cf_buf_puts(&b, "keep");
    assert_int_equal(cf_obj_get(absent, &b, &err), CF_ENOENT);
    assert_string_equal(b.data, "keep");
    assert_non_null(strstr(err.msg, absent));
    assert_int_equal(cf_obj_exists(absent, &err), 0);
    assert_int_equal(cf_obj_delete(absent, &err), 0);
    char *under_file = at("a/b/obj.bin/x", 1); /* ENOTDIR is absence too */
    assert_int_equal(cf_obj_exists(under_file, &err), 0);
    assert_int_equal(cf_obj_get(under_file, &b, &err), CF_ENOENT);
    char *dir = at("a/b", 1);
    assert_int_equal(cf_obj_exists(dir, &err), 0);
    assert_int_equal(cf_obj_get(dir, &b, &err), CF_ENOENT);
    assert_int_equal(cf_obj_delete(dir, &err), CF_EINVAL);

    /* get_file writes the local file atomically, creating its directories. */
    char *local = at("local/x/copy", 0);
    assert_int_equal(cf_obj_get_file(url, local, &err), 0);
    FILE *f = fopen(local, "rb");
    char got[8] = {0};
    assert_int_equal(fread(got, 1, sizeof(got), f), 2);
    fclose(f);
    assert_string_equal(got, "v2");
    assert_int_equal(cf_obj_get_file(absent, local, &err), CF_ENOENT);
    assert_int_equal(dir_entries("local/x"), 1);

    assert_int_equal(cf_obj_delete(url, &err), 0);
    assert_int_equal(cf_obj_exists(url, &err), 0);

    /* A plain path is the same store. */
    char *plain = at("plain/p", 0);
    assert_int_equal(cf_obj_put(plain, "", 0, &err), 0);
    char *plain_url = at("plain/p", 1);
    assert_int_equal(cf_obj_exists(plain_url, &err), 1);
    cf_buf_reset(&b);
    assert_int_equal(cf_obj_get(plain, &b, &err), 0);
    assert_int_equal(b.len, 0);

    cf_buf_destroy(&b);
    free(url);
    free(absent);
    free(under_file);
    free(dir);
    free(local);
    free(plain);
    free(plain_url);
}

struct listing {
    struct cf_buf text;
    int stop_after;
    int calls;
};

static int collect(void *arg, const char *url, uint64_t size)
{
    struct listing *l = arg;
    cf_buf_appendf(&l->text, "%s %llu\n",
                   url + strlen(g_dir) + (strncmp(url, "file://", 7) ? 0 : 7),
                   (unsigned long long)size);
    return ++l->calls == l->stop_after ? 42 : 0;
}

static void test_file_list_and_prefix(void **state)
{
    (void)state;
    struct cf_err err;
    const char *keys[] = {"p/b", "p/a/2", "p/a/1", "p/a-x", "p/c", "p-other/x", "pp/y"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *u = at(keys[i], 1);
        assert_int_equal(cf_obj_put(u, keys[i], strlen(keys[i]), &err), 0);
        free(u);
    }
    /* An unfinished upload in the tree is not an object. */
    struct cf_obj_upload *up;
    char *pending = at("p/pending", 1);
    assert_int_equal(cf_obj_upload_begin(pending, &up, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "zz", 2, &err), 0);

    struct listing l = {.stop_after = -1};
    cf_buf_init(&l.text);
    char *prefix = at("p", 1);
    assert_int_equal(cf_obj_list(prefix, collect, &l, &err), 0);
    /* Byte order: '-' (0x2d) sorts before '/' (0x2f), as S3 lists keys. */
    assert_string_equal(l.text.data, "/p/a-x 5\n/p/a/1 5\n/p/a/2 5\n/p/b 3\n/p/c 3\n");
    cf_buf_reset(&l.text);
    char *prefix_slash = at("p/", 0);
    assert_int_equal(cf_obj_list(prefix_slash, collect, &l, &err), 0);
    assert_string_equal(l.text.data, "/p/a-x 5\n/p/a/1 5\n/p/a/2 5\n/p/b 3\n/p/c 3\n");

    /* The callback's non-zero value stops the listing and is returned. */
    l.calls = 0;
    l.stop_after = 2;
    assert_int_equal(cf_obj_list(prefix, collect, &l, &err), 42);
    assert_int_equal(l.calls, 2);

    /* An absent prefix, or one naming a file, lists nothing. */
    l.stop_after = -1;
    cf_buf_reset(&l.text);
    char *none = at("none", 1), *file = at("p/b", 1);
    assert_int_equal(cf_obj_list(none, collect, &l, &err), 0);
    assert_int_equal(cf_obj_list(file, collect, &l, &err), 0);
    assert_int_equal(l.text.len, 0);

    /* delete_prefix: the tree, pending uploads included; p-other and pp stay. */
    assert_int_equal(cf_obj_delete_prefix(prefix, &err), 0);
    assert_int_equal(cf_obj_delete_prefix(prefix, &err), 0);
    assert_int_equal(cf_obj_delete_prefix(none, &err), 0);
    char *all = at("", 1);
    assert_int_equal(cf_obj_list(all, collect, &l, &err), 0);
    assert_string_equal(l.text.data, "/p-other/x 9\n/pp/y 4\n");
    assert_int_equal(cf_obj_delete_prefix("/", &err), CF_EINVAL);
    assert_int_equal(cf_obj_delete_prefix("file:///", &err), CF_EINVAL);
    assert_non_null(strstr(err.msg, "refusing"));
    /* The writer of the deleted upload fails on prepare (its directory is gone) and the
     * upload is freed all the same. */
    char *token = NULL;
    assert_int_equal(cf_obj_upload_write(up, "x", 1, &err), 0); /* into the unlinked file */
    assert_int_equal(cf_obj_upload_prepare(up, &token, &err), CF_EIO);
    assert_null(token);

    cf_buf_destroy(&l.text);
    free(pending);
    free(prefix);
    free(prefix_slash);
    free(none);
    free(file);
    free(all);
}

static void test_file_upload(void **state)
{
    (void)state;
    struct cf_err err;
    char *url = at("sink/part-0", 1);
    struct cf_obj_upload *up;
    assert_int_equal(cf_obj_upload_begin(url, &up, &err), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cf_obj_upload_write(up, "0123456789", 10, &err), 0);
    }
    assert_int_equal(cf_obj_exists(url, &err), 0);
    char *token;
    assert_int_equal(cf_obj_upload_prepare(up, &token, &err), 0);
    assert_non_null(strstr(token, "/sink/.part-0.inprogress-"));
    assert_non_null(strstr(token, " 10000 "));
    assert_int_equal(cf_obj_exists(url, &err), 0);
    assert_int_equal(cf_obj_upload_commit(token, &err), 0);
    assert_int_equal(cf_obj_upload_commit(token, &err), 0); /* idempotent */
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);  /* gone: not an error */
    struct cf_buf b;
    cf_buf_init(&b);
    assert_int_equal(cf_obj_get(url, &b, &err), 0);
    assert_int_equal(b.len, 10000);
    assert_memory_equal(b.data + 9990, "0123456789", 10);
    assert_int_equal(dir_entries("sink"), 1);
    free(token);

    /* Abort: nothing appears, and a commit afterwards cannot find the data. */
    char *url2 = at("sink/part-1", 1);
    assert_int_equal(cf_obj_upload_begin(url2, &up, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "x", 1, &err), 0);
    assert_int_equal(cf_obj_upload_prepare(up, &token, &err), 0);
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);
    assert_int_equal(cf_obj_upload_commit(token, &err), CF_ENOENT);
    assert_non_null(strstr(err.msg, "sink/part-1"));
    assert_int_equal(cf_obj_exists(url2, &err), 0);
    free(token);

    /* Discard of an unprepared upload removes its temp file. */
    assert_int_equal(cf_obj_upload_begin(url2, &up, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "x", 1, &err), 0);
    cf_obj_upload_discard(up);
    cf_obj_upload_discard(NULL);
    assert_int_equal(dir_entries("sink"), 1);

    /* A token may only name a temp file of its own target. */
    char *forged = cf_asprintf("cfup1 %s 1 %s/sink/part-0", url2, g_dir);
    assert_int_equal(cf_obj_upload_commit(forged, &err), CF_EINVAL);
    assert_int_equal(cf_obj_upload_abort(forged, &err), CF_EINVAL);
    assert_int_equal(cf_obj_exists(url, &err), 1);
    free(forged);

    cf_buf_destroy(&b);
    free(url);
    free(url2);
}

static void test_file_put_file(void **state)
{
    (void)state;
    struct cf_err err;
    cf_obj_set_part_size(1000); /* the file path ignores parts, but streams in chunks */
    char *src = at("src.bin", 0);
    FILE *f = fopen(src, "wb");
    for (int i = 0; i < 3 * 1024 * 1024 + 7; i++) {
        fputc((i * 7) & 0xff, f);
    }
    fclose(f);
    char *dst = at("dst/copy.bin", 1);
    assert_int_equal(cf_obj_put_file(dst, src, &err), 0);
    struct cf_buf a, b;
    cf_buf_init(&a);
    cf_buf_init(&b);
    assert_int_equal(cf_obj_get(src, &a, &err), 0);
    assert_int_equal(cf_obj_get(dst, &b, &err), 0);
    assert_int_equal(a.len, 3 * 1024 * 1024 + 7);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(dir_entries("dst"), 1);
    char *missing = at("missing", 0);
    assert_int_equal(cf_obj_put_file(dst, missing, &err), CF_ENOENT);
    assert_non_null(strstr(err.msg, missing));
    assert_int_equal(cf_obj_put_file(dst, g_dir, &err), CF_EINVAL); /* a directory */
    assert_int_equal(cf_obj_get_part_size(), 1000);
    cf_buf_destroy(&a);
    cf_buf_destroy(&b);
    free(src);
    free(dst);
    free(missing);
}

struct writer {
    char *url;
    char fill;
    int failed;
};

static void *writer_main(void *p)
{
    struct writer *w = p;
    char data[4096];
    memset(data, w->fill, sizeof(data));
    struct cf_err err;
    for (int i = 0; i < 50; i++) {
        w->failed |= cf_obj_put(w->url, data, sizeof(data), &err) != 0;
    }
    return NULL;
}

static void test_file_concurrent_writers(void **state)
{
    (void)state;
    char *url = at("race/obj", 1);
    pthread_t t[4];
    struct writer w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){.url = url, .fill = (char)('a' + i)};
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_false(w[i].failed);
    }
    /* One writer's whole object, never a mix; no temp file left. */
    struct cf_buf b;
    cf_buf_init(&b);
    struct cf_err err;
    assert_int_equal(cf_obj_get(url, &b, &err), 0);
    assert_int_equal(b.len, 4096);
    for (size_t i = 1; i < b.len; i++) {
        assert_int_equal(b.data[i], b.data[0]);
    }
    assert_int_equal(dir_entries("race"), 1);
    cf_buf_destroy(&b);
    free(url);
}

/* ---- the S3 client against a scripted server ---- */

struct fake_resp {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
};

#define FAKE_MAX 64

struct fake {
    int lfd;
    int port;
    pthread_t tid;
    pthread_mutex_t mu;
    struct fake_resp script[FAKE_MAX];
    int n_script, next;
    char *reqs[FAKE_MAX]; /* request line + headers + "\n" + body */
    int n_reqs;
    int stop;
};

static struct fake g_fake;

static void fake_serve(int fd)
{
    struct cf_buf in;
    cf_buf_init(&in);
    char chunk[65536];
    size_t head_len = 0, body_len = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r <= 0) {
            cf_buf_destroy(&in);
            return;
        }
        cf_buf_append(&in, chunk, (size_t)r);
        char *end = strstr(in.data, "\r\n\r\n");
        if (end && !head_len) {
            head_len = (size_t)(end - in.data) + 4;
            const char *cl = strcasestr(in.data, "\r\nContent-Length:");
            body_len = cl && cl < end ? (size_t)atol(cl + 17) : 0;
        }
        if (head_len && in.len >= head_len + body_len) {
            break;
        }
    }
    pthread_mutex_lock(&g_fake.mu);
    struct fake_resp resp = {500, "", "<Error><Code>NoScript</Code></Error>"};
    if (g_fake.next < g_fake.n_script) {
        resp = g_fake.script[g_fake.next++];
    }
    if (g_fake.n_reqs < FAKE_MAX) {
        g_fake.reqs[g_fake.n_reqs++] = cf_strndup(in.data, head_len + body_len);
    }
    pthread_mutex_unlock(&g_fake.mu);
    int head = strncmp(in.data, "HEAD ", 5) == 0;
    const char *body = resp.body ? resp.body : "";
    struct cf_buf out;
    cf_buf_init(&out);
    cf_buf_appendf(&out, "HTTP/1.1 %d X\r\nConnection: close\r\n%s", resp.status,
                   resp.headers ? resp.headers : "");
    if (!resp.headers || !strstr(resp.headers, "Content-Length")) {
        cf_buf_appendf(&out, "Content-Length: %zu\r\n", strlen(body));
    }
    cf_buf_appendf(&out, "\r\n%s", head ? "" : body);
    ssize_t w = write(fd, out.data, out.len);
    (void)w;
    cf_buf_destroy(&out);
    cf_buf_destroy(&in);
}

static void *fake_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_fake.stop, __ATOMIC_SEQ_CST)) {
        struct pollfd p = {.fd = g_fake.lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(g_fake.lfd, NULL, NULL);
        if (fd >= 0) {
            fake_serve(fd);
            close(fd);
        }
    }
    return NULL;
}

static int setup_fake(void **state)
{
    (void)state;
    memset(&g_fake, 0, sizeof(g_fake));
    pthread_mutex_init(&g_fake.mu, NULL);
    g_fake.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(g_fake.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(g_fake.lfd, 16), 0);
    socklen_t len = sizeof(sa);
    getsockname(g_fake.lfd, (struct sockaddr *)&sa, &len);
    g_fake.port = ntohs(sa.sin_port);
    pthread_create(&g_fake.tid, NULL, fake_main, NULL);
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", g_fake.port);
    setenv("CF_S3_ENDPOINT", ep, 1);
    setenv("CF_GCS_ENDPOINT", ep, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", "eu-west-1", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("CF_GCS_ACCESS_KEY_ID");
    unsetenv("CF_GCS_REGION");
    return 0;
}

static int teardown_fake(void **state)
{
    (void)state;
    __atomic_store_n(&g_fake.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(g_fake.tid, NULL);
    close(g_fake.lfd);
    for (int i = 0; i < g_fake.n_reqs; i++) {
        cf_free(g_fake.reqs[i]);
    }
    cf_obj_set_part_size(0);
    cf_obj_set_list_page_size(0);
    return 0;
}

static void script(struct fake_resp r)
{
    pthread_mutex_lock(&g_fake.mu);
    g_fake.script[g_fake.n_script++] = r;
    pthread_mutex_unlock(&g_fake.mu);
}

/* Forgets requests and responses of the previous step. */
static void fake_reset(void)
{
    pthread_mutex_lock(&g_fake.mu);
    for (int i = 0; i < g_fake.n_reqs; i++) {
        cf_free(g_fake.reqs[i]);
    }
    g_fake.n_reqs = g_fake.n_script = g_fake.next = 0;
    pthread_mutex_unlock(&g_fake.mu);
}

static const char *req(int i)
{
    assert_true(i < g_fake.n_reqs);
    return g_fake.reqs[i];
}

static void assert_starts(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0) {
        fail_msg("'%.200s' does not start with '%s'", s, prefix);
    }
}

static void test_s3_requests(void **state)
{
    (void)state;
    struct cf_err err;
    struct cf_buf b;
    cf_buf_init(&b);

    script((struct fake_resp){200, "ETag: \"e1\"\r\n", ""});
    assert_int_equal(cf_obj_put("s3://bk/a b/c+d", "hello", 5, &err), 0);
    assert_int_equal(g_fake.n_reqs, 1);
    assert_starts(req(0), "PUT /bk/a%20b/c%2Bd HTTP/1.1\r\n");
    assert_non_null(strstr(req(0), "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
    assert_non_null(strstr(req(0), "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(req(0), "/eu-west-1/s3/aws4_request"));
    assert_non_null(strstr(req(0), "\r\n\r\nhello"));
    assert_null(strstr(req(0), SECRET));

    fake_reset();
    script((struct fake_resp){200, "", "content"});
    cf_buf_puts(&b, ">");
    assert_int_equal(cf_obj_get("gs://gb/k", &b, &err), 0);
    assert_string_equal(b.data, ">content");
    assert_starts(req(0), "GET /gb/k HTTP/1.1\r\n");
    assert_non_null(strstr(req(0), "/auto/s3/aws4_request")); /* GCS's region */

    /* 404: CF_ENOENT at once, no retry, the buffer untouched. */
    fake_reset();
    script((struct fake_resp){404, "",
                              "<Error><Code>NoSuchKey</Code><Message>nope</Message></Error>"});
    assert_int_equal(cf_obj_get("s3://bk/x", &b, &err), CF_ENOENT);
    assert_string_equal(b.data, ">content");
    assert_string_equal(err.msg, "s3://bk/x: no such object");
    assert_int_equal(g_fake.n_reqs, 1);

    /* HEAD: 200 / 404. DELETE: 204 and 404 are both fine. */
    fake_reset();
    script((struct fake_resp){200, "Content-Length: 3\r\n", NULL});
    script((struct fake_resp){404, "", NULL});
    script((struct fake_resp){204, "", NULL});
    script((struct fake_resp){404, "", "<Error><Code>NoSuchKey</Code></Error>"});
    assert_int_equal(cf_obj_exists("s3://bk/x", &err), 1);
    assert_int_equal(cf_obj_exists("s3://bk/y", &err), 0);
    assert_int_equal(cf_obj_delete("s3://bk/x", &err), 0);
    assert_int_equal(cf_obj_delete("s3://bk/y", &err), 0);
    assert_starts(req(0), "HEAD /bk/x ");
    assert_starts(req(2), "DELETE /bk/x ");

    /* 403: no retry; the message names the variable, never the secret. */
    fake_reset();
    script((struct fake_resp){403, "",
                              "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message>"
                              "<AWSAccessKeyId>AKIDTEST</AWSAccessKeyId></Error>"});
    assert_int_equal(cf_obj_put("s3://bk/x", "v", 1, &err), CF_EIO);
    assert_int_equal(g_fake.n_reqs, 1);
    assert_string_equal(err.msg, "s3://bk/x: PUT failed: HTTP 403 SignatureDoesNotMatch: bad sig "
                                 "(check AWS_SECRET_ACCESS_KEY)");
    cf_buf_destroy(&b);
}

static void test_s3_retries(void **state)
{
    (void)state;
    struct cf_err err;
    struct cf_buf b;
    cf_buf_init(&b);

    /* 503 and 429 SlowDown are retried; the body of the failed attempt is not kept. */
    script((struct fake_resp){503, "", "<Error><Code>ServiceUnavailable</Code></Error>"});
    script((struct fake_resp){429, "", "<Error><Code>SlowDown</Code></Error>"});
    script((struct fake_resp){200, "", "third time"});
    assert_int_equal(cf_obj_get("s3://bk/r", &b, &err), 0);
    assert_string_equal(b.data, "third time");
    assert_int_equal(g_fake.n_reqs, 3);

    /* A 400 RequestTimeout is retried too; other 4xx are not. */
    fake_reset();
    script((struct fake_resp){400, "", "<Error><Code>RequestTimeout</Code></Error>"});
    script((struct fake_resp){200, "", ""});
    assert_int_equal(cf_obj_put("s3://bk/r", "v", 1, &err), 0);
    assert_int_equal(g_fake.n_reqs, 2);
    fake_reset();
    script((struct fake_resp){400, "", "<Error><Code>InvalidArgument</Code></Error>"});
    assert_int_equal(cf_obj_put("s3://bk/r", "v", 1, &err), CF_EIO);
    assert_int_equal(g_fake.n_reqs, 1);

    /* Five 500s: give up with the last answer. */
    fake_reset();
    for (int i = 0; i < 5; i++) {
        script((struct fake_resp){500, "", "<Error><Code>InternalError</Code></Error>"});
    }
    assert_int_equal(cf_obj_delete("s3://bk/r", &err), CF_EIO);
    assert_int_equal(g_fake.n_reqs, 5);
    assert_string_equal(err.msg,
                        "s3://bk/r: DELETE failed: HTTP 500 InternalError (after 5 attempts)");
    cf_buf_destroy(&b);
}

static void test_s3_list(void **state)
{
    (void)state;
    struct cf_err err;
    cf_obj_set_list_page_size(2);
    script((struct fake_resp){
        200, "",
        "<ListBucketResult><IsTruncated>true</IsTruncated><KeyCount>2</KeyCount>"
        "<Contents><Key>d/p/b</Key><Size>2</Size></Contents>"
        "<Contents><Key>d/p/a&amp;1</Key><Size>10</Size></Contents>"
        "<NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>"});
    script((struct fake_resp){200, "",
                              "<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>d/p/a-x</Key><Size>3</Size></Contents>"
                              "</ListBucketResult>"});
    struct listing l = {.stop_after = -1};
    cf_buf_init(&l.text);
    g_dir[0] = '\0'; /* collect() strips g_dir */
    assert_int_equal(cf_obj_list("s3://bk/d/p", collect, &l, &err), 0);
    /* Sorted by the client: the server's order is not trusted. */
    assert_string_equal(l.text.data, "s3://bk/d/p/a&1 10\ns3://bk/d/p/a-x 3\ns3://bk/d/p/b 2\n");
    assert_starts(req(0), "GET /bk?list-type=2&max-keys=2&prefix=d%2Fp%2F HTTP/1.1");
    assert_starts(req(1), "GET /bk?continuation-token=tok%2B%2F%3D&list-type=2&max-keys=2&"
                          "prefix=d%2Fp%2F HTTP/1.1");

    /* delete_prefix: list, then one DELETE per key. */
    fake_reset();
    script((struct fake_resp){200, "",
                              "<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>d/x y</Key><Size>1</Size></Contents>"
                              "</ListBucketResult>"});
    script((struct fake_resp){204, "", NULL});
    assert_int_equal(cf_obj_delete_prefix("s3://bk/d", &err), 0);
    assert_int_equal(g_fake.n_reqs, 2);
    assert_starts(req(1), "DELETE /bk/d/x%20y HTTP/1.1");

    /* Truncated without a token: an error, not an endless loop. */
    fake_reset();
    script((struct fake_resp){200, "", "<R><IsTruncated>true</IsTruncated></R>"});
    assert_int_equal(cf_obj_list("s3://bk", collect, &l, &err), CF_EIO);
    assert_starts(req(0), "GET /bk?list-type=2&max-keys=2 HTTP/1.1");
    cf_buf_destroy(&l.text);
}

static void test_s3_upload(void **state)
{
    (void)state;
    struct cf_err err;
    cf_obj_set_part_size(4);
    script((struct fake_resp){200, "",
                              "<InitiateMultipartUploadResult><UploadId>u+1/x</UploadId>"
                              "</InitiateMultipartUploadResult>"});
    script((struct fake_resp){200, "ETag: \"p1\"\r\n", ""});
    script((struct fake_resp){200, "ETag: \"p2\"\r\n", ""});
    script((struct fake_resp){200, "ETag: \"p3\"\r\n", ""});
    struct cf_obj_upload *up;
    assert_int_equal(cf_obj_upload_begin("s3://bk/out/f", &up, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "abc", 3, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "defgh", 5, &err), 0); /* parts abcd, efgh */
    assert_int_equal(cf_obj_upload_write(up, "ij", 2, &err), 0);
    char *token;
    assert_int_equal(cf_obj_upload_prepare(up, &token, &err), 0); /* last part: ij */
    assert_string_equal(token, "cfup1 s3://bk/out/f 10 u+1/x \"p1\" \"p2\" \"p3\"");
    assert_starts(req(0), "POST /bk/out/f?uploads= HTTP/1.1");
    assert_starts(req(1), "PUT /bk/out/f?partNumber=1&uploadId=u%2B1%2Fx HTTP/1.1");
    assert_non_null(strstr(req(1), "\r\n\r\nabcd"));
    assert_non_null(strstr(req(2), "\r\n\r\nefgh"));
    assert_starts(req(3), "PUT /bk/out/f?partNumber=3&uploadId=u%2B1%2Fx HTTP/1.1");
    assert_non_null(strstr(req(3), "\r\n\r\nij"));

    /* Commit: a 200 carrying an <Error> is retried. */
    fake_reset();
    script((struct fake_resp){200, "", "<Error><Code>InternalError</Code></Error>"});
    script((struct fake_resp){200, "", "<CompleteMultipartUploadResult/>"});
    assert_int_equal(cf_obj_upload_commit(token, &err), 0);
    assert_int_equal(g_fake.n_reqs, 2);
    assert_starts(req(1), "POST /bk/out/f?uploadId=u%2B1%2Fx HTTP/1.1");
    assert_non_null(strstr(req(1), "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                                   "<ETag>\"p1\"</ETag></Part>"));
    assert_non_null(strstr(req(1), "<PartNumber>3</PartNumber><ETag>\"p3\"</ETag></Part>"
                                   "</CompleteMultipartUpload>"));

    /* Again after success: NoSuchUpload, the object has the upload's size: done. */
    fake_reset();
    script((struct fake_resp){404, "", "<Error><Code>NoSuchUpload</Code></Error>"});
    script((struct fake_resp){200, "Content-Length: 10\r\nETag: \"x-3\"\r\n", NULL});
    assert_int_equal(cf_obj_upload_commit(token, &err), 0);
    assert_starts(req(1), "HEAD /bk/out/f ");
    /* ... but another size (or no object) means the upload is lost. */
    fake_reset();
    script((struct fake_resp){404, "", "<Error><Code>NoSuchUpload</Code></Error>"});
    script((struct fake_resp){200, "Content-Length: 11\r\n", NULL});
    assert_int_equal(cf_obj_upload_commit(token, &err), CF_ENOENT);
    assert_non_null(strstr(err.msg, "s3://bk/out/f: cannot commit"));

    /* Abort: 204, 404 and a server without the call (405) are all fine. */
    fake_reset();
    script((struct fake_resp){204, "", NULL});
    script((struct fake_resp){404, "", "<Error><Code>NoSuchUpload</Code></Error>"});
    script((struct fake_resp){405, "", "<Error><Code>MethodNotAllowed</Code></Error>"});
    script((struct fake_resp){403, "", "<Error><Code>AccessDenied</Code></Error>"});
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);
    assert_int_equal(cf_obj_upload_abort(token, &err), 0);
    assert_int_equal(cf_obj_upload_abort(token, &err), CF_EIO);
    assert_starts(req(0), "DELETE /bk/out/f?uploadId=u%2B1%2Fx HTTP/1.1");
    free(token);

    /* A failed part upload: prepare fails, the upload is aborted and freed. */
    fake_reset();
    script((struct fake_resp){200, "", "<R><UploadId>u2</UploadId></R>"});
    script((struct fake_resp){400, "", "<Error><Code>EntityTooSmall</Code></Error>"});
    script((struct fake_resp){204, "", NULL});
    assert_int_equal(cf_obj_upload_begin("s3://bk/out/g", &up, &err), 0);
    assert_int_equal(cf_obj_upload_write(up, "z", 1, &err), 0);
    assert_int_equal(cf_obj_upload_prepare(up, &token, &err), CF_EIO);
    assert_non_null(strstr(err.msg, "EntityTooSmall"));
    assert_starts(req(2), "DELETE /bk/out/g?uploadId=u2 ");
}

static void test_s3_config_errors(void **state)
{
    (void)state;
    struct cf_err err;
    setenv("CF_S3_ENDPOINT", "ftp://x", 1);
    assert_int_equal(cf_obj_exists("s3://bk/x", &err), CF_EINVAL);
    assert_non_null(strstr(err.msg, "CF_S3_ENDPOINT"));
    setenv("CF_S3_ENDPOINT", "http://127.0.0.1:1", 1);
    setenv("AWS_REGION", "us-east-1:evil", 1);
    assert_int_equal(cf_obj_exists("s3://bk/x", &err), CF_EINVAL);
    setenv("AWS_REGION", "us-east-1", 1);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(cf_obj_exists("s3://bk/x", &err), CF_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY is not"));
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_xml),
        cmocka_unit_test_setup_teardown(test_file_objects, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_list_and_prefix, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_upload, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_put_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_concurrent_writers, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_s3_requests, setup_fake, teardown_fake),
        cmocka_unit_test_setup_teardown(test_s3_retries, setup_fake, teardown_fake),
        cmocka_unit_test_setup_teardown(test_s3_list, setup_fake, teardown_fake),
        cmocka_unit_test_setup_teardown(test_s3_upload, setup_fake, teardown_fake),
        cmocka_unit_test_setup_teardown(test_s3_config_errors, setup_fake, teardown_fake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
