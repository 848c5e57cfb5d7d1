/*
 * checker: exactly-once and value checker of ingestd's JSON Lines output,
 * for the packets scripts/loadgen.c sends (derivation in loadgen_packets.h).
 *
 * Check mode:  checker -c N -n M [-f FORMAT -t TYPE -s SIZE --conn-base K]
 *                      [--schema-name NAME] FILE...
 *   Reads the files in the order given (rotated output: oldest first) and
 *   classifies every line:
 *     malformed     not a JSON object of the expected shape (keys, in order:
 *                   the schema's fields, then optionally _listener, _schema,
 *                   _peer, _rx_ms), or no final '\n' (a partial last line)
 *     foreign       well formed, but its conn id / seq is outside the run
 *                   (another loadgen run; allowed with --allow-foreign)
 *     duplicate     a (conn, seq) already seen
 *     out_of_order  first sight of (conn, seq) after a higher seq of the
 *                   same conn (still counted ok when its values are right)
 *     bad_value     a field differs from the derivation (numbers compared
 *                   exactly: floats by strtod of the text == the widened f32),
 *                   a wrong _schema (the format's name, or --schema-name's:
 *                   a schema declared in the config with another name), or
 *                   an id that is not a valid integer
 *     ok            first sight of (conn, seq) with every value right
 *   missing = N*M minus the (conn, seq) pairs seen.  Prints to stdout
 *     checker: lines= ok= missing= duplicate= out_of_order= bad_value= malformed= foreign= expected=
 *   and exits 0 only when ok == N*M and every other count is 0.  The first
 *   --max-report problems are described on stderr with FILE:LINE.
 *   The fast path parses the exact compact form the daemon writes; any other
 *   line is handed to jansson, which decides whether it is a JSON object of
 *   the expected shape (then checked like the rest) or malformed.
 *   The connection id is sensorId / deviceId / devId / the raw value's
 *   first 4 bytes, the seq is timestamp / uptime / count >> 16 (env16's
 *   count reads seq and the CRC, see loadgen_packets.h) / bytes 4..11 (so
 *   output of `loadgen --latency` cannot be checked here).  Every line must
 *   have the one schema's shape: split a file that mixes schemas first, e.g.
 *   with grep '"_schema":"sensor24"'.  Limits: N <= 100000, M < 2^32,
 *   N*M <= 2^34 (a bitmap of N*M/8 bytes).
 *
 * Tail mode:   checker --tail FILE --count K [--timeout SEC] [--from-start]
 *   Follows FILE (inotify, reopening it when rotated or truncated) from its
 *   current end, and for each new complete line with a "timestamp" (sent by
 *   `loadgen --latency`) takes CLOCK_REALTIME ms now minus the timestamp.
 *   After K such lines prints to stdout
 *     checker: latency records=K min= p50= p99= p99.9= max= mean= (ms)
 *   and exits 0; exits 1 (printing what it has) when no record came for
 *   --timeout seconds.
 *
 * Exit: 0 ok, 1 check failed / runtime error, 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loadgen_packets.h"

#define MAX_CONNS     100000ull
#define MAX_PER_CONN  4294967295ull
#define MAX_PAIRS     (1ull << 34)      /* bitmap of 2 GiB at most */
#define MAX_COUNT     100000000ull

/* ------------------------------------------------------------------ */
/* options */

enum kind { K_SENSOR24, K_LEGACY16, K_ENV16, K_RAW };
enum meta_policy { META_ANY, META_YES, META_NO };

static struct {
	uint64_t    nconns, per_conn;
	int         have_c, have_n;
	int         fmt_tlv;
	enum kind   kind;
	int         kind_forced;
	unsigned    tlv_type;
	size_t      tlv_size;
	uint64_t    conn_base;
	const char *schema_name;   /* --schema-name: the _schema expected */
	enum meta_policy meta;
	int         allow_foreign;
	uint64_t    max_report;
	const char *tail;
	uint64_t    count;
	double      timeout;
	int         from_start;
} opt = { .tlv_type = 1, .tlv_size = 24, .max_report = 10, .timeout = 60.0 };

static void usage(FILE *f)
{
	fprintf(f,
"usage: checker -c N -n M [options] FILE...\n"
"       checker --tail FILE --count K [--timeout SEC] [--from-start]\n"
"Checks ingestd's JSON Lines output against what `loadgen -c N -n M ...` sent.\n"
"  -c N             connections loadgen used (1..%llu)\n"
"  -n M             packets per connection (0..%llu)\n"
"  -f FORMAT        sensor24 | legacy16 | env16 | tlv (default sensor24)\n"
"  -t TYPE          TLV type 1..255 (default 1)\n"
"  -s SIZE          TLV value size (default 24; 16 for type 2 and env16)\n"
"  --tlv-as KIND    what the daemon makes of the TLV type: sensor24 | legacy16 |\n"
"                   env16 | raw (default: 1 -> sensor24, 2 -> legacy16, else raw)\n"
"  --schema-name NAME  the _schema the records carry (default: the format's\n"
"                   name; for a schema declared in the config under another\n"
"                   name with the same layout, e.g. s24decl)\n"
"  --conn-base K    loadgen's --conn-base (default 0)\n"
"  --meta any|yes|no  metadata keys optional (default), required, forbidden\n"
"  --allow-foreign  lines of other connection ids are not an error\n"
"  --max-report N   describe at most N problems on stderr (default 10)\n"
"  --tail FILE      latency mode: follow FILE, see below\n"
"  --count K        latency mode: records to measure (1..%llu)\n"
"  --timeout SEC    latency mode: give up after SEC without a record (default 60)\n"
"  --from-start     latency mode: read FILE from its start, not its end\n"
"  -h, --help       this help\n"
"Check mode prints `checker: lines= ok= missing= duplicate= out_of_order=\n"
"bad_value= malformed= foreign= expected=` and exits 0 only when all is well.\n"
"Tail mode prints `checker: latency records= min= p50= p99= p99.9= max= mean=`\n"
"in ms of CLOCK_REALTIME at read minus the record's timestamp.\n"
"Exit: 0 ok, 1 check failed or runtime error, 64 usage.\n",
		MAX_CONNS, MAX_PER_CONN, MAX_COUNT);
}

