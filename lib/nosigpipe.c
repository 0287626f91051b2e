/* SIGPIPE kept away from the application around our socket writes. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "nosigpipe.h"

static bool
sigpipe_ignored(void)
{
    struct sigaction sa;

    return sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

static bool
sigpipe_pending(void)
{
    sigset_t pending;

    return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

void
run_without_sigpipe(void (*fn)(void *arg), void *arg)
{
    sigset_t pipe_set, old;
    bool was_pending;

    if (sigpipe_ignored()) {
        fn(arg);
        return;
    }
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* One already pending is the application's: leave it. Unless the
     * application blocks SIGPIPE itself, none can be pending here. */
    was_pending = sigismember(&old, SIGPIPE) && sigpipe_pending();
    fn(arg);
    if (!was_pending && sigpipe_pending()) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
