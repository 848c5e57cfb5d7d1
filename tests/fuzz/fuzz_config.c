/*
 * fuzz_config: config_load_text() on arbitrary text.
 *
 * Never a crash or a leak.  A success must leave a struct config that keeps
 * config.h's and config/ingestd.ini's promises: at least one listener (at
 * most CONFIG_MAX_LISTENERS), unique valid names, numeric addresses, no two
 * listeners on one address and non-zero port; fixed listeners with 1..16
 * schemas (built-in, or declared ones that keep schema.h's promises), all
 * of fixed_size, each with a magic when there are several, each able to
 * resync under on_bad_frame = resync, and no type map; TLV listeners with
 * no schema list, max_value <= 65535, slab_size >= max_value + 3, no
 * resync, and only valid schemas no larger than max_value in the type map; pool values in their ranges
 * with reserve < slabs, waiters_low < max_waiters and 1 <= max_retained <=
 * slabs - reserve.  A failure must leave one non-empty line that starts with
 * "SOURCE:".  A second load with a small error buffer (0..40 bytes) must
 * agree on the outcome and write a prefix of the same message, within the
 * buffer, cut short only where an escaped control byte would not fit.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

#define SOURCE "fuzz.ini"
#define ERRLEN 512

/* A built-in table, or a declared one of c that keeps schema.h's promises:
 * size 1..65535, 1..32 fields each inside the frame, one printed at least,
 * a checksum inside the frame that does not cover its own bytes. */
static int
valid_schema(const struct config *c, const struct schema *s)
{
	size_t printed = 0;

	if (s == NULL)
		return 0;
	if (schema_find(s->name) == s)
		return 1;
	if (s < c->schemas || s >= c->schemas + c->nschemas)
		return 0;
	CHECK(s->size >= 1 && s->size <= 65535);
	CHECK(s->nfields >= 1 && s->nfields <= SCHEMA_MAX_FIELDS);
	for (size_t i = 0; i < s->nfields; i++) {
		const struct field *f = &s->fields[i];

		CHECK(f->offset + field_width(f) <= s->size);
		CHECK(f->name[0] != '\0' && f->name[0] != '_');
		printed += !f->omit;
	}
	CHECK(printed > 0);
	if (s->checksum.algo != CK_NONE) {
		const struct schema_checksum *k = &s->checksum;
		size_t w = checksum_width((enum checksum_algo)k->algo);

		CHECK(k->offset + w <= s->size && k->last < s->size && k->first <= k->last);
		CHECK(k->offset > k->last || k->offset + w - 1 < k->first);
	}
	return 1;
}

static int
valid_name(const char *s)
{
	size_t n = strnlen(s, CONFIG_NAME_MAX);

	if (n < 1 || n >= CONFIG_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return 0;
	}
	return 1;
}

struct bin_addr {
	int           family;
	unsigned char b[16];
};

static void
addr_of(const char *s, struct bin_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->b) == 1)
		a->family = AF_INET6;
}

static void
check_duration(double d, double lo, double hi)
{
	CHECK(isfinite(d) && d >= lo && d <= hi);
}

