/*
 * shard-faults' report: a table per fault, filled cell by cell as the
 * scenarios run, then printed as Markdown. Long messages become numbered
 * notes under the table, with server addresses replaced by F, H1 and H2,
 * so that cells stay short and a message shows which server it names.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "faults.h"

static const char *const role_names[NSERVERS] = {"F", "H1", "H2"};

/* Appends to `out` while there is room; `*used` never passes `size`. */
static void appendf(char *out, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
appendf(char *out, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used + 1 >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(out + *used, size - *used, fmt, ap);
    va_end(ap);
    *used += n < 0 ? 0 : (size_t)n;
    if (*used >= size)
        *used = size - 1;
}

/* A duration in ms with two significant digits or so, without the unit. */
static const char *
fmt_num(char *buf, size_t size, double ms)
{
    snprintf(buf, size,
             ms < 0.1  ? "%.3f"
             : ms < 1  ? "%.2f"
             : ms < 10 ? "%.1f"
                       : "%.0f",
             ms);
    return buf;
}

/* "0.12 ms", or "0.12–0.31 ms" when the two differ as printed. */
static const char *
fmt_range(char *buf, size_t size, double lo, double hi)
{
    char a[24], b[24];

    fmt_num(a, sizeof(a), lo);
    fmt_num(b, sizeof(b), hi);
    if (strcmp(a, b) == 0)
        snprintf(buf, size, "%s ms", a);
    else
        snprintf(buf, size, "%.20s–%.20s ms", a, b);
    return buf;
}

void
tally_add(tally *t, const outcome *o)
{
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->first[i].kind, o->kind) == 0) {
            t->count[i]++;
            return;
        }
    }
    if (t->n == MAX_KINDS)
        return;
    t->first[t->n] = *o;
    t->count[t->n++] = 1;
}

/* --- messages ------------------------------------------------------------ */

/* `msg` with each server's address replaced by its role. */
static void
normalise(const table *t, const char *msg, char *out, size_t size)
{
    size_t used = 0;

    while (*msg != '\0' && used + 1 < size) {
        int role = -1;
        for (int i = 0; i < NSERVERS && role < 0; i++) {
            size_t n = strlen(t->addr[i]);
            if (n > 0 && strncmp(msg, t->addr[i], n) == 0)
                role = i;
        }
        if (role < 0) {
            out[used++] = *msg++;
            continue;
        }
        appendf(out, size, &used, "%s", role_names[role]);
        msg += strlen(t->addr[role]);
    }
    out[used] = '\0';
}

/* The message's number under the table (added if new); 0 for none. */
static int
note_of(table *t, const char *message)
{
    char text[NOTE_LEN];

    if (message[0] == '\0')
        return 0;
    normalise(t, message, text, sizeof(text));
    for (int i = 0; i < t->nnotes; i++) {
        if (strcmp(t->notes[i], text) == 0)
            return i + 1;
    }
    if (t->nnotes == MAX_NOTES)
        return 0;
    snprintf(t->notes[t->nnotes], sizeof(t->notes[0]), "%s", text);
    return ++t->nnotes;
}

/* "kind [n]" */
static void
labelled(table *t, const outcome *o, char *out, size_t size)
{
    int n = note_of(t, o->detail);

    if (n > 0)
        snprintf(out, size, "%s [%d]", o->kind, n);
    else
        snprintf(out, size, "%s", o->kind);
}

/* --- cells ----------------------------------------------------------------
 */

void
cell_one(table *t, row r, int way, const outcome *o)
{
    char label[200], range[48];

    labelled(t, o, label, sizeof(label));
    snprintf(t->cell[r][way], CELL, "%s, %s", label,
             fmt_range(range, sizeof(range), o->ms, o->ms));
}

void
cell_many(table *t, row r, int way, const outcome *o, int n)
{
    char *cell = t->cell[r][way];
    size_t used = 0;

    for (int i = 0, j; i < n; i = j) {
        char label[200], range[48];
        double lo = o[i].ms, hi = o[i].ms;
        for (j = i + 1; j < n && strcmp(o[j].kind, o[i].kind) == 0; j++) {
            lo = o[j].ms < lo ? o[j].ms : lo;
            hi = o[j].ms > hi ? o[j].ms : hi;
        }
        labelled(t, &o[i], label, sizeof(label));
        appendf(cell, CELL, &used, "%s%d× %s, %s", i ? "; " : "", j - i, label,
                fmt_range(range, sizeof(range), lo, hi));
    }
}

