/* The native agent's buffers and JSON (json.h says what is parsed and written). */
#define _GNU_SOURCE
#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEEP_CAPACITY 65536 /* a drained buffer bigger than this is given back */

/* ------------------------------------------------------------------ buffers */

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        static const char msg[] = "neo-agent: out of memory\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(70);
    }
    return q;
}

void buf_add(buf *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_fmt(buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void buf_drop(buf *b, size_t n) {
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    if (b->len == 0 && b->cap > KEEP_CAPACITY) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

void buf_free(buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------ JSON output */

static const char HEX[] = "0123456789abcdef";

static void json_u(buf *b, unsigned v) {
    char t[6] = {'\\', 'u', HEX[(v >> 12) & 15], HEX[(v >> 8) & 15], HEX[(v >> 4) & 15], HEX[v & 15]};
    buf_add(b, t, 6);
}

/* One code point, escaped as Python's json.dumps does (ensure_ascii). */
static void json_cp(buf *b, uint32_t cp) {
    char c = 0;
    switch (cp) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '\n': c = 'n'; break;
    case '\r': c = 'r'; break;
    case '\t': c = 't'; break;
    case '\b': c = 'b'; break;
    case '\f': c = 'f'; break;
    default: break;
    }
    if (c) {
        char t[2] = {'\\', c};
        buf_add(b, t, 2);
    } else if (cp >= 0x20 && cp < 0x7f) {
        char t = (char)cp;
        buf_add(b, &t, 1);
    } else if (cp < 0x10000) {
        json_u(b, cp);
    } else {
        cp -= 0x10000;
        json_u(b, 0xd800 | (cp >> 10));
        json_u(b, 0xdc00 | (cp & 0x3ff));
    }
}

/*
 * The UTF-8 sequence at s: its length (>0, *cp set), 0 when it is cut short by the end of
 * the data, or minus the length of the maximal invalid subpart to replace with one U+FFFD.
 */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    int need;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return -1;
    }
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) return 0;
        unsigned d = s[i];
        if (d < lo || d > hi) return -i;
        lo = 0x80;
        hi = 0xbf;
        v = (v << 6) | (d & 0x3f);
    }
    *cp = v;
    return need + 1;
}

/* Escape bytes as a JSON string body; returns how many trailing bytes were left undecoded
 * (an incomplete sequence, only when !final). */
size_t json_bytes(buf *b, const unsigned char *s, size_t n, int final) {
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            buf_add(b, s + i, run - i);
            i = run;
            continue;
        }
        uint32_t cp;
        int len = utf8_next(s + i, n - i, &cp);
        if (len == 0) {
            if (!final) return n - i;
            json_cp(b, 0xfffd);
            return 0;
        }
        if (len < 0) {
            json_cp(b, 0xfffd);
            i += (size_t)-len;
        } else {
            json_cp(b, cp);
            i += (size_t)len;
        }
    }
    return 0;
}

void json_cstr(buf *b, const char *s) {
    buf_str(b, "\"");
    json_bytes(b, (const unsigned char *)s, strlen(s), 1);
    buf_str(b, "\"");
}

void error_line(buf *b, const char *code, const char *message) {
    buf_str(b, "{\"error\":");
    json_cstr(b, code);
    buf_str(b, ",\"message\":");
    json_cstr(b, message);
    buf_str(b, "}\n");
}

/* ------------------------------------------------------------ JSON input */


typedef struct {
    const char *s, *end;
    const char *why;
} cursor;

