/* Sentinel's replies and messages, read and checked. */
#include <string.h>

#include "sentinel_msg.h"

#define PORT_MAX 65535

static bool
read_port(const char *s, size_t len, int *port)
{
    int n = 0;

    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (s[i] - '0');
    }
    *port = n;
    return n >= 1 && n <= PORT_MAX;
}

bool
sentinel_read_addr(const char *host, size_t hostlen, const char *port,
                   size_t portlen, sentinel_addr *out)
{
    if (hostlen == 0 || hostlen >= sizeof(out->host))
        return false;
    for (size_t i = 0; i < hostlen; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch <= ' ' || ch == 0x7f)
            return false;
    }
    if (!read_port(port, portlen, &out->port))
        return false;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    return true;
}

bool
sentinel_read_master_reply(const shard_reply *r, sentinel_addr *out)
{
    if (r == NULL || r->type != SHARD_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != SHARD_REPLY_STRING ||
        r->element[1]->type != SHARD_REPLY_STRING)
        return false;
    return sentinel_read_addr(r->element[0]->str, r->element[0]->len,
                              r->element[1]->str, r->element[1]->len, out);
}

/* The next field of `text` from `*at`, up to a space or the end. */
static bool
next_field(const char *text, size_t len, size_t *at, const char **field,
           size_t *flen)
{
    size_t start = *at, end = start;

    if (start > len)
        return false;
    while (end < len && text[end] != ' ')
        end++;
    *field = text + start;
    *flen = end - start;
    *at = end + 1; /* past the space; past the end once done */
    return *flen > 0;
}

bool
sentinel_read_switch(const char *text, size_t len, const char **name,
                     size_t *namelen, sentinel_addr *from, sentinel_addr *to)
{
    const char *f[5];
    size_t flen[5], at = 0;

    for (int i = 0; i < 5; i++) {
        if (!next_field(text, len, &at, &f[i], &flen[i]))
            return false;
    }
    if (at != len + 1) /* more than five fields */
        return false;
    *name = f[0];
    *namelen = flen[0];
    return sentinel_read_addr(f[1], flen[1], f[2], flen[2], from) &&
           sentinel_read_addr(f[3], flen[3], f[4], flen[4], to);
}