#define TOOL_NAME "checker"
#define TOOL_HELP_FLAG "-h"
#include "tool_util.h"



/* ------------------------------------------------------------------ */
/* record shapes */

enum ftype { F_INT, F_NUM, F_STR };

struct fdesc {
	const char *name;
	enum ftype  type;
};

static const struct fdesc sensor24_fields[] = {
	{ "sensorId", F_INT }, { "timestamp", F_NUM }, { "sensorType", F_INT },
	{ "statusFlags", F_INT }, { "temperature", F_INT }, { "humidity", F_NUM },
	{ "pressure", F_NUM },
};
static const struct fdesc legacy16_fields[] = {
	{ "signature", F_INT }, { "deviceId", F_INT }, { "voltage", F_NUM },
	{ "status", F_INT }, { "checksum", F_INT }, { "uptime", F_INT },
};
static const struct fdesc env16_fields[] = {
	{ "devId", F_INT }, { "temp_c", F_NUM }, { "rh", F_NUM }, { "lowBatt", F_INT },
	{ "mode", F_INT }, { "count", F_INT },
};
static const struct fdesc raw_fields[] = {
	{ "type", F_INT }, { "length", F_INT }, { "value", F_STR },
};
static const struct fdesc meta_fields[] = {
	{ "_listener", F_STR }, { "_schema", F_STR }, { "_peer", F_STR }, { "_rx_ms", F_NUM },
};
#define NMETA 4
#define MAXF  8

static const struct fdesc *fields;
static size_t nfields;
static const char *schema_name;
/* `{"name":` for the first field, `,"name":` for the others and metadata. */
static char  *frag[MAXF], *meta_frag[NMETA];
static size_t frag_len[MAXF], meta_frag_len[NMETA];

/* A field's value as found: text (fast path) or jansson's value. */
struct tok {
	const char *p;       /* text: number, or string contents without quotes */
	size_t      len;
	uint8_t     is_int;  /* number written as an integer */
	uint8_t     int_ok;  /* i holds the value */
	uint8_t     d_ok;    /* d holds the exact value */
	uint8_t     json;    /* from jansson: p is NULL for numbers */
	int64_t     i;
	double      d;
};

struct rec {
	struct tok f[MAXF];
	struct tok m[NMETA];
	int        meta;
};

static char *make_frag(const char *name, int first)
{
	size_t n = strlen(name) + 5;
	char *s = malloc(n);
	if (!s)
		die("out of memory");
	snprintf(s, n, "%c\"%s\":", first ? '{' : ',', name);
	return s;
}

static void setup_shape(void)
{
	switch (opt.kind) {
	case K_SENSOR24:
		fields = sensor24_fields; nfields = 7; schema_name = "sensor24"; break;
	case K_LEGACY16:
		fields = legacy16_fields; nfields = 6; schema_name = "legacy16"; break;
	case K_ENV16:
		fields = env16_fields; nfields = 6; schema_name = "env16"; break;
	case K_RAW:
		fields = raw_fields; nfields = 3; schema_name = "raw"; break;
	}
	if (opt.schema_name)
		schema_name = opt.schema_name;
	for (size_t j = 0; j < nfields; j++) {
		frag[j] = make_frag(fields[j].name, j == 0);
		frag_len[j] = strlen(frag[j]);
	}
	for (size_t j = 0; j < NMETA; j++) {
		meta_frag[j] = make_frag(meta_fields[j].name, 0);
		meta_frag_len[j] = strlen(meta_frag[j]);
	}
}

/* ------------------------------------------------------------------ */
/* parsing */

