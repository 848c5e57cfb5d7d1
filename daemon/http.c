/*
 * http: see http.h.
 *
 * The parser is one forward scan: every byte is checked when it is reached,
 * so a bad request is refused at its first bad byte and a good prefix is
 * NEED_MORE however it is split across reads.  It restarts from the
 * beginning on each call; requests are bounded by the caller's buffer.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: the bytes of a token (method, field name). */
static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes of a request-target: visible ASCII. */
static int
is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Bytes of a field value: VCHAR, obs-text, SP, HTAB. */
static int
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
bad(struct http_request *out, int status, const char *error)
{
	out->status = status;
	out->error = error;
	return HTTP_PARSE_BAD;
}

/* Sets out->path from the target; 0, or -1 when the form is not one served. */
static int
split_target(struct http_request *out)
{
	const char *t = out->target, *end = t + out->target_len, *p;

	if (t[0] == '/') {
		p = t;
	} else {
		size_t skip;
		if (out->target_len >= 7 && strncasecmp(t, "http://", 7) == 0)
			skip = 7;
		else if (out->target_len >= 8 && strncasecmp(t, "https://", 8) == 0)
			skip = 8;
		else
			return -1;
		for (p = t + skip; p < end && *p != '/' && *p != '?'; p++)
			;
		if (p == t + skip)
			return -1;  /* no authority */
		if (p == end || *p == '?') {
			out->path = "/";
			out->path_len = 1;
			return 0;
		}
	}
	out->path = p;
	while (p < end && *p != '?')
		p++;
	out->path_len = (size_t)(p - out->path);
	return 0;
}

int
http_parse_request(const char *buf, size_t len, struct http_request *out)
{
	static const char version[] = "HTTP/";
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0, start;
	unsigned hosts = 0;

	memset(out, 0, sizeof(*out));

	/* method SP */
	for (; i < len && b[i] != ' '; i++) {
		if (!is_tchar(b[i]))
			return bad(out, 400, "bad byte in the method");
		if (i == HTTP_METHOD_MAX)
			return bad(out, 400, "method too long");
	}
	if (i == len)
		return HTTP_PARSE_NEED_MORE;
	if (i == 0)
		return bad(out, 400, "empty method");
	out->method_str = buf;
	out->method_len = i;
	if (i == 3 && memcmp(buf, "GET", 3) == 0)
		out->method = HTTP_METHOD_GET;
	else if (i == 4 && memcmp(buf, "HEAD", 4) == 0)
		out->method = HTTP_METHOD_HEAD;
	else
		out->method = HTTP_METHOD_OTHER;
	i++;

	/* request-target SP */
	start = i;
	for (; i < len && b[i] != ' '; i++)
		if (!is_target_char(b[i]))
			return bad(out, 400, "bad byte in the request target");
	if (i == len)
		return HTTP_PARSE_NEED_MORE;
	if (i == start)
		return bad(out, 400, "empty request target");
	out->target = buf + start;
	out->target_len = i - start;
	if (split_target(out) < 0)
		return bad(out, 400, "request target is neither a path nor an http URL");
	i++;

	/* HTTP/D.D CRLF */
	start = i;
	for (; i < len && i - start < 10; i++) {
		size_t k = i - start;
		unsigned char c = b[i];
		int ok;
		if (k < 5)
			ok = c == (unsigned char)version[k];
		else if (k == 5 || k == 7)
			ok = c >= '0' && c <= '9';
		else if (k == 6)
			ok = c == '.';
		else if (k == 8)
			ok = c == '\r';
		else
			ok = c == '\n';
		if (!ok)
			return bad(out, 400, "bad HTTP version or request line end");
		if (k == 5 && c != '1')
			return bad(out, 505, "only HTTP/1.x is served");
	}
	if (i - start < 10)
		return HTTP_PARSE_NEED_MORE;
	out->minor = b[start + 7] == '0' ? 0 : 1;

	/* header fields, then the blank line */
	for (;;) {
		size_t name;

		if (i == len)
			return HTTP_PARSE_NEED_MORE;
		if (b[i] == '\r') {
			if (++i == len)
				return HTTP_PARSE_NEED_MORE;
			if (b[i] != '\n')
				return bad(out, 400, "CR without LF");
			i++;
			break;
		}
		if (b[i] == ' ' || b[i] == '\t')
			return bad(out, 400, "folded header line");
		start = i;
		for (; i < len && b[i] != ':'; i++)
			if (!is_tchar(b[i]))
				return bad(out, 400, "bad byte in a header name");
		if (i == len)
			return HTTP_PARSE_NEED_MORE;
		name = i - start;
		if (name == 0)
			return bad(out, 400, "empty header name");
		if (name == 4 && strncasecmp(buf + start, "host", 4) == 0 && hosts < 2)
			hosts++;
		for (i++; i < len && b[i] != '\r'; i++)
			if (!is_value_char(b[i]))
				return bad(out, 400, "bad byte in a header value");
		if (i == len || ++i == len)
			return HTTP_PARSE_NEED_MORE;
		if (b[i] != '\n')
			return bad(out, 400, "CR without LF");
		i++;
	}
	out->head_len = i;
	if (hosts > 1 || (out->minor == 1 && hosts == 0))
		return bad(out, 400, hosts ? "more than one Host header" : "HTTP/1.1 without Host");
	return HTTP_PARSE_COMPLETE;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

size_t
http_format_head(char *buf, size_t cap, int status, const char *content_type,
		 size_t content_length, const char *extra)
{
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "%s"
			 "\r\n",
			 status, http_reason(status), content_type, content_length,
			 extra ? extra : "");
	return n < 0 ? 0 : (size_t)n;
}