static void
check_config(const struct config *c)
{
	const struct pool_conf *pc = &c->pool;
	static struct bin_addr addrs[CONFIG_MAX_LISTENERS];

	CHECK(strcmp(c->source, SOURCE) == 0);
	CHECK(c->nlisteners >= 1 && c->nlisteners <= CONFIG_MAX_LISTENERS);

	CHECK(pc->slab_size >= 4096 && pc->slab_size <= 16777216);
	CHECK(pc->slabs >= 2 && pc->slabs <= 1048576);
	CHECK(pc->overflow <= 65536);
	CHECK(pc->reserve >= 1 && pc->reserve < pc->slabs);
	CHECK(pc->max_waiters >= 1 && pc->waiters_low < pc->max_waiters);
	CHECK(pc->max_retained >= 1 && pc->max_retained <= pc->slabs - pc->reserve);

	CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	check_duration(c->idle_timeout, 0, 86400);
	check_duration(c->shutdown_timeout, 1, 3600);
	check_duration(c->stats_interval, 0, 86400);
	check_duration(c->unhealthy_after, 1, 86400);
	CHECK(c->metadata == 0 || c->metadata == 1);
	CHECK(c->metrics_enabled == 0 || c->metrics_enabled == 1);
	CHECK(c->log_level >= 0);
	CHECK(strnlen(c->output_path, sizeof(c->output_path)) >= 1 &&
	      strnlen(c->output_path, sizeof(c->output_path)) < sizeof(c->output_path));
	{
		struct bin_addr a;

		addr_of(c->metrics_address, &a);
		CHECK(a.family != 0);
	}

	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];

		CHECK(valid_name(l->name));
		CHECK(l->line >= 1);
		addr_of(l->address, &addrs[i]);
		CHECK(addrs[i].family != 0);
		CHECK(l->recv_buffer <= 67108864);
		for (size_t j = 0; j < i; j++) {
			CHECK(strcmp(c->listeners[j].name, l->name) != 0);
			CHECK(l->port == 0 || c->listeners[j].port != l->port ||
			      memcmp(&addrs[j], &addrs[i], sizeof(addrs[i])) != 0);
		}
		CHECK(l->on_bad_frame >= ON_BAD_CLOSE && l->on_bad_frame <= ON_BAD_RESYNC);
		CHECK(l->max_resync >= 1);
		if (l->framer.kind == FRAMING_FIXED) {
			CHECK(l->nschemas >= 1 && l->nschemas <= CONFIG_MAX_LISTENER_SCHEMAS);
			for (size_t k = 0; k < l->nschemas; k++) {
				CHECK(valid_schema(c, l->schemas[k]));
				CHECK(l->framer.fixed_size == l->schemas[k]->size);
				CHECK(l->nschemas == 1 || schema_has_magic(l->schemas[k]));
				CHECK(l->on_bad_frame != ON_BAD_RESYNC ||
				      schema_can_resync(l->schemas[k]));
			}
			for (int t = 0; t < 256; t++)
				CHECK(l->tlv_map[t] == NULL);
		} else {
			CHECK(l->framer.kind == FRAMING_TLV);
			CHECK(l->nschemas == 0);
			CHECK(l->on_bad_frame != ON_BAD_RESYNC);
			CHECK(l->framer.max_value <= 65535);
			CHECK(pc->slab_size >= l->framer.max_value + TLV_HEADER_SIZE);
			CHECK(l->tlv_map[0] == NULL);
			for (int t = 1; t < 256; t++)
				CHECK(l->tlv_map[t] == NULL || (valid_schema(c, l->tlv_map[t]) &&
								l->tlv_map[t]->size <= l->framer.max_value));
		}
	}
}

static void
check_error(const char *err)
{
	size_t n = strlen(err);

	CHECK(n > strlen(SOURCE) + 1);
	CHECK(strncmp(err, SOURCE ":", strlen(SOURCE) + 1) == 0);
	CHECK(strchr(err, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *c;
	char *text, *err, *small;
	size_t small_len;
	int rc, rc2;
	uint32_t h = 2166136261u;

	if (c == NULL) {
		char e[ERRLEN];

		c = malloc(sizeof(*c));
		CHECK(c != NULL);
		/* The embedded default is the documented example: it loads. */
		CHECK(config_load_text(c, config_default_text(), "(default)", e, sizeof(e)) == 0);
	}

	text = malloc(size + 1);
	err = malloc(ERRLEN);
	CHECK(text != NULL && err != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 0x55, ERRLEN);
	rc = config_load_text(c, text, SOURCE, err, ERRLEN);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(err, '\0', ERRLEN) != NULL);
	if (rc == 0) {
		CHECK(err[0] == '\0');
		check_config(c);
	} else {
		check_error(err);
	}

	/* Again with a small buffer (exactly its size on the heap, so ASan
	 * sees a write past it): same outcome, the message cut short. */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	small_len = h % 41;
	small = malloc(small_len ? small_len : 1);
	CHECK(small != NULL);
	memset(small, 0x55, small_len ? small_len : 1);
	rc2 = config_load_text(c, text, SOURCE, small, small_len);
	CHECK(rc2 == rc);
	if (small_len == 0) {
		CHECK(small[0] == 0x55);
	} else {
		size_t want = strlen(err) < small_len - 1 ? strlen(err) : small_len - 1;
		size_t got;

		CHECK(memchr(small, '\0', small_len) != NULL);
		got = strlen(small);
		CHECK(memcmp(small, err, got) == 0);
		/* Cut only before an escaped control byte (\xNN) that does not
		 * fit whole: then up to 3 bytes of room stay unused. */
		CHECK(got == want || (got < want && want - got <= 3 && err[got] == '\\'));
	}
	if (rc == 0)
		check_config(c);

	free(small);
	free(err);
	free(text);
	return 0;
}