static inline int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const double pow10_tab[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * The fast-path scanners never look at an end pointer: files are mapped with
 * zero bytes after their data, and both '\n' and '\0' stop every scan ('\n'
 * and '\0' are neither digits nor plain string characters, and no fragment
 * contains them), so a scan never runs past the line it started in, and
 * reading up to 32 bytes ahead of any position stays inside the mapping.
 */

/*
 * JSON number at p: fills tk and returns its end, or NULL.  Integers of at
 * most 18 digits get their value; decimals of at most 15 significant digits
 * without exponent get their exact double (m / 10^frac: both exact, one
 * correctly rounded division); anything else is left to strtod.
 */
static const char *scan_number(const char *p, struct tok *tk)
{
	const char *s = p;
	uint64_t m = 0;
	int nd = 0, frac = 0, neg = 0, has_exp = 0;

	tk->is_int = 1;
	tk->int_ok = 0;
	tk->d_ok = 0;
	tk->json = 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		do {
			if (nd < 19)
				m = m * 10 + (uint64_t)(*p - '0');
			nd++;
			p++;
		} while (is_digit(*p));
	} else {
		return NULL;
	}
	if (*p == '.') {
		tk->is_int = 0;
		p++;
		if (!is_digit(*p))
			return NULL;
		do {
			if (m != 0 || *p != '0') {       /* leading zeros are not significant */
				if (nd < 19)
					m = m * 10 + (uint64_t)(*p - '0');
				nd++;
			}
			frac++;
			p++;
		} while (is_digit(*p));
	}
	if (*p == 'e' || *p == 'E') {
		tk->is_int = 0;
		has_exp = 1;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return NULL;
		while (is_digit(*p))
			p++;
	}
	tk->p = s;
	tk->len = (size_t)(p - s);
	if (tk->is_int && nd <= 18) {
		tk->i = neg ? -(int64_t)m : (int64_t)m;
		tk->int_ok = 1;
	}
	if (!has_exp && nd <= 15 && frac <= 22) {
		double d = (double)m;
		if (frac)
			d /= pow10_tab[frac];
		tk->d = neg ? -d : d;
		tk->d_ok = 1;
	}
	return p;
}

/* Plain string at p (after the opening quote): no escapes, no controls.
 * Returns the closing quote or NULL (then jansson decides). */
static const char *scan_plain_string(const char *p)
{
	while (1) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p;
		if (c == '\\' || c < 0x20)
			return NULL;
		p++;
	}
}

static const char *scan_value(const char *p, enum ftype t, struct tok *tk)
{
	if (t == F_STR) {
		if (*p != '"')
			return NULL;
		const char *q = scan_plain_string(p + 1);
		if (!q)
			return NULL;
		tk->p = p + 1;
		tk->len = (size_t)(q - p - 1);
		tk->json = 0;
		return q + 1;
	}
	return scan_number(p, tk);
}

static inline uint64_t load64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* a[0..n) == b[0..n); both readable for 16 bytes. */
static inline int frag_eq(const char *a, const char *b, size_t n)
{
	if (n >= 8 && n <= 16)
		return ((load64(a) ^ load64(b)) | (load64(a + n - 8) ^ load64(b + n - 8))) == 0;
	return memcmp(a, b, n) == 0;
}

/* a[0..n) == b[0..n) for n <= 32; both readable for 32 bytes. */
static inline int text_eq32(const char *a, const char *b, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t diff = 0;
	size_t k = 0;
	for (; k + 8 <= n; k += 8)
		diff |= load64(a + k) ^ load64(b + k);
	if (k < n)
		diff |= (load64(a + k) ^ load64(b + k)) & (((uint64_t)1 << (8 * (n - k))) - 1);
	return diff == 0;
#else
	return memcmp(a, b, n) == 0;
#endif
}

/*
 * The daemon's exact compact form, at p.  Returns the start of the next
 * line (past the '\n'), or NULL when the line is anything else.
 */
static const char *parse_fast(const char *p, struct rec *r)
{
	for (size_t j = 0; j < nfields; j++) {
		if (!frag_eq(p, frag[j], frag_len[j]))
			return NULL;
		p = scan_value(p + frag_len[j], fields[j].type, &r->f[j]);
		if (!p)
			return NULL;
	}
	if (p[0] == '}' && p[1] == '\n') {
		r->meta = 0;
		return p + 2;
	}
	for (size_t j = 0; j < NMETA; j++) {
		if (!frag_eq(p, meta_frag[j], meta_frag_len[j]))
			return NULL;
		p = scan_value(p + meta_frag_len[j], meta_fields[j].type, &r->m[j]);
		if (!p)
			return NULL;
	}
	r->meta = 1;
	return p[0] == '}' && p[1] == '\n' ? p + 2 : NULL;
}

static int tok_from_json(json_t *v, enum ftype t, struct tok *tk)
{
	memset(tk, 0, sizeof *tk);
	tk->json = 1;
	if (t == F_STR) {
		if (!json_is_string(v))
			return 0;
		tk->p = json_string_value(v);
		tk->len = json_string_length(v);
		return 1;
	}
	if (json_is_integer(v)) {
		tk->is_int = 1;
		tk->int_ok = 1;
		tk->i = json_integer_value(v);
		tk->d = (double)tk->i;     /* rounds as strtod of the text would */
		tk->d_ok = 1;
		return 1;
	}
	if (json_is_real(v)) {
		tk->d = json_real_value(v);
		tk->d_ok = 1;
		return 1;
	}
	return 0;
}

