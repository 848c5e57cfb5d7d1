/*
 * libFuzzer target for the metrics endpoint's request parser
 * (http_parse_request, daemon/http.c), the only code that reads bytes a
 * network peer chose before any check.
 *
 * The target needs only daemon/http.c (no libev, no other module):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *         -Idaemon -Itests/fuzz tests/fuzz/fuzz_http.c daemon/http.c -o build/fuzz/fuzz_http
 *   build/fuzz/fuzz_http -max_len=8192 -max_total_time=60 [CORPUS_DIR]
 * (-max_len a little over the server's 4096-byte request buffer.)
 *
 * Besides crashes and sanitizer reports it checks the parser's contract
 * (http.h), with CHECK (fuzz_common.h) on a breach:
 *   - the result is one of BAD / NEED_MORE / COMPLETE;
 *   - BAD: status is 400 or 505 and error is set;
 *   - COMPLETE: head_len <= len and the head ends with CRLF CRLF; method,
 *     target and path lie inside the head (path may be the static "/"),
 *     path starts with '/', method GET/HEAD match their text; minor is 0/1;
 *   - prefix monotonicity: buf[0, head_len - 1) is NEED_MORE and
 *     buf[0, head_len) gives the same request; a prefix of a NEED_MORE
 *     input is NEED_MORE; the input with more bytes after a BAD one is BAD.
 * The input is copied into a buffer of exactly its size, so ASan reports
 * any read past the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
parse_copy(const uint8_t *data, size_t n, struct http_request *r)
{
	char *buf = malloc(n ? n : 1);
	int res;

	CHECK(buf != NULL);
	memcpy(buf, data, n);
	res = http_parse_request(buf, n, r);
	free(buf);  /* r's pointers dangle now: only lengths and enums are used */
	return res;
}

static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct http_request r, r2;
	int res;

	CHECK(buf != NULL);
	memcpy(buf, data, size);
	res = http_parse_request(buf, size, &r);
	CHECK(res == HTTP_PARSE_BAD || res == HTTP_PARSE_NEED_MORE || res == HTTP_PARSE_COMPLETE);

	if (res == HTTP_PARSE_BAD) {
		CHECK(r.status == 400 || r.status == 505);
		CHECK(r.error != NULL && r.error[0] != '\0');
		/* More bytes do not make it good. */
		if (size < 4096) {
			uint8_t *more = malloc(size + 4);
			CHECK(more != NULL);
			memcpy(more, data, size);
			memcpy(more + size, "\r\n\r\n", 4);
			CHECK(parse_copy(more, size + 4, &r2) == HTTP_PARSE_BAD);
			free(more);
		}
	} else if (res == HTTP_PARSE_NEED_MORE) {
		if (size > 0) {
			CHECK(parse_copy(data, size / 2, &r2) == HTTP_PARSE_NEED_MORE);
			CHECK(parse_copy(data, size - 1, &r2) == HTTP_PARSE_NEED_MORE);
		}
	} else {
		size_t h = r.head_len;

		CHECK(h >= 16 && h <= size);  /* "A / HTTP/1.0\r\n\r\n" is the shortest */
		CHECK(memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
		CHECK(r.method_str == buf && r.method_len >= 1 && r.method_len <= HTTP_METHOD_MAX);
		CHECK(inside(r.target, r.target_len, buf, h) && r.target_len >= 1);
		CHECK(r.path_len >= 1 && r.path[0] == '/');
		CHECK(inside(r.path, r.path_len, buf, h) ||
		      (r.path_len == 1 && strcmp(r.path, "/") == 0));
		CHECK(r.minor == 0 || r.minor == 1);
		if (r.method == HTTP_METHOD_GET)
			CHECK(r.method_len == 3 && memcmp(r.method_str, "GET", 3) == 0);
		else if (r.method == HTTP_METHOD_HEAD)
			CHECK(r.method_len == 4 && memcmp(r.method_str, "HEAD", 4) == 0);
		else
			CHECK(r.method == HTTP_METHOD_OTHER);
		/* The head alone gives the same request; one byte less needs more. */
		CHECK(parse_copy(data, h, &r2) == HTTP_PARSE_COMPLETE);
		CHECK(r2.head_len == h && r2.method == r.method && r2.minor == r.minor &&
		      r2.method_len == r.method_len && r2.target_len == r.target_len &&
		      r2.path_len == r.path_len);
		CHECK(parse_copy(data, h - 1, &r2) == HTTP_PARSE_NEED_MORE);
	}
	free(buf);
	return 0;
}
