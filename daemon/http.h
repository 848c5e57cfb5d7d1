/*
 * http: the little of HTTP/1.x the metrics endpoint needs, as pure functions.
 *
 * Why not a library: Debian 12's libmicrohttpd (0.9.75) was considered.  It
 * would bring a second event model into a libev daemon (its own threads, or
 * an external select/epoll hookup polled through MHD_get_fdset and
 * MHD_get_timeout that is more code than this file), a new runtime
 * dependency (with GnuTLS behind it) and a large surface (POST processing,
 * chunked bodies, authentication, upgrades) for two read-only GET resources.
 * What is needed instead is small enough to own and to fuzz whole: parse a
 * request line and headers that fit in one fixed buffer, answer once, close.
 * The socket side (libev, bounds, timeouts) is in metrics.c.
 *
 * Accepted (RFC 9112, strictly): METHOD SP TARGET SP HTTP/1.x CRLF, then
 * header fields "name: value" CRLF, then CRLF.  METHOD is a token of at most
 * HTTP_METHOD_MAX bytes; TARGET is origin-form ("/path?query") or
 * absolute-form ("http://host/path"); field names are tokens with no space
 * before the colon; values hold no control bytes but HTAB.  Bare LF or CR,
 * obs-fold (a line starting with white space), empty lines before the
 * request line, NUL bytes, a major version other than 1 (505) and an
 * HTTP/1.1 request without exactly one Host field are errors.  A body, or
 * anything else after the blank line, is not looked at (the server answers
 * one request and closes).
 *
 * Pure: no I/O, no allocation, no global state; the input need not be
 * NUL-terminated.  Safe for any bytes (fuzzed: tests/fuzz/fuzz_http.c).
 */
#ifndef INGESTD_HTTP_H
#define INGESTD_HTTP_H

#include <stddef.h>

enum http_parse_result {
	HTTP_PARSE_BAD       = -1,  /* not a valid request: answer out->status, close */
	HTTP_PARSE_NEED_MORE = 0,   /* a valid prefix so far: read more */
	HTTP_PARSE_COMPLETE  = 1,   /* request line and headers up to the blank line */
};

enum http_method { HTTP_METHOD_OTHER = 0, HTTP_METHOD_GET, HTTP_METHOD_HEAD };

/* Longest method token accepted (the longest registered one is 17 bytes). */
#define HTTP_METHOD_MAX 32

/*
 * What the parser found.  Every pointer points into the caller's buffer
 * (valid while it is), except path, which may point to a static "/" for an
 * absolute-form target without a path.  On HTTP_PARSE_NEED_MORE the fields
 * are unspecified.
 */
struct http_request {
	enum http_method method;      /* OTHER: any other (valid) method token */
	const char      *method_str;  /* the token as sent, method_len bytes */
	size_t           method_len;
	const char      *target;      /* the request-target as sent */
	size_t           target_len;
	const char      *path;        /* target's path: no scheme, authority or query */
	size_t           path_len;
	int              minor;       /* HTTP/1.<minor>; anything above 1 reads as 1 */
	size_t           head_len;    /* bytes through the blank line's CRLF */
	int              status;      /* HTTP_PARSE_BAD: 400, or 505 for HTTP/2+ */
	const char      *error;       /* HTTP_PARSE_BAD: what is wrong (static text) */
};

/*
 * Parses the request at the start of buf[0, len).  Returns COMPLETE when
 * the head is complete and valid (*out filled), NEED_MORE when every byte
 * so far can begin a valid request, BAD as soon as one cannot (out->status
 * and out->error set).  Monotonic: a prefix of a NEED_MORE input is
 * NEED_MORE, any extension of a BAD one is BAD, and extending a COMPLETE
 * one changes nothing in *out.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *out);

/* "OK", "Not Found", ... for the statuses used here; "Unknown" otherwise. */
const char *http_reason(int status);

/*
 * Formats a response head: status line (HTTP/1.1), Content-Type,
 * Content-Length, Connection: close, then `extra` (zero or more complete
 * "Name: value\r\n" lines, or NULL) and the blank line.  Returns the length
 * it needs (snprintf-like: the head is complete only when that is < cap).
 */
size_t http_format_head(char *buf, size_t cap, int status, const char *content_type,
			size_t content_length, const char *extra);

#endif