/* Any JSON object of the expected shape; *keep receives what to free. */
static int parse_slow(const char *p, size_t len, struct rec *r, json_t **keep)
{
	json_error_t err;
	json_t *o = json_loadb(p, len, JSON_REJECT_DUPLICATES, &err);
	*keep = o;
	if (!o || !json_is_object(o))
		return 0;
	size_t n = json_object_size(o);
	if (n != nfields && n != nfields + NMETA)
		return 0;
	void *it = json_object_iter(o);
	for (size_t j = 0; j < n; j++, it = json_object_iter_next(o, it)) {
		const struct fdesc *fd = j < nfields ? &fields[j] : &meta_fields[j - nfields];
		struct tok *tk = j < nfields ? &r->f[j] : &r->m[j - nfields];
		if (!it || strcmp(json_object_iter_key(it), fd->name) != 0)
			return 0;
		if (!tok_from_json(json_object_iter_value(it), fd->type, tk))
			return 0;
	}
	r->meta = n > nfields;
	return 1;
}

/* ------------------------------------------------------------------ */
/* number comparison */

static int tok_int(const struct tok *tk, int64_t *out)
{
	if (!tk->int_ok)
		return 0;
	*out = tk->i;
	return 1;
}

static double tok_double(const struct tok *tk)
{
	if (tk->d_ok)
		return tk->d;
	return strtod(tk->p, NULL);   /* followed by ',' or '}': strtod stops there */
}

/*
 * Per float field, indexed by the derivation's key (loadgen_packets.h): a
 * text already proven (by strtod) to read as that key's value.  The keys
 * advance with seq, so the lookups walk the tables nearly in order.
 */
struct cslot {
	char    text[32];
	uint8_t len;
};
static struct cslot *cache_humidity, *cache_pressure, *cache_voltage;

