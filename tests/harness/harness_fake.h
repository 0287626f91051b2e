/*
 * Test harness, servers that misbehave on purpose: a tiny RESP server run
 * in a thread of the test process, on a free 127.0.0.1 port, that answers
 * every command with one set reply (-LOADING, -BUSY...) or, switched at run
 * time, like a small Redis; and a listener that accepts connections, reads
 * what it is sent and never answers. Nothing but 127.0.0.1 is contacted.
 */
#ifndef SHARD_TEST_HARNESS_FAKE_H
#define SHARD_TEST_HARNESS_FAKE_H

#include <stdbool.h>

/* One fake server: its listening socket, its clients and its thread. */
typedef struct harness_fake harness_fake;

/*
 * Starts a fake that answers every command with `reply`, one RESP reply
 * written out ("-LOADING Redis is loading the dataset in memory\r\n"), or,
 * when `reply` is NULL, as a small Redis would (see harness_fake_set_reply).
 * NULL on failure (printed to stderr).
 */
harness_fake *harness_fake_start(const char *reply);

/* Starts a listener that accepts connections, reads and discards what they
 * send and never answers. NULL on failure. */
harness_fake *harness_fake_start_silent(void);

/*
 * From the next command on, answers every command with `reply`, or with
 * NULL as a small Redis: PING +PONG, SET stores and +OK, GET the stored
 * value or nil, DEL and EXISTS the count, anything else +OK. A silent
 * listener starts answering too. Safe while the fake's thread runs.
 */
void harness_fake_set_reply(harness_fake *f, const char *reply);

/* Stops answering (a silent listener from now on). */
void harness_fake_set_silent(harness_fake *f);

/*
 * Sends `bytes` now, unasked, to every client connected (a reply nobody
 * asked for, as a broken server or proxy sends one). Returns once the
 * fake's thread has sent them: the number of clients that got them, or -1
 * on failure.
 */
int harness_fake_push(harness_fake *f, const char *bytes);

/* Its TCP port on 127.0.0.1, and "127.0.0.1:port". */
int harness_fake_port(const harness_fake *f);
const char *harness_fake_addr(const harness_fake *f);

/* Commands read so far (answered or not) and connections accepted. */
unsigned long harness_fake_commands(harness_fake *f);
unsigned long harness_fake_accepted(harness_fake *f);

/* Stops the thread (joined), closes every socket and frees `f`; NULL is
 * fine. */
void harness_fake_stop(harness_fake *f);

/* Stops every fake this process started. */
void harness_fake_stop_all(void);

#endif
