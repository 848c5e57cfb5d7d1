/*
 * offline: `ingestd --decode LISTENER [INPUT ...]`, a listener's decoding
 * applied to captured bytes, for developing a [schema] before a fleet is
 * pointed at it.
 *
 * The INPUT files (stdin when none, or "-") are read as one byte stream
 * arriving on listener LISTENER, and stdout gets exactly the records the
 * daemon would write for those bytes: the same decode_next() (framer,
 * schemas, on_bad_frame) and the same record writer, with _peer set to
 * "file:INPUT" (or "stdin") for the file a frame starts in and _rx_ms the
 * time the bytes were read.  Each bad frame's reason and byte offset in its
 * file go to stderr (the first OFFLINE_MAX_REPORTS of them, then a count),
 * and a summary line ends stderr.
 *
 * Exit: 0 every byte formed a good frame; 65 some input was bad, or a
 * frame was left incomplete at the end (with on_bad_frame = close the rest
 * of the stream after a bad frame is not decoded, as the daemon would have
 * closed the connection); 66 an input cannot be opened or read; 64 no such
 * listener; 74 stdout cannot be written.
 */
#ifndef INGESTD_OFFLINE_H
#define INGESTD_OFFLINE_H

#include "config.h"
#include "record.h"

#define OFFLINE_MAX_REPORTS 100

/* Runs the decode.  c and the layouts layout_of returns are borrowed for
 * the call; inputs[0..ninputs) are paths ("-": stdin). */
int offline_decode(const struct config *c, const char *listener,
		   const struct record_layout *(*layout_of)(const struct schema *),
		   char *const *inputs, int ninputs);

#endif
