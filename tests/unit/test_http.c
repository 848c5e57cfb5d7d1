/*
 * Unit tests for http (daemon/http.c) and the metrics renderer and health
 * check (daemon/metrics.c).
 *
 * Parser: complete requests and their fields; every prefix of a valid
 * request is NEED_MORE however it is split; a table of malformed requests
 * is BAD (400) at their first bad byte, and stays BAD however they go on;
 * HTTP/2+ is 505; pipelined bytes (another request or garbage) after the
 * blank line are not looked at; an endless header block stays NEED_MORE
 * (the server's fixed buffer turns it into 431) and a huge complete one
 * parses; methods (GET, HEAD, others, case, length limit); targets
 * (origin-form with query, absolute-form, no path, bad forms); Host rules;
 * NUL and control bytes.  Every input is copied into a buffer of exactly
 * its size so ASan sees any read past it.
 *
 * Responses: http_format_head (headers, HEAD keeps Content-Length,
 * snprintf-like truncation), http_reason.
 *
 * Renderer: the output parses as exposition text (every line a # HELP /
 * # TYPE comment or `name{labels} value`, each family typed once before
 * its samples, each sample's name of its family); every stats.h counter
 * appears as ingestd_<name>_total with its value; rejection reasons as
 * labels; label values escaped; the current pause counted; pool, sink and
 * listener families; snprintf-like truncation; a NULL ctx.
 * Health: 200; 503 for a long pause, a failing output (/dev/full), shutdown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

#include "conn.h"
#include "http.h"
#include "listener.h"
#include "metrics.h"
#include "pool.h"
#include "sink.h"
#include "stats.h"

/* ------------------------------------------------------------ parser */

static char *last;  /* the exact-size copy of the last input, freed by the next parse */

static int
parse_n(const char *s, size_t n, struct http_request *r)
{
	free(last);
	last = malloc(n ? n : 1);
	assert_non_null(last);
	memcpy(last, s, n);
	return http_parse_request(last, n, r);
}

static int
parse(const char *s, struct http_request *r)
{
	return parse_n(s, strlen(s), r);
}

static void
assert_span(const char *p, size_t n, const char *want)
{
	assert_int_equal(n, strlen(want));
	assert_memory_equal(p, want, n);
}

#define REQ(target) "GET " target " HTTP/1.1\r\nHost: localhost:9464\r\n\r\n"

static void
test_complete_get(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\n"
				  "Host: 127.0.0.1:9464\r\n"
				  "User-Agent: curl/7.88.1\r\n"
				  "Accept: */*\r\n"
				  "\r\n";
	struct http_request r;

	(void)state;
	assert_int_equal(parse(req, &r), HTTP_PARSE_COMPLETE);
	assert_int_equal(r.method, HTTP_METHOD_GET);
	assert_span(r.method_str, r.method_len, "GET");
	assert_span(r.target, r.target_len, "/metrics");
	assert_span(r.path, r.path_len, "/metrics");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.head_len, strlen(req));
	/* Pointers are into the caller's buffer. */
	assert_ptr_equal(r.method_str, last);
	assert_ptr_equal(r.target, last + 4);
}

static void
test_every_prefix_needs_more(void **state)
{
	static const char req[] = "HEAD /healthz?verbose=1 HTTP/1.0\r\n"
				  "Host: h\r\n"
				  "X-Empty:\r\n"
				  "X-Tab:\tv\t\r\n"
				  "\r\n";
	struct http_request r;
	size_t n = strlen(req);

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(parse_n(req, i, &r), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse_n(req, n, &r), HTTP_PARSE_COMPLETE);
	assert_int_equal(r.method, HTTP_METHOD_HEAD);
	assert_span(r.path, r.path_len, "/healthz");
	assert_span(r.target, r.target_len, "/healthz?verbose=1");
	assert_int_equal(r.minor, 0);
	assert_int_equal(r.head_len, n);
}

static void
test_pipelined_bytes_ignored(void **state)
{
	static const char *const tails[] = {
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",  /* a second request */
		"\x01\x02garbage\r\n\r\n\n\n",                /* garbage */
		"",                                           /* nothing */
		"{\"body\": 1}",                              /* a body */
	};
	const char *first = REQ("/metrics");
	struct http_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char buf[256];
		int n = snprintf(buf, sizeof(buf), "%s%s", first, tails[i]);
		assert_int_equal(parse_n(buf, (size_t)n, &r), HTTP_PARSE_COMPLETE);
		assert_int_equal(r.head_len, strlen(first));
		assert_span(r.path, r.path_len, "/metrics");
	}
}

