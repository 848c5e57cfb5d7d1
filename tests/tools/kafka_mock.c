/*
 * kafka_mock: a Kafka cluster for the tests, librdkafka's mock cluster
 * (rdkafka_mock.h), which speaks the real protocol on loopback.
 *
 *   kafka_mock [-b BROKERS] [-t TOPIC] [-p PARTITIONS]
 *
 * Starts BROKERS (3) brokers with TOPIC (records) in PARTITIONS (4)
 * partitions, replicated on every broker, and prints the bootstrap address
 * list on one line.  Then reads commands on stdin, one per line, and
 * answers each with "ok" (or "error: ..."):
 *   down ID         broker ID (1 .. BROKERS) stops answering (its
 *                   connections are closed)
 *   up ID           it answers again
 *   produce-errors N CODE   the next N Produce requests fail with Kafka
 *                   error CODE (a number: 6 is NOT_LEADER_FOR_PARTITION, a
 *                   retriable one)
 * EOF or "quit" ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int
main(int argc, char **argv)
{
	int brokers = 3, partitions = 4;
	const char *topic = "records";
	char errstr[512], line[256];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-b") == 0)
			brokers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-t") == 0)
			topic = argv[i + 1];
		else if (strcmp(argv[i], "-p") == 0)
			partitions = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: kafka_mock [-b BROKERS] [-t TOPIC] [-p PARTITIONS]\n");
			return 64;
		}
	}
	conf = rd_kafka_conf_new();
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL) {
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		return 1;
	}
	if ((mc = rd_kafka_mock_cluster_new(rk, brokers)) == NULL) {
		fprintf(stderr, "kafka_mock: cannot make the mock cluster\n");
		return 1;
	}
	if (rd_kafka_mock_topic_create(mc, topic, partitions, brokers) != 0) {
		fprintf(stderr, "kafka_mock: cannot create topic %s\n", topic);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		int id, n, code;
		rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

		if (strncmp(line, "quit", 4) == 0)
			break;
		if (sscanf(line, "down %d", &id) == 1)
			err = rd_kafka_mock_broker_set_down(mc, id);
		else if (sscanf(line, "up %d", &id) == 1)
			err = rd_kafka_mock_broker_set_up(mc, id);
		else if (sscanf(line, "produce-errors %d %d", &n, &code) == 2) {
			rd_kafka_resp_err_t *codes = calloc((size_t)n, sizeof(*codes));

			for (int i = 0; i < n; i++)
				codes[i] = (rd_kafka_resp_err_t)code;
			rd_kafka_mock_push_request_errors_array(mc, 0 /* Produce */, (size_t)n, codes);
			free(codes);
		} else {
			printf("error: unknown command\n");
			fflush(stdout);
			continue;
		}
		if (err)
			printf("error: %s\n", rd_kafka_err2str(err));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
