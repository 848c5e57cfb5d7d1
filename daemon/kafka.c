/* kafka: the Kafka output (kafka.h). */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "log.h"
#include "stats.h"

struct kafka {
	struct ev_loop          *loop;
	const struct config     *cfg;     /* borrowed */
	rd_kafka_t              *rk;
	rd_kafka_topic_t        *rkt;
	rd_kafka_queue_t        *mainq;
	int                      pipe_rd, pipe_wr;  /* librdkafka's queue events */
	ev_io                    io;
	kafka_room_cb           *room_cb;
	void                    *room_arg;
	int                      refused;   /* a produce found the queue full */
	int                      spill_full;  /* shutdown: spill what a full queue refuses */
	int                      fatal;     /* the producer must be made again */
	int                      spill_fd;
	size_t                   in_flight;
	int                      brokers_up;
	const char              *key_name;  /* key = FIELD or _peer, else NULL */
	size_t                   key_len;
	struct ratelimit         rl;
	struct ratelimit         lost_rl;   /* its own: other warnings never hide a loss */
#ifdef INGESTD_TESTING
	long                     fatal_after;  /* INGESTD_TEST_KAFKA_FATAL_AFTER: records */
#endif
};

static void kafka_on_events(struct ev_loop *loop, ev_io *w, int revents);

int
kafka_key_of(const char *line, size_t len, const char *name, size_t namelen, const char **key,
	     size_t *keylen)
{
	size_t i = 0;

	while (i < len) {
		char c = line[i];

		if ((c == '{' || c == ',') && i + namelen + 4 <= len && line[i + 1] == '"' &&
		    memcmp(line + i + 2, name, namelen) == 0 && line[i + 2 + namelen] == '"' &&
		    line[i + 3 + namelen] == ':') {
			size_t v = i + 4 + namelen, e = v;

			if (v < len && line[v] == '"') {
				for (e = v + 1; e < len && line[e] != '"'; e++)
					if (line[e] == '\\')
						e++;
				if (e >= len)
					return 0;
				*key = line + v + 1;
				*keylen = e - v - 1;
				return 1;
			}
			while (e < len && line[e] != ',' && line[e] != '}')
				e++;
			*key = line + v;
			*keylen = e - v;
			return 1;
		}
		if (c == '"') {
			for (i++; i < len && line[i] != '"'; i++)
				if (line[i] == '\\')
					i++;
		}
		i++;
	}
	return 0;
}

/* Appends a record to the spill file, whole, or says loudly it could not. */
static void
spill(struct kafka *k, const void *payload, size_t len, const char *why)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)payload, len },
				{ (void *)(uintptr_t)"\n", 1 } };
	size_t left = len + 1;
	uint64_t suppressed;

	while (left > 0) {
		ssize_t w = writev(k->spill_fd, iov, 2);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A spill file that fails fails for every record: rate-limited. */
			STATS_INC(kafka_spill_errors);
			if (ratelimit_allow(&k->lost_rl, clock_mono(), &suppressed))
				log_err("kafka: a record could not be delivered (%s) nor written to "
					"%s: %s; it is lost (kafka_spill_errors counts them)%s", why,
					k->cfg->kafka.spill_path, w < 0 ? strerror(errno) : "nothing written",
					suppressed ? " (more not logged)" : "");
			return;
		}
		left -= (size_t)w;
		for (int i = 0; i < 2 && w > 0; i++) {
			size_t n = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;

			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= n;
			w -= (ssize_t)n;
		}
	}
	STATS_INC(kafka_spilled);
	if (ratelimit_allow(&k->rl, clock_mono(), &suppressed))
		log_warnx("kafka: a record could not be delivered (%s); written to %s%s", why,
			  k->cfg->kafka.spill_path, suppressed ? " (more not logged)" : "");
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka *k = opaque;

	(void)rk;
	if (k->in_flight > 0)
		k->in_flight--;
	if (m->err) {
		STATS_INC(kafka_failed);
		spill(k, m->payload, m->len, rd_kafka_err2str(m->err));
	} else {
		STATS_INC(kafka_delivered);
	}
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;
	uint64_t suppressed;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		k->fatal = 1;
	if (ratelimit_allow(&k->rl, clock_mono(), &suppressed))
		log_warnx("kafka: %s: %s%s", rd_kafka_err2name(err), reason,
			  suppressed ? " (more not logged)" : "");
}

/* Statistics (once a second): the brokers that are up. */
static int
on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka *k = opaque;
	json_t *root = json_loadb(json, len, 0, NULL), *brokers, *b;
	const char *name;
	int up = 0;

	(void)rk;
	if (root == NULL)
		return 0;
	brokers = json_object_get(root, "brokers");
	json_object_foreach(brokers, name, b) {
		json_t *id = json_object_get(b, "nodeid");
		const char *state = json_string_value(json_object_get(b, "state"));

		if (json_integer_value(id) >= 0 && state != NULL && strcmp(state, "UP") == 0)
			up++;
	}
	k->brokers_up = up;
	json_decref(root);
	return 0;   /* json is librdkafka's to free */
}

