/*
 * status: see status.h.  The document is built with jansson and dumped
 * once per request (a few KiB; requests are an operator's, not the hot
 * path).  Every number comes from the one stats view of the request, so
 * the page's figures agree with each other and with /metrics taken at the
 * same moment.
 */
#include "status.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "history.h"
#include "schema.h"
#include "stats.h"
#include "version.h"

#include "status_page.h"   /* status_page_text: daemon/status.html */

const char *const status_page_html = status_page_text;
const size_t status_page_len = sizeof(status_page_text) - 1;

/* Shown with the frame rejections (stats_frame_rejections): connections
 * closed for what their frames were. */
static const enum stats_counter rejected_also[] = { STAT_resync_giveups, STAT_bad_identity };

/* A JSON string of text from the config (a path, a topic): json_string
 * refuses bytes that are not UTF-8, and a path may hold any; those bytes
 * are shown as '?' rather than failing the whole document. */
static json_t *
json_text(const char *s)
{
	json_t *j = json_string(s);
	char buf[4096];
	size_t i;

	if (j != NULL || s == NULL)
		return j;
	for (i = 0; s[i] != '\0' && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	buf[i] = '\0';
	return json_string(buf);
}

/* json_object_set_new that remembers a failure (any NULL value). */
static void
put(json_t *obj, const char *key, json_t *val, int *bad)
{
	if (val == NULL || json_object_set_new(obj, key, val) < 0)
		*bad = 1;
}

static json_t *
listener_json(const struct listener_conf *lc, const struct stats_view *sv, size_t i,
	      const struct history *h, int *bad)
{
	json_t *o = json_object();
	json_t *schemas = json_array();
	char addr[96];

	if (o == NULL || schemas == NULL) {
		json_decref(o);
		json_decref(schemas);
		*bad = 1;
		return NULL;
	}
	if (sv->listeners[i].bound != NULL && sv->listeners[i].bound[0] != '\0')
		snprintf(addr, sizeof(addr), "%s", sv->listeners[i].bound);
	else if (strchr(lc->address, ':') != NULL)
		snprintf(addr, sizeof(addr), "[%s]:%u", lc->address, lc->port);
	else
		snprintf(addr, sizeof(addr), "%s:%u", lc->address, lc->port);
	put(o, "name", json_text(lc->name), bad);
	put(o, "address", json_string(addr), bad);
	put(o, "framing", json_string(lc->framer.kind == FRAMING_TLV ? "tlv" : "fixed"), bad);
	if (lc->framer.kind == FRAMING_TLV) {
		for (size_t t = 0; t < 256; t++)
			if (lc->tlv_map[t] != NULL &&
			    json_array_append_new(schemas, json_string(lc->tlv_map[t]->name)) < 0)
				*bad = 1;
	} else {
		for (size_t k = 0; k < lc->nschemas; k++)
			if (json_array_append_new(schemas, json_string(lc->schemas[k]->name)) < 0)
				*bad = 1;
	}
	put(o, "schemas", schemas, bad);
	put(o, "tls", json_boolean(lc->tls.on), bad);
	put(o, "proxy_protocol", json_boolean(lc->proxy_versions != 0), bad);
	put(o, "connections", json_integer((json_int_t)sv->listeners[i].conns), bad);
	put(o, "records", json_integer((json_int_t)sv->listeners[i].records), bad);
	put(o, "bytes_in", json_integer((json_int_t)sv->listeners[i].bytes_in), bad);
	put(o, "records_per_s", json_real(history_listener_rate(h, i)), bad);
	return o;
}

static json_t *
history_json(const struct history *h, double now, int *bad)
{
	json_t *o = json_object();
	json_t *age = json_array(), *rate = json_array(), *use = json_array();
	json_t *wait = json_array(), *paused = json_array();
	size_t n = history_len(h);

	if (o == NULL || age == NULL || rate == NULL || use == NULL || wait == NULL ||
	    paused == NULL) {
		json_decref(o);
		json_decref(age);
		json_decref(rate);
		json_decref(use);
		json_decref(wait);
		json_decref(paused);
		*bad = 1;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct history_sample *s = history_at(h, i);
		double a = now - s->t;

		/* Ages to the millisecond keep the document small. */
		if (json_array_append_new(age, json_real((double)(long long)(a * 1000) / 1000)) < 0 ||
		    json_array_append_new(rate, json_real(round(s->records_per_s))) < 0 ||
		    json_array_append_new(use, json_integer(s->slabs_in_use)) < 0 ||
		    json_array_append_new(wait, json_integer(s->waiters)) < 0 ||
		    json_array_append_new(paused, json_boolean(s->paused)) < 0)
			*bad = 1;
	}
	put(o, "interval_s", json_real(1.0), bad);
	put(o, "capacity", json_integer(HISTORY_SAMPLES), bad);
	put(o, "age_s", age, bad);
	put(o, "records_per_s", rate, bad);
	put(o, "slabs_in_use", use, bad);
	put(o, "waiters", wait, bad);
	put(o, "paused", paused, bad);
	return o;
}

char *
status_json(const struct config *cfg, const struct stats_view *sv, const struct history *h,
	    double uptime, size_t *len)
{
	const uint64_t *c = sv->counters.c;
	json_t *doc = json_object();
	json_t *listeners = json_array(), *rej = json_object();
	json_t *pool = json_object(), *out = json_object();
	int bad = 0;
	char *text = NULL;

	if (doc == NULL || listeners == NULL || rej == NULL || pool == NULL || out == NULL) {
		json_decref(doc);
		json_decref(listeners);
		json_decref(rej);
		json_decref(pool);
		json_decref(out);
		return NULL;
	}
	put(doc, "version", json_string(INGESTD_VERSION), &bad);
	put(doc, "uptime_s", json_real((double)(long long)(uptime * 1000) / 1000), &bad);
	put(doc, "stopping", json_boolean(sv->stopping), &bad);
	put(doc, "workers", json_integer((json_int_t)sv->nworkers), &bad);
	put(doc, "connections", json_integer((json_int_t)sv->conns), &bad);
	put(doc, "max_connections", json_integer((json_int_t)sv->max_connections), &bad);
	put(doc, "records", json_integer((json_int_t)c[STAT_records_out]), &bad);
	put(doc, "frames_in", json_integer((json_int_t)c[STAT_frames_in]), &bad);
	put(doc, "bytes_in", json_integer((json_int_t)c[STAT_bytes_in]), &bad);

	for (size_t i = 0; i < cfg->nlisteners && i < sv->nlisteners; i++)
		if (json_array_append_new(listeners,
					  listener_json(&cfg->listeners[i], sv, i, h, &bad)) < 0)
			bad = 1;
	put(doc, "listeners", listeners, &bad);

	for (size_t k = 0; k < STATS_FRAME_REJECTIONS; k++)
		put(rej, stats_names[stats_frame_rejections[k]],
		    json_integer((json_int_t)c[stats_frame_rejections[k]]), &bad);
	for (size_t k = 0; k < sizeof(rejected_also) / sizeof(rejected_also[0]); k++)
		put(rej, stats_names[rejected_also[k]], json_integer((json_int_t)c[rejected_also[k]]),
		    &bad);
	put(doc, "rejected", rej, &bad);

	put(pool, "slab_size", json_integer((json_int_t)sv->slab_size), &bad);
	put(pool, "slabs", json_integer((json_int_t)sv->slabs), &bad);
	put(pool, "slabs_in_use", json_integer((json_int_t)sv->slabs_in_use), &bad);
	put(pool, "slabs_peak", json_integer((json_int_t)sv->slabs_peak), &bad);
	put(pool, "overflow_in_use", json_integer((json_int_t)sv->overflow_in_use), &bad);
	put(pool, "waiters", json_integer((json_int_t)sv->waiters), &bad);
	put(pool, "paused", json_boolean(sv->paused), &bad);
	put(pool, "paused_for_s", json_real(sv->paused_for), &bad);
	put(pool, "paused_seconds", json_real(sv->paused_seconds), &bad);
	put(pool, "pause_events", json_integer((json_int_t)c[STAT_pause_events]), &bad);
	put(doc, "pool", pool, &bad);

	put(out, "type", json_string(cfg->output_type == OUTPUT_KAFKA ? "kafka" : "file"), &bad);
	put(out, "path", json_text(cfg->output_type == OUTPUT_KAFKA ? cfg->kafka.topic :
				   cfg->output_path), &bad);
	put(out, "records", json_integer((json_int_t)c[STAT_records_out]), &bad);
	put(out, "bytes", json_integer((json_int_t)c[STAT_bytes_out]), &bad);
	put(out, "pending_bytes", json_integer((json_int_t)sv->output_pending), &bad);
	put(out, "errors", json_integer((json_int_t)c[STAT_output_errors]), &bad);
	put(out, "failing", json_boolean(sv->output_failing), &bad);
	put(out, "stalled_s", json_real(sv->output_stalled), &bad);
	put(out, "rotations", json_integer((json_int_t)c[STAT_output_reopens]), &bad);
	put(out, "last_rotation_age_s", sv->output_reopened_at > 0 ?
	    json_real((double)(long long)((sv->now - sv->output_reopened_at) * 10) / 10) :
	    json_null(), &bad);
	if (sv->have_kafka) {
		put(out, "kafka_in_flight", json_integer((json_int_t)sv->kafka_in_flight), &bad);
		put(out, "kafka_brokers_up", json_integer(sv->kafka_brokers_up), &bad);
		put(out, "kafka_delivered", json_integer((json_int_t)c[STAT_kafka_delivered]), &bad);
		put(out, "kafka_spilled", json_integer((json_int_t)c[STAT_kafka_spilled]), &bad);
	}
	put(doc, "output", out, &bad);
	put(doc, "history", history_json(h, sv->now, &bad), &bad);

	if (!bad)
		text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (text != NULL && len != NULL)
		*len = strlen(text);
	return text;
}
