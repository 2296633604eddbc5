/*
 * samples.c -- see samples.h.  The JSON reader knows just enough of RFC 8259 to take the
 * "text" member of one object per line: strings with every escape (\uXXXX and surrogate
 * pairs to UTF-8), and skipping any other value, nested ones included.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/samples.h"

void tr_samples_free(tr_samples *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->text[i]);
    free(s->text);
    free(s->len);
    memset(s, 0, sizeof *s);
}

static int push(tr_samples *s, char *text, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **t = realloc(s->text, cap * sizeof *t);
        if (t) s->text = t;
        size_t *l = realloc(s->len, cap * sizeof *l);
        if (l) s->len = l;
        if (!t || !l) return -1;
        s->cap = cap;
    }
    s->text[s->n] = text;
    s->len[s->n] = len;
    s->n++;
    s->bytes += len;
    return 0;
}

/* ---------------------------------------------------------------- JSON */

typedef struct json { const char *p, *end; } json;

static void skip_ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static int hex4(json *j, unsigned *v)
{
    if (j->end - j->p < 4) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *j->p++;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15) return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at j->p (its opening quote); decoded into *out (malloc'd, NUL-terminated)
 * unless out is NULL. */
static int string(json *j, char **out, size_t *out_len)
{
    if (j->p >= j->end || *j->p != '"') return -1;
    j->p++;
    char *o = out ? malloc((size_t)(j->end - j->p) + 1) : NULL;   /* decoding only shrinks */
    if (out && !o) return -1;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            if (o) o[n] = (char)c;
            n++;
            continue;
        }
        if (j->p >= j->end) goto bad;
        char e = *j->p++;
        unsigned cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (hex4(j, &cp)) goto bad;
            if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u') {
                json k = {j->p + 2, j->end};
                unsigned lo;
                if (hex4(&k, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p = k.p;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;   /* a lone surrogate */
            break;
        default: goto bad;
        }
        char tmp[4];
        size_t k = put_utf8(tmp, cp);
        if (o) memcpy(o + n, tmp, k);
        n += k;
    }
    if (j->p >= j->end) goto bad;
    j->p++;
    if (o) {
        o[n] = 0;
        *out = o;
        *out_len = n;
    }
    return 0;
bad:
    free(o);
    return -1;
}

/* Skip one value of any kind. */
static int skip_value(json *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end || depth > 64) return -1;
    char c = *j->p;
    if (c == '"') return string(j, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        skip_ws(j);
        if (j->p < j->end && *j->p == close) { j->p++; return 0; }
        for (;;) {
            if (c == '{') {
                skip_ws(j);
                if (string(j, NULL, NULL)) return -1;
                skip_ws(j);
                if (j->p >= j->end || *j->p++ != ':') return -1;
            }
            if (skip_value(j, depth + 1)) return -1;
            skip_ws(j);
            if (j->p >= j->end) return -1;
            if (*j->p == ',') { j->p++; continue; }
            if (*j->p++ == close) return 0;
            return -1;
        }
    }
    /* number, true, false, null */
    const char *start = j->p;
    while (j->p < j->end && strchr("+-.0123456789eEtruefalsn", *j->p)) j->p++;
    return j->p > start ? 0 : -1;
}

/* The "text" member of the object on one line: 1 found, 0 absent, -1 not JSON. */
static int object_text(const char *line, size_t n, char **text, size_t *len)
{
    json j = {line, line + n};
    skip_ws(&j);
    if (j.p >= j.end || *j.p++ != '{') return -1;
    int found = 0;
    skip_ws(&j);
    if (j.p < j.end && *j.p == '}') return 0;
    for (;;) {
        skip_ws(&j);
        char *key;
        size_t key_len;
        if (string(&j, &key, &key_len)) goto bad;
        int is_text = key_len == 4 && memcmp(key, "text", 4) == 0;
        free(key);
        skip_ws(&j);
        if (j.p >= j.end || *j.p++ != ':') goto bad;
        skip_ws(&j);
        if (is_text && !found && j.p < j.end && *j.p == '"') {
            if (string(&j, text, len)) goto bad;
            found = 1;
        } else if (skip_value(&j, 0)) {
            goto bad;
        }
        skip_ws(&j);
        if (j.p < j.end && *j.p == ',') { j.p++; continue; }
        if (j.p < j.end && *j.p == '}') break;
        goto bad;
    }
    return found;
bad:
    if (found) free(*text);
    return -1;
}

/* ---------------------------------------------------------------- files */

static char *read_file(const char *path, size_t *n, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap) break;
        char *b = realloc(buf, 2 * cap + 1);
        if (!b) { free(buf); buf = NULL; break; }
        buf = b;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (!buf || bad) {
        snprintf(err, errlen, "cannot read '%s': %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int tr_samples_add_file(tr_samples *s, const char *path, char *err, size_t errlen)
{
    size_t n;
    char *buf = read_file(path, &n, err, errlen);
    if (!buf) return -1;
    if (!ends_with(path, ".jsonl")) {
        if (n == 0) {
            free(buf);
            return 0;
        }
        if (push(s, buf, n) == 0) return 0;
        free(buf);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t line_no = 0, before = s->n;
    for (const char *p = buf, *end = buf + n; p < end; line_no++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *q = p;
        while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < stop) {
            char *text;
            size_t len;
            int r = object_text(p, (size_t)(stop - p), &text, &len);
            if (r < 0 || r == 0) {
                snprintf(err, errlen, "%s, line %zu: %s", path, line_no + 1,
                         r < 0 ? "not a JSON object" : "the object has no \"text\" string");
                free(buf);
                return -1;
            }
            if (len == 0) free(text);
            else if (push(s, text, len)) {
                free(text);
                free(buf);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        p = stop + 1;
    }
    free(buf);
    if (s->n == before) {
        snprintf(err, errlen, "%s holds no sample", path);
        return -1;
    }
    return 0;
}
