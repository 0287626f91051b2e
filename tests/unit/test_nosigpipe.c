/* nosigpipe: a write into a closed socket does not kill the process. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nosigpipe.h"

static int write_errno;

static void
write_to_closed_peer(void *arg)
{
    int fd = *(int *)arg;

    write_errno = write(fd, "x", 1) < 0 ? errno : 0;
}

static int
closed_pair(void)
{
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    return sv[0];
}

Test(nosigpipe, write_to_a_closed_peer_returns_epipe_instead_of_killing)
{
    int fd = closed_pair();

    signal(SIGPIPE, SIG_DFL);
    run_without_sigpipe(write_to_closed_peer, &fd);
    cr_expect_eq(write_errno, EPIPE);
    sigset_t pending;
    sigpending(&pending);
    cr_expect_not(sigismember(&pending, SIGPIPE), "SIGPIPE left pending");
    close(fd);
}

Test(nosigpipe, an_ignored_sigpipe_stays_ignored)
{
    int fd = closed_pair();
    struct sigaction sa;

    signal(SIGPIPE, SIG_IGN);
    run_without_sigpipe(write_to_closed_peer, &fd);
    cr_expect_eq(write_errno, EPIPE);
    sigaction(SIGPIPE, NULL, &sa);
    cr_expect_eq(sa.sa_handler, SIG_IGN);
    close(fd);
}

Test(nosigpipe, without_the_guard_the_process_dies, .signal = SIGPIPE)
{
    int fd = closed_pair();

    /* Proves the test above can fail: the same write, unguarded. */
    signal(SIGPIPE, SIG_DFL);
    write_to_closed_peer(&fd);
}
