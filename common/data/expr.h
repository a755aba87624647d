/*
 * expr.h - SQL expressions over columnar batches (filter.where, select.fields, keys).
 *
 * Life of an expression:
 *   1. cf_expr_parse()  - once, from the spec text; syntax errors carry a column number.
 *   2. cf_expr_bind()   - once per input schema, at validation time: resolves field names,
 *                         type-checks, folds constant subexpressions, compiles LIKE patterns
 *                         and IN lists of literals. After this the expression is immutable.
 *   3. cf_expr_eval()   - per batch, column at a time, on any number of threads, each with
 *                         its own struct cf_expr_eval_ctx (the scratch columns).
 *
 * Language (keywords and function names are case-insensitive, field names are not):
 *   literals     'text' ('' is a quote), 42, 2.5, 1e3, .5, TRUE, FALSE, NULL
 *   fields       name ([A-Za-z_][A-Za-z0-9_]*) or "quoted name" ("" is a quote); a field
 *                named like a keyword (end, in, ...) must be quoted
 *   operators    + - * / % (and unary -, +), = <> != < <= > >=, AND OR NOT,
 *                x IS [NOT] NULL, x [NOT] LIKE p, x [NOT] IN (a, b, ...),
 *                x [NOT] BETWEEN a AND b, CASE WHEN c THEN v ... [ELSE v] END,
 *                CASE x WHEN v THEN r ... [ELSE r] END, parentheses
 *   functions    lower upper length concat substr trim coalesce abs round floor ceil
 *                hour day_of_week date_format to_timestamp
 *
 * Types (enum cf_type) and the choices this engine makes where SQL dialects differ:
 *   - NULL follows SQL three-valued logic: an operator or function with a NULL argument
 *     gives NULL, except AND (NULL AND FALSE = FALSE), OR (NULL OR TRUE = TRUE), IS [NOT]
 *     NULL (never NULL), IN (x IN (1, NULL) is TRUE for 1 and NULL for 2), BETWEEN (an AND
 *     of two comparisons), CASE and coalesce.
 *   - int op int -> int; an int meeting a double becomes a double. `/` and `%` on ints
 *     truncate toward zero. Division or modulo by zero gives NULL (ints and doubles), and
 *     so does any int overflow (+ - * /, unary -, abs, round): values never wrap.
 *   - Comparisons: int, double and timestamp compare numerically (timestamp as ms); a
 *     timestamp compared with a string literal parses the literal as ISO-8601 at bind time;
 *     strings compare bytewise; bools compare (FALSE < TRUE). Other mixes are bind errors.
 *   - timestamp + int -> timestamp, timestamp - int -> timestamp, timestamp - timestamp ->
 *     int (all in ms). Arithmetic on strings or bools is a bind error.
 *   - Strings are bytes: length() counts bytes, substr() indexes bytes (1-based), LIKE's `_`
 *     matches one byte, lower()/upper() map ASCII letters only. LIKE has no ESCAPE clause:
 *     `%` and `_` are always wildcards.
 *   - concat(a, ...) gives NULL when any argument is NULL (SQL standard, not PostgreSQL's
 *     skip-NULLs); non-string arguments are converted to text (ints in decimal, doubles in
 *     shortest round-trip form, bools as true/false, timestamps as ISO-8601 UTC).
 *   - substr(s, start[, len]): positions start .. start+len-1 of s, intersected with the
 *     string (as PostgreSQL: substr('hello', 0, 2) = 'h'); a negative len gives NULL.
 *   - trim(s) strips ASCII whitespace (space, \t, \n, \v, \f, \r) at both ends.
 *   - round(x[, digits]) rounds half away from zero; floor, ceil, abs and round keep the
 *     argument's type (int stays int, double stays double).
 *   - hour(ts) is 0-23 UTC; day_of_week(ts) is ISO (1 = Monday .. 7 = Sunday);
 *     date_format(ts, fmt) uses the conversions of cf_ts_strftime() (a literal fmt is
 *     checked at bind; a bad fmt from data gives NULL). Parameters that expect a timestamp
 *     also accept an ISO-8601 string literal.
 *   - to_timestamp(x): an int or double is epoch ms (a double is truncated), a string is
 *     parsed as ISO-8601 (cf_ts_parse); what does not parse or fit gives NULL.
 *
 * Memory: evaluation never mallocs once a context exists (scratch columns live in the
 * context, new strings in the caller's arena).
 */
#ifndef CF_EXPR_H
#define CF_EXPR_H

#include <stdint.h>

#include "../base/err.h"
#include "../base/mem.h"
#include "batch.h"
#include "schema.h"