/* "6× ECONN [1], 294× nil" after what `cell` holds. */
static void
append_counts(table *t, char *cell, size_t *used, const tally *k,
              const char *lead)
{
    for (int i = 0; i < k->n; i++) {
        char label[200];
        labelled(t, &k->first[i], label, sizeof(label));
        appendf(cell, CELL, used, "%s%d× %s", i ? ", " : lead, k->count[i],
                label);
    }
}

void
cell_tally(table *t, row r, int way, const tally *k, double slowest)
{
    char *cell = t->cell[r][way];
    char range[48];
    size_t used = 0;
    int total = 0;

    for (int i = 0; i < k->n; i++)
        total += k->count[i];
    appendf(cell, CELL, &used, "%d GETs", total);
    append_counts(t, cell, &used, k, ": ");
    appendf(cell, CELL, &used, "; slowest %s",
            fmt_range(range, sizeof(range), slowest, slowest));
}

void
cell_back(table *t, int way, double ms, int limit_s, const tally *before)
{
    char *cell = t->cell[ROW_BACK][way];
    char range[48];
    size_t used = 0;

    if (ms < 0)
        appendf(cell, CELL, &used, "not within %d s", limit_s);
    else
        appendf(cell, CELL, &used, "%s",
                fmt_range(range, sizeof(range), ms, ms));
    append_counts(t, cell, &used, before, "; before: ");
}

void
cell_text(table *t, row r, int way, const char *text)
{
    snprintf(t->cell[r][way], CELL, "%s", text);
}

/* --- events ----------------------------------------------------------------
 */

static const char *
event_name(int type)
{
    static const char *const names[] = {
        "F back",   "CONNECTED", "CONNECT_FAILED", "DISCONNECTED", "EJECTED",
        "RETURNED", "PROBE_OK",  "PROBE_FAILED",   "RELOADED",     "SWITCHED"};

    return type >= 0 && type < (int)(sizeof(names) / sizeof(names[0]))
               ? names[type]
               : "?";
}

void
table_events(table *t, int way, const seen *ev, int n)
{
    char *out = t->events[way];
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0, j; i < n; i = j) {
        long lo = ev[i].delay_ms, hi = ev[i].delay_ms;
        for (j = i + 1;
             j < n && ev[j].type == ev[i].type && ev[j].role == ev[i].role;
             j++) {
            lo = ev[j].delay_ms < lo ? ev[j].delay_ms : lo;
            hi = ev[j].delay_ms > hi ? ev[j].delay_ms : hi;
        }
        appendf(out, EVENTS_LEN, &used, "%s", i ? " → " : "");
        if (ev[i].type == 0) {
            appendf(out, EVENTS_LEN, &used, "**F back**");
            continue;
        }
        appendf(out, EVENTS_LEN, &used, "%s %s", event_name(ev[i].type),
                ev[i].role >= 0 ? role_names[ev[i].role] : "?");
        if (j - i > 1)
            appendf(out, EVENTS_LEN, &used, " ×%d", j - i);
        if (hi > 0 && lo == hi)
            appendf(out, EVENTS_LEN, &used, " (%ld ms)", hi);
        else if (hi > 0)
            appendf(out, EVENTS_LEN, &used, " (%ld–%ld ms)", lo, hi);
        if (note_of(t, ev[i].reason) > 0)
            appendf(out, EVENTS_LEN, &used, " [%d]", note_of(t, ev[i].reason));
    }
}

/* --- printing -------------------------------------------------------------
 */

void
table_print(const table *t)
{
    printf("### %s\n\n%s\n\n|  |", t->title, t->how);
    for (int w = 0; w < WAY_COUNT; w++)
        printf(" %s |", t->col[w]);
    printf("\n|---|");
    for (int w = 0; w < WAY_COUNT; w++)
        printf("---|");
    printf("\n");
    for (int r = 0; r < ROW_COUNT; r++) {
        if (t->row_label[r] == NULL)
            continue;
        printf("| %s |", t->row_label[r]);
        for (int w = 0; w < WAY_COUNT; w++)
            printf(" %s |", t->cell[r][w][0] ? t->cell[r][w] : "–");
        printf("\n");
    }
    if (t->nnotes > 0)
        printf("\nMessages:\n\n");
    for (int i = 0; i < t->nnotes; i++)
        printf("%d. `%s`\n", i + 1, t->notes[i]);
    printf("\nEvents, from the fault on:\n\n");
    for (int w = 0; w < WAY_COUNT; w++) {
        if (t->col_events[w])
            printf("- %s: %s\n", t->col[w],
                   t->events[w][0] ? t->events[w] : "none");
    }
    printf("\n");
}