/* Sets one property, or "FILE:LINE: key: reason". */
static int
set(rd_kafka_conf_t *conf, const char *name, const char *value, const struct config *c,
    int line, const char *key, char *err, size_t errlen)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen, "%s:%d: %s: %s", c->source, line, key, why);
	return -1;
}

/* Every property of c's [kafka] into a new conf: NULL with the reason. */
static rd_kafka_conf_t *
build_conf(const struct config *c, char *err, size_t errlen)
{
	const struct kafka_conf *kc = &c->kafka;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char num[32];
	int line = kc->line;

	if (set(conf, "bootstrap.servers", kc->brokers, c, line, "brokers", err, errlen) < 0 ||
	    set(conf, "compression.codec", kc->compression, c, line, "compression", err,
		errlen) < 0 ||
	    (snprintf(num, sizeof(num), "%u", kc->linger_ms),
	     set(conf, "linger.ms", num, c, line, "linger_ms", err, errlen) < 0) ||
	    set(conf, "acks", kc->acks, c, line, "acks", err, errlen) < 0 ||
	    set(conf, "enable.idempotence", kc->idempotence ? "true" : "false", c, line,
		"idempotence", err, errlen) < 0 ||
	    set(conf, "statistics.interval.ms", "1000", c, line, "statistics.interval.ms", err,
		errlen) < 0)
		goto fail;
	if (kc->queue_kbytes != 0) {
		snprintf(num, sizeof(num), "%u", kc->queue_kbytes);
		if (set(conf, "queue.buffering.max.kbytes", num, c, line, "queue_kbytes", err,
			errlen) < 0)
			goto fail;
	}
	for (size_t i = 0; i < kc->nprops; i++) {
		char key[80];

		snprintf(key, sizeof(key), "rdkafka.%s", kc->props[i].name);
		if (set(conf, kc->props[i].name, kc->props[i].value, c, kc->props[i].line, key, err,
			errlen) < 0)
			goto fail;
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int
kafka_check(const struct config *c, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = build_conf(c, err, errlen);

	if (conf == NULL)
		return -1;
	rd_kafka_conf_destroy(conf);
	return 0;
}

static int
make_producer(struct kafka *k, char *err, size_t errlen)
{
	const struct config *c = k->cfg;
	const struct kafka_conf *kc = &c->kafka;
	rd_kafka_conf_t *conf = build_conf(c, err, errlen);
	char why[512];
	int line = kc->line;

	if (conf == NULL)
		return -1;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	if ((k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s:%d: [kafka]: %s", c->source, line, why);
		goto fail;
	}
	conf = NULL;   /* the producer owns it now */
	if ((k->rkt = rd_kafka_topic_new(k->rk, kc->topic, NULL)) == NULL) {
		snprintf(err, errlen, "%s:%d: topic: %s", c->source, line,
			 rd_kafka_err2str(rd_kafka_last_error()));
		goto fail;
	}
	k->mainq = rd_kafka_queue_get_main(k->rk);
	rd_kafka_queue_io_event_enable(k->mainq, k->pipe_wr, "1", 1);
	k->fatal = 0;
	return 0;
fail:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	if (k->rkt != NULL)
		rd_kafka_topic_destroy(k->rkt);
	if (k->rk != NULL)
		rd_kafka_destroy(k->rk);
	k->rk = NULL;
	k->rkt = NULL;
	return -1;
}

/* Serves every queued event (delivery reports spill or count here). */
static void
serve(struct kafka *k)
{
	while (rd_kafka_poll(k->rk, 0) > 0)
		;
}

static void
drop_producer(struct kafka *k)
{
	/* Undelivered messages come back as delivery reports and are spilled:
	 * one that was in flight may have reached Kafka too (a duplicate, in
	 * the spill file, never a loss). */
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 50 && k->in_flight > 0; i++)
		rd_kafka_poll(k->rk, 20);
	serve(k);
	rd_kafka_queue_io_event_enable(k->mainq, -1, NULL, 0);
	rd_kafka_queue_destroy(k->mainq);
	rd_kafka_topic_destroy(k->rkt);
	rd_kafka_destroy(k->rk);
	k->rk = NULL;
	k->rkt = NULL;
	k->mainq = NULL;
	k->in_flight = 0;
}

static void
kafka_on_events(struct ev_loop *loop, ev_io *w, int revents)
{
	struct kafka *k = w->data;
	char buf[256];
	size_t before = k->in_flight;

	(void)loop;
	(void)revents;
	while (read(k->pipe_rd, buf, sizeof(buf)) > 0)
		;
	serve(k);
	if (k->fatal) {
		char err[1024];

		log_err("kafka: fatal producer error: making the producer again; what it had not "
			"delivered goes to %s", k->cfg->kafka.spill_path);
		drop_producer(k);
		STATS_INC(kafka_restarts);
		if (make_producer(k, err, sizeof(err)) < 0)
			fatalx("kafka: cannot make the producer again: %s", err);
	}
	if (k->refused && (k->in_flight < before || k->rk == NULL || k->in_flight == 0)) {
		k->refused = 0;
		if (k->room_cb != NULL)
			k->room_cb(k->room_arg);
	}
}

struct kafka *
kafka_new(struct ev_loop *loop, const struct config *c, char *err, size_t errlen)
{
	struct kafka *k = calloc(1, sizeof(*k));
	int fds[2];

	if (k == NULL) {
		snprintf(err, errlen, "out of memory for the Kafka producer");
		return NULL;
	}
	k->loop = loop;
	k->cfg = c;
	k->brokers_up = -1;
	k->rl = (struct ratelimit)RATELIMIT_INIT(10.0, 5);
	k->lost_rl = (struct ratelimit)RATELIMIT_INIT(10.0, 5);
	k->spill_fd = open(c->kafka.spill_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (k->spill_fd < 0) {
		snprintf(err, errlen, "%s:%d: spill_path: %s: %s", c->source, c->kafka.line,
			 c->kafka.spill_path, strerror(errno));
		free(k);
		return NULL;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(err, errlen, "kafka: pipe: %s", strerror(errno));
		close(k->spill_fd);
		free(k);
		return NULL;
	}
	k->pipe_rd = fds[0];
	k->pipe_wr = fds[1];
	if (c->kafka.key == KAFKA_KEY_FIELD) {
		k->key_name = c->kafka.key_field;
	} else if (c->kafka.key == KAFKA_KEY_PEER) {
		k->key_name = "_peer";
	}
	k->key_len = k->key_name ? strlen(k->key_name) : 0;
#ifdef INGESTD_TESTING
	/* Test hook: a fatal producer error after this many records (the
	 * idempotent producer's known failure, made on purpose). */
	if (getenv("INGESTD_TEST_KAFKA_FATAL_AFTER") != NULL)
		k->fatal_after = strtol(getenv("INGESTD_TEST_KAFKA_FATAL_AFTER"), NULL, 10);
#endif
	if (make_producer(k, err, errlen) < 0) {
		close(k->pipe_rd);
		close(k->pipe_wr);
		close(k->spill_fd);
		free(k);
		return NULL;
	}
	ev_io_init(&k->io, kafka_on_events, k->pipe_rd, EV_READ);
	k->io.data = k;
	ev_io_start(loop, &k->io);
	return k;
}

void
kafka_set_room_cb(struct kafka *k, kafka_room_cb *cb, void *arg)
{
	k->room_cb = cb;
	k->room_arg = arg;
}

int
kafka_produce(struct kafka *k, const char *line, size_t len)
{
	const char *key = NULL;
	size_t keylen = 0;

	if (k->key_name != NULL && !kafka_key_of(line, len, k->key_name, k->key_len, &key, &keylen))
		key = NULL;
#ifdef INGESTD_TESTING
	if (k->fatal_after > 0 && --k->fatal_after == 0)
		rd_kafka_test_fatal_error(k->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
					  "test hook INGESTD_TEST_KAFKA_FATAL_AFTER");
#endif
	if (rd_kafka_produce(k->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
			     (void *)(uintptr_t)line, len,
			     key, keylen, NULL) == 0) {
		k->in_flight++;
		return 0;
	}
	if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL && !k->spill_full) {
		k->refused = 1;
		return -1;
	}
	STATS_INC(kafka_failed);
	spill(k, line, len, rd_kafka_err2str(rd_kafka_last_error()));
	return 0;
}

size_t
kafka_in_flight(const struct kafka *k)
{
	return k->in_flight;
}

int
kafka_brokers_up(const struct kafka *k)
{
	return k->brokers_up;
}

void
kafka_spill_when_full(struct kafka *k)
{
	k->spill_full = 1;
	if (k->refused && k->room_cb != NULL) {
		k->refused = 0;
		k->room_cb(k->room_arg);
	}
}

size_t
kafka_close(struct kafka *k, double timeout)
{
	uint64_t before = stats_get(STAT_kafka_spilled);
	size_t left;

	ev_io_stop(k->loop, &k->io);
	/* Kafka was already taking nothing at the drain: a second is enough to
	 * deliver what a broker coming back would take. */
	if (k->spill_full && timeout > 1.0)
		timeout = 1.0;
	rd_kafka_flush(k->rk, timeout > 0 ? (int)(timeout * 1000) : 0);
	serve(k);
	left = k->in_flight;
	if (left > 0)
		log_warnx("kafka: %zu records not delivered within %.1f s; writing them to %s", left,
			  timeout, k->cfg->kafka.spill_path);
	drop_producer(k);
	return (size_t)(stats_get(STAT_kafka_spilled) - before);
}

void
kafka_free(struct kafka *k)
{
	if (k == NULL)
		return;
	if (k->rk != NULL)
		drop_producer(k);
	ev_io_stop(k->loop, &k->io);
	close(k->pipe_rd);
	close(k->pipe_wr);
	close(k->spill_fd);
	free(k);
}