static void ws(cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

static int fail(cursor *c, const char *why) {
    if (c->why == NULL) c->why = why;
    return -1;
}

static int hex4(cursor *c, unsigned *out) {
    if (c->end - c->s < 4) return fail(c, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = *c->s++;
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return fail(c, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(buf *b, uint32_t cp) {
    unsigned char t[4];
    size_t n;
    if (cp < 0x80) { t[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { t[0] = (unsigned char)(0xc0 | (cp >> 6)); t[1] = (unsigned char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        t[0] = (unsigned char)(0xe0 | (cp >> 12));
        t[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        t[0] = (unsigned char)(0xf0 | (cp >> 18));
        t[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_add(b, t, n);
}

/* A JSON string, decoded to a NUL-terminated UTF-8 C string (embedded NULs are refused). */
static int parse_string(cursor *c, char **out) {
    buf b = {0};
    if (c->s >= c->end || *c->s != '"') return fail(c, "expected a string");
    c->s++;
    while (c->s < c->end && *c->s != '"') {
        unsigned char ch = (unsigned char)*c->s++;
        if (ch < 0x20) goto bad_control;
        if (ch != '\\') {
            buf_add(&b, &ch, 1);
            continue;
        }
        if (c->s >= c->end) break;
        char e = *c->s++;
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e && plain) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            buf_add(&b, &to[plain - "\"\\/bfnrt"], 1);
            continue;
        }
        if (e != 'u') goto bad_escape;
        unsigned hi, lo;
        if (hex4(c, &hi)) goto out;
        uint32_t cp = hi;
        if (hi >= 0xd800 && hi < 0xdc00) {
            if (c->end - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u') goto bad_surrogate;
            c->s += 2;
            if (hex4(c, &lo)) goto out;
            if (lo < 0xdc00 || lo > 0xdfff) goto bad_surrogate;
            cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        } else if (hi >= 0xdc00 && hi < 0xe000) {
            goto bad_surrogate;
        }
        if (cp == 0) goto bad_nul;
        put_utf8(&b, cp);
    }
    if (c->s >= c->end) {
        fail(c, "unterminated string");
        goto out;
    }
    c->s++;
    if (memchr(b.p, 0, b.len)) goto bad_nul;
    buf_add(&b, "", 1);
    *out = b.p;
    return 0;
bad_control:
    fail(c, "control character in a string");
    goto out;
bad_escape:
    fail(c, "bad escape in a string");
    goto out;
bad_surrogate:
    fail(c, "lone surrogate in a string");
    goto out;
bad_nul:
    fail(c, "NUL in a string");
out:
    buf_free(&b);
    return -1;
}

static int parse_number(cursor *c, double *out) {
    const char *start = c->s;
    if (c->s < c->end && *c->s == '-') c->s++;
    while (c->s < c->end && strchr("0123456789.eE+-", *c->s) && *c->s) c->s++;
    size_t n = (size_t)(c->s - start);
    if (n == 0 || n > 64) return fail(c, "expected a number");
    char tmp[65];
    memcpy(tmp, start, n);
    tmp[n] = 0;
    char *end;
    *out = strtod(tmp, &end);
    if (*end != 0 || *out != *out) return fail(c, "bad number");
    return 0;
}

static int literal(cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->s) < n || memcmp(c->s, word, n) != 0) return fail(c, "bad literal");
    c->s += n;
    return 0;
}

static int skip_value(cursor *c, int depth);

static int skip_container(cursor *c, int depth, char close) {
    c->s++;
    ws(c);
    if (c->s < c->end && *c->s == close) {
        c->s++;
        return 0;
    }
    for (;;) {
        ws(c);
        if (close == '}') {
            char *key;
            if (parse_string(c, &key)) return -1;
            free(key);
            ws(c);
            if (c->s >= c->end || *c->s != ':') return fail(c, "expected ':'");
            c->s++;
            ws(c);
        }
        if (skip_value(c, depth + 1)) return -1;
        ws(c);
        if (c->s < c->end && *c->s == ',') {
            c->s++;
            continue;
        }
        if (c->s < c->end && *c->s == close) {
            c->s++;
            return 0;
        }
        return fail(c, "expected ',' or a closing bracket");
    }
}

static int skip_value(cursor *c, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nested too deep");
    if (c->s >= c->end) return fail(c, "expected a value");
    double d;
    char *s;
    switch (*c->s) {
    case '"':
        if (parse_string(c, &s)) return -1;
        free(s);
        return 0;
    case '{': return skip_container(c, depth, '}');
    case '[': return skip_container(c, depth, ']');
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return parse_number(c, &d);
    }
}

/* A string or null (null leaves *out NULL). */
static int opt_string(cursor *c, char **out) {
    if (c->s < c->end && *c->s == 'n') return literal(c, "null");
    free(*out);
    *out = NULL;
    return parse_string(c, out);
}

static int parse_env(cursor *c, request *r) {
    if (c->s < c->end && *c->s == 'n') return literal(c, "null");
    if (c->s >= c->end || *c->s != '{') return fail(c, "env must be an object");
    c->s++;
    ws(c);
    if (c->s < c->end && *c->s == '}') {
        c->s++;
        return 0;
    }
    for (;;) {
        char *key = NULL, *value = NULL;
        ws(c);
        if (parse_string(c, &key)) return -1;
        ws(c);
        if (c->s >= c->end || *c->s != ':') {
            free(key);
            return fail(c, "expected ':'");
        }
        c->s++;
        ws(c);
        if (c->s >= c->end || *c->s != '"') {
            free(key);
            return fail(c, "env values must be strings");
        }
        if (parse_string(c, &value)) {
            free(key);
            return -1;
        }
        if (key[0] == 0 || strchr(key, '=')) {
            free(key);
            free(value);
            return fail(c, "bad env name");
        }
        buf kv = {0};
        buf_str(&kv, key);
        buf_add(&kv, "=", 1);
        buf_add(&kv, value, strlen(value) + 1);
        free(key);
        free(value);
        r->env = xrealloc(r->env, (r->nenv + 1) * sizeof *r->env);
        r->env[r->nenv++] = kv.p;
        ws(c);
        if (c->s < c->end && *c->s == ',') {
            c->s++;
            continue;
        }
        if (c->s < c->end && *c->s == '}') {
            c->s++;
            return 0;
        }
        return fail(c, "expected ',' or '}'");
    }
}

static int parse_field(cursor *c, request *r, const char *key) {
    if (!strcmp(key, "op")) return opt_string(c, &r->op);
    if (!strcmp(key, "command")) return opt_string(c, &r->command);
    if (!strcmp(key, "cwd")) return opt_string(c, &r->cwd);
    if (!strcmp(key, "id")) return opt_string(c, &r->id);
    if (!strcmp(key, "env")) return parse_env(c, r);
    if (!strcmp(key, "timeout")) return parse_number(c, &r->timeout);
    if (!strcmp(key, "cols")) return parse_number(c, &r->cols);
    if (!strcmp(key, "rows")) return parse_number(c, &r->rows);
    if (!strcmp(key, "stdout_offset")) return parse_number(c, &r->stdout_offset);
    if (!strcmp(key, "stderr_offset")) return parse_number(c, &r->stderr_offset);
    if (!strcmp(key, "port")) {
        r->has_port = 1;
        return parse_number(c, &r->port);
    }
    return skip_value(c, 1);
}

void request_free(request *r) {
    free(r->op);
    free(r->command);
    free(r->cwd);
    free(r->id);
    for (size_t i = 0; i < r->nenv; i++) free(r->env[i]);
    free(r->env);
    memset(r, 0, sizeof *r);
}

/* Parse the request line; NULL on success, else why not. */
const char *parse_request(const char *s, size_t n, request *r) {
    cursor c = {s, s + n, NULL};
    memset(r, 0, sizeof *r);
    r->timeout = 60;
    r->cols = 80;
    r->rows = 24;
    ws(&c);
    if (c.s >= c.end || *c.s != '{') return "the request is not a JSON object";
    c.s++;
    ws(&c);
    if (c.s < c.end && *c.s == '}') {
        c.s++;
    } else {
        for (;;) {
            char *key = NULL;
            ws(&c);
            if (parse_string(&c, &key)) break;
            ws(&c);
            int bad = c.s >= c.end || *c.s != ':';
            if (!bad) {
                c.s++;
                ws(&c);
                bad = parse_field(&c, r, key);
            }
            free(key);
            if (bad) {
                fail(&c, "expected ':'");
                break;
            }
            ws(&c);
            if (c.s < c.end && *c.s == ',') {
                c.s++;
                continue;
            }
            if (c.s < c.end && *c.s == '}') {
                c.s++;
                break;
            }
            fail(&c, "expected ',' or '}'");
            break;
        }
    }
    ws(&c);
    if (c.why == NULL && c.s != c.end) c.why = "trailing data after the request";
    if (c.why != NULL) request_free(r);
    return c.why;
}