/* Malformed requests: BAD (400), and still BAD with more bytes after. */
static void
test_bad_requests(void **state)
{
	static const struct {
		const char *in;
		size_t      len;  /* 0: strlen */
	} cases[] = {
		{ "GARBAGE\r\n\r\n", 0 },
		{ "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },        /* empty line first */
		{ " GET / HTTP/1.1\r\n", 0 },                         /* empty method */
		{ "GET  / HTTP/1.1\r\n", 0 },                         /* empty target */
		{ "GET /a b HTTP/1.1\r\n", 0 },                       /* space in target */
		{ "GET /\x7f HTTP/1.1\r\n", 0 },                      /* DEL in target */
		{ "GET /\xc3\xa9 HTTP/1.1\r\n", 0 },                  /* raw UTF-8 in target */
		{ "GET / HTTP/1.1\n\n", 0 },                          /* bare LF */
		{ "GET / HTTP/1.1\rX", 0 },                           /* CR without LF */
		{ "GET / HTTP/1.1 \r\n", 0 },                         /* trailing space */
		{ "GET / http/1.1\r\n", 0 },                          /* version case */
		{ "GET / HTTP/1.x\r\n", 0 },
		{ "GET / HTTP/11\r\n", 0 },
		{ "GET / FTP/1.0\r\n", 0 },
		{ "GET /\r\n", 0 },                                   /* HTTP/0.9 */
		{ "GET / HTTP/1.1\r\nHost x\r\n\r\n", 0 },            /* space in name */
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0 },          /* space before colon */
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", 0 },               /* empty name */
		{ "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 0 },   /* obs-fold */
		{ "GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n", 0 },   /* CTL in value */
		{ "GET / HTTP/1.1\r\nHost: ab\rc\r\n\r\n", 0 },       /* CR in value */
		{ "GET / HTTP/1.1\r\nHost: a\r\n\rX", 0 },            /* bad blank line */
		{ "GET / HTTP/1.1\r\nHost: a\n\r\n", 0 },             /* bare LF in headers */
		{ "GET / HTTP/1.1\r\n\r\n", 0 },                      /* 1.1 without Host */
		{ "GET / HTTP/1.1\r\nHost: a\r\nhOsT: b\r\n\r\n", 0 },  /* two Hosts */
		{ "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 0 },
		{ "GET metrics HTTP/1.1\r\n", 0 },                    /* not a path */
		{ "GET * HTTP/1.1\r\n", 0 },
		{ "GET ftp://h/metrics HTTP/1.1\r\n", 0 },
		{ "GET http:///metrics HTTP/1.1\r\n", 0 },            /* no authority */
		{ "GET http:/ HTTP/1.1\r\n", 0 },
		{ "G\0T / HTTP/1.1\r\n", 16 },                        /* NUL */
		{ "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 28 },
		{ "GET\t/ HTTP/1.1\r\n", 0 },
		{ "{\"json\": true}\n", 0 },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11 },  /* a TLS hello */
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\n", 0 },  /* 33-byte method */
	};
	struct http_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char buf[128];

		if (parse_n(cases[i].in, n, &r) != HTTP_PARSE_BAD)
			fail_msg("case %zu (%.*s) not BAD", i, (int)n, cases[i].in);
		assert_int_equal(r.status, 400);
		assert_non_null(r.error);
		assert_true(n + 4 <= sizeof(buf));
		memcpy(buf, cases[i].in, n);
		memcpy(buf + n, "\r\n\r\n", 4);
		assert_int_equal(parse_n(buf, n + 4, &r), HTTP_PARSE_BAD);
	}
}

/* Garbage is refused at its first bad byte, without waiting for an end. */
static void
test_bad_early(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("\x01", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET /x\x01", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET /x HTTQ", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nX-A\x01", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nX-A: \x01", &r), HTTP_PARSE_BAD);
	/* ...while a valid prefix waits. */
	assert_int_equal(parse("GET", &r), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse("", &r), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r), HTTP_PARSE_NEED_MORE);
}

