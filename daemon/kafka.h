/*
 * kafka: the Kafka output (librdkafka's producer), for [output] type = kafka.
 *
 * The sink hands each record line to kafka_produce(), which copies it into
 * librdkafka (RD_KAFKA_MSG_F_COPY: Kafka never pins a slab) with its key
 * (kafka_key_of).  When librdkafka's queue is full the record stays in the
 * sink, which stops taking slabs: the pool runs dry and reads pause, as for
 * a stalled file.  Delivery reports, errors and statistics reach the event
 * loop through librdkafka's queue event descriptor (a non-blocking pipe
 * watched by an ev_io), never by polling; each report that frees room
 * calls the sink back (kafka_set_room_cb).
 *
 * Nothing is dropped silently: a message whose delivery fails for good (a
 * report error, its retries spent, or a fatal producer error, after which
 * the producer is made again) is written to the spill file, one JSON line
 * per record, and counted.  kafka_close() flushes for up to a deadline at
 * shutdown and spills what is still undelivered.
 *
 * Threads: the loop's thread only (the main thread, the output's writer).
 */
#ifndef INGESTD_KAFKA_H
#define INGESTD_KAFKA_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct kafka;

/* Called when librdkafka's queue has room again after a refusal. */
typedef void kafka_room_cb(void *arg);

/*
 * Builds the producer from c->kafka (borrowed: must outlive k) on loop.
 * Every property (ours and rdkafka.NAME) is checked by librdkafka here.
 * Returns NULL with "FILE:LINE: key: librdkafka's reason" in err.
 */
struct kafka *kafka_new(struct ev_loop *loop, const struct config *c, char *err, size_t errlen);
void kafka_set_room_cb(struct kafka *k, kafka_room_cb *cb, void *arg);
/* What kafka_new() checks of the config, without a producer (for
 * --check-config): 0, or -1 with the message in err. */
int kafka_check(const struct config *c, char *err, size_t errlen);

/*
 * Copies one record (line[0..len), no newline; borrowed for the call) into
 * the producer.  0: taken; -1: the queue is full (try again once the room
 * callback runs).  A record librdkafka refuses for another reason is
 * spilled and counts as taken.
 */
int kafka_produce(struct kafka *k, const char *line, size_t len);

/* Messages produced and not yet reported delivered or spilled. */
size_t kafka_in_flight(const struct kafka *k);
/* Brokers whose state is UP, from the last statistics (-1: none yet). */
int kafka_brokers_up(const struct kafka *k);

/*
 * Shutdown with a producer that takes nothing: from now on a record the
 * full queue refuses is spilled instead, and the sink is told to go on.
 */
void kafka_spill_when_full(struct kafka *k);

/*
 * Shutdown: waits up to timeout seconds for every message to be delivered
 * (blocking: the loop has stopped), then spills the rest.  Returns the
 * number spilled.
 */
size_t kafka_close(struct kafka *k, double timeout);
void kafka_free(struct kafka *k);

/*
 * The message key of a record line: the JSON value of the top-level key
 * `name` (a string without its quotes, as written, escapes kept), in key
 * and keylen (1), or 0 when the line has none.  Pure, for the sink and tests.
 */
int kafka_key_of(const char *line, size_t len, const char *name, size_t namelen,
		 const char **key, size_t *keylen);

#endif
