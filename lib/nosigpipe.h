/* Writing to a reset connection must not kill the application. */
#ifndef SHARD_LIB_NOSIGPIPE_H
#define SHARD_LIB_NOSIGPIPE_H

/*
 * Runs fn(arg) with SIGPIPE blocked for the calling thread, and discards a
 * SIGPIPE that fn raised. hiredis writes with write(2), which raises
 * SIGPIPE on a connection the peer reset; a library must not let that end
 * its host process. Costs one syscall when the application already
 * ignores SIGPIPE.
 */
void run_without_sigpipe(void (*fn)(void *arg), void *arg);

#endif