/* Nesting limit of the parser (parentheses, NOT, unary minus, function arguments, CASE):
 * deeper input fails with "expression nested too deeply". */
#define CF_EXPR_MAX_DEPTH 256

/*
 * An expression: its text, the parsed tree and, after cf_expr_bind(), the typed tree.
 * Immutable after cf_expr_bind(), so many threads may evaluate it concurrently if each
 * uses its own struct cf_expr_eval_ctx.
 */
struct cf_expr;

/*
 * Parses text (copied; the caller keeps its string). Returns the expression, owned by the
 * caller (cf_expr_destroy), or NULL with err set (CF_EPARSE) to a message such as
 * "unexpected ')' at column 12" (columns count bytes from 1). Any thread.
 */
struct cf_expr *cf_expr_parse(const char *text, struct cf_err *err);

/*
 * Resolves field names against `input` (borrowed, only read during the call), type-checks,
 * folds constants and compiles patterns. Returns 0, or CF_ETYPE / CF_ENOENT with err set to
 * a message without a JSON path (the caller prefixes one): "unknown field 'x'", "cannot
 * compare string with int in 'a = 5'". May be called again with another schema (the
 * previous binding is dropped); not while another thread evaluates the expression, and
 * every eval context created before must be destroyed first.
 */
int cf_expr_bind(struct cf_expr *expr, const struct cf_schema *input, struct cf_err *err);

/* The result type, after a successful bind; CF_TYPE_NULL for an expression that is always
 * an untyped NULL (a bare NULL literal) or when the expression is not bound. Any thread. */
enum cf_type cf_expr_type(const struct cf_expr *expr);

/* The text the expression was parsed from; valid until cf_expr_destroy(). Any thread. */
const char *cf_expr_text(const struct cf_expr *expr);

/* If the bound expression is a bare field reference (`name`, `"name"`, `(name)`), its index
 * in the input schema, else -1 (lets select copy whole columns). Any thread. */
int cf_expr_field_index(const struct cf_expr *expr);

/* Sets used[f] = 1 for every field f of the input schema the bound expression reads
 * (projection: the fields nobody reads need not be decoded or copied). Any thread. */
void cf_expr_mark_fields(const struct cf_expr *expr, uint8_t *used);

/* Frees the expression. NULL is a no-op. Every eval context of it must be destroyed. */
void cf_expr_destroy(struct cf_expr *expr);

/*
 * Per-thread evaluation scratch for one bound expression: temporary columns of
 * CF_BATCH_ROWS rows and the broadcast constants, allocated once here. Owned by the caller;
 * used by one thread at a time; valid while the expression stays bound as it was.
 */
struct cf_expr_eval_ctx;

struct cf_expr_eval_ctx *cf_expr_eval_ctx_create(const struct cf_expr *expr);
void cf_expr_eval_ctx_destroy(struct cf_expr_eval_ctx *ctx);

/*
 * Evaluates the expression over rows [0, in->n) of `in` (whose schema has the fields and
 * types the expression was bound to) into `out`: a column of type cf_expr_type(expr) with
 * room for in->n rows, whose nulls and values are written for every row (for a CF_TYPE_NULL
 * expression only nulls). `out` must not share memory with `in`. Batches larger than
 * CF_BATCH_ROWS are evaluated in slices.
 *
 * Strings: new ones (lower, concat, date_format, ...) are allocated in `arena` (typically
 * the output batch's arena); results that are field values or slices of them (substr, trim)
 * point into the input batch's strings, so the output must not outlive the input's arena
 * unless that arena is absorbed. String literals are copied into `arena`, never pointed at
 * inside the expression. `arena` may be NULL only if the expression creates no strings.
 *
 * Never fails on data (bad values give NULL); returns 0. The caller's thread, with ctx.
 */
int cf_expr_eval(const struct cf_expr *expr, struct cf_expr_eval_ctx *ctx,
                 const struct cf_batch *in, struct cf_col *out, struct cf_arena *arena);

/*
 * For filters: keep[i] = 1 iff the expression (of type bool, or an untyped NULL which keeps
 * nothing) is TRUE on row i - not FALSE, not NULL - for i in [0, in->n). Temporary strings
 * go to `scratch`, which the caller may reset after the call. Returns the number of rows
 * kept. The caller's thread, with ctx.
 */
int cf_expr_eval_filter(const struct cf_expr *expr, struct cf_expr_eval_ctx *ctx,
                        const struct cf_batch *in, uint8_t *keep, struct cf_arena *scratch);

#endif