static void
test_version(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &r), HTTP_PARSE_BAD);
	assert_int_equal(r.status, 505);
	assert_int_equal(parse("GET / HTTP/3", &r), HTTP_PARSE_BAD);
	assert_int_equal(r.status, 505);
	assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n", &r), HTTP_PARSE_BAD);
	assert_int_equal(r.status, 505);
	/* HTTP/1.0 needs no Host; 1.x above 1 reads as 1.1. */
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), HTTP_PARSE_COMPLETE);
	assert_int_equal(r.minor, 0);
	assert_int_equal(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &r), HTTP_PARSE_COMPLETE);
	assert_int_equal(r.minor, 1);
	assert_int_equal(parse("GET / HTTP/1.9\r\n\r\n", &r), HTTP_PARSE_BAD);
}

static void
test_methods(void **state)
{
	static const struct {
		const char      *m;
		enum http_method want;
	} cases[] = {
		{ "GET", HTTP_METHOD_GET },     { "HEAD", HTTP_METHOD_HEAD },
		{ "POST", HTTP_METHOD_OTHER },  { "PUT", HTTP_METHOD_OTHER },
		{ "DELETE", HTTP_METHOD_OTHER }, { "OPTIONS", HTTP_METHOD_OTHER },
		{ "get", HTTP_METHOD_OTHER },   { "GETS", HTTP_METHOD_OTHER },
		{ "GE", HTTP_METHOD_OTHER },    { "HEAD!", HTTP_METHOD_OTHER },
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HTTP_METHOD_OTHER },  /* 32: the limit */
	};
	struct http_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[128];
		snprintf(buf, sizeof(buf), "%s /metrics HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].m);
		assert_int_equal(parse(buf, &r), HTTP_PARSE_COMPLETE);
		assert_int_equal(r.method, cases[i].want);
		assert_span(r.method_str, r.method_len, cases[i].m);
	}
}

static void
test_targets(void **state)
{
	static const struct {
		const char *target, *path;
	} cases[] = {
		{ "/metrics", "/metrics" },
		{ "/metrics?name[]=x", "/metrics" },
		{ "/metrics/", "/metrics/" },
		{ "/", "/" },
		{ "/?", "/" },
		{ "//metrics", "//metrics" },
		{ "/metrics%3Fx", "/metrics%3Fx" },  /* not decoded */
		{ "/metrics#frag", "/metrics#frag" },
		{ "http://127.0.0.1:9464/healthz", "/healthz" },
		{ "HTTPS://host/metrics?q", "/metrics" },
		{ "http://host", "/" },
		{ "http://host?x=/y", "/" },
	};
	struct http_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), REQ("%s"), cases[i].target);
		assert_int_equal(parse(buf, &r), HTTP_PARSE_COMPLETE);
		assert_span(r.target, r.target_len, cases[i].target);
		assert_span(r.path, r.path_len, cases[i].path);
	}
}

static void
test_headers(void **state)
{
	struct http_request r;

	(void)state;
	/* obs-text and HTAB are allowed in values; any token as a name. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Utf8: caf\xc3\xa9\r\n"
			       "!#$%&'*+-.^_`|~09az: \t v \t\r\n\r\n", &r),
			 HTTP_PARSE_COMPLETE);
	/* Host is case-insensitive, and may be empty. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nhOST:\r\n\r\n", &r), HTTP_PARSE_COMPLETE);
	/* A field named like Host but longer is not Host. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHosts: h\r\n\r\n", &r), HTTP_PARSE_BAD);
}

/* An endless header block is NEED_MORE at any size: the server's fixed
 * buffer bounds it (431).  A large complete one parses. */
static void
test_huge_headers(void **state)
{
	size_t cap = 200000, n = 0;
	char *buf = malloc(cap);
	struct http_request r;

	(void)state;
	assert_non_null(buf);
	n += (size_t)snprintf(buf, cap, "GET /metrics HTTP/1.1\r\nHost: h\r\n");
	while (n + 100 < cap - 8) {
		memcpy(buf + n, "X-Pad: ", 7);
		memset(buf + n + 7, 'a', 80);
		memcpy(buf + n + 87, "\r\n", 2);
		n += 89;
	}
	assert_int_equal(parse_n(buf, n, &r), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse_n(buf, METRICS_REQUEST_MAX, &r), HTTP_PARSE_NEED_MORE);
	/* Cut between the last CR and LF. */
	assert_int_equal(parse_n(buf, n - 1, &r), HTTP_PARSE_NEED_MORE);
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(parse_n(buf, n + 2, &r), HTTP_PARSE_COMPLETE);
	assert_int_equal(r.head_len, n + 2);
	/* A target longer than the server buffer: NEED_MORE until it ends. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'x', 10000);
	assert_int_equal(parse_n(buf, 10005, &r), HTTP_PARSE_NEED_MORE);
	free(buf);
}

/* ---------------------------------------------------------- responses */

static void
test_format_head(void **state)
{
	char buf[512];
	size_t n;

	(void)state;
	n = http_format_head(buf, sizeof(buf), 200, "text/plain", 1234, NULL);
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 1234\r\n"
				 "Connection: close\r\n"
				 "\r\n");
	assert_int_equal(n, strlen(buf));
	n = http_format_head(buf, sizeof(buf), 405, "text/plain", 0, "Allow: GET, HEAD\r\n");
	assert_string_equal(buf, "HTTP/1.1 405 Method Not Allowed\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 0\r\n"
				 "Connection: close\r\n"
				 "Allow: GET, HEAD\r\n"
				 "\r\n");
	/* Truncation reports the needed length, like snprintf. */
	n = http_format_head(buf, sizeof(buf), 200, "text/plain", 1, NULL);
	assert_int_equal(n, strlen(buf));
	assert_int_equal(http_format_head(buf, 10, 200, "text/plain", 1, NULL), n);
	assert_int_equal(strlen(buf), 9);
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(503), "Service Unavailable");
	assert_string_equal(http_reason(299), "Unknown");
}

