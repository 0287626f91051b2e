/*
 * memcached commands: their words, checks and sizes. twemproxy reads the
 * ASCII protocol's lower-case names and closes the connection on anything
 * else; libshard refuses with a message instead, before sending anything.
 */
#include <string.h>

#include "error.h"
#include "mc_command.h"

/* How a command's words are laid out after its name. */
typedef enum mc_shape {
    SHAPE_KEYS,    /* key... (one or more) */
    SHAPE_STORE,   /* key flags exptime value */
    SHAPE_CAS,     /* key flags exptime value cas */
    SHAPE_NUMBER,  /* key delta */
    SHAPE_TOUCH,   /* key exptime */
    SHAPE_KEY,     /* key */
    SHAPE_NONE,    /* nothing */
    SHAPE_MSET,    /* flags exptime key value [key value]... */
    SHAPE_ANYTHING /* the probe: its arguments are ignored */
} mc_shape;

typedef struct mc_spec {
    const char *name; /* as memcached spells it */
    size_t len;       /* its length */
    mc_op op;         /* the command */
    mc_shape shape;   /* its words */
} mc_spec;

static const mc_spec specs[] = {
    {"get", 3, MC_GET, SHAPE_KEYS},
    {"gets", 4, MC_GETS, SHAPE_KEYS},
    {"set", 3, MC_SET, SHAPE_STORE},
    {"add", 3, MC_ADD, SHAPE_STORE},
    {"replace", 7, MC_REPLACE, SHAPE_STORE},
    {"append", 6, MC_APPEND, SHAPE_STORE},
    {"prepend", 7, MC_PREPEND, SHAPE_STORE},
    {"cas", 3, MC_CAS, SHAPE_CAS},
    {"incr", 4, MC_INCR, SHAPE_NUMBER},
    {"decr", 4, MC_DECR, SHAPE_NUMBER},
    {"touch", 5, MC_TOUCH, SHAPE_TOUCH},
    {"delete", 6, MC_DELETE, SHAPE_KEY},
    {"version", 7, MC_VERSION, SHAPE_NONE},
    {"mset", 4, MC_MSET, SHAPE_MSET},
    /* health.c probes every backend with a PING. */
    {"PING", 4, MC_PROBE, SHAPE_ANYTHING},
};

static const mc_spec *
find_spec(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (specs[i].len == len && specs[i].name[0] == name[0] &&
            memcmp(specs[i].name, name, len) == 0)
            return &specs[i];
    }
    return NULL;
}

bool
mc_is_read(mc_op op)
{
    return op == MC_GET || op == MC_GETS;
}

bool
mc_is_store(mc_op op)
{
    return (op >= MC_SET && op <= MC_CAS) || op == MC_MSET;
}

int
mc_key_check(const char *key, size_t len, const char *what, char *err,
             size_t errlen)
{
    if (len == 0 || len > MC_KEY_MAX) {
        error_format(err, errlen,
                     "ERR %s is %zu bytes: memcached keys are 1 to %d bytes",
                     what, len, MC_KEY_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)key[i];
        if (b > ' ' && b != 0x7f)
            continue;
        error_format(err, errlen,
                     "ERR %s holds %s (byte %zu is 0x%02x): memcached keys "
                     "hold no spaces or control characters",
                     what, b == ' ' ? "a space" : "a control character", i, b);
        return -1;
    }
    return 0;
}

