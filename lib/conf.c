/*
 * nutcracker.yml -> conf_file. Accepts and rejects exactly what twemproxy
 * 0.5's conf_create does (twemproxy-0.5.md section 1), but names the file,
 * line, pool and directive in its messages instead of only logging them.
 *
 * Two passes over the text, as in twemproxy: the scanner rejects YAML
 * features nutcracker refuses (flow style, anchors, tags, document
 * markers), then an event walk checks the shape (pool -> directives, one
 * sequence per pool) and sets each directive. Values are checked by the
 * setters in conf_pool.c.
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "conf.h"
#include "error.h"

/* Where the event walk is: twemproxy's depth 0 (root), 1 (pools), 2. */
enum walk_depth { DEPTH_ROOT = 0, DEPTH_POOLS = 1, DEPTH_DIRECTIVES = 2 };

/* State of the event walk over one document. */
typedef struct conf_walk {
    const char *source;      /* file name for messages */
    unsigned flags;          /* CONF_* */
    char *err;               /* message buffer */
    size_t errlen;           /* its size */
    conf_file *cf;           /* what is being built */
    conf_builder pool;       /* the pool being read, when in_pool */
    bool in_pool;            /* between a pool's mapping start and end */
    int depth;               /* mapping depth, as twemproxy counts it */
    char *key;               /* pending directive name at depth 2, or NULL */
    unsigned key_line;       /* its line */
    bool in_seq;             /* inside the pool's sequence */
    bool pool_has_seq;       /* the pool had its one sequence */
    bool pool_has_sentinels; /* ... and its sentinels: sequence */
    char *pool_name;         /* pending pool name at depth 1, or NULL */
    unsigned pool_line;      /* its line */
} conf_walk;

static unsigned
mark_line(const yaml_mark_t *mark)
{
    return (unsigned)mark->line + 1;
}

static bool
walk_fail(conf_walk *w, unsigned line, const char *what)
{
    const char *pool = w->in_pool ? w->pool.pool.name : w->pool_name;

    if (pool != NULL)
        error_format(w->err, w->errlen, "%s:%u: pool '%s': %s", w->source, line,
                     pool, what);
    else
        error_format(w->err, w->errlen, "%s:%u: %s", w->source, line, what);
    return false;
}

static const char *
token_refused(yaml_token_type_t type)
{
    switch (type) {
    case YAML_VERSION_DIRECTIVE_TOKEN:
    case YAML_TAG_DIRECTIVE_TOKEN:
        return "YAML directives (%YAML, %TAG) are not allowed";
    case YAML_DOCUMENT_START_TOKEN:
    case YAML_DOCUMENT_END_TOKEN:
        return "document markers (--- and ...) are not allowed";
    case YAML_FLOW_SEQUENCE_START_TOKEN:
    case YAML_FLOW_SEQUENCE_END_TOKEN:
    case YAML_FLOW_MAPPING_START_TOKEN:
    case YAML_FLOW_MAPPING_END_TOKEN:
    case YAML_FLOW_ENTRY_TOKEN:
        return "flow style ([...], {...}) is not allowed";
    case YAML_ALIAS_TOKEN:
    case YAML_ANCHOR_TOKEN:
        return "anchors and aliases are not allowed";
    case YAML_TAG_TOKEN:
        return "tags are not allowed";
    default:
        return NULL;
    }
}

static bool
syntax_error(conf_walk *w, const yaml_parser_t *parser)
{
    char what[ERROR_MAX];

    error_format(what, sizeof(what), "YAML syntax error: %s",
                 parser->problem != NULL ? parser->problem : "unknown");
    return walk_fail(w, mark_line(&parser->problem_mark), what);
}

/* Pass 1: the token kinds twemproxy refuses (conf_validate_tokens). */
static bool
check_tokens(conf_walk *w, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    yaml_token_t token;
    bool ok = true, done = false;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (ok && !done) {
        if (!yaml_parser_scan(&parser, &token)) {
            ok = syntax_error(w, &parser);
            break;
        }
        const char *refused = token_refused(token.type);
        if (refused != NULL)
            ok = walk_fail(w, mark_line(&token.start_mark), refused);
        done = token.type == YAML_STREAM_END_TOKEN;
        yaml_token_delete(&token);
    }
    yaml_parser_delete(&parser);
    return ok;
}

static char *
scalar_dup(const yaml_event_t *ev)
{
    size_t len = ev->data.scalar.length;
    char *s = malloc(len + 1);

    if (s != NULL) {
        memcpy(s, ev->data.scalar.value, len);
        s[len] = '\0';
    }
    return s;
}

/* A directive name and one value: a scalar or one item of the sequence. */
static bool
apply_directive(conf_walk *w, const yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    char what[ERROR_MAX];
    const char *reason;

    reason = conf_builder_set(&w->pool, w->key, value, len,
                              mark_line(&ev->start_mark));
    if (reason == NULL)
        return true;
    error_format(what, sizeof(what), "directive \"%s\" %s", w->key, reason);
    return walk_fail(w, mark_line(&ev->start_mark), what);
}

