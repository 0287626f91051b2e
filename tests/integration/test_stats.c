/*
 * Live stats: a known mix of commands (single keys, a split, a refusal, a
 * timeout that ejects a server) and every counter it must move, read from
 * the JSON document; the same document through the stats port, parsed by
 * Python's json module and compared field by field with a real
 * nutcracker's for the same config; the Prometheus text.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define NSERVERS 3

static harness_server *servers[NSERVERS]; /* by pool index */
static shard_pool *pool;
static char keys[NSERVERS][32]; /* a key on each server */
static char yaml[2048];

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(stats, .fini = teardown, .timeout = 120);

/* Three servers, pool "st"; `stats_listen` may be NULL. */
static void
open_pool(const char *directives, const char *stats_listen)
{
    harness_server *started[NSERVERS];
    shard_options opts = SHARD_OPTIONS_INIT;
    int used = snprintf(yaml, sizeof(yaml),
                        "st:\n  listen: 127.0.0.1:%d\n  redis: true\n%s"
                        "  servers:\n",
                        harness_free_port(), directives);

    for (int i = 0; i < NSERVERS; i++) {
        started[i] = harness_redis_start(NULL);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    opts.stats_listen = stats_listen;
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
    for (int i = 0; i < NSERVERS; i++) {
        for (int j = 0; j < NSERVERS; j++) {
            if (strcmp(started[j]->addr,
                       shard_pool_server_addr(pool, (size_t)i)) == 0)
                servers[i] = started[j];
        }
    }
    for (int s = 0; s < NSERVERS; s++) {
        for (int n = 0;; n++) {
            snprintf(keys[s], sizeof(keys[s]), "key:%d", n);
            if (shard_pool_locate(pool, keys[s], strlen(keys[s])) == s)
                break;
        }
    }
}

static json_t *
document(void)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t err;

    cr_assert_eq(shard_pool_stats_json(pool, &text, &len), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_assert_eq(strlen(text), len);
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "%s: %s", err.text, text);
    shard_free(text);
    return doc;
}

static long long
field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);

    cr_assert(json_is_integer(v), "no integer field '%s'", name);
    return json_integer_value(v);
}

static json_t *
server_obj(json_t *doc, int i)
{
    json_t *p = json_object_get(json_object_get(doc, "st"),
                                shard_pool_server_name(pool, (size_t)i));

    cr_assert(json_is_object(p), "no object for server %d", i);
    return p;
}

/* RESP size of a command of `argc` arguments of these lengths. */
static long long
resp_size(int argc, const size_t *lens)
{
    char head[32];
    long long n = snprintf(head, sizeof(head), "*%d\r\n", argc);

    for (int i = 0; i < argc; i++)
        n += snprintf(head, sizeof(head), "$%zu\r\n", lens[i]) +
             (long long)lens[i] + 2;
    return n;
}