/* A decimal number of digits only, as twemproxy reads them, up to `max`. */
static int
parse_number(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return -1;
    if (len == 1 && (unsigned)(unsigned char)s[0] - '0' <= 9 &&
        (uint64_t)(s[0] - '0') <= max) {
        *out = (uint64_t)(s[0] - '0'); /* "0": the usual flags */
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int
number_arg(const mc_cmd *cmd, int at, const char *what, uint64_t max,
           uint64_t *out, char *err, size_t errlen)
{
    if (parse_number(cmd->argv[at], cmd->argvlen[at], max, out) == 0)
        return 0;
    error_format(
        err, errlen, "ERR '%s' %s '%.*s' is not a decimal number up to %llu",
        cmd->name, what, (int)(cmd->argvlen[at] > 32 ? 32 : cmd->argvlen[at]),
        cmd->argv[at], (unsigned long long)max);
    return -1;
}

/* Reads "flags exptime" at argv[at] and argv[at + 1]. */
static int
flags_exptime(mc_cmd *cmd, int at, char *err, size_t errlen)
{
    uint64_t flags, exptime;

    if (number_arg(cmd, at, "flags", UINT32_MAX, &flags, err, errlen) != 0 ||
        number_arg(cmd, at + 1, "exptime", UINT32_MAX, &exptime, err, errlen) !=
            0)
        return -1;
    cmd->flags = (uint32_t)flags;
    cmd->exptime = (int64_t)exptime;
    return 0;
}

/* The argument count each shape wants, name included; -1: at least 2. */
static int
shape_argc(mc_shape shape)
{
    static const int argc[] = {
        [SHAPE_KEYS] = -1,  [SHAPE_STORE] = 5, [SHAPE_CAS] = 6,
        [SHAPE_NUMBER] = 3, [SHAPE_TOUCH] = 3, [SHAPE_KEY] = 2,
        [SHAPE_NONE] = 1,   [SHAPE_MSET] = -1, [SHAPE_ANYTHING] = -1};

    return argc[shape];
}

static const char *
shape_usage(mc_shape shape)
{
    switch (shape) {
    case SHAPE_KEYS:
        return "key [key ...]";
    case SHAPE_STORE:
        return "key flags exptime value";
    case SHAPE_CAS:
        return "key flags exptime value cas";
    case SHAPE_NUMBER:
        return "key delta";
    case SHAPE_TOUCH:
        return "key exptime";
    case SHAPE_KEY:
        return "key";
    case SHAPE_MSET:
        return "flags exptime key value [key value ...]";
    default:
        return "";
    }
}

static bool
arity_ok(mc_shape shape, int argc)
{
    int want = shape_argc(shape);

    if (shape == SHAPE_KEYS)
        return argc >= 2;
    if (shape == SHAPE_MSET)
        return argc >= 5 && (argc - 3) % 2 == 0;
    if (shape == SHAPE_ANYTHING)
        return true;
    return argc == want;
}

/* Sets where the keys are; reads the numbers of the shape. */
static int
lay_out(mc_cmd *cmd, mc_shape shape, int argc, char *err, size_t errlen)
{
    uint64_t n;

    cmd->first_key = shape == SHAPE_MSET ? 3 : 1;
    cmd->stride = shape == SHAPE_MSET ? 2 : 1;
    cmd->nkeys = shape == SHAPE_KEYS   ? (size_t)(argc - 1)
                 : shape == SHAPE_MSET ? (size_t)(argc - 3) / 2
                                       : 1;
    switch (shape) {
    case SHAPE_CAS:
        if (number_arg(cmd, 5, "cas", UINT64_MAX, &cmd->number, err, errlen))
            return -1;
        /* fall through */
    case SHAPE_STORE:
        cmd->value_at = 4;
        return flags_exptime(cmd, 2, err, errlen);
    case SHAPE_NUMBER:
        return number_arg(cmd, 2, "delta", UINT64_MAX, &cmd->number, err,
                          errlen);
    case SHAPE_TOUCH:
        if (number_arg(cmd, 2, "exptime", UINT32_MAX, &n, err, errlen))
            return -1;
        cmd->exptime = (int64_t)n;
        return 0;
    case SHAPE_MSET:
        return flags_exptime(cmd, 1, err, errlen);
    case SHAPE_NONE:
    case SHAPE_ANYTHING:
        cmd->first_key = 0;
        cmd->nkeys = 0;
        return 0;
    default:
        return 0;
    }
}

static int
check_keys(const mc_cmd *cmd, char *err, size_t errlen)
{
    char what[64];

    for (size_t i = 0; i < cmd->nkeys; i++) {
        size_t len;
        const char *key = mc_key(cmd, i, &len);
        if (mc_key_check(key, len, "", err, errlen) == 0)
            continue;
        /* Checked again, for the message naming the key. */
        if (cmd->nkeys == 1)
            error_format(what, sizeof(what), "the key of '%s'", cmd->name);
        else
            error_format(what, sizeof(what), "key %zu of '%s'", i + 1,
                         cmd->name);
        return mc_key_check(key, len, what, err, errlen);
    }
    return 0;
}

int
mc_parse(mc_cmd *cmd, int argc, const char **argv, const size_t *argvlen,
         bool trusted, char *err, size_t errlen)
{
    const mc_spec *spec;

    memset(cmd, 0, sizeof(*cmd));
    if (argc < 1) {
        error_format(err, errlen, "ERR empty command");
        return -1;
    }
    spec = find_spec(argv[0], argvlen[0]);
    if (spec == NULL) {
        error_format(err, errlen,
                     "ERR unknown memcached command '%.*s' (twemproxy serves "
                     "get gets set add replace append prepend cas incr decr "
                     "touch delete version, in lower case)",
                     (int)(argvlen[0] > 64 ? 64 : argvlen[0]), argv[0]);
        return -1;
    }
    cmd->op = spec->op;
    cmd->name = spec->name;
    cmd->argv = argv;
    cmd->argvlen = argvlen;
    if (!arity_ok(spec->shape, argc)) {
        error_format(err, errlen,
                     "ERR wrong number of arguments for '%s': %s %s",
                     spec->name, spec->name, shape_usage(spec->shape));
        return -1;
    }
    if (lay_out(cmd, spec->shape, argc, err, errlen) != 0)
        return -1;
    return trusted ? 0 : check_keys(cmd, err, errlen);
}

const char *
mc_key(const mc_cmd *cmd, size_t i, size_t *len)
{
    int at = cmd->first_key + (int)i * cmd->stride;

    *len = cmd->argvlen[at];
    return cmd->argv[at];
}

const char *
mc_value(const mc_cmd *cmd, size_t i, size_t *len)
{
    int at =
        cmd->op == MC_MSET ? cmd->first_key + (int)i * 2 + 1 : cmd->value_at;

    if (at == 0) {
        *len = 0;
        return NULL;
    }
    *len = cmd->argvlen[at];
    return cmd->argv[at];
}

size_t
mc_value_max(size_t item_max, bool cas, size_t keylen, uint32_t flags)
{
    size_t overhead = 48 + (cas ? 8 : 0) + keylen + 1 + 2 + (flags ? 4 : 0);

    return item_max > overhead ? item_max - overhead : 0;
}

int64_t
mc_exptime(unsigned ttl_seconds, time_t now)
{
    int64_t at = (int64_t)now + (int64_t)ttl_seconds;

    if (ttl_seconds <= MC_RELATIVE_EXPTIME_MAX)
        return (int64_t)ttl_seconds;
    /* memcached reads exptime as a signed 32-bit number: later than its
     * last second (2038) is as late as it goes. */
    return at < INT32_MAX ? at : INT32_MAX;
}

size_t
mc_digits(uint64_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* "name key flags exptime bytes\r\nvalue\r\n" for one key. */
static size_t
store_bytes(const char *name, size_t keylen, const mc_cmd *cmd, size_t vlen)
{
    return strlen(name) + 1 + keylen + 1 + mc_digits(cmd->flags) + 1 +
           mc_digits((uint64_t)cmd->exptime) + 1 + mc_digits(vlen) + 2 + vlen +
           2;
}

size_t
mc_request_bytes(const mc_cmd *cmd)
{
    size_t bytes = 0, klen, vlen;

    switch (cmd->op) {
    case MC_GET:
    case MC_GETS:
        bytes = strlen(cmd->name) + 2;
        for (size_t i = 0; i < cmd->nkeys; i++) {
            mc_key(cmd, i, &klen);
            bytes += 1 + klen;
        }
        return bytes;
    case MC_MSET:
        for (size_t i = 0; i < cmd->nkeys; i++) {
            mc_key(cmd, i, &klen);
            mc_value(cmd, i, &vlen);
            bytes += store_bytes("set", klen, cmd, vlen);
        }
        return bytes;
    case MC_VERSION:
        return strlen("version\r\n");
    case MC_PROBE:
        return strlen("stats settings\r\n");
    default:
        break;
    }
    mc_key(cmd, 0, &klen);
    if (mc_is_store(cmd->op)) {
        mc_value(cmd, 0, &vlen);
        bytes = store_bytes(cmd->name, klen, cmd, vlen);
        return cmd->op == MC_CAS ? bytes + 1 + mc_digits(cmd->number) : bytes;
    }
    bytes = strlen(cmd->name) + 1 + klen + 2;
    if (cmd->op == MC_INCR || cmd->op == MC_DECR)
        bytes += 1 + mc_digits(cmd->number);
    if (cmd->op == MC_TOUCH)
        bytes += 1 + mc_digits((uint64_t)cmd->exptime);
    return bytes;
}
