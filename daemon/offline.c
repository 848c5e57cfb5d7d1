/*
 * offline: see offline.h.  One buffer holds the unparsed bytes (at most a
 * frame's worth after each pass) plus one read; records are written into
 * an output buffer flushed when it fills.  Nothing here decides anything
 * about frames: decode_next() does, as it does for a connection.
 */
#include "offline.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "listener.h"
#include "log.h"

#define EXIT_DATAERR 65
#define EXIT_NOINPUT 66
#define EXIT_USAGE   64
#define EXIT_OSERR   71
#define EXIT_IOERR   74

#define READ_CHUNK  (256 * 1024)
#define OUT_FLUSH   (1024 * 1024)

struct input {
	const char *path;
	char        shown[512];   /* path as printed (escaped), or "stdin" */
	int         fd;
	uint64_t    start;        /* stream offset of its first byte */
	char       *peer;         /* `,"_peer":"file:PATH"` */
	size_t      peer_len;
};

struct run {
	const struct listener_conf *lc;
	const struct record_layout *(*layout_of)(const struct schema *);
	struct input *in;
	int           nin, cur;     /* inputs; the one being read */
	int           metadata;
	char         *lmeta;        /* `,"_listener":"NAME"` */
	size_t        lmeta_len;
	char          rx[48];
	size_t        rx_len;
	char         *out;
	size_t        out_len, out_cap;
	uint64_t      records, bad, reports, slid, resync_bytes;
	int           write_failed;
};

static struct input *
input_at(const struct run *r, uint64_t off, uint64_t *in_file)
{
	int i = r->cur < r->nin ? r->cur : r->nin - 1;

	while (i > 0 && r->in[i].start > off)
		i--;
	*in_file = off - r->in[i].start;
	return &r->in[i];
}

static void
report(struct run *r, uint64_t off, const char *what, const char *then)
{
	uint64_t at;
	const struct input *in = input_at(r, off, &at);

	if (r->reports++ < OFFLINE_MAX_REPORTS)
		fprintf(stderr, "ingestd: %s: offset %llu: %s%s%s\n", in->shown,
			(unsigned long long)at, what, then ? "; " : "", then ? then : "");
}

static void
flush_out(struct run *r)
{
	size_t done = 0;

	while (done < r->out_len && !r->write_failed) {
		ssize_t n = write(STDOUT_FILENO, r->out + done, r->out_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ingestd: cannot write to stdout: %s\n",
				n < 0 ? strerror(errno) : "nothing written");
			r->write_failed = 1;
			break;
		}
		done += (size_t)n;
	}
	r->out_len = 0;
}

/* Room for one record of at most `bound` bytes. */
static char *
out_room(struct run *r, size_t bound)
{
	if (r->out_len + bound > r->out_cap)
		flush_out(r);
	return r->out + r->out_len;
}

