/* Private to shard-faults: what the driver (shard-faults.c) shares with
 * its report (faults_report.c: outcomes, tables and their printing) and
 * with the in-process stand-ins for a faulty server (faults_fake.c). */
#ifndef SHARD_FAULTS_H
#define SHARD_FAULTS_H

#include <stdbool.h>
#include <stddef.h>

#define NSERVERS 3      /* every pool: F (made faulty), H1, H2, by role */
#define WAY_COUNT 5     /* columns: the ways of reaching the servers */
#define MAX_KINDS 12    /* distinct outcomes a tally keeps apart */
#define MAX_NOTES 40    /* distinct messages under one table */
#define NOTE_LEN 400    /* bytes of one message */
#define CELL 360        /* bytes of one cell */
#define EVENTS_LEN 4096 /* bytes of one column's event line */

/* --- outcomes -------------------------------------------------------------
 */

/* What one request gave the application. */
typedef struct outcome {
    char kind[128];        /* as a cell shows it: "home", nil, ECONN ... */
    char detail[NOTE_LEN]; /* the message behind it; "" when kind says all */
    double ms;             /* how long the call took */
    bool home;             /* F's own value of its key came back */
} outcome;

/* Outcomes counted by kind, with the first one of each. */
typedef struct tally {
    int n;                    /* kinds used */
    outcome first[MAX_KINDS]; /* the first outcome of each kind */
    int count[MAX_KINDS];     /* how many of each */
} tally;

/* Counts `o` (a kind beyond MAX_KINDS is dropped). */
void tally_add(tally *t, const outcome *o);

/* An event the pool's event_fn heard; type 0 marks F's return. */
typedef struct seen {
    int type;         /* SHARD_EVENT_*, or 0 */
    int role;         /* whose: an index of NSERVERS, -1 for none */
    long delay_ms;    /* the event's delay_ms */
    char reason[200]; /* the event's reason */
} seen;

/* --- tables ---------------------------------------------------------------
 */

/* The rows of every table; some are shown for some faults only. */
typedef enum row {
    ROW_FIRST,    /* the first GET of F's key */
    ROW_NEXT,     /* the next ones, back to back */
    ROW_HEALTHY,  /* a GET of H1's key */
    ROW_MGET,     /* MGET of both keys */
    ROW_DUE,      /* the GET after the retry time */
    ROW_DUE_NEXT, /* the GET after that */
    ROW_TRAFFIC,  /* steady GETs of F's key while it is down */
    ROW_BACK,     /* F back: until its key is read from F */
    ROW_COUNT
} row;

/* One fault, every way: filled cell by cell, printed as Markdown. */
typedef struct table {
    const char *title;                     /* the heading */
    const char *how;                       /* what was done, under it */
    const char *col[WAY_COUNT];            /* the columns' headings */
    bool col_events[WAY_COUNT];            /* list this column's events */
    const char *row_label[ROW_COUNT];      /* NULL: the row is not shown */
    char addr[NSERVERS][32];               /* the running scenario's servers,
                                              shown as F, H1, H2 in messages */
    char cell[ROW_COUNT][WAY_COUNT][CELL]; /* "" when not run */
    char notes[MAX_NOTES][NOTE_LEN];       /* messages, numbered from 1 */
    int nnotes;                            /* used entries of notes */
    char events[WAY_COUNT][EVENTS_LEN];    /* each column's events */
} table;

/* "kind [n], 0.12 ms" */
void cell_one(table *t, row r, int way, const outcome *o);

/* Runs of one kind as one: "4× ECONN [2], 0.001–0.003 ms; 1× nil, ..." */
void cell_many(table *t, row r, int way, const outcome *o, int n);

/* "300 GETs: 6× ECONN [1], 294× nil; slowest 0.41 ms" */
void cell_tally(table *t, row r, int way, const tally *k, double slowest);

/* ROW_BACK: "312 ms; before: 3× ECONN [4], 60× nil"; `ms` < 0 when F's
 * key never came from F within `limit_s` seconds. */
void cell_back(table *t, int way, double ms, int limit_s, const tally *before);

/* Any text, as it is. */
void cell_text(table *t, row r, int way, const char *text);

/* The column's event line: "DISCONNECTED F [2] → CONNECT_FAILED F ×3
 * (10–40 ms) [3] → ...", runs of one event of one server as one. */
void table_events(table *t, int way, const seen *events, int n);

/* The heading, the table, its messages and its event lines. */
void table_print(const table *t);

/* --- stand-ins for F -------------------------------------------------------
 */

/* How a stand-in treats what it reads. */
typedef enum fake_mode {
    FAKE_SILENT,  /* accepts, reads and never answers */
    FAKE_LOADING, /* answers -LOADING to every command */
    FAKE_READY    /* loading is over: PING, GET and MGET answered */
} fake_mode;

/* A stand-in server: a thread with a listener on a loopback port. */
typedef struct fake fake;

/* Starts one on a free port of 127.0.0.1; NULL when it cannot. */
fake *fake_start(fake_mode mode);

/* The port it listens on. */
int fake_port(const fake *f);

/* Changes how it answers from now on (any thread). */
void fake_set_mode(fake *f, fake_mode mode);

/* Closes its listener and every connection (clients see them close), and
 * frees it; NULL is fine. */
void fake_stop(fake *f);

#endif