static bool
on_scalar(conf_walk *w, const yaml_event_t *ev)
{
    unsigned line = mark_line(&ev->start_mark);

    /* twemproxy cannot copy an empty string and fails without a message. */
    if (ev->data.scalar.length == 0)
        return walk_fail(w, line, "empty value");
    if (w->depth == DEPTH_ROOT)
        return walk_fail(w, line,
                         "the top level must map pool names to "
                         "their directives");
    if (w->depth == DEPTH_POOLS) {
        if (w->pool_name != NULL)
            return walk_fail(w, line,
                             "a pool must be a mapping of "
                             "directives, not a value");
        w->pool_name = scalar_dup(ev);
        w->pool_line = line;
        return w->pool_name != NULL || walk_fail(w, line, "out of memory");
    }
    if (w->in_seq)
        return apply_directive(w, ev);
    if (w->key == NULL) {
        w->key = scalar_dup(ev);
        w->key_line = line;
        return w->key != NULL || walk_fail(w, line, "out of memory");
    }
    bool ok = apply_directive(w, ev);
    free(w->key);
    w->key = NULL;
    return ok;
}

static bool
on_mapping_start(conf_walk *w, const yaml_event_t *ev)
{
    unsigned line = mark_line(&ev->start_mark);

    if (w->depth == DEPTH_POOLS) {
        if (w->pool_name == NULL)
            return walk_fail(w, line, "a pool name must be a plain value");
        conf_builder_init(&w->pool, w->pool_name, w->pool_line,
                          (w->flags & CONF_NO_DNS) != 0);
        w->pool_name = NULL;
        w->in_pool = true;
        w->pool_has_seq = false;
        w->pool_has_sentinels = false;
    } else if (w->depth >= DEPTH_DIRECTIVES) {
        return walk_fail(w, line,
                         "nesting deeper than pool -> directive "
                         "is not allowed");
    }
    w->depth++;
    return true;
}

static bool
on_mapping_end(conf_walk *w, const yaml_event_t *ev)
{
    unsigned line = mark_line(&ev->start_mark);
    char what[ERROR_MAX];

    w->depth--;
    if (w->depth != DEPTH_POOLS)
        return true;
    if (!w->pool_has_seq)
        return walk_fail(w, w->pool.pool.line,
                         "missing sequence directive (servers:)");
    unsigned at;
    const char *reason = conf_builder_finish(&w->pool, &at, what, sizeof(what));
    if (reason != NULL)
        return walk_fail(w, at, reason);
    w->in_pool = false;
    return conf_file_add_pool(w->cf, &w->pool.pool) ||
           walk_fail(w, line, "out of memory");
}

static bool
on_sequence(conf_walk *w, const yaml_event_t *ev, bool start)
{
    unsigned line = mark_line(&ev->start_mark);

    if (!start) {
        w->in_seq = false;
        free(w->key);
        w->key = NULL;
        return true;
    }
    /* libshard's sentinels: is a sequence of its own beside servers: */
    bool sentinels = w->key != NULL && strcmp(w->key, "sentinels") == 0;
    if (w->in_seq || (sentinels ? w->pool_has_sentinels : w->pool_has_seq))
        return walk_fail(w, line, "more than one sequence in a pool");
    if (w->depth != DEPTH_DIRECTIVES)
        return walk_fail(w, line,
                         "a sequence is only allowed as the value "
                         "of a pool directive (servers:)");
    if (w->key == NULL)
        return walk_fail(w, line, "a sequence must follow a directive name");
    w->in_seq = true;
    if (sentinels)
        w->pool_has_sentinels = true;
    else
        w->pool_has_seq = true;
    return true;
}

static bool
on_event(conf_walk *w, const yaml_event_t *ev, int *documents)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return ++*documents == 1 ||
               walk_fail(w, mark_line(&ev->start_mark),
                         "only one YAML document is allowed");
    case YAML_SCALAR_EVENT:
        return on_scalar(w, ev);
    case YAML_MAPPING_START_EVENT:
        return on_mapping_start(w, ev);
    case YAML_MAPPING_END_EVENT:
        return on_mapping_end(w, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_sequence(w, ev, true);
    case YAML_SEQUENCE_END_EVENT:
        return on_sequence(w, ev, false);
    default:
        return true;
    }
}

/* Pass 2: shape and values (conf_validate_structure and conf_parse). */
static bool
walk_events(conf_walk *w, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int documents = 0;
    bool ok = true, done = false;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (ok && !done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            ok = syntax_error(w, &parser);
            break;
        }
        ok = on_event(w, &ev, &documents);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (ok && documents == 0)
        ok = walk_fail(w, 1, "no YAML document (the file is empty)");
    return ok;
}

static void
walk_cleanup(conf_walk *w)
{
    if (w->in_pool)
        conf_builder_discard(&w->pool);
    free(w->key);
    free(w->pool_name);
}

conf_file *
conf_parse(const char *yaml, size_t len, const char *source, char *err,
           size_t errlen)
{
    return conf_parse_flags(yaml, len, source, 0, err, errlen);
}

conf_file *
conf_parse_flags(const char *yaml, size_t len, const char *source,
                 unsigned flags, char *err, size_t errlen)
{
    conf_walk w = {
        .source = source, .flags = flags, .err = err, .errlen = errlen};
    bool ok;

    w.cf = calloc(1, sizeof(*w.cf));
    if (w.cf == NULL) {
        error_format(err, errlen, "%s: out of memory", source);
        return NULL;
    }
    ok = check_tokens(&w, yaml, len) && walk_events(&w, yaml, len);
    walk_cleanup(&w);
    if (ok)
        ok = conf_file_validate(w.cf, source, err, errlen);
    if (!ok) {
        conf_free(w.cf);
        return NULL;
    }
    return w.cf;
}