/* ----------------------------------------------------------- renderer */

static int
is_name_char(char c, int first)
{
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (!first && c >= '0' && c <= '9');
}

/* Checks `text` is exposition format 0.0.4 as written here; returns the
 * number of samples.  Fails the test at the first bad line. */
static size_t
check_exposition(const char *text)
{
	static char seen[256][128];  /* families typed so far */
	size_t nseen = 0;
	char fam[128] = "", typed[128] = "";
	size_t samples = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[1024], name[128];
		size_t len, i = 0, nn;

		assert_non_null(nl);  /* every line ends with \n */
		len = (size_t)(nl - p);
		assert_true(len > 0 && len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;

		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", fam), 1);
			assert_true(strlen(line) > 7 + strlen(fam) + 1);  /* has a text */
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char type[32];
			assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, fam);  /* HELP first, same family */
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			for (size_t k = 0; k < nseen; k++)  /* typed once */
				if (strcmp(seen[k], name) == 0)
					fail_msg("family %s typed twice", name);
			assert_true(nseen < 256);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
			snprintf(typed, sizeof(typed), "%s", name);
			continue;
		}
		assert_true(line[0] != '#');
		/* metric name */
		if (!is_name_char(line[i], 1))
			fail_msg("bad name start: %s", line);
		while (is_name_char(line[i], 0))
			i++;
		nn = i;
		assert_true(nn > 0 && nn < sizeof(name));
		memcpy(name, line, nn);
		name[nn] = '\0';
		if (strcmp(name, typed) != 0)
			fail_msg("sample %s outside its family (%s)", name, typed);
		/* labels */
		if (line[i] == '{') {
			i++;
			for (;;) {
				size_t ls = i;
				assert_true(is_name_char(line[i], 1) && line[i] != ':');
				while (is_name_char(line[i], 0) && line[i] != ':')
					i++;
				assert_true(i > ls);
				assert_int_equal(line[i], '=');
				assert_int_equal(line[i + 1], '"');
				i += 2;
				while (line[i] != '"') {
					assert_true(line[i] != '\0' && line[i] != '\n');
					if (line[i] == '\\') {
						char e = line[i + 1];
						assert_true(e == '\\' || e == '"' || e == 'n');
						i++;
					}
					i++;
				}
				i++;
				if (line[i] == ',') {
					i++;
					continue;
				}
				assert_int_equal(line[i], '}');
				i++;
				break;
			}
		}
		/* value */
		assert_int_equal(line[i], ' ');
		{
			char *end;
			double v = strtod(line + i + 1, &end);
			assert_true(end > line + i + 1 && *end == '\0');
			assert_true(v >= 0);
		}
		samples++;
	}
	return samples;
}

/* The value of the sample line starting with `key ` (name and labels). */
static double
sample(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
	fail_msg("no sample %s", key);
	return -1;
}

static int
has_line_prefix(const char *text, const char *prefix)
{
	size_t kl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, kl) == 0)
			return 1;
	return 0;
}