/* 1 when the number token reads as exactly `want`; s: its cache slot or NULL. */
static int tok_is_double(const struct tok *tk, double want, struct cslot *s)
{
	if (tk->d_ok)
		return tk->d == want;
	if (s && s->len == tk->len && text_eq32(s->text, tk->p, tk->len))
		return 1;
	if (strtod(tk->p, NULL) != want)
		return 0;
	if (s && tk->len <= sizeof s->text) {
		memcpy(s->text, tk->p, tk->len);
		s->len = (uint8_t)tk->len;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* base64 (standard alphabet, '=' padding) */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	return o;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decodes the first 16 characters (12 bytes) of s. */
static int b64_decode12(const char *s, size_t len, uint8_t out[12])
{
	if (len < 16)
		return 0;
	for (int g = 0; g < 4; g++) {
		uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			int x = b64_val(s[g * 4 + k]);
			if (x < 0)
				return 0;
			v = v << 6 | (uint32_t)x;
		}
		out[g * 3] = (uint8_t)(v >> 16);
		out[g * 3 + 1] = (uint8_t)(v >> 8);
		out[g * 3 + 2] = (uint8_t)v;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* check mode */

static uint64_t *seen;        /* bit (conn - base) * M + seq */
static int64_t  *max_seq;     /* per conn, -1 before the first */
static uint8_t  *raw_buf;
static char     *raw_b64;
static size_t    raw_b64_len;

static struct {
	uint64_t lines, ok, duplicate, out_of_order, bad_value, malformed, foreign, meta_lines;
	uint64_t reported;
} st;

static const char *cur_file;
static uint64_t cur_line;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	if (st.reported++ >= opt.max_report) {
		return;
	}
	va_list ap;
	fprintf(stderr, "checker: %s:%llu: ", cur_file, (unsigned long long)cur_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void show(const struct tok *tk, char *buf, size_t n)
{
	if (tk->json) {
		if (tk->is_int)
			snprintf(buf, n, "%lld", (long long)tk->i);
		else
			snprintf(buf, n, "%.17g", tk->d);
	} else {
		size_t l = tk->len < n - 1 ? tk->len : n - 1;
		memcpy(buf, tk->p, l);
		buf[l] = 0;
	}
}

static int check_int(const struct rec *r, size_t j, int64_t want)
{
	int64_t v;
	if (tok_int(&r->f[j], &v) && v == want)
		return 1;
	char got[40];
	show(&r->f[j], got, sizeof got);
	report("bad %s: got %s, want %lld", fields[j].name, got, (long long)want);
	return 0;
}

static int check_num(const struct rec *r, size_t j, double want, struct cslot *s)
{
	if (tok_is_double(&r->f[j], want, s))
		return 1;
	char got[40];
	show(&r->f[j], got, sizeof got);
	report("bad %s: got %s, want %.17g", fields[j].name, got, want);
	return 0;
}

/* Identifies the record: 1 with conn and seq, 0 when it cannot be. */
static int identify(const struct rec *r, uint64_t *conn, uint64_t *seq)
{
	int64_t c = 0, s = 0;
	switch (opt.kind) {
	case K_SENSOR24: {
		if (!tok_int(&r->f[0], &c) || c < 0)
			return 0;
		if (!tok_int(&r->f[1], &s)) {
			double d = tok_double(&r->f[1]);
			if (!(d >= 0 && d < 9007199254740992.0) || d != floor(d))
				return 0;
			s = (int64_t)d;
		}
		if (s < 0)
			return 0;
		break;
	}
	case K_LEGACY16:
		if (!tok_int(&r->f[1], &c) || !tok_int(&r->f[5], &s) || c < 0 || s < 0)
			return 0;
		break;
	case K_ENV16:
		/* count = seq * 65536 + the CRC's bytes (loadgen_packets.h) */
		if (!tok_int(&r->f[0], &c) || !tok_int(&r->f[5], &s) || c < 0 || s < 0)
			return 0;
		s >>= 16;
		break;
	case K_RAW: {
		uint8_t id[12];
		if (!b64_decode12(r->f[2].p, r->f[2].len, id))
			return 0;
		c = 0;
		uint64_t u = 0;
		for (int k = 0; k < 4; k++)
			c = c << 8 | id[k];
		for (int k = 4; k < 12; k++)
			u = u << 8 | id[k];
		if (u > INT64_MAX)
			return 0;
		s = (int64_t)u;
		break;
	}
	}
	*conn = (uint64_t)c;
	*seq = (uint64_t)s;
	return 1;
}

static int check_values(const struct rec *r, uint64_t conn, uint64_t seq)
{
	int ok = 1;
	switch (opt.kind) {
	case K_SENSOR24: {
		struct lg_sensor24 p;
		lg_sensor24_derive(conn, seq, &p);
		ok &= check_int(r, 0, p.sensor_id);
		ok &= check_num(r, 1, p.timestamp, NULL);
		ok &= check_int(r, 2, p.sensor_type);
		ok &= check_int(r, 3, p.status_flags);
		ok &= check_int(r, 4, p.temperature);
		ok &= check_num(r, 5, (double)p.humidity, &cache_humidity[lg_humidity_key(conn, seq)]);
		ok &= check_num(r, 6, (double)p.pressure, &cache_pressure[lg_pressure_key(conn, seq)]);
		break;
	}
	case K_LEGACY16: {
		struct lg_legacy16 p;
		lg_legacy16_derive(conn, seq, &p);
		ok &= check_int(r, 0, p.signature);
		ok &= check_int(r, 1, p.device_id);
		ok &= check_num(r, 2, (double)p.voltage, &cache_voltage[lg_voltage_key(conn, seq)]);
		ok &= check_int(r, 3, p.status);
		ok &= check_int(r, 4, p.checksum);
		ok &= check_int(r, 5, p.uptime);
		break;
	}
	case K_ENV16: {
		struct lg_env16 p;
		uint8_t frame[LG_ENV16_SIZE];
		lg_env16_derive(conn, seq, &p);
		lg_env16_encode(&p, frame);
		ok &= check_int(r, 0, p.dev_id);
		ok &= check_num(r, 1, lg_env16_temp_c(&p), NULL);
		ok &= check_num(r, 2, lg_env16_rh(&p), NULL);
		ok &= check_int(r, 3, lg_env16_low_batt(&p));
		ok &= check_int(r, 4, lg_env16_mode(&p));
		ok &= check_int(r, 5, (int64_t)lg_env16_count(frame));
		break;
	}
	case K_RAW:
		ok &= check_int(r, 0, opt.tlv_type);
		ok &= check_int(r, 1, (int64_t)opt.tlv_size);
		lg_raw_fill(conn, seq, raw_buf, opt.tlv_size);
		raw_b64_len = b64_encode(raw_buf, opt.tlv_size, raw_b64);
		if (r->f[2].len != raw_b64_len || memcmp(r->f[2].p, raw_b64, raw_b64_len) != 0) {
			report("bad value: the base64 differs from the derived %zu bytes", opt.tlv_size);
			ok = 0;
		}
		break;
	}
	if (r->meta) {
		const struct tok *sc = &r->m[1];
		if (sc->len != strlen(schema_name) || memcmp(sc->p, schema_name, sc->len) != 0) {
			report("bad _schema: got \"%.*s\", want \"%s\"", (int)(sc->len > 40 ? 40 : sc->len),
			       sc->p, schema_name);
			ok = 0;
		}
	}
	return ok;
}

/* Everything after parsing: identity, exactly-once bookkeeping, values. */
static void check_rec(const struct rec *r)
{
	if (r->meta)
		st.meta_lines++;
	if ((opt.meta == META_YES && !r->meta) || (opt.meta == META_NO && r->meta)) {
		st.malformed++;
		report("malformed: metadata %s", r->meta ? "present (--meta no)" : "missing (--meta yes)");
		return;
	}
	uint64_t conn, seq;
	if (!identify(r, &conn, &seq)) {
		st.bad_value++;
		report("bad_value: cannot tell its connection id and sequence");
		return;
	}
	if (conn < opt.conn_base || conn - opt.conn_base >= opt.nconns || seq >= opt.per_conn) {
		st.foreign++;
		if (!opt.allow_foreign)
			report("foreign: conn %llu seq %llu is not in this run",
			       (unsigned long long)conn, (unsigned long long)seq);
		return;
	}
	uint64_t ci = conn - opt.conn_base;
	uint64_t bit = ci * opt.per_conn + seq;
	if (seen[bit >> 6] & (1ull << (bit & 63))) {
		st.duplicate++;
		report("duplicate: conn %llu seq %llu", (unsigned long long)conn, (unsigned long long)seq);
		return;
	}
	seen[bit >> 6] |= 1ull << (bit & 63);
	if ((int64_t)seq < max_seq[ci]) {
		st.out_of_order++;
		report("out_of_order: conn %llu seq %llu after seq %lld", (unsigned long long)conn,
		       (unsigned long long)seq, (long long)max_seq[ci]);
	} else {
		max_seq[ci] = (int64_t)seq;
	}
	if (check_values(r, conn, seq))
		st.ok++;
	else
		st.bad_value++;
}

/* A line the fast path refused: jansson says whether it has the shape. */
static void check_line_slow(const char *p, size_t len)
{
	struct rec r;
	json_t *keep = NULL;

	if (parse_slow(p, len, &r, &keep)) {
		check_rec(&r);
	} else {
		st.malformed++;
		report("malformed: not a %s record: %.*s%s", schema_name,
		       (int)(len > 120 ? 120 : len), p, len > 120 ? "..." : "");
	}
	if (keep)
		json_decref(keep);
}

#define READ_CHUNK (4u << 20)
#define PAD        64       /* zero bytes after the data (see the scanners) */

static void check_file(const char *path)
{
	static char  *buf;
	static size_t cap;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		die("cannot stat %s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		die("%s: is a directory", path);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	cur_file = path;
	cur_line = 0;
	if (!buf) {
		cap = READ_CHUNK;
		buf = malloc(cap + PAD);
		if (!buf)
			die("out of memory");
	}

	size_t have = 0;
	int eof = 0;
	struct rec r;
	while (!eof) {
		if (have == cap) {           /* one line longer than the buffer */
			cap *= 2;
			buf = realloc(buf, cap + PAD);
			if (!buf)
				die("out of memory for a line of %zu bytes", have);
		}
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read %s: %s", path, strerror(errno));
		}
		if (n == 0)
			eof = 1;
		have += (size_t)n;
		memset(buf + have, 0, PAD);

		const char *p = buf, *end = buf + have;
		while (p < end) {
			const char *next = parse_fast(p, &r);
			if (next) {
				cur_line++;
				st.lines++;
				check_rec(&r);
				p = next;
				continue;
			}
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				if (!eof)
					break;   /* the rest comes with the next read */
				cur_line++;
				st.lines++;
				st.malformed++;
				report("malformed: the last line has no '\\n' (%zu bytes)", (size_t)(end - p));
				p = end;
				break;
			}
			cur_line++;
			st.lines++;
			check_line_slow(p, (size_t)(nl - p));
			p = nl + 1;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
	}
	close(fd);
}

static int run_check(int nfiles, char **files)
{
	uint64_t pairs = opt.nconns * opt.per_conn;
	if (pairs > MAX_PAIRS)
		usage_error("-c x -n = %llu is over %llu", (unsigned long long)pairs,
			    (unsigned long long)MAX_PAIRS);
	setup_shape();
	seen = calloc(pairs / 64 + 1, sizeof *seen);
	max_seq = malloc(opt.nconns * sizeof *max_seq);
	cache_humidity = calloc(LG_HUMIDITY_PERIOD, sizeof(struct cslot));
	cache_pressure = calloc(LG_PRESSURE_PERIOD, sizeof(struct cslot));
	cache_voltage = calloc(LG_VOLTAGE_PERIOD, sizeof(struct cslot));
	raw_buf = malloc(opt.tlv_size + 1);
	raw_b64 = malloc(opt.tlv_size / 3 * 4 + 8);
	if (!seen || !max_seq || !cache_humidity || !cache_pressure || !cache_voltage || !raw_buf ||
	    !raw_b64)
		die("out of memory for %llu connections x %llu packets",
		    (unsigned long long)opt.nconns, (unsigned long long)opt.per_conn);
	for (uint64_t i = 0; i < opt.nconns; i++)
		max_seq[i] = -1;

	for (int k = 0; k < nfiles; k++)
		check_file(files[k]);

	uint64_t nseen = 0;
	for (uint64_t w = 0; w < pairs / 64 + 1; w++)
		nseen += (uint64_t)__builtin_popcountll(seen[w]);
	uint64_t missing = pairs - nseen;
	if (missing && st.reported < opt.max_report) {
		/* Name the first few missing packets. */
		for (uint64_t b = 0; b < pairs && st.reported < opt.max_report; b++) {
			if (!(seen[b >> 6] & (1ull << (b & 63)))) {
				st.reported++;
				fprintf(stderr, "checker: missing: conn %llu seq %llu\n",
					(unsigned long long)(b / opt.per_conn + opt.conn_base),
					(unsigned long long)(b % opt.per_conn));
			}
		}
	}
	if (st.reported > opt.max_report)
		fprintf(stderr, "checker: (%llu more problems not described)\n",
			(unsigned long long)(st.reported - opt.max_report));

	printf("checker: lines=%llu ok=%llu missing=%llu duplicate=%llu out_of_order=%llu "
	       "bad_value=%llu malformed=%llu foreign=%llu expected=%llu\n",
	       (unsigned long long)st.lines, (unsigned long long)st.ok,
	       (unsigned long long)missing, (unsigned long long)st.duplicate,
	       (unsigned long long)st.out_of_order, (unsigned long long)st.bad_value,
	       (unsigned long long)st.malformed, (unsigned long long)st.foreign,
	       (unsigned long long)pairs);
	fflush(stdout);
	int pass = st.ok == pairs && missing == 0 && st.duplicate == 0 && st.out_of_order == 0 &&
		   st.bad_value == 0 && st.malformed == 0 && (st.foreign == 0 || opt.allow_foreign);
	return pass ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* tail mode */

static double now_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

struct tailer {
	const char *path;
	int         fd;
	ino_t       ino;
	dev_t       dev;
	off_t       off;
	int         ifd, wd;
};

static int tail_open(struct tailer *t, int at_end)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		die("cannot open %s: %s", t->path, strerror(errno));
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		die("cannot stat %s: %s", t->path, strerror(errno));
	if (t->fd >= 0)
		close(t->fd);
	if (t->wd >= 0)
		inotify_rm_watch(t->ifd, t->wd);
	t->fd = fd;
	t->ino = sb.st_ino;
	t->dev = sb.st_dev;
	t->off = at_end ? sb.st_size : 0;
	if (lseek(fd, t->off, SEEK_SET) < 0)
		die("cannot seek %s: %s", t->path, strerror(errno));
	t->wd = inotify_add_watch(t->ifd, t->path, IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB);
	return 1;
}

/* 1 when the path now names another file (rotation) or ours shrank. */
static int tail_rotated(struct tailer *t)
{
	struct stat sb;
	if (stat(t->path, &sb) != 0)
		return 0;                 /* gone: keep draining the old one */
	if (sb.st_ino != t->ino || sb.st_dev != t->dev)
		return 1;
	if (sb.st_size < t->off) {         /* truncated in place */
		t->off = 0;
		lseek(t->fd, 0, SEEK_SET);
	}
	return 0;
}

static int run_tail(void)
{
	double *lat = malloc(opt.count * sizeof *lat);
	size_t cap = 1 << 20, have = 0, n = 0;
	char *buf = malloc(cap);
	if (!lat || !buf)
		die("out of memory");
	struct tailer t = { .path = opt.tail, .fd = -1, .wd = -1 };
	t.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (t.ifd < 0)
		die("inotify_init1: %s", strerror(errno));

	double last = now_mono();
	int opened = tail_open(&t, !opt.from_start);
	int pass = 0, draining = 0;
	static const char key[] = "\"timestamp\":";

	while (n < opt.count) {
		if (!opened) {
			opened = tail_open(&t, 0);   /* appeared after we started: read it all */
			if (!opened) {
				if (now_mono() - last > opt.timeout)
					break;
				usleep(2000);
				continue;
			}
		}
		if (have == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		ssize_t r = read(t.fd, buf + have, cap - have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("read %s: %s", t.path, strerror(errno));
		}
		if (r > 0) {
			double now = now_real_ms();
			t.off += r;
			have += (size_t)r;
			char *p = buf, *e = buf + have, *nl;
			while (n < opt.count && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
				char *k = memmem(p, (size_t)(nl - p), key, sizeof key - 1);
				if (k) {
					char *q = k + sizeof key - 1, *qe;
					double ts = strtod(q, &qe);
					if (qe != q && qe <= nl) {
						lat[n++] = now - ts;
						last = now_mono();
					}
				}
				p = nl + 1;
			}
			have = (size_t)(e - p);
			memmove(buf, p, have);
			continue;
		}
		/* At the end: rotated?  Then read the old file to its end once
		 * more (the writer may have added to it since), and switch. */
		if (draining) {
			draining = 0;
			have = 0;          /* a partial last line of the old file is lost */
			opened = tail_open(&t, 0);
			continue;
		}
		if (tail_rotated(&t)) {
			draining = 1;
			continue;
		}
		if (now_mono() - last > opt.timeout)
			break;
		struct pollfd pfd = { .fd = t.ifd, .events = POLLIN };
		if (poll(&pfd, 1, 50) > 0) {
			char ev[4096];
			while (read(t.ifd, ev, sizeof ev) > 0)
				;
		}
	}
	if (n == opt.count) {
		pass = 1;
	} else {
		fprintf(stderr, "checker: only %zu of %llu records with a timestamp within %.1f s\n", n,
			(unsigned long long)opt.count, opt.timeout);
	}
	if (n > 0) {
		double sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += lat[i];
		qsort(lat, n, sizeof *lat, cmp_double);
		printf("checker: latency records=%zu min=%.3f p50=%.3f p99=%.3f p99.9=%.3f max=%.3f mean=%.3f\n",
		       n, lat[0], pct(lat, n, 50), pct(lat, n, 99), pct(lat, n, 99.9), lat[n - 1],
		       sum / (double)n);
	} else {
		printf("checker: latency records=0\n");
	}
	return pass ? 0 : 1;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	enum { O_BASE = 256, O_TLVAS, O_META, O_FOREIGN, O_MAXREP, O_TAIL, O_COUNT, O_TIMEOUT,
	       O_FROMSTART, O_SCHEMA };
	static const struct option lopts[] = {
		{ "conn-base", required_argument, NULL, O_BASE },
		{ "tlv-as", required_argument, NULL, O_TLVAS },
		{ "meta", required_argument, NULL, O_META },
		{ "allow-foreign", no_argument, NULL, O_FOREIGN },
		{ "max-report", required_argument, NULL, O_MAXREP },
		{ "tail", required_argument, NULL, O_TAIL },
		{ "count", required_argument, NULL, O_COUNT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "from-start", no_argument, NULL, O_FROMSTART },
		{ "schema-name", required_argument, NULL, O_SCHEMA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, size_given = 0, fmt_given = 0;
	char *end;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hc:n:f:t:s:", lopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return 0;
		case 'c': opt.nconns = parse_u64(optarg, 1, MAX_CONNS, "-c"); opt.have_c = 1; break;
		case 'n': opt.per_conn = parse_u64(optarg, 0, MAX_PER_CONN, "-n"); opt.have_n = 1; break;
		case 'f':
			fmt_given = 1;
			opt.fmt_tlv = 0;
			if (!strcmp(optarg, "sensor24")) opt.kind = K_SENSOR24;
			else if (!strcmp(optarg, "legacy16")) opt.kind = K_LEGACY16;
			else if (!strcmp(optarg, "env16")) opt.kind = K_ENV16;
			else if (!strcmp(optarg, "tlv")) opt.fmt_tlv = 1;
			else usage_error("-f: unknown format '%s' (sensor24, legacy16, env16, tlv)", optarg);
			break;
		case 't': opt.tlv_type = (unsigned)parse_u64(optarg, 1, 255, "-t"); break;
		case 's': opt.tlv_size = (size_t)parse_u64(optarg, 0, 65535, "-s"); size_given = 1; break;
		case O_BASE: opt.conn_base = parse_u64(optarg, 0, UINT32_MAX, "--conn-base"); break;
		case O_TLVAS:
			opt.kind_forced = 1;
			if (!strcmp(optarg, "sensor24")) opt.kind = K_SENSOR24;
			else if (!strcmp(optarg, "legacy16")) opt.kind = K_LEGACY16;
			else if (!strcmp(optarg, "env16")) opt.kind = K_ENV16;
			else if (!strcmp(optarg, "raw")) opt.kind = K_RAW;
			else usage_error("--tlv-as: unknown kind '%s' (sensor24, legacy16, env16, raw)", optarg);
			break;
		case O_META:
			if (!strcmp(optarg, "any")) opt.meta = META_ANY;
			else if (!strcmp(optarg, "yes")) opt.meta = META_YES;
			else if (!strcmp(optarg, "no")) opt.meta = META_NO;
			else usage_error("--meta: want any, yes or no, not '%s'", optarg);
			break;
		case O_FOREIGN: opt.allow_foreign = 1; break;
		case O_MAXREP: opt.max_report = parse_u64(optarg, 0, UINT64_MAX / 2, "--max-report"); break;
		case O_TAIL: opt.tail = optarg; break;
		case O_COUNT: opt.count = parse_u64(optarg, 1, MAX_COUNT, "--count"); break;
		case O_TIMEOUT:
			errno = 0;
			opt.timeout = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(opt.timeout > 0 && opt.timeout <= 86400))
				usage_error("--timeout: want seconds 0..86400, got '%s'", optarg);
			break;
		case O_FROMSTART: opt.from_start = 1; break;
		case O_SCHEMA:
			if (!*optarg || strpbrk(optarg, "\"\\") || strlen(optarg) > 200)
				usage_error("--schema-name: want a plain name, not '%s'", optarg);
			opt.schema_name = optarg;
			break;
		case ':':
			usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}

	if (opt.tail) {
		if (!opt.count)
			usage_error("--tail needs --count K");
		if (optind < argc)
			usage_error("--tail takes no FILE arguments ('%s')", argv[optind]);
		if (opt.have_c || opt.have_n || fmt_given || opt.schema_name)
			usage_error("--tail does not take -c, -n, -f or --schema-name");
		return run_tail();
	}
	if (opt.count || opt.from_start)
		usage_error("--count and --from-start go with --tail");
	if (!opt.have_c || !opt.have_n)
		usage_error("-c N and -n M are required");
	if (optind >= argc)
		usage_error("no FILE given");

	if (opt.fmt_tlv) {
		if (!opt.kind_forced)
			opt.kind = opt.tlv_type == 1 ? K_SENSOR24 : opt.tlv_type == 2 ? K_LEGACY16 : K_RAW;
		if (opt.kind == K_LEGACY16 && !size_given)
			opt.tlv_size = LG_LEGACY16_SIZE;
		if (opt.kind == K_ENV16 && !size_given)
			opt.tlv_size = LG_ENV16_SIZE;
		if (opt.kind == K_SENSOR24 && opt.tlv_size != LG_SENSOR24_SIZE)
			usage_error("-s: a sensor24 value (TLV type %u) is 24 bytes, not %zu", opt.tlv_type,
				    opt.tlv_size);
		if (opt.kind == K_LEGACY16 && opt.tlv_size != LG_LEGACY16_SIZE)
			usage_error("-s: a legacy16 value (TLV type %u) is 16 bytes, not %zu", opt.tlv_type,
				    opt.tlv_size);
		if (opt.kind == K_ENV16 && opt.tlv_size != LG_ENV16_SIZE)
			usage_error("-s: an env16 value (TLV type %u) is 16 bytes, not %zu", opt.tlv_type,
				    opt.tlv_size);
		if (opt.kind == K_RAW && opt.tlv_size < LG_RAW_ID_SIZE)
			usage_error("-s: a raw value is at least %d bytes", LG_RAW_ID_SIZE);
	} else if (opt.kind_forced) {
		usage_error("--tlv-as needs -f tlv");
	}
	return run_check(argc - optind, argv + optind);
}