static void
command_ok(int argc, const char **argv)
{
    shard_reply *r = NULL;

    cr_assert_eq(shard_command_argv(pool, &r, argc, argv, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    shard_reply_free(r);
}

Test(stats, a_known_mix_moves_every_counter)
{
    shard_reply *r = NULL;

    open_pool("  timeout: 300\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 30000\n",
              NULL);
    const size_t set_lens[] = {3, strlen(keys[0]), 2};
    for (int i = 0; i < 10; i++)
        command_ok(3, (const char *[]){"SET", keys[0], "v0"});
    command_ok(3, (const char *[]){"SET", keys[1], "v1"});
    command_ok(4, (const char *[]){"MGET", keys[0], keys[1], keys[2]});
    /* A refusal: nothing is sent. */
    cr_assert_eq(
        shard_command_argv(pool, &r, 1, (const char *[]){"NOSUCH"}, NULL),
        SHARD_OK);
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    shard_reply_free(r);
    /* A timeout that ejects server 2. */
    harness_pause(servers[2]);
    cr_assert_eq(
        shard_command_argv(pool, &r, 2, (const char *[]){"GET", keys[2]}, NULL),
        SHARD_ETIMEDOUT);
    harness_resume(servers[2]);

    json_t *doc = document();
    json_t *st = json_object_get(doc, "st");
    cr_assert(json_is_object(st));
    cr_expect_str_eq(json_string_value(json_object_get(doc, "service")),
                     "libshard");
    cr_expect_geq(field(doc, "uptime"), 0);
    cr_expect_gt(field(doc, "timestamp"), 1700000000);
    cr_expect_eq(field(doc, "curr_connections"), 2, "server 2's was closed");
    cr_expect_eq(field(doc, "total_connections"), 3);

    cr_expect_eq(field(st, "client_err"), 1);
    cr_expect_eq(field(st, "client_connections"), 1);
    cr_expect_eq(field(st, "client_eof"), 0);
    cr_expect_eq(field(st, "forward_error"), 1);
    cr_expect_eq(field(st, "server_ejects"), 1);
    cr_expect_eq(field(st, "fragments"), 3);
    cr_expect_eq(field(st, "split_key_errors"), 0);
    cr_expect_eq(field(st, "retries"), 0);

    json_t *s0 = server_obj(doc, 0), *s1 = server_obj(doc, 1),
           *s2 = server_obj(doc, 2);
    /* Server 0: ten SETs and one MGET part, all answered. */
    cr_expect_eq(field(s0, "requests"), 11);
    cr_expect_eq(field(s0, "responses"), 11);
    const size_t mget_lens[] = {4, strlen(keys[0])};
    cr_expect_eq(field(s0, "request_bytes"),
                 10 * resp_size(3, set_lens) + resp_size(2, mget_lens), "%lld",
                 field(s0, "request_bytes"));
    /* +OK\r\n ten times, then *1\r\n$2\r\nv0\r\n */
    cr_expect_eq(field(s0, "response_bytes"), 10 * 5 + 4 + 8);
    cr_expect_eq(field(s0, "server_connections"), 1);
    cr_expect_eq(field(s0, "server_ejected_at"), 0);
    cr_expect_eq(field(s0, "in_queue") + field(s0, "out_queue"), 0);
    cr_expect_eq(field(s0, "in_queue_bytes") + field(s0, "out_queue_bytes"), 0);
    cr_expect_eq(field(s0, "latency_count"), 11);
    cr_expect_eq(field(s0, "latency_1m_count"), 11);
    long long p50 = field(s0, "latency_p50_us"),
              p90 = field(s0, "latency_p90_us"),
              p99 = field(s0, "latency_p99_us"),
              p999 = field(s0, "latency_p999_us"),
              max = field(s0, "latency_max_us");
    cr_expect(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 &&
                  p999 <= max && max < 1000000,
              "p50 %lld p90 %lld p99 %lld p99.9 %lld max %lld", p50, p90, p99,
              p999, max);
    cr_expect_leq(field(s0, "latency_1m_max_us"), max);
    /* Server 1: one SET, one MGET part. */
    cr_expect_eq(field(s1, "requests"), 2);
    cr_expect_eq(field(s1, "responses"), 2);
    cr_expect_eq(field(s1, "server_timedout"), 0);
    /* Server 2: an MGET part, then the GET that timed out. */
    cr_expect_eq(field(s2, "requests"), 2);
    cr_expect_eq(field(s2, "responses"), 1);
    cr_expect_eq(field(s2, "server_timedout"), 1);
    cr_expect_eq(field(s2, "server_eof") + field(s2, "server_err"), 0);
    cr_expect_eq(field(s2, "server_connections"), 0);
    cr_expect_eq(field(s2, "server_ejections"), 1);
    cr_expect_gt(field(s2, "server_ejected_at"), 1700000000LL * 1000000);
    cr_expect_eq(field(s2, "in_queue") + field(s2, "out_queue"), 0);
    json_decref(doc);
}

Test(stats, a_killed_server_counts_eof_and_split_key_errors)
{
    shard_reply *r = NULL;

    open_pool("  timeout: 1000\n  read_retries: 1\n", NULL);
    command_ok(2, (const char *[]){"GET", keys[1]});
    harness_kill(servers[1]);
    /* The retry finds it refused: the MGET's key on it gets an ERROR. */
    cr_assert_eq(shard_command_argv(pool, &r, 3,
                                    (const char *[]){"MGET", keys[0], keys[1]},
                                    NULL),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_ERROR);
    shard_reply_free(r);

    json_t *doc = document(), *st = json_object_get(doc, "st");
    json_t *s1 = server_obj(doc, 1);
    cr_expect_eq(field(st, "split_key_errors"), 1);
    cr_expect_eq(field(st, "retries"), 1);
    cr_expect_eq(field(s1, "server_eof"), 1, "the kill closed it");
    cr_expect_geq(field(s1, "server_err"), 1, "the retry's refused connect");
    cr_expect_geq(field(s1, "connect_failures"), 1);
    cr_expect_eq(field(s1, "server_connections"), 0);
    json_decref(doc);
}

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    (void)reply;
    (void)status;
    (*(int *)userdata)++;
}

Test(stats, queues_show_commands_waiting_on_a_hung_server)
{
    const char *get[] = {"GET", NULL};
    int calls = 0, never = 0;

    open_pool("", NULL);
    get[1] = keys[1];
    const size_t lens[] = {3, strlen(keys[1])};
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    command_ok(2, get); /* connected */
    harness_pause(servers[1]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(shard_command_async(pool, 2, get, NULL, on_reply, &calls),
                     SHARD_OK);
    harness_loop_run(pool, &never, 1, 100); /* written; no reply comes */
    json_t *doc = document(), *s1 = server_obj(doc, 1);
    cr_expect_eq(field(s1, "in_queue"), 0);
    cr_expect_eq(field(s1, "in_queue_bytes"), 0);
    cr_expect_eq(field(s1, "out_queue"), 3);
    cr_expect_eq(field(s1, "out_queue_bytes"), 3 * resp_size(2, lens));
    json_decref(doc);
    harness_resume(servers[1]);
    harness_loop_run(pool, &calls, 3, 5000);
    cr_assert_eq(calls, 3);
    doc = document();
    s1 = server_obj(doc, 1);
    cr_expect_eq(field(s1, "out_queue"), 0);
    cr_expect_eq(field(s1, "out_queue_bytes"), 0);
    cr_expect_eq(field(s1, "responses"), 4);
    json_decref(doc);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
}

Test(stats, a_command_not_all_written_is_in_queue)
{
    enum { BIG = 32 << 20 };
    char *value = malloc(BIG);
    const char *set[] = {"SET", NULL, value};
    size_t lens[] = {3, 0, BIG};
    int calls = 0, never = 0;

    cr_assert_not_null(value);
    memset(value, 'x', BIG);
    open_pool("", NULL);
    set[1] = keys[0];
    lens[1] = strlen(keys[0]);
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    command_ok(2, (const char *[]){"GET", keys[0]}); /* connected */
    harness_pause(servers[0]);
    cr_assert_eq(shard_command_async(pool, 3, set, lens, on_reply, &calls),
                 SHARD_OK);
    harness_loop_run(pool, &never, 1, 100); /* the socket fills up */
    json_t *doc = document(), *s0 = server_obj(doc, 0);
    long long total = resp_size(3, lens);
    cr_expect_eq(field(s0, "in_queue"), 1);
    cr_expect_gt(field(s0, "in_queue_bytes"), 0);
    cr_expect_lt(field(s0, "in_queue_bytes"), total);
    cr_expect_eq(field(s0, "out_queue"), 0);
    json_decref(doc);
    harness_resume(servers[0]);
    harness_loop_run(pool, &calls, 1, 20000);
    cr_assert_eq(calls, 1);
    doc = document();
    s0 = server_obj(doc, 0);
    cr_expect_eq(field(s0, "in_queue") + field(s0, "out_queue"), 0);
    cr_expect_eq(field(s0, "in_queue_bytes") + field(s0, "out_queue_bytes"), 0);
    cr_expect_eq(field(s0, "request_bytes"), total + 4 + 9 + 4 + lens[1] + 2);
    json_decref(doc);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
    free(value);
}

Test(stats, transactions_are_client_connections)
{
    shard_txn *txn = NULL;

    open_pool("", NULL);
    cr_assert_eq(shard_txn_begin(pool, &txn, keys[0], strlen(keys[0])),
                 SHARD_OK);
    json_t *doc = document();
    cr_expect_eq(field(json_object_get(doc, "st"), "client_connections"), 2);
    json_decref(doc);
    shard_txn_free(txn);
    doc = document();
    cr_expect_eq(field(json_object_get(doc, "st"), "client_connections"), 1);
    cr_expect_eq(field(json_object_get(doc, "st"), "client_eof"), 1);
    json_decref(doc);
}

Test(stats, prometheus_text_has_every_figure_once_per_server)
{
    char *text = NULL;
    size_t len = 0;

    open_pool("", NULL);
    command_ok(3, (const char *[]){"SET", keys[2], "x"});
    cr_assert_eq(shard_pool_stats_prometheus(pool, &text, &len), SHARD_OK);
    cr_assert_eq(strlen(text), len);
    char want[256];
    snprintf(want, sizeof(want),
             "shard_requests_total{pool=\"st\",server=\"%s\"} 1\n",
             shard_pool_server_name(pool, 2));
    cr_expect(strstr(text, want) != NULL, "%s not in:\n%s", want, text);
    cr_expect(strstr(text, "# TYPE shard_requests_total counter\n") != NULL);
    cr_expect(strstr(text, "# TYPE shard_server_connections gauge\n") != NULL);
    cr_expect(strstr(text, "shard_forward_error_total{pool=\"st\"} 0\n") !=
              NULL);
    /* Every sample line: name{labels} value. */
    int samples = 0;
    for (char *line = strtok(text, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        cr_expect(strstr(line, "{pool=\"st\"") != NULL &&
                      strstr(line, "} ") != NULL,
                  "%s", line);
        samples++;
    }
    cr_expect_eq(samples, 10 + 29 * NSERVERS);
    shard_free(text);
}

Test(stats, bad_arguments_are_refused)
{
    char *text = NULL;
    size_t len = 0;

    open_pool("", NULL);
    cr_expect_eq(shard_pool_stats_json(NULL, &text, &len), SHARD_EINVAL);
    cr_expect_eq(shard_pool_stats_json(pool, NULL, &len), SHARD_EINVAL);
    cr_expect_eq(shard_pool_stats_json(pool, &text, NULL), SHARD_EINVAL);
    cr_expect_null(text);
    shard_free(NULL);
}

Test(stats, a_stats_address_that_cannot_be_bound_fails_the_open)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    const char *y = "st:\n  listen: 127.0.0.1:22121\n  servers:\n"
                    "   - 127.0.0.1:6379:1\n";
    shard_pool *p = NULL;

    opts.stats_listen = "127.0.0.1";
    cr_expect_eq(shard_pool_open_string(&p, y, strlen(y), NULL, &opts),
                 SHARD_EINVAL);
    cr_expect(strstr(shard_last_error(), "host:port") != NULL, "%s",
              shard_last_error());
    opts.stats_listen = "192.0.2.1:1"; /* not an address of this machine */
    cr_expect_eq(shard_pool_open_string(&p, y, strlen(y), NULL, &opts),
                 SHARD_EINVAL);
    cr_expect_null(p);
}

/* Reads the document on `port` the way a collector does, and compares
 * its field names with nutcracker's on `nc_port`: prints what is missing. */
static const char compare_py[] =
    "import json, socket, sys\n"
    "def read(port, say):\n"
    "    s = socket.create_connection(('127.0.0.1', port))\n"
    "    s.sendall(say)\n"
    "    data = b''\n"
    "    while True:\n"
    "        b = s.recv(65536)\n"
    "        if not b: break\n"
    "        data += b\n"
    "    return json.loads(data)\n"
    "# nutcracker resets a client that sends anything; libshard ignores it\n"
    "ours = read(int(sys.argv[1]), b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
    "theirs = read(int(sys.argv[2]), b'')\n"
    "missing = []\n"
    "def walk(a, b, path):\n"
    "    for k, v in b.items():\n"
    "        if k not in a:\n"
    "            missing.append(path + k)\n"
    "        elif isinstance(v, dict):\n"
    "            if not isinstance(a[k], dict): missing.append(path + k)\n"
    "            else: walk(a[k], v, path + k + '/')\n"
    "walk(ours, theirs, '')\n"
    "pools = [k for k, v in ours.items() if isinstance(v, dict)]\n"
    "print('missing: ' + ' '.join(missing) if missing else\n"
    "      'same fields; pools %s; requests %d' % (pools,\n"
    "      sum(v['requests'] for v in ours['st'].values()\n"
    "          if isinstance(v, dict))))\n";

Test(stats, the_stats_port_serves_nutcrackers_fields)
{
    char addr[64], cmd[4096], out[512] = "";
    int port = harness_free_port();

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    open_pool("  timeout: 1000\n", addr);
    for (int i = 0; i < NSERVERS; i++)
        command_ok(3, (const char *[]){"SET", keys[i], "v"});

    /* nutcracker on the same file. */
    int listen_port = atoi(strstr(yaml, "127.0.0.1:") + 10);
    const char *path = harness_write_file("stats.yml", yaml);
    harness_server *nc = harness_nutcracker_start(path, listen_port);
    cr_assert_not_null(nc);
    const char *py = harness_write_file("compare.py", compare_py);
    snprintf(cmd, sizeof(cmd), "python3 %s %d %d 2>&1", py, port,
             harness_nutcracker_stats_port(nc));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    cr_expect_eq(pclose(p), 0, "%s", out);
    cr_expect(strncmp(out, "same fields; pools ['st']; requests 3", 37) == 0,
              "%s", out);
}
