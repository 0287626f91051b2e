/*
 * Reference-counted immutable strings: a server's address is one, and
 * each fragment that names it in a message holds a reference, so a
 * server can go (a reload removed it, Sentinel moved it) while replies
 * and retries still say where they went. The count sits before the text
 * (as sds keeps its header), so a refstr is read as a plain `const char *`.
 */
#ifndef SHARD_LIB_REFSTR_H
#define SHARD_LIB_REFSTR_H

/* A new string with one reference, a copy of `s`; NULL when out of memory. */
char *refstr_new(const char *s);

/* One more reference to `s` (a refstr, or NULL); returns `s`. */
const char *refstr_hold(const char *s);

/* Drops a reference to `s` (a refstr, or NULL); frees it with the last. */
void refstr_drop(const char *s);

#endif