struct fixture {
	struct ev_loop      *loop;
	struct pool         *pool;
	struct sink         *sink;
	struct conn_ctx      ctx;
	struct listener_conf lc[2];
};

static void
pressure(void *arg, int paused)
{
	(void)arg;
	(void)paused;
}

static struct fixture *
fixture_new(const char *out)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pool_conf pc = { .slab_size = 4096, .slabs = 8, .overflow = 0, .reserve = 1,
				.max_waiters = 100, .waiters_low = 0 };
	char err[256];

	assert_non_null(f);
	stats_reset();
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	f->pool = pool_new(&pc, pressure, NULL);
	assert_non_null(f->pool);
	f->sink = sink_new(f->loop, f->pool, out, NULL, NULL, err, sizeof(err));
	assert_non_null(f->sink);
	f->ctx.loop = f->loop;
	f->ctx.pool = f->pool;
	f->ctx.sink = f->sink;
	f->ctx.max_connections = 100;
	snprintf(f->lc[0].name, sizeof(f->lc[0].name), "sensors");
	snprintf(f->lc[1].name, sizeof(f->lc[1].name), "we\"ird\\na\nme");
	f->ctx.nlisteners = 2;
	return f;
}

static void
fixture_free(struct fixture *f)
{
	sink_free(f->sink);
	pool_free(f->pool);
	ev_loop_destroy(f->loop);
	free(f);
}

/* The view the daemon would hand the renderer at `now`, with one worker
 * (only the counters when ctx is NULL): what workers_view() assembles. */
static const struct stats_view *
view_at(const struct conn_ctx *ctx, double now)
{
	static struct stats_view sv;
	static struct conn_gauges g;
	const struct fixture *f;

	stats_view_counters(&sv, now);
	if (ctx == NULL)
		return &sv;
	f = (const struct fixture *)(const void *)((const char *)ctx - offsetof(struct fixture, ctx));
	sv.have_conns = sv.have_pool = sv.have_output = 1;
	sv.max_connections = ctx->max_connections;
	sv.slab_size = pool_slab_size(ctx->pool);
	sv.nlisteners = 2;
	for (int i = 0; i < 2; i++)
		sv.listeners[i].name = f->lc[i].name;
	conn_ctx_gauges(ctx, &g);
	conn_gauges_add(&g, now, &sv);
	sv.output_pending = sink_pending(ctx->sink);
	sv.output_failing = sink_failing(ctx->sink);
	sv.output_stalled = sink_stalled_seconds(ctx->sink, now);
	return &sv;
}

static char *
render_at(const struct conn_ctx *ctx, double now, const struct metrics_view *v)
{
	const struct stats_view *sv = view_at(ctx, now);
	size_t n = metrics_render(NULL, 0, sv, v);
	char *buf = malloc(n + 1);

	assert_non_null(buf);
	assert_int_equal(metrics_render(buf, n + 1, sv, v), n);
	assert_int_equal(strlen(buf), n);
	return buf;
}

static int
health(const struct conn_ctx *ctx, double unhealthy_after, double now, char *reason,
       size_t reasonlen)
{
	return metrics_health(view_at(ctx, now), unhealthy_after, reason, reasonlen);
}

