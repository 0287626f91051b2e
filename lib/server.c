/* Servers: identity and address from the config. */
#include <stdlib.h>
#include <string.h>

#include "refstr.h"
#include "server.h"

int
server_init(struct server *s, size_t index, const conf_server *cs)
{
    memset(s, 0, sizeof(*s));
    s->index = index;
    s->identity = cs->identity;
    s->identity_len = cs->identity_len;
    s->weight = cs->weight;
    s->live = true;
    s->target.port = cs->port;
    s->target.host = strdup(cs->host);
    s->target.addr = refstr_new(cs->addr);
    if (s->target.host == NULL || s->target.addr == NULL) {
        server_release(s);
        return SHARD_ENOMEM;
    }
    return SHARD_OK;
}

void
server_release(struct server *s)
{
    free(s->target.host);
    refstr_drop(s->target.addr);
    s->target.host = s->target.addr = NULL;
}