static void
set_rx(struct run *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	r->rx_len = record_meta_rx(r->rx, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Decodes buf[*pos..len), whose first byte is at stream offset base.
 * Returns 1 when decoding must stop (the daemon would close the stream).
 */
static int
decode_some(struct run *r, struct decode_state *st, const uint8_t *buf, size_t *pos, size_t len,
	    uint64_t base)
{
	const struct listener_conf *lc = r->lc;

	for (;;) {
		struct decoded d;
		struct record_meta meta, *m = NULL;
		uint64_t off = base + *pos, at;
		const struct input *in = input_at(r, off, &at);
		const struct record_layout *lay;
		char *o, msg[160];

		decode_next(lc, st, buf + *pos, len - *pos, &d);
		if (r->metadata) {
			meta = (struct record_meta){ .listener = r->lmeta, .listener_len = r->lmeta_len,
						     .peer = in->peer, .peer_len = in->peer_len,
						     .rx = r->rx, .rx_len = r->rx_len };
			m = &meta;
		}
		switch (d.action) {
		case DEC_PARTIAL:
			return 0;
		case DEC_CLOSE:
			r->bad++;
			report(r, off, decode_bad_text(d.bad), "decoding stops here: the daemon "
			       "closes the connection (on_bad_frame = close), so the rest of the "
			       "input is not decoded");
			return 1;
		case DEC_SKIP:
			r->bad++;
			snprintf(msg, sizeof(msg), "%zu-byte frame dropped (on_bad_frame = skip)",
				 d.advance);
			report(r, off, decode_bad_text(d.bad), msg);
			*pos += d.advance;
			continue;
		case DEC_SLIDE:
			if (d.resync_start) {
				r->bad++;
				report(r, off, decode_bad_text(d.bad),
				       "resynchronising (on_bad_frame = resync)");
			}
			r->slid += d.advance;
			r->resync_bytes += d.advance;
			*pos += d.advance;
			continue;
		case DEC_RECORD:
			if (r->slid > 0) {
				snprintf(msg, sizeof(msg), "next good frame, after %llu bytes skipped",
					 (unsigned long long)r->slid);
				report(r, off, msg, NULL);
				r->slid = 0;
			}
			lay = r->layout_of(lc->framer.kind == FRAMING_FIXED ? lc->schemas[d.index] :
					   d.schema);
			o = out_room(r, record_bound(lay, m));
			r->out_len += record_write_frame(o, lay, d.frame.value, m);
			break;
		case DEC_RAW:
			o = out_room(r, record_raw_bound(d.frame.len, m));
			r->out_len += record_write_raw(o, d.frame.type, d.frame.value, d.frame.len, m);
			break;
		}
		r->records++;
		*pos += d.advance;
	}
}

/* `,"_peer":"TEXT"`; a file name is bytes, so not UTF-8 is not an error. */
static char *
peer_fragment(const char *text, size_t *len_out)
{
	static const char key[] = ",\"_peer\":";
	size_t n = strlen(text);
	char *out = malloc(sizeof(key) + 2 + 6 * n);

	if (out == NULL)
		return NULL;
	memcpy(out, key, sizeof(key) - 1);
	*len_out = sizeof(key) - 1 + record_json_bytes(out + sizeof(key) - 1,
							(const uint8_t *)text, n);
	return out;
}

static int
open_inputs(struct run *r, char *const *paths, int n)
{
	static char *const dash[] = { "-" };

	if (n == 0) {
		paths = dash;
		n = 1;
	}
	r->in = calloc((size_t)n, sizeof(*r->in));
	if (r->in == NULL)
		return -1;
	r->nin = n;
	for (int i = 0; i < n; i++) {
		struct input *in = &r->in[i];
		char text[600];
		int is_stdin = strcmp(paths[i], "-") == 0;

		in->path = paths[i];
		in->fd = -1;
		in->start = UINT64_MAX;
		if (is_stdin)
			snprintf(in->shown, sizeof(in->shown), "stdin");
		else
			log_escape(in->shown, sizeof(in->shown), paths[i]);
		snprintf(text, sizeof(text), is_stdin ? "stdin" : "file:%s", paths[i]);
		if ((in->peer = peer_fragment(text, &in->peer_len)) == NULL)
			return -1;
		in->fd = is_stdin ? STDIN_FILENO : open(paths[i], O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			fprintf(stderr, "ingestd: %s: cannot open: %s\n", in->shown, strerror(errno));
			return EXIT_NOINPUT;
		}
	}
	r->in[0].start = 0;
	return 0;
}

static void
close_inputs(struct run *r)
{
	for (int i = 0; r->in != NULL && i < r->nin; i++) {
		if (r->in[i].fd > STDIN_FILENO)
			close(r->in[i].fd);
		free(r->in[i].peer);
	}
	free(r->in);
}

static const struct listener_conf *
find_listener(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	return NULL;
}

int
offline_decode(const struct config *c, const char *listener,
	       const struct record_layout *(*layout_of)(const struct schema *),
	       char *const *inputs, int ninputs)
{
	struct run r = { .layout_of = layout_of, .metadata = c->metadata };
	struct decode_state st = { 0 };
	struct record_meta worst = { .rx_len = 48 };
	uint8_t *buf = NULL;
	size_t cap, len = 0, pos = 0, max_frame;
	uint64_t base = 0;
	int rc = 0, stopped = 0;

	if ((r.lc = find_listener(c, listener)) == NULL) {
		char shown[256], names[1024];
		size_t n = 0;

		names[0] = '\0';
		for (size_t i = 0; i < c->nlisteners && n < sizeof(names); i++)
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
					      c->listeners[i].name);
		log_escape(shown, sizeof(shown), listener);
		fprintf(stderr, "ingestd: --decode: no listener \"%s\" in %s (listeners: %s)\n",
			shown, c->source, names);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);  /* a closed stdout is reported as a write error */
	if ((rc = open_inputs(&r, inputs, ninputs)) != 0) {
		if (rc < 0) {
			fprintf(stderr, "ingestd: --decode: out of memory\n");
			rc = EXIT_OSERR;
		}
		goto out;
	}
	r.lmeta = record_meta_string("_listener", r.lc->name, &r.lmeta_len);
	max_frame = r.lc->framer.kind == FRAMING_FIXED ? r.lc->framer.fixed_size :
		    r.lc->framer.max_value + TLV_HEADER_SIZE;
	cap = max_frame + READ_CHUNK;
	buf = malloc(cap);
	worst.listener_len = r.lmeta_len;
	for (int i = 0; i < r.nin; i++)
		if (r.in[i].peer_len > worst.peer_len)
			worst.peer_len = r.in[i].peer_len;
	r.out_cap = OUT_FLUSH +
		    listener_record_bound(r.lc, layout_of, c->metadata ? &worst : NULL);
	r.out = malloc(r.out_cap);
	if (r.lmeta == NULL || buf == NULL || r.out == NULL) {
		fprintf(stderr, "ingestd: --decode: out of memory\n");
		rc = EXIT_OSERR;
		goto out;
	}
	set_rx(&r);

	while (!r.write_failed) {
		ssize_t n;

		if (decode_some(&r, &st, buf, &pos, len, base)) {
			stopped = 1;
			break;
		}
		/* What is left is less than a frame: keep it in front. */
		memmove(buf, buf + pos, len - pos);
		base += pos;
		len -= pos;
		pos = 0;
		if (r.cur == r.nin)
			break;
		n = read(r.in[r.cur].fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ingestd: %s: cannot read: %s\n", r.in[r.cur].shown,
				strerror(errno));
			rc = EXIT_NOINPUT;
			break;
		}
		if (n == 0) {
			if (++r.cur < r.nin)
				r.in[r.cur].start = base + len;
			continue;
		}
		len += (size_t)n;
		set_rx(&r);
	}
	flush_out(&r);
	if (rc == 0 && !stopped && len > pos) {
		char what[96];

		snprintf(what, sizeof(what), "incomplete frame at the end of the input (%zu bytes)",
			 len - pos);
		r.bad++;
		report(&r, base + pos, what, NULL);
	}
	if (r.reports > OFFLINE_MAX_REPORTS)
		fprintf(stderr, "ingestd: %llu more bad frames not shown\n",
			(unsigned long long)(r.reports - OFFLINE_MAX_REPORTS));
	fprintf(stderr, "ingestd: --decode %s: %llu records, %llu bad frames, %llu bytes skipped "
		"resynchronising\n", r.lc->name, (unsigned long long)r.records,
		(unsigned long long)r.bad, (unsigned long long)r.resync_bytes);
	if (rc == 0 && r.write_failed)
		rc = EXIT_IOERR;
	if (rc == 0 && r.bad > 0)
		rc = EXIT_DATAERR;
out:
	close_inputs(&r);
	free(r.lmeta);
	free(r.out);
	free(buf);
	return rc;
}