static void
test_render(void **state)
{
	struct fixture *f = fixture_new("/dev/null");
	struct metrics_view v = { .rss_bytes = 12345678, .http_clients = 3,
				  .http_requests = 9, .http_refused = 2, .http_timeouts = 1 };
	char *text, key[128];
	void *slab;

	(void)state;
	f->ctx.nconns = 5;
	f->ctx.paused = 1;
	f->ctx.paused_since = 100.0;
	f->ctx.paused_total = 2.5;
	f->ctx.retained_bytes = 77;
	f->ctx.per_listener[0].records = 41;
	f->ctx.per_listener[0].bytes_in = 984;
	f->ctx.per_listener[1].records = 7;
	slab = pool_checkout(f->pool, POOL_READ);
	assert_non_null(slab);
	char *room = sink_reserve(f->sink, 6);
	assert_non_null(room);
	memcpy(room, "{}\n{}\n", 6);
	sink_commit(f->sink, 6, 2);
	for (int i = 0; i < STAT__COUNT; i++)
		stats_set(i, 1000 + (uint64_t)i);
	stats_set(STAT_records_out, 18446744073709551615ull);  /* u64 max prints whole */

	text = render_at(&f->ctx, 110.0, &v);
	assert_true(check_exposition(text) > STAT__COUNT + 20);
	for (int i = 0; i < STAT__COUNT; i++) {
		snprintf(key, sizeof(key), "ingestd_%s_total", stats_names[i]);
		assert_true(sample(text, key) == (double)stats_get(i));
		snprintf(key, sizeof(key), "# TYPE ingestd_%s_total counter\n", stats_names[i]);
		assert_non_null(strstr(text, key));
	}
	assert_non_null(strstr(text, "\ningestd_records_out_total 18446744073709551615\n"));
	snprintf(key, sizeof(key), "ingestd_frames_rejected_total{reason=\"bad_magic\"} %llu\n",
		 (unsigned long long)stats_get(STAT_bad_magic));
	assert_non_null(strstr(text, key));
	assert_true(sample(text, "ingestd_frames_rejected_total{reason=\"truncated\"}") ==
		    (double)stats_get(STAT_truncated));
	assert_true(sample(text, "ingestd_connections") == 5);
	assert_true(sample(text, "ingestd_paused") == 1);
	assert_true(sample(text, "ingestd_paused_seconds_total") == 12.5);
	assert_true(sample(text, "ingestd_retained_bytes") == 77);
	assert_true(sample(text, "ingestd_pool_slabs") == 8);
	assert_true(sample(text, "ingestd_pool_slabs_in_use") == 2);  /* read + output */
	assert_true(sample(text, "ingestd_pool_slabs_peak") == 2);
	assert_true(sample(text, "ingestd_pool_waiters") == 0);
	assert_true(sample(text, "ingestd_output_pending_bytes") == 6);
	assert_true(sample(text, "ingestd_output_failing") == 0);
	assert_true(sample(text, "ingestd_listener_records_total{listener=\"sensors\"}") == 41);
	assert_true(sample(text, "ingestd_listener_bytes_in_total{listener=\"sensors\"}") == 984);
	/* we"ird\na<newline>me, escaped */
	assert_true(sample(text, "ingestd_listener_records_total"
				 "{listener=\"we\\\"ird\\\\na\\nme\"}") == 7);
	assert_true(sample(text, "ingestd_resident_memory_bytes") == 12345678);
	assert_true(sample(text, "ingestd_metrics_clients") == 3);
	assert_true(sample(text, "ingestd_metrics_refused_total") == 2);
	assert_true(sample(text, "ingestd_metrics_timeouts_total") == 1);
	free(text);

	/* Not paused: only the total; no RSS when the caller has none. */
	f->ctx.paused = 0;
	v.rss_bytes = 0;
	text = render_at(&f->ctx, 110.0, &v);
	check_exposition(text);
	assert_true(sample(text, "ingestd_paused_seconds_total") == 2.5);
	assert_false(has_line_prefix(text, "ingestd_resident_memory_bytes"));
	free(text);

	sink_flush(f->sink);  /* to /dev/null */
	pool_give_back(f->pool, slab);
	fixture_free(f);
}

static void
test_render_truncates(void **state)
{
	struct fixture *f = fixture_new("/dev/null");
	char *full = render_at(&f->ctx, 0, NULL);
	size_t n = strlen(full);
	size_t caps[] = { 1, 2, 100, n / 2, n - 1, n, n + 1, n + 100 };

	(void)state;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char *buf = malloc(caps[i]);
		size_t got;
		assert_non_null(buf);
		got = metrics_render(buf, caps[i], view_at(&f->ctx, 0), NULL);
		assert_int_equal(got, n);
		/* A NUL-terminated prefix of the full text. */
		assert_int_equal(strlen(buf), caps[i] > n ? n : caps[i] - 1);
		assert_memory_equal(buf, full, strlen(buf));
		free(buf);
	}
	free(full);
	fixture_free(f);
}

static void
test_render_no_ctx(void **state)
{
	struct metrics_view v = { .http_clients = 1 };
	char *text;

	(void)state;
	stats_reset();
	stats_set(STAT_frames_in, 3);
	text = render_at(NULL, 0, &v);
	check_exposition(text);
	assert_true(sample(text, "ingestd_frames_in_total") == 3);
	assert_true(sample(text, "ingestd_metrics_clients") == 1);
	assert_false(has_line_prefix(text, "ingestd_connections"));
	free(text);
}

