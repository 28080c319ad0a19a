/*
 * The native agent's byte buffers and its minimal JSON: the request shapes NEO sends (strings
 * with every escape, numbers, booleans, null, an object of strings for `env`; anything else is
 * skipped, nested at most MAX_DEPTH deep) and escaped output as Python's json.dumps writes it.
 */
#ifndef NEO_AGENT_JSON_H
#define NEO_AGENT_JSON_H

#include <stddef.h>

#define MAX_DEPTH 16

typedef struct {
    char *p;
    size_t len, cap;
} buf;

typedef struct {
    char *op, *command, *cwd, *id;
    char **env; /* "KEY=value" */
    size_t nenv;
    double timeout, cols, rows, stdout_offset, stderr_offset, port;
    int has_port;
} request;

void *xrealloc(void *p, size_t n);
void buf_add(buf *b, const void *data, size_t n);
void buf_str(buf *b, const char *s);
void buf_fmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_drop(buf *b, size_t n);
void buf_free(buf *b);

/* Bytes as a JSON string body, invalid UTF-8 replaced by U+FFFD per maximal invalid subpart;
 * returns how many trailing bytes of an incomplete sequence were left (only when !final). */
size_t json_bytes(buf *b, const unsigned char *s, size_t n, int final);
void json_cstr(buf *b, const char *s);
void error_line(buf *b, const char *code, const char *message);

/* Parse one request line; NULL on success (free with request_free), else why not. */
const char *parse_request(const char *s, size_t n, request *r);
void request_free(request *r);

#endif