static void
test_read_rss(void **state)
{
	(void)state;
	uint64_t rss = metrics_read_rss();
	assert_true(rss > 100 * 1024);
	assert_true(rss < (uint64_t)64 << 30);
}

/* ------------------------------------------------------------- health */

static void
test_health(void **state)
{
	struct fixture *f = fixture_new("/dev/null");
	char reason[160];

	(void)state;
	assert_int_equal(health(&f->ctx, 30, 1000, reason, sizeof(reason)), 200);
	assert_string_equal(reason, "");
	f->ctx.paused = 1;
	f->ctx.paused_since = 980;  /* 20 s: not yet */
	assert_int_equal(health(&f->ctx, 30, 1000, reason, sizeof(reason)), 200);
	assert_int_equal(health(&f->ctx, 30, 1010.5, reason, sizeof(reason)), 503);
	assert_non_null(strstr(reason, "paused for 30.5 s"));
	assert_null(strchr(reason, '\n'));
	f->ctx.paused = 0;  /* paused long ago, not now */
	assert_int_equal(health(&f->ctx, 30, 5000, reason, sizeof(reason)), 200);
	f->ctx.stopping = 1;
	assert_int_equal(health(&f->ctx, 30, 1000, reason, sizeof(reason)), 503);
	assert_string_equal(reason, "shutting down");
	/* A short buffer is fine. */
	assert_int_equal(health(&f->ctx, 30, 1000, reason, 4), 503);
	assert_string_equal(reason, "shu");
	fixture_free(f);
}

/* An output that fails to write (/dev/full: ENOSPC) makes the check 503. */
static void
test_health_output_failing(void **state)
{
	struct fixture *f = fixture_new("/dev/full");
	char reason[160], *room, *text;

	(void)state;
	room = sink_reserve(f->sink, 3);
	assert_non_null(room);
	memcpy(room, "{}\n", 3);
	sink_commit(f->sink, 3, 1);
	sink_flush(f->sink);
	assert_true(sink_failing(f->sink));
	assert_int_equal(health(&f->ctx, 30, 1000, reason, sizeof(reason)), 503);
	assert_non_null(strstr(reason, "output failing"));
	text = render_at(&f->ctx, 0, NULL);
	assert_true(sample(text, "ingestd_output_failing") == 1);
	assert_true(sample(text, "ingestd_output_pending_bytes") == 3);
	assert_true(sample(text, "ingestd_output_errors_total") >= 1);
	free(text);
	fixture_free(f);
}

/* A FIFO whose reader reads nothing: 200 until the output has taken
 * nothing for unhealthy_after seconds, 503 "output stalled" after. */
static void
test_health_output_stalled(void **state)
{
	char dir[] = "/tmp/test_http.XXXXXX", path[64], reason[200], *text;
	struct fixture *f;
	double now;
	int rfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_int_equal(fcntl(rfd, F_SETPIPE_SZ, 4096), 4096);
	f = fixture_new(path);
	for (int i = 0; i < 2; i++) {       /* 8 KiB: half stays pending */
		char *room = sink_reserve(f->sink, 4096);

		assert_non_null(room);
		memset(room, 'x', 4095);
		room[4095] = '\n';
		sink_commit(f->sink, 4096, 1);
	}
	sink_flush(f->sink);   /* the stall clock starts */
	sink_flush(f->sink);   /* EAGAIN */
	now = clock_mono();
	assert_false(sink_failing(f->sink));
	assert_int_equal(health(&f->ctx, 30, now + 29.5, reason, sizeof(reason)), 200);
	assert_int_equal(health(&f->ctx, 30, now + 30.5, reason, sizeof(reason)), 503);
	assert_non_null(strstr(reason, "output stalled"));
	text = render_at(&f->ctx, 0, NULL);
	assert_true(sample(text, "ingestd_output_pending_bytes") > 0);
	free(text);
	fixture_free(f);
	close(rfd);
	unlink(path);
	rmdir(dir);
}

static int
teardown_all(void **state)
{
	(void)state;
	free(last);
	last = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_get),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_pipelined_bytes_ignored),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_bad_early),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_huge_headers),
		cmocka_unit_test(test_format_head),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_truncates),
		cmocka_unit_test(test_render_no_ctx),
		cmocka_unit_test(test_read_rss),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_output_failing),
		cmocka_unit_test(test_health_output_stalled),
	};

	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
