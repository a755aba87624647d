/*
 * expr.c - the expression engine: lexer and recursive-descent parser, binder (types,
 * coercions, constant folding, LIKE/IN compilation) and the vectorized evaluator.
 *
 * Trees live in arenas owned by the expression: the parsed tree in parse_arena (never
 * changed after parsing), the bound tree - a copy the binder rewrites freely - in
 * bind_arena, dropped by a rebind. Nothing in a tree is freed on its own, so error paths in
 * the parser and binder just return.
 *
 * Evaluation works on slices of at most CF_BATCH_ROWS rows. Every computed node and every
 * literal owns a "slot" in the eval context: a null-flag array and a value array of the
 * node's type. Literals are broadcast into their slot once, when the context is created, so
 * every kernel is a plain column-op-column loop; field references are views into the input
 * batch and need no slot. The binder inserts conversion nodes so kernels never see mixed
 * types: an int meeting a double is wrapped in N_CONV to double, NULL literals become typed
 * NULL literals, string literals compared with timestamps become timestamp literals.
 */
#include "expr.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/buf.h"
#include "../base/log.h"
#include "../base/strutil.h"
#include "../base/timeutil.h"

/* Limit on the height of a tree, which also bounds the recursion of the binder and the
 * evaluator: long flat chains (a + b + c ...) do not nest in the parser but do in the tree. */
#define MAX_HEIGHT 1024
/* Limit on the slots (scratch columns) of one expression: about 4.6 KiB each. */
#define MAX_SLOTS 10000
/* Longest piece of expression text quoted in an error message. */
#define SNIP_MAX 120

/* ------------------------------------------------------------------------------------------
 * Tree
 * ------------------------------------------------------------------------------------------ */

enum nkind {
    N_LIT,
    N_IDENT, /* field name, parse tree only; the binder turns it into N_FIELD */
    N_FIELD,
    N_NEG,
    N_ARITH, /* op: OP_* */
    N_CMP,   /* op: CMP_* */
    N_AND,
    N_OR,
    N_NOT,
    N_ISNULL,  /* negate: IS NOT NULL */
    N_LIKE,    /* kids: value, pattern */
    N_IN,      /* kids: value, items... */
    N_BETWEEN, /* kids: value, low, high */
    N_CASE,    /* kids: [operand] (when, then)... [else] */
    N_FUNC,    /* op: FN_* */
    N_CONV,    /* op: target type (double from int/timestamp, string from anything) */
};

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD };
static const char *const op_text[] = {"+", "-", "*", "/", "%"};

enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

enum fn {
    FN_LOWER,
    FN_UPPER,
    FN_LENGTH,
    FN_CONCAT,
    FN_SUBSTR,
    FN_TRIM,
    FN_COALESCE,
    FN_ABS,
    FN_ROUND,
    FN_FLOOR,
    FN_CEIL,
    FN_HOUR,
    FN_DAY_OF_WEEK,
    FN_DATE_FORMAT,
    FN_TO_TIMESTAMP,
    FN__COUNT
};

static const struct {
    const char *name;
    uint8_t min_args;
    uint8_t max_args; /* 255: no limit */
} fn_table[] = {
    [FN_LOWER] = {"lower", 1, 1},
    [FN_UPPER] = {"upper", 1, 1},
    [FN_LENGTH] = {"length", 1, 1},
    [FN_CONCAT] = {"concat", 1, 255},
    [FN_SUBSTR] = {"substr", 2, 3},
    [FN_TRIM] = {"trim", 1, 1},
    [FN_COALESCE] = {"coalesce", 1, 255},
    [FN_ABS] = {"abs", 1, 1},
    [FN_ROUND] = {"round", 1, 2},
    [FN_FLOOR] = {"floor", 1, 1},
    [FN_CEIL] = {"ceil", 1, 1},
    [FN_HOUR] = {"hour", 1, 1},
    [FN_DAY_OF_WEEK] = {"day_of_week", 1, 1},
    [FN_DATE_FORMAT] = {"date_format", 2, 2},
    [FN_TO_TIMESTAMP] = {"to_timestamp", 1, 1},
};
_Static_assert(sizeof(fn_table) / sizeof(fn_table[0]) == FN__COUNT, "fn_table size");

/* Comparison domains: how two values of (coerced) types are compared. */
enum dom { D_NONE, D_I64, D_F64, D_STR, D_BOOL };

struct lit {
    uint8_t null;
    union {
        int64_t i; /* int, timestamp */
        double f;
        uint8_t b;
        struct cf_str s; /* bytes always NUL-terminated (date_format uses them as a C string) */
    } v;
};

/* A LIKE pattern compiled at bind time. */
enum like_kind { L_ALL, L_EXACT, L_PREFIX, L_SUFFIX, L_CONTAINS, L_GENERAL };
struct like {
    enum like_kind kind;
    const char *lit; /* the literal part (kind != L_GENERAL) or the whole pattern */
    uint32_t len;
};

/* An IN list of literals, sorted and deduplicated in the comparison domain. */
struct inset {
    enum dom dom;
    uint8_t has_null;
    uint8_t has_true, has_false; /* D_BOOL */
    uint32_t n;
    union {
        int64_t *i64;
        double *f64;
        struct cf_str *str;
    } v;
};

struct node {
    uint8_t kind;
    uint8_t op;      /* OP_*, CMP_*, FN_*, or N_CONV's target type */
    uint8_t negate;  /* IS NOT NULL, NOT LIKE, NOT IN, NOT BETWEEN */
    uint8_t operand; /* N_CASE: has an operand (simple CASE) */
    uint8_t has_else;
    uint8_t escape; /* string literal whose value may reach the output: copy it per batch */
    enum cf_type type;
    uint32_t pos, end; /* source span [pos, end) */
    uint32_t height;
    uint32_t nkids;
    int slot;  /* result column in the eval context, -1 for fields */
    int xslot; /* first of the node's extra bool scratch columns */
    struct node **kids;
    union {
        struct lit lit;
        const char *name; /* N_IDENT, NUL-terminated */
        int field;        /* N_FIELD */
        struct like *like;
        struct inset *set;
    } u;
};

struct cf_expr {
    char *text;
    struct cf_arena parse_arena;
    struct cf_arena bind_arena;
    struct node *parsed;
    struct node *root; /* bound tree, NULL until bound */
    int nslots;
};

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ascii_upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - 32 : c;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(int c)
{
    return is_ident_start(c) || is_digit(c);
}

static int ieq(const char *a, size_t alen, const char *kw)
{
    size_t n = strlen(kw);
    if (alen != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)a[i]) != kw[i]) {
            return 0;
        }
    }
    return 1;
}

static struct node *node_new(struct cf_arena *arena, enum nkind kind, uint32_t pos, uint32_t end)
{
    struct node *nd = cf_arena_alloc(arena, sizeof(*nd));
    memset(nd, 0, sizeof(*nd));
    nd->kind = (uint8_t)kind;
    nd->type = CF_TYPE_NULL;
    nd->pos = pos;
    nd->end = end;
    nd->height = 1;
    nd->slot = -1;
    nd->xslot = -1;
    return nd;
}

static void node_set_kids(struct cf_arena *arena, struct node *nd, struct node **kids, uint32_t n)
{
    nd->kids = cf_arena_alloc(arena, (n ? n : 1) * sizeof(*kids));
    memcpy(nd->kids, kids, n * sizeof(*kids));
    nd->nkids = n;
    nd->height = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (kids[i]->height + 1 > nd->height) {
            nd->height = kids[i]->height + 1;
        }
    }
}

/* A growable list of nodes in an arena (old arrays are abandoned to the arena). */
struct nlist {
    struct node **v;
    uint32_t n, cap;
};

static void nlist_push(struct cf_arena *arena, struct nlist *l, struct node *nd)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        struct node **v = cf_arena_alloc(arena, cap * sizeof(*v));
        if (l->n) {
            memcpy(v, l->v, l->n * sizeof(*v));
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = nd;
}

/* ------------------------------------------------------------------------------------------
 * Lexer and parser
 * ------------------------------------------------------------------------------------------ */

enum tok {
    T_EOF,
    T_ERR,
    T_INT,
    T_DEC,
    T_STR,
    T_IDENT,
    T_QIDENT,
    T_LP,
    T_RP,
    T_COMMA,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PCT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
};

struct parser {
    const char *text;
    size_t len;
    size_t pos; /* lexer position */
    enum tok tok;
    size_t tpos, tlen; /* current token */
    size_t prev_end;   /* end of the previous token */
    int depth;
    int failed;
    struct cf_arena *arena;
    struct cf_err *err;
};

static void *perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *perr(struct parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        char msg[CF_ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        cf_err_set(p->err, CF_EPARSE, "%s", msg);
        p->failed = 1;
    }
    p->tok = T_ERR;
    return NULL;
}

static int col_of(size_t pos)
{
    return (int)pos + 1;
}

static void lex(struct parser *p)
{
    const char *s = p->text;
    if (p->tok == T_ERR) {
        return;
    }
    p->prev_end = p->tpos + p->tlen;
    while (p->pos < p->len && is_space((unsigned char)s[p->pos])) {
        p->pos++;
    }
    size_t i = p->pos;
    p->tpos = i;
    p->tlen = 0;
    if (i >= p->len) {
        p->tok = T_EOF;
        return;
    }
    unsigned char c = (unsigned char)s[i];
    enum tok t;
    if (is_ident_start(c)) {
        while (i < p->len && is_ident_char((unsigned char)s[i])) {
            i++;
        }
        t = T_IDENT;
    } else if (is_digit(c) || (c == '.' && i + 1 < p->len && is_digit((unsigned char)s[i + 1]))) {
        t = T_INT;
        while (i < p->len && is_digit((unsigned char)s[i])) {
            i++;
        }
        if (i < p->len && s[i] == '.') {
            t = T_DEC;
            i++;
            while (i < p->len && is_digit((unsigned char)s[i])) {
                i++;
            }
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-')) {
                j++;
            }
            if (j < p->len && is_digit((unsigned char)s[j])) {
                t = T_DEC;
                i = j;
                while (i < p->len && is_digit((unsigned char)s[i])) {
                    i++;
                }
            }
        }
        if (i < p->len && (is_ident_char((unsigned char)s[i]) || s[i] == '.')) {
            perr(p, "invalid number at column %d", col_of(p->tpos));
            return;
        }
    } else if (c == '\'' || c == '"') {
        i++;
        for (;;) {
            if (i >= p->len) {
                perr(p, "unterminated %s starting at column %d",
                     c == '\'' ? "string" : "quoted identifier", col_of(p->tpos));
                return;
            }
            if ((unsigned char)s[i] == c) {
                if (i + 1 < p->len && (unsigned char)s[i + 1] == c) {
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            i++;
        }
        t = c == '\'' ? T_STR : T_QIDENT;
        if (t == T_QIDENT && i - p->tpos == 2) {
            perr(p, "empty quoted identifier at column %d", col_of(p->tpos));
            return;
        }
    } else {
        i++;
        switch (c) {
        case '(': t = T_LP; break;
        case ')': t = T_RP; break;
        case ',': t = T_COMMA; break;
        case '+': t = T_PLUS; break;
        case '-': t = T_MINUS; break;
        case '*': t = T_STAR; break;
        case '/': t = T_SLASH; break;
        case '%': t = T_PCT; break;
        case '=': t = T_EQ; break;
        case '<':
            t = T_LT;
            if (i < p->len && s[i] == '=') {
                t = T_LE;
                i++;
            } else if (i < p->len && s[i] == '>') {
                t = T_NE;
                i++;
            }
            break;
        case '>':
            t = T_GT;
            if (i < p->len && s[i] == '=') {
                t = T_GE;
                i++;
            }
            break;
        case '!':
            if (i < p->len && s[i] == '=') {
                t = T_NE;
                i++;
                break;
            }
            /* fall through */
        default:
            if (c >= 0x20 && c < 0x7f) {
                perr(p, "unexpected character '%c' at column %d", c, col_of(p->tpos));
            } else {
                perr(p, "unexpected byte 0x%02x at column %d", c, col_of(p->tpos));
            }
            return;
        }
    }
    p->tok = t;
    p->tlen = i - p->tpos;
    p->pos = i;
}

/* "unexpected 'x' at column N" for the current token. */
static void *unexpected(struct parser *p)
{
    if (p->tok == T_ERR) {
        return NULL;
    }
    if (p->tok == T_EOF) {
        return perr(p, "unexpected end of expression at column %d", col_of(p->tpos));
    }
    int n = p->tlen > 40 ? 40 : (int)p->tlen;
    return perr(p, "unexpected '%.*s%s' at column %d", n, p->text + p->tpos,
                p->tlen > 40 ? "..." : "", col_of(p->tpos));
}

static int expect(struct parser *p, enum tok t, const char *what)
{
    if (p->tok == t) {
        lex(p);
        return 0;
    }
    if (p->tok == T_ERR) {
        return -1;
    }
    if (p->tok == T_EOF) {
        perr(p, "unexpected end of expression at column %d (expected %s)", col_of(p->tpos), what);
    } else {
        int n = p->tlen > 40 ? 40 : (int)p->tlen;
        perr(p, "unexpected '%.*s%s' at column %d (expected %s)", n, p->text + p->tpos,
             p->tlen > 40 ? "..." : "", col_of(p->tpos), what);
    }
    return -1;
}

static int is_kw(const struct parser *p, const char *kw)
{
    return p->tok == T_IDENT && ieq(p->text + p->tpos, p->tlen, kw);
}

static int is_reserved(const char *s, size_t n)
{
    static const char *const kws[] = {"and",  "or",    "not",  "is",   "null",
                                      "true", "false", "like", "in",   "between",
                                      "case", "when",  "then", "else", "end"};
    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
        if (ieq(s, n, kws[i])) {
            return 1;
        }
    }
    return 0;
}

static struct node *mk(struct parser *p, enum nkind kind, uint32_t pos, struct node **kids,
                       uint32_t n)
{
    struct node *nd = node_new(p->arena, kind, pos, (uint32_t)p->prev_end);
    node_set_kids(p->arena, nd, kids, n);
    if (nd->height > MAX_HEIGHT) {
        return perr(p, "expression nested too deeply");
    }
    return nd;
}

static struct node *mk2(struct parser *p, enum nkind kind, uint8_t op, struct node *a,
                        struct node *b)
{
    struct node *kids[2] = {a, b};
    struct node *nd = mk(p, kind, a->pos, kids, 2);
    if (nd) {
        nd->op = op;
    }
    return nd;
}

/* Decodes a quoted token (string or identifier) into the arena, NUL-terminated. */
static char *unquote(struct parser *p, uint32_t *len)
{
    const char *s = p->text + p->tpos;
    char q = s[0];
    size_t n = p->tlen - 2;
    char *d = cf_arena_alloc(p->arena, n + 1);
    size_t o = 0;
    for (size_t i = 1; i <= n; i++) {
        d[o++] = s[i];
        if (s[i] == q) {
            i++; /* doubled quote */
        }
    }
    d[o] = '\0';
    *len = (uint32_t)o;
    return d;
}

static struct node *parse_expr(struct parser *p);
static struct node *parse_add(struct parser *p);
static struct node *parse_unary(struct parser *p);

static struct node *number_lit(struct parser *p, int neg, size_t pos)
{
    char tmp[72];
    if (p->tlen + 2 > sizeof(tmp)) {
        return perr(p, "number too long at column %d", col_of(p->tpos));
    }
    size_t n = 0;
    if (neg) {
        tmp[n++] = '-';
    }
    memcpy(tmp + n, p->text + p->tpos, p->tlen);
    n += p->tlen;
    tmp[n] = '\0';
    struct node *nd = node_new(p->arena, N_LIT, (uint32_t)pos, (uint32_t)(p->tpos + p->tlen));
    if (p->tok == T_INT) {
        nd->type = CF_TYPE_INT;
        if (cf_int_parse(tmp, n, &nd->u.lit.v.i) != 0) {
            return perr(p, "integer %s out of range at column %d", tmp, col_of(pos));
        }
    } else {
        nd->type = CF_TYPE_DOUBLE;
        if (cf_double_parse(tmp, n, &nd->u.lit.v.f) != 0) {
            return perr(p, "number %s out of range at column %d", tmp, col_of(pos));
        }
    }
    lex(p);
    return nd;
}

static struct node *parse_call(struct parser *p, size_t pos, size_t nlen)
{
    const char *name = p->text + pos;
    int fn = -1;
    for (int i = 0; i < FN__COUNT; i++) {
        if (ieq(name, nlen, fn_table[i].name)) {
            fn = i;
            break;
        }
    }
    if (fn < 0) {
        int n = nlen > 40 ? 40 : (int)nlen;
        return perr(p, "unknown function '%.*s' at column %d", n, name, col_of(pos));
    }
    lex(p); /* '(' */
    struct nlist args = {0};
    if (p->tok != T_RP) {
        for (;;) {
            struct node *a = parse_expr(p);
            if (!a) {
                return NULL;
            }
            nlist_push(p->arena, &args, a);
            if (p->tok != T_COMMA) {
                break;
            }
            lex(p);
        }
    }
    if (expect(p, T_RP, "',' or ')'") < 0) {
        return NULL;
    }
    unsigned mn = fn_table[fn].min_args, mx = fn_table[fn].max_args;
    if (args.n < mn || args.n > mx) {
        if (mn == mx) {
            return perr(p, "%s() takes %u argument%s, got %u at column %d", fn_table[fn].name, mn,
                        mn == 1 ? "" : "s", args.n, col_of(pos));
        }
        if (mx == 255) {
            return perr(p, "%s() takes at least %u argument%s, got %u at column %d",
                        fn_table[fn].name, mn, mn == 1 ? "" : "s", args.n, col_of(pos));
        }
        return perr(p, "%s() takes %u to %u arguments, got %u at column %d", fn_table[fn].name, mn,
                    mx, args.n, col_of(pos));
    }
    struct node *nd = mk(p, N_FUNC, (uint32_t)pos, args.v, args.n);
    if (nd) {
        nd->op = (uint8_t)fn;
    }
    return nd;
}

static struct node *parse_case(struct parser *p)
{
    size_t pos = p->tpos;
    struct nlist kids = {0};
    int operand = 0, has_else = 0;
    lex(p); /* CASE */
    if (!is_kw(p, "when") && !is_kw(p, "end")) {
        struct node *op = parse_expr(p);
        if (!op) {
            return NULL;
        }
        nlist_push(p->arena, &kids, op);
        operand = 1;
    }
    if (!is_kw(p, "when")) {
        if (p->tok == T_ERR) {
            return NULL;
        }
        return perr(p, "CASE needs at least one WHEN at column %d", col_of(p->tpos));
    }
    while (is_kw(p, "when")) {
        lex(p);
        struct node *w = parse_expr(p);
        if (!w) {
            return NULL;
        }
        if (!is_kw(p, "then")) {
            return p->tok == T_EOF || p->tok == T_ERR
                       ? unexpected(p)
                       : perr(p, "expected THEN at column %d", col_of(p->tpos));
        }
        lex(p);
        struct node *t = parse_expr(p);
        if (!t) {
            return NULL;
        }
        nlist_push(p->arena, &kids, w);
        nlist_push(p->arena, &kids, t);
    }
    if (is_kw(p, "else")) {
        lex(p);
        struct node *e = parse_expr(p);
        if (!e) {
            return NULL;
        }
        nlist_push(p->arena, &kids, e);
        has_else = 1;
    }
    if (!is_kw(p, "end")) {
        if (p->tok == T_ERR) {
            return NULL;
        }
        if (p->tok == T_EOF) {
            return perr(p, "unexpected end of expression at column %d (expected END)",
                        col_of(p->tpos));
        }
        return perr(p, "expected WHEN, ELSE or END at column %d", col_of(p->tpos));
    }
    lex(p);
    struct node *nd = mk(p, N_CASE, (uint32_t)pos, kids.v, kids.n);
    if (nd) {
        nd->operand = (uint8_t)operand;
        nd->has_else = (uint8_t)has_else;
    }
    return nd;
}

static struct node *parse_primary(struct parser *p)
{
    size_t pos = p->tpos;
    struct node *nd;
    switch (p->tok) {
    case T_INT:
    case T_DEC: return number_lit(p, 0, pos);
    case T_STR: {
        nd = node_new(p->arena, N_LIT, (uint32_t)pos, (uint32_t)(pos + p->tlen));
        nd->type = CF_TYPE_STRING;
        nd->u.lit.v.s.ptr = unquote(p, &nd->u.lit.v.s.len);
        lex(p);
        return nd;
    }
    case T_QIDENT: {
        uint32_t len;
        nd = node_new(p->arena, N_IDENT, (uint32_t)pos, (uint32_t)(pos + p->tlen));
        nd->u.name = unquote(p, &len);
        if (strlen(nd->u.name) != len) {
            return perr(p, "quoted identifier contains a NUL byte at column %d", col_of(pos));
        }
        lex(p);
        return nd;
    }
    case T_LP: {
        lex(p);
        nd = parse_expr(p);
        if (!nd || expect(p, T_RP, "')'") < 0) {
            return NULL;
        }
        return nd;
    }
    case T_IDENT: break;
    default: return unexpected(p);
    }
    /* Identifiers: keywords, function calls, field names. */
    size_t len = p->tlen;
    const char *s = p->text + pos;
    if (ieq(s, len, "true") || ieq(s, len, "false")) {
        nd = node_new(p->arena, N_LIT, (uint32_t)pos, (uint32_t)(pos + len));
        nd->type = CF_TYPE_BOOL;
        nd->u.lit.v.b = ieq(s, len, "true");
        lex(p);
        return nd;
    }
    if (ieq(s, len, "null")) {
        nd = node_new(p->arena, N_LIT, (uint32_t)pos, (uint32_t)(pos + len));
        nd->u.lit.null = 1;
        lex(p);
        return nd;
    }
    if (ieq(s, len, "case")) {
        return parse_case(p);
    }
    if (is_reserved(s, len)) {
        return unexpected(p);
    }
    lex(p);
    if (p->tok == T_LP) {
        return parse_call(p, pos, len);
    }
    nd = node_new(p->arena, N_IDENT, (uint32_t)pos, (uint32_t)(pos + len));
    nd->u.name = cf_arena_strndup(p->arena, s, len);
    return nd;
}

static struct node *parse_unary(struct parser *p)
{
    if (p->tok != T_MINUS && p->tok != T_PLUS) {
        return parse_primary(p);
    }
    size_t pos = p->tpos;
    int neg = p->tok == T_MINUS;
    lex(p);
    if (neg && (p->tok == T_INT || p->tok == T_DEC)) {
        /* A negative literal directly, so that -9223372036854775808 is an int. */
        return number_lit(p, 1, pos);
    }
    if (++p->depth > CF_EXPR_MAX_DEPTH) {
        return perr(p, "expression nested too deeply");
    }
    struct node *k = parse_unary(p);
    p->depth--;
    if (!k || !neg) {
        return k;
    }
    return mk(p, N_NEG, (uint32_t)pos, &k, 1);
}

static struct node *parse_mul(struct parser *p)
{
    struct node *l = parse_unary(p);
    while (l && (p->tok == T_STAR || p->tok == T_SLASH || p->tok == T_PCT)) {
        uint8_t op = p->tok == T_STAR ? OP_MUL : p->tok == T_SLASH ? OP_DIV : OP_MOD;
        lex(p);
        struct node *r = parse_unary(p);
        l = r ? mk2(p, N_ARITH, op, l, r) : NULL;
    }
    return l;
}

static struct node *parse_add(struct parser *p)
{
    struct node *l = parse_mul(p);
    while (l && (p->tok == T_PLUS || p->tok == T_MINUS)) {
        uint8_t op = p->tok == T_PLUS ? OP_ADD : OP_SUB;
        lex(p);
        struct node *r = parse_mul(p);
        l = r ? mk2(p, N_ARITH, op, l, r) : NULL;
    }
    return l;
}

static int cmp_tok(enum tok t)
{
    switch (t) {
    case T_EQ: return CMP_EQ;
    case T_NE: return CMP_NE;
    case T_LT: return CMP_LT;
    case T_LE: return CMP_LE;
    case T_GT: return CMP_GT;
    case T_GE: return CMP_GE;
    default: return -1;
    }
}

/* Comparisons, [NOT] LIKE / IN / BETWEEN, then any number of IS [NOT] NULL. */
static struct node *parse_pred(struct parser *p)
{
    struct node *l = parse_add(p);
    if (!l) {
        return NULL;
    }
    int op = cmp_tok(p->tok);
    if (op >= 0) {
        lex(p);
        struct node *r = parse_add(p);
        l = r ? mk2(p, N_CMP, (uint8_t)op, l, r) : NULL;
    } else if (is_kw(p, "not") || is_kw(p, "like") || is_kw(p, "in") || is_kw(p, "between")) {
        int neg = 0;
        if (is_kw(p, "not")) {
            neg = 1;
            lex(p);
            if (!is_kw(p, "like") && !is_kw(p, "in") && !is_kw(p, "between")) {
                return p->tok == T_EOF || p->tok == T_ERR
                           ? unexpected(p)
                           : perr(p, "expected LIKE, IN or BETWEEN after NOT at column %d",
                                  col_of(p->tpos));
            }
        }
        if (is_kw(p, "like")) {
            lex(p);
            struct node *r = parse_add(p);
            l = r ? mk2(p, N_LIKE, 0, l, r) : NULL;
        } else if (is_kw(p, "between")) {
            lex(p);
            struct node *kids[3] = {l, NULL, NULL};
            kids[1] = parse_add(p);
            if (!kids[1]) {
                return NULL;
            }
            if (!is_kw(p, "and")) {
                return p->tok == T_EOF || p->tok == T_ERR
                           ? unexpected(p)
                           : perr(p, "expected AND in BETWEEN at column %d", col_of(p->tpos));
            }
            lex(p);
            kids[2] = parse_add(p);
            l = kids[2] ? mk(p, N_BETWEEN, l->pos, kids, 3) : NULL;
        } else {
            lex(p); /* IN */
            if (expect(p, T_LP, "'('") < 0) {
                return NULL;
            }
            struct nlist items = {0};
            nlist_push(p->arena, &items, l);
            for (;;) {
                struct node *it = parse_expr(p);
                if (!it) {
                    return NULL;
                }
                nlist_push(p->arena, &items, it);
                if (p->tok != T_COMMA) {
                    break;
                }
                lex(p);
            }
            if (expect(p, T_RP, "',' or ')'") < 0) {
                return NULL;
            }
            l = mk(p, N_IN, l->pos, items.v, items.n);
        }
        if (l) {
            l->negate = (uint8_t)neg;
        }
    }
    while (l && is_kw(p, "is")) {
        lex(p);
        int neg = 0;
        if (is_kw(p, "not")) {
            neg = 1;
            lex(p);
        }
        if (!is_kw(p, "null")) {
            return p->tok == T_EOF || p->tok == T_ERR
                       ? unexpected(p)
                       : perr(p, "expected NULL after IS at column %d", col_of(p->tpos));
        }
        lex(p);
        l = mk(p, N_ISNULL, l->pos, &l, 1);
        if (l) {
            l->negate = (uint8_t)neg;
        }
    }
    return l;
}

static struct node *parse_not(struct parser *p)
{
    if (!is_kw(p, "not")) {
        return parse_pred(p);
    }
    size_t pos = p->tpos;
    lex(p);
    if (++p->depth > CF_EXPR_MAX_DEPTH) {
        return perr(p, "expression nested too deeply");
    }
    struct node *k = parse_not(p);
    p->depth--;
    return k ? mk(p, N_NOT, (uint32_t)pos, &k, 1) : NULL;
}

static struct node *parse_and(struct parser *p)
{
    struct node *l = parse_not(p);
    while (l && is_kw(p, "and")) {
        lex(p);
        struct node *r = parse_not(p);
        l = r ? mk2(p, N_AND, 0, l, r) : NULL;
    }
    return l;
}

static struct node *parse_expr(struct parser *p)
{
    if (++p->depth > CF_EXPR_MAX_DEPTH) {
        return perr(p, "expression nested too deeply");
    }
    struct node *l = parse_and(p);
    while (l && is_kw(p, "or")) {
        lex(p);
        struct node *r = parse_and(p);
        l = r ? mk2(p, N_OR, 0, l, r) : NULL;
    }
    p->depth--;
    return l;
}

struct cf_expr *cf_expr_parse(const char *text, struct cf_err *err)
{
    struct cf_expr *expr = cf_new(struct cf_expr);
    expr->text = cf_strdup(text);
    cf_arena_init(&expr->parse_arena, 4096);
    cf_arena_init(&expr->bind_arena, 4096);
    struct parser p = {
        .text = expr->text,
        .len = strlen(expr->text),
        .tok = T_EOF,
        .arena = &expr->parse_arena,
        .err = err,
    };
    lex(&p);
    if (p.tok == T_EOF) {
        cf_err_set(err, CF_EPARSE, "empty expression");
        cf_expr_destroy(expr);
        return NULL;
    }
    struct node *root = parse_expr(&p);
    if (root && p.tok != T_EOF) {
        root = unexpected(&p);
    }
    if (!root) {
        if (!p.failed) {
            cf_err_set(err, CF_EPARSE, "invalid expression");
        }
        cf_expr_destroy(expr);
        return NULL;
    }
    expr->parsed = root;
    return expr;
}

/* ------------------------------------------------------------------------------------------
 * Evaluation: vectors, kernels
 * ------------------------------------------------------------------------------------------ */

/* A view of up to CF_BATCH_ROWS values: an input column slice or a context slot. */
struct vec {
    uint8_t *nulls;
    union {
        int64_t *i64;
        double *f64;
        uint8_t *b;
        struct cf_str *str;
        void *data;
    } v;
};

struct cf_expr_eval_ctx {
    const struct node *root;
    int nslots;
    struct vec *slots;
    char *mem;
    struct cf_buf sbuf; /* string results being built (formatting) */
    struct cf_buf fbuf; /* a NUL-terminated copy of a date_format format from data */
};

struct env {
    struct cf_expr_eval_ctx *ctx;
    const struct cf_batch *in;
    uint32_t base; /* first input row of the slice */
    uint32_t n;    /* rows in the slice, <= CF_BATCH_ROWS */
    struct cf_arena *arena;
};

static struct vec eval_get(const struct node *nd, struct env *e);
static void eval_into(const struct node *nd, struct env *e, const struct vec *d);

static enum dom dom_of(enum cf_type t)
{
    switch (t) {
    case CF_TYPE_INT:
    case CF_TYPE_TIMESTAMP: return D_I64;
    case CF_TYPE_DOUBLE: return D_F64;
    case CF_TYPE_STRING: return D_STR;
    case CF_TYPE_BOOL: return D_BOOL;
    default: return D_NONE;
    }
}

static char *str_alloc(struct env *e, size_t n)
{
    cf_assert(e->arena != NULL);
    return cf_arena_alloc(e->arena, n ? n : 1);
}

static int str_cmp(const struct cf_str *a, const struct cf_str *b)
{
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (c) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Copies n rows of a vector of type `type`. */
static void vec_copy(enum cf_type type, const struct vec *d, const struct vec *s, uint32_t n)
{
    memcpy(d->nulls, s->nulls, n);
    if (type != CF_TYPE_NULL) {
        memcpy(d->v.data, s->v.data, n * cf_type_width(type));
    }
}

/*
 * Copies row i of s into d where sel[i] is set. The mask is data, so this must not branch:
 * both sides are loaded unconditionally, which lets the compiler emit selects / blends.
 */
#define SEL_LOOP(T, DST, SRC)                                                                      \
    do {                                                                                           \
        T *restrict dp_ = (DST);                                                                   \
        const T *restrict sp_ = (SRC);                                                             \
        for (uint32_t i = 0; i < n; i++) {                                                         \
            T a_ = sp_[i], b_ = dp_[i];                                                            \
            dp_[i] = sel[i] ? a_ : b_;                                                             \
        }                                                                                          \
    } while (0)

static void vec_copy_sel(enum cf_type type, const struct vec *d, const struct vec *s,
                         const uint8_t *restrict sel, uint32_t n)
{
    SEL_LOOP(uint8_t, d->nulls, s->nulls);
    switch (type) {
    case CF_TYPE_BOOL: SEL_LOOP(uint8_t, d->v.b, s->v.b); break;
    case CF_TYPE_DOUBLE: SEL_LOOP(double, d->v.f64, s->v.f64); break;
    case CF_TYPE_STRING: SEL_LOOP(struct cf_str, d->v.str, s->v.str); break;
    case CF_TYPE_NULL: break;
    default: SEL_LOOP(int64_t, d->v.i64, s->v.i64); break;
    }
}

static void arith_i64(int op, const struct vec *a, const struct vec *b, const struct vec *d,
                      uint32_t n)
{
    const int64_t *restrict x = a->v.i64, *restrict y = b->v.i64;
    const uint8_t *restrict xn = a->nulls, *restrict yn = b->nulls;
    int64_t *restrict r = d->v.i64;
    uint8_t *restrict rn = d->nulls;
    switch (op) {
    case OP_ADD:
        for (uint32_t i = 0; i < n; i++) {
            int64_t v;
            uint8_t of = __builtin_add_overflow(x[i], y[i], &v);
            r[i] = of ? 0 : v;
            rn[i] = xn[i] | yn[i] | of;
        }
        break;
    case OP_SUB:
        for (uint32_t i = 0; i < n; i++) {
            int64_t v;
            uint8_t of = __builtin_sub_overflow(x[i], y[i], &v);
            r[i] = of ? 0 : v;
            rn[i] = xn[i] | yn[i] | of;
        }
        break;
    case OP_MUL:
        for (uint32_t i = 0; i < n; i++) {
            int64_t v;
            uint8_t of = __builtin_mul_overflow(x[i], y[i], &v);
            r[i] = of ? 0 : v;
            rn[i] = xn[i] | yn[i] | of;
        }
        break;
    case OP_DIV:
        for (uint32_t i = 0; i < n; i++) {
            /* Zero gives NULL; INT64_MIN / -1 overflows: NULL too. Never trap. */
            uint8_t bad = (y[i] == 0) | ((x[i] == INT64_MIN) & (y[i] == -1));
            int64_t dv = bad ? 1 : y[i];
            r[i] = x[i] / dv;
            rn[i] = xn[i] | yn[i] | bad;
        }
        break;
    default: /* OP_MOD */
        for (uint32_t i = 0; i < n; i++) {
            /* x % -1 is 0 for every x; computing it as x % 1 avoids INT64_MIN % -1. */
            uint8_t zero = y[i] == 0;
            int64_t dv = (zero | (y[i] == -1)) ? 1 : y[i];
            r[i] = x[i] % dv;
            rn[i] = xn[i] | yn[i] | zero;
        }
        break;
    }
}

static void arith_f64(int op, const struct vec *a, const struct vec *b, const struct vec *d,
                      uint32_t n)
{
    const double *restrict x = a->v.f64, *restrict y = b->v.f64;
    const uint8_t *restrict xn = a->nulls, *restrict yn = b->nulls;
    double *restrict r = d->v.f64;
    uint8_t *restrict rn = d->nulls;
    switch (op) {
    case OP_ADD:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = x[i] + y[i];
            rn[i] = xn[i] | yn[i];
        }
        break;
    case OP_SUB:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = x[i] - y[i];
            rn[i] = xn[i] | yn[i];
        }
        break;
    case OP_MUL:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = x[i] * y[i];
            rn[i] = xn[i] | yn[i];
        }
        break;
    case OP_DIV:
        for (uint32_t i = 0; i < n; i++) {
            uint8_t zero = y[i] == 0.0;
            r[i] = zero ? 0.0 : x[i] / y[i];
            rn[i] = xn[i] | yn[i] | zero;
        }
        break;
    default:
        for (uint32_t i = 0; i < n; i++) {
            uint8_t zero = y[i] == 0.0;
            r[i] = zero ? 0.0 : fmod(x[i], y[i]);
            rn[i] = xn[i] | yn[i] | zero;
        }
        break;
    }
}

#define CMP_LOOP(X, Y, OPER)                                                                       \
    for (uint32_t i = 0; i < n; i++) {                                                             \
        r[i] = (X)[i] OPER(Y)[i];                                                                  \
        rn[i] = xn[i] | yn[i];                                                                     \
    }

#define CMP_SWITCH(X, Y)                                                                           \
    switch (op) {                                                                                  \
    case CMP_EQ: CMP_LOOP(X, Y, ==) break;                                                         \
    case CMP_NE: CMP_LOOP(X, Y, !=) break;                                                         \
    case CMP_LT: CMP_LOOP(X, Y, <) break;                                                          \
    case CMP_LE: CMP_LOOP(X, Y, <=) break;                                                         \
    case CMP_GT: CMP_LOOP(X, Y, >) break;                                                          \
    default: CMP_LOOP(X, Y, >=) break;                                                             \
    }

static int cmp_result(int op, int c)
{
    switch (op) {
    case CMP_EQ: return c == 0;
    case CMP_NE: return c != 0;
    case CMP_LT: return c < 0;
    case CMP_LE: return c <= 0;
    case CMP_GT: return c > 0;
    default: return c >= 0;
    }
}

/* d = a <op> b in a comparison domain, NULL if either is NULL. */
static void cmp_kernel(int op, enum dom dom, const struct vec *a, const struct vec *b,
                       const struct vec *d, uint32_t n)
{
    const uint8_t *restrict xn = a->nulls, *restrict yn = b->nulls;
    uint8_t *restrict r = d->v.b;
    uint8_t *restrict rn = d->nulls;
    switch (dom) {
    case D_I64: {
        const int64_t *restrict x = a->v.i64, *restrict y = b->v.i64;
        CMP_SWITCH(x, y);
        break;
    }
    case D_F64: {
        const double *restrict x = a->v.f64, *restrict y = b->v.f64;
        CMP_SWITCH(x, y);
        break;
    }
    case D_BOOL: {
        const uint8_t *restrict x = a->v.b, *restrict y = b->v.b;
        CMP_SWITCH(x, y);
        break;
    }
    case D_STR: {
        const struct cf_str *x = a->v.str, *y = b->v.str;
        for (uint32_t i = 0; i < n; i++) {
            rn[i] = xn[i] | yn[i];
            if (rn[i]) {
                r[i] = 0;
                continue;
            }
            if (op == CMP_EQ || op == CMP_NE) {
                int eq = x[i].len == y[i].len &&
                         (x[i].len == 0 || memcmp(x[i].ptr, y[i].ptr, x[i].len) == 0);
                r[i] = (uint8_t)(op == CMP_EQ ? eq : !eq);
            } else {
                r[i] = (uint8_t)cmp_result(op, str_cmp(&x[i], &y[i]));
            }
        }
        break;
    }
    default:
        memset(rn, 1, n);
        memset(r, 0, n);
        break;
    }
}

/* Three-valued AND/OR of a and b into d (d may be a). */
static void and3(const struct vec *a, const struct vec *b, const struct vec *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t an = a->nulls[i], bn = b->nulls[i];
        uint8_t f = (!an & (a->v.b[i] == 0)) | (!bn & (b->v.b[i] == 0));
        uint8_t anyn = an | bn;
        d->v.b[i] = !f & !anyn;
        d->nulls[i] = (uint8_t)(!f) & anyn;
    }
}

static void or3(const struct vec *a, const struct vec *b, const struct vec *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t an = a->nulls[i], bn = b->nulls[i];
        uint8_t t = (!an & (a->v.b[i] != 0)) | (!bn & (b->v.b[i] != 0));
        d->v.b[i] = t;
        d->nulls[i] = (uint8_t)(!t) & (an | bn);
    }
}

static void not3(const struct vec *a, const struct vec *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t an = a->nulls[i];
        d->v.b[i] = !an & (a->v.b[i] == 0);
        d->nulls[i] = an;
    }
}

/* SQL LIKE on bytes: % any run, _ one byte. Greedy with backtracking to the last %:
 * O(len(s) * len(p)) at worst, no recursion. */
static int like_match(const char *s, size_t n, const char *p, size_t m)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < n) {
        if (pi < m && p[pi] == '%') {
            star_p = pi++;
            star_s = si;
        } else if (pi < m && (p[pi] == '_' || p[pi] == s[si])) {
            pi++;
            si++;
        } else if (star_p != SIZE_MAX) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < m && p[pi] == '%') {
        pi++;
    }
    return pi == m;
}

static void like_compile(struct cf_arena *arena, struct like *lk, const char *pat, uint32_t len)
{
    uint32_t lead = 0, trail = 0;
    int under = memchr(pat, '_', len) != NULL;
    while (lead < len && pat[lead] == '%') {
        lead++;
    }
    if (lead == len) {
        lk->kind = len ? L_ALL : L_EXACT;
        lk->lit = pat;
        lk->len = 0;
        return;
    }
    while (pat[len - 1 - trail] == '%') {
        trail++;
    }
    const char *mid = pat + lead;
    uint32_t mlen = len - lead - trail;
    if (under || memchr(mid, '%', mlen)) {
        lk->kind = L_GENERAL;
        lk->lit = pat;
        lk->len = len;
        return;
    }
    lk->kind = lead ? (trail ? L_CONTAINS : L_SUFFIX) : (trail ? L_PREFIX : L_EXACT);
    lk->lit = cf_arena_strndup(arena, mid, mlen);
    lk->len = mlen;
}

static void eval_like(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    struct vec s = eval_get(nd->kids[0], e);
    const struct cf_str *x = s.v.str;
    uint8_t neg = nd->negate;
    const struct like *lk = nd->u.like;
    if (!lk) {
        struct vec pv = eval_get(nd->kids[1], e);
        for (uint32_t i = 0; i < n; i++) {
            uint8_t nul = s.nulls[i] | pv.nulls[i];
            d->nulls[i] = nul;
            d->v.b[i] =
                nul ? 0
                    : (uint8_t)(like_match(x[i].ptr, x[i].len, pv.v.str[i].ptr, pv.v.str[i].len) ^
                                neg);
        }
        return;
    }
    memcpy(d->nulls, s.nulls, n);
    const char *lit = lk->lit;
    uint32_t m = lk->len;
    uint8_t *r = d->v.b;
    switch (lk->kind) {
    case L_ALL:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !neg;
        }
        break;
    case L_EXACT:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !s.nulls[i] && x[i].len == m &&
                   (m == 0 || (x[i].ptr[0] == lit[0] && memcmp(x[i].ptr, lit, m) == 0));
        }
        break;
    case L_PREFIX: /* m >= 1 */
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !s.nulls[i] && x[i].len >= m && x[i].ptr[0] == lit[0] &&
                   memcmp(x[i].ptr, lit, m) == 0;
        }
        break;
    case L_SUFFIX:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !s.nulls[i] && x[i].len >= m && memcmp(x[i].ptr + x[i].len - m, lit, m) == 0;
        }
        break;
    case L_CONTAINS:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !s.nulls[i] && x[i].len >= m && memmem(x[i].ptr, x[i].len, lit, m) != NULL;
        }
        break;
    default:
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !s.nulls[i] && like_match(x[i].ptr, x[i].len, lit, m);
        }
        break;
    }
    if (neg && lk->kind != L_ALL) {
        for (uint32_t i = 0; i < n; i++) {
            r[i] = !r[i];
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return str_cmp(a, b);
}

/* Sets up to this size are probed column-wise, one pass per value (vectorizes); larger
 * ones by a branch-free binary search per row. */
#define INSET_LINEAR 16

/* hit[i] = 1 iff row i's value (ignoring NULL flags) is in the set. */
static void set_probe(const struct inset *set, const struct vec *x, uint8_t *restrict hit,
                      uint32_t n)
{
    uint32_t m = set->n;
    switch (set->dom) {
    case D_I64: {
        const int64_t *restrict xv = x->v.i64;
        const int64_t *sv = set->v.i64;
        if (m <= INSET_LINEAR) {
            memset(hit, 0, n);
            for (uint32_t k = 0; k < m; k++) {
                int64_t v = sv[k];
                for (uint32_t i = 0; i < n; i++) {
                    hit[i] |= xv[i] == v;
                }
            }
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            const int64_t *b = sv;
            for (uint32_t len = m; len > 1; len -= len / 2) {
                b += b[len / 2] <= xv[i] ? len / 2 : 0;
            }
            hit[i] = *b == xv[i];
        }
        break;
    }
    case D_F64: {
        const double *restrict xv = x->v.f64;
        const double *sv = set->v.f64;
        if (m == 0) {
            memset(hit, 0, n);
            break;
        }
        if (m <= INSET_LINEAR) {
            memset(hit, 0, n);
            for (uint32_t k = 0; k < m; k++) {
                double v = sv[k];
                for (uint32_t i = 0; i < n; i++) {
                    hit[i] |= xv[i] == v;
                }
            }
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            const double *b = sv;
            for (uint32_t len = m; len > 1; len -= len / 2) {
                b += b[len / 2] <= xv[i] ? len / 2 : 0;
            }
            hit[i] = *b == xv[i];
        }
        break;
    }
    case D_STR:
        if (m <= INSET_LINEAR) {
            /* Lengths and first bytes reject most rows before any memcmp. */
            for (uint32_t i = 0; i < n; i++) {
                const struct cf_str *v = &x->v.str[i];
                uint8_t h = 0;
                if (!x->nulls[i]) { /* the view of a NULL row may be garbage */
                    for (uint32_t k = 0; k < m && !h; k++) {
                        const struct cf_str *w = &set->v.str[k];
                        h = w->len == v->len &&
                            (v->len == 0 ||
                             (w->ptr[0] == v->ptr[0] && memcmp(w->ptr, v->ptr, v->len) == 0));
                    }
                }
                hit[i] = h;
            }
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            const struct cf_str *v = &x->v.str[i];
            uint32_t lo = 0, hi = m;
            if (x->nulls[i]) {
                hit[i] = 0;
                continue;
            }
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (str_cmp(&set->v.str[mid], v) < 0) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            hit[i] = lo < m && str_cmp(&set->v.str[lo], v) == 0;
        }
        break;
    case D_BOOL:
        for (uint32_t i = 0; i < n; i++) {
            hit[i] = x->v.b[i] ? set->has_true : set->has_false;
        }
        break;
    default: memset(hit, 0, n); break;
    }
}

static void eval_in(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    struct vec x = eval_get(nd->kids[0], e);
    const struct inset *set = nd->u.set;
    if (set) {
        /* found: TRUE; not found: NULL if the list has a NULL, else FALSE (then NOT). */
        uint8_t *hit = d->v.b;
        uint8_t neg = nd->negate, has_null = set->has_null;
        set_probe(set, &x, hit, n);
        for (uint32_t i = 0; i < n; i++) {
            uint8_t xn = x.nulls[i];
            uint8_t h = hit[i] & (uint8_t)(xn ^ 1);
            uint8_t nul = xn | ((uint8_t)(h ^ 1) & has_null);
            d->nulls[i] = nul;
            d->v.b[i] = (uint8_t)(nul ^ 1) & (h ^ neg);
        }
        return;
    }
    /* Items that are not all literals: an OR of equalities, with SQL's NULL rules. */
    enum dom dom = dom_of(nd->kids[0]->type);
    struct vec t = e->ctx->slots[nd->xslot];
    memset(d->nulls, 0, n);
    memset(d->v.b, 0, n);
    for (uint32_t k = 1; k < nd->nkids; k++) {
        struct vec it = eval_get(nd->kids[k], e);
        cmp_kernel(CMP_EQ, dom, &x, &it, &t, n);
        or3(d, &t, d, n);
    }
    if (nd->negate) {
        not3(d, d, n);
    }
}

static void eval_between(const struct node *nd, struct env *e, const struct vec *d)
{
    enum dom dom = dom_of(nd->kids[0]->type);
    struct vec x = eval_get(nd->kids[0], e);
    struct vec lo = eval_get(nd->kids[1], e);
    struct vec hi = eval_get(nd->kids[2], e);
    struct vec t1 = e->ctx->slots[nd->xslot], t2 = e->ctx->slots[nd->xslot + 1];
    cmp_kernel(CMP_GE, dom, &x, &lo, &t1, e->n);
    cmp_kernel(CMP_LE, dom, &x, &hi, &t2, e->n);
    and3(&t1, &t2, d, e->n);
    if (nd->negate) {
        not3(d, d, e->n);
    }
}

static void eval_case(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    /* Scratch: rows already decided (values of slot 0), rows taking the current branch (its
     * null flags), and the operand = WHEN value comparison (slot 1). */
    uint8_t *done = e->ctx->slots[nd->xslot].v.b;
    uint8_t *sel = e->ctx->slots[nd->xslot].nulls;
    struct vec cmpv = e->ctx->slots[nd->xslot + 1];
    uint32_t k = nd->operand;
    uint32_t nwhen = (nd->nkids - k - nd->has_else) / 2;
    struct vec opv = {0};
    enum dom dom = D_NONE;
    if (nd->operand) {
        opv = eval_get(nd->kids[0], e);
        dom = dom_of(nd->kids[0]->type);
    }
    memset(done, 0, n);
    uint32_t ndone = 0;
    for (uint32_t w = 0; w < nwhen && ndone < n; w++) {
        const struct node *cn = nd->kids[k + 2 * w], *vn = nd->kids[k + 2 * w + 1];
        struct vec c;
        if (nd->operand) {
            struct vec wv = eval_get(cn, e);
            cmp_kernel(CMP_EQ, dom, &opv, &wv, &cmpv, n);
            c = cmpv;
        } else {
            c = eval_get(cn, e);
        }
        uint32_t nsel = 0;
        for (uint32_t i = 0; i < n; i++) {
            sel[i] = !done[i] & !c.nulls[i] & (c.v.b[i] != 0);
            nsel += sel[i];
        }
        if (!nsel) {
            continue; /* the value need not be computed at all */
        }
        struct vec v = eval_get(vn, e);
        vec_copy_sel(nd->type, d, &v, sel, n);
        for (uint32_t i = 0; i < n; i++) {
            done[i] |= sel[i];
        }
        ndone += nsel;
    }
    if (ndone == n) {
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        sel[i] = !done[i];
    }
    if (nd->has_else) {
        struct vec v = eval_get(nd->kids[nd->nkids - 1], e);
        vec_copy_sel(nd->type, d, &v, sel, n);
    } else {
        /* No ELSE: NULL. */
        size_t w = cf_type_width(nd->type);
        for (uint32_t i = 0; i < n; i++) {
            if (sel[i]) {
                d->nulls[i] = 1;
                memset((char *)d->v.data + i * w, 0, w);
            }
        }
    }
}

/*
 * cf_tm_from_ms() overflows for the first day after INT64_MIN (its `days * 86400000`), so
 * such timestamps (292 million years BC, or CF_TS_NONE) are not formatted: they give NULL.
 */
static int ts_formattable(int64_t ms)
{
    return ms >= INT64_MIN + 86400000;
}

/*
 * cf_double_format() casts to int64_t before checking the magnitude, which is undefined for
 * finite values beyond +-2^63; those get the same shortest round-trip text here.
 */
static size_t double_text(double v, char *buf)
{
    if (!isfinite(v) || fabs(v) < 9.2e18) {
        return cf_double_format(v, buf);
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}

/* Appends the text of row i of a non-string vector to buf. */
static void to_text(enum cf_type type, const struct vec *x, uint32_t i, struct cf_buf *buf)
{
    char tmp[48];
    size_t n;
    switch (type) {
    case CF_TYPE_INT: n = cf_int_format(x->v.i64[i], tmp); break;
    case CF_TYPE_DOUBLE: n = double_text(x->v.f64[i], tmp); break;
    case CF_TYPE_BOOL:
        n = x->v.b[i] ? 4 : 5;
        memcpy(tmp, x->v.b[i] ? "true" : "false", n);
        break;
    case CF_TYPE_TIMESTAMP: n = cf_ts_format(x->v.i64[i], tmp, sizeof(tmp)); break;
    default: n = 0; break;
    }
    cf_buf_append(buf, tmp, n);
}

/*
 * Turns the strings built in ctx->sbuf (d->v.str[i].len set, ptr unset, rows in order) into
 * one arena allocation, so a batch costs one arena call rather than one per row.
 */
static void sbuf_publish(struct env *e, const struct vec *d)
{
    struct cf_buf *sb = &e->ctx->sbuf;
    const char *base = "";
    if (sb->len) {
        char *m = str_alloc(e, sb->len);
        memcpy(m, sb->data, sb->len);
        base = m;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        if (!d->nulls[i]) {
            d->v.str[i].ptr = base + off;
            off += d->v.str[i].len;
        } else {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
        }
    }
}

static void eval_conv(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    const struct node *k = nd->kids[0];
    struct vec x = eval_get(k, e);
    if (nd->op == CF_TYPE_DOUBLE) {
        for (uint32_t i = 0; i < n; i++) {
            d->v.f64[i] = (double)x.v.i64[i];
            d->nulls[i] = x.nulls[i];
        }
        return;
    }
    /* to string */
    struct cf_buf *sb = &e->ctx->sbuf;
    cf_buf_reset(sb);
    for (uint32_t i = 0; i < n; i++) {
        d->nulls[i] = x.nulls[i] | (k->type == CF_TYPE_TIMESTAMP && !ts_formattable(x.v.i64[i]));
        if (!d->nulls[i]) {
            size_t before = sb->len;
            to_text(k->type, &x, i, sb);
            d->v.str[i].len = (uint32_t)(sb->len - before);
        }
    }
    sbuf_publish(e, d);
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static uint8_t lower_map[256], upper_map[256];
static pthread_once_t case_maps_once = PTHREAD_ONCE_INIT;

static void case_maps_init(void)
{
    for (int c = 0; c < 256; c++) {
        lower_map[c] = (uint8_t)ascii_lower(c);
        upper_map[c] = (uint8_t)ascii_upper(c);
    }
}

static void fn_case_map(struct env *e, const struct vec *x, const struct vec *d, int upper)
{
    uint32_t n = e->n;
    pthread_once(&case_maps_once, case_maps_init);
    const uint8_t *map = upper ? upper_map : lower_map;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!x->nulls[i]) {
            total += x->v.str[i].len;
        }
    }
    char *m = total ? str_alloc(e, total) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        d->nulls[i] = x->nulls[i];
        if (x->nulls[i]) {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
            continue;
        }
        const unsigned char *s = (const unsigned char *)x->v.str[i].ptr;
        uint32_t len = x->v.str[i].len;
        for (uint32_t j = 0; j < len; j++) {
            m[j] = (char)map[s[j]];
        }
        d->v.str[i].ptr = len ? m : "";
        d->v.str[i].len = len;
        m += len;
    }
}

/* The values of a node already computed for this slice (no evaluation). */
static struct vec peek(const struct node *nd, struct env *e)
{
    if (nd->kind == N_FIELD) {
        const struct cf_col *col = &e->in->cols[nd->u.field];
        struct vec v;
        v.nulls = col->nulls + e->base;
        v.v.data = (char *)col->v.data + (size_t)e->base * cf_type_width(nd->type);
        return v;
    }
    return e->ctx->slots[nd->slot];
}

static void fn_concat(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    /* Column by column: evaluate every argument (NULL if any is), sum the lengths, one
     * arena allocation, then append argument by argument using len as the fill mark. */
    memset(d->nulls, 0, n);
    for (uint32_t i = 0; i < n; i++) {
        d->v.str[i].len = 0;
    }
    for (uint32_t k = 0; k < nd->nkids; k++) {
        struct vec a = eval_get(nd->kids[k], e);
        for (uint32_t i = 0; i < n; i++) {
            d->nulls[i] |= a.nulls[i];
        }
    }
    for (uint32_t k = 0; k < nd->nkids; k++) {
        struct vec a = peek(nd->kids[k], e);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            if (d->nulls[i]) {
                continue;
            }
            if (__builtin_add_overflow(d->v.str[i].len, a.v.str[i].len, &len)) {
                d->nulls[i] = 1; /* does not fit a cf_str */
                continue;
            }
            d->v.str[i].len = len;
        }
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += d->nulls[i] ? 0 : d->v.str[i].len;
    }
    char *m = total ? str_alloc(e, total) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (d->nulls[i] || !d->v.str[i].len) {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
            continue;
        }
        d->v.str[i].ptr = m;
        m += d->v.str[i].len;
        d->v.str[i].len = 0;
    }
    for (uint32_t k = 0; k < nd->nkids; k++) {
        struct vec a = peek(nd->kids[k], e);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len = a.v.str[i].len;
            if (!d->nulls[i] && len) {
                memcpy((char *)d->v.str[i].ptr + d->v.str[i].len, a.v.str[i].ptr, len);
                d->v.str[i].len += len;
            }
        }
    }
}

static void fn_substr(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    struct vec s = eval_get(nd->kids[0], e);
    struct vec st = eval_get(nd->kids[1], e);
    struct vec ln = {0};
    int has_len = nd->nkids > 2;
    if (has_len) {
        ln = eval_get(nd->kids[2], e);
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t nul = s.nulls[i] | st.nulls[i] | (has_len ? ln.nulls[i] : 0);
        if (!nul && has_len && ln.v.i64[i] < 0) {
            nul = 1;
        }
        d->nulls[i] = nul;
        if (nul) {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
            continue;
        }
        int64_t len = s.v.str[i].len;
        int64_t from = st.v.i64[i]; /* 1-based, inclusive */
        int64_t to;                 /* exclusive */
        if (!has_len || __builtin_add_overflow(from, ln.v.i64[i], &to)) {
            to = INT64_MAX;
        }
        if (from < 1) {
            from = 1;
        }
        if (to > len + 1) {
            to = len + 1;
        }
        if (to <= from) {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
        } else {
            d->v.str[i].ptr = s.v.str[i].ptr + (from - 1);
            d->v.str[i].len = (uint32_t)(to - from);
        }
    }
}

static void fn_trim(struct env *e, const struct vec *s, const struct vec *d)
{
    for (uint32_t i = 0; i < e->n; i++) {
        d->nulls[i] = s->nulls[i];
        if (s->nulls[i]) {
            d->v.str[i].ptr = "";
            d->v.str[i].len = 0;
            continue;
        }
        const char *p = s->v.str[i].ptr;
        uint32_t a = 0, b = s->v.str[i].len;
        while (a < b && is_space((unsigned char)p[a])) {
            a++;
        }
        while (b > a && is_space((unsigned char)p[b - 1])) {
            b--;
        }
        d->v.str[i].ptr = b > a ? p + a : "";
        d->v.str[i].len = b - a;
    }
}

static void fn_coalesce(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    uint8_t *sel = e->ctx->slots[nd->xslot].v.b; /* rows still NULL (vec_copy_sel's mask
                                                  * must not be the nulls it writes) */
    struct vec v = eval_get(nd->kids[0], e);
    vec_copy(nd->type, d, &v, n);
    for (uint32_t k = 1; k < nd->nkids; k++) {
        uint32_t nnull = 0;
        for (uint32_t i = 0; i < n; i++) {
            sel[i] = d->nulls[i];
            nnull += sel[i];
        }
        if (!nnull) {
            break;
        }
        v = eval_get(nd->kids[k], e);
        vec_copy_sel(nd->type, d, &v, sel, n);
    }
}

static double round_double(double x, int64_t digits)
{
    if (digits == 0) {
        return round(x);
    }
    if (digits > 308) {
        return x;
    }
    if (digits < -308) {
        return x < 0 ? -0.0 : 0.0;
    }
    double scale = pow(10.0, (double)(digits < 0 ? -digits : digits));
    double r = digits > 0 ? round(x * scale) / scale : round(x / scale) * scale;
    return isfinite(r) ? r : x;
}

/* Rounds an int to 10^-digits (digits < 0) half away from zero; 0 and *ok = 0 on overflow. */
static int64_t round_int(int64_t x, int64_t digits, uint8_t *of)
{
    *of = 0;
    if (digits >= 0) {
        return x;
    }
    if (digits < -18) {
        return 0; /* |x| < 10^19 / 2 for every int64 */
    }
    int64_t p = 1;
    for (int64_t k = 0; k < -digits; k++) {
        p *= 10;
    }
    int64_t q = x / p, rem = x % p;
    if (rem >= p - rem) {
        q++;
    } else if (-rem >= p + rem) {
        q--;
    }
    int64_t r;
    if (__builtin_mul_overflow(q, p, &r)) {
        *of = 1;
        return 0;
    }
    return r;
}

static void fn_date_format(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    struct vec ts = eval_get(nd->kids[0], e);
    struct cf_buf *sb = &e->ctx->sbuf;
    struct cf_buf *fb = &e->ctx->fbuf;
    const struct node *fk = nd->kids[1];
    const char *lit_fmt = fk->kind == N_LIT ? fk->u.lit.v.s.ptr : NULL;
    struct vec fv = {0};
    if (!lit_fmt) {
        fv = eval_get(fk, e);
    }
    cf_buf_reset(sb);
    for (uint32_t i = 0; i < n; i++) {
        const char *fmt = lit_fmt;
        size_t flen;
        if (ts.nulls[i] || (!lit_fmt && fv.nulls[i]) || !ts_formattable(ts.v.i64[i])) {
            d->nulls[i] = 1;
            continue;
        }
        if (lit_fmt) {
            flen = fk->u.lit.v.s.len;
        } else {
            cf_buf_reset(fb);
            cf_buf_append(fb, fv.v.str[i].ptr, fv.v.str[i].len);
            fmt = fb->data;
            flen = fv.v.str[i].len;
        }
        /* No conversion writes more than 20 bytes for its 2 format bytes. */
        size_t room = 11 * flen + 2;
        cf_buf_reserve(sb, room);
        int len = cf_ts_strftime(sb->data + sb->len, room, fmt, ts.v.i64[i]);
        if (len < 0) {
            d->nulls[i] = 1;
            continue;
        }
        sb->len += (size_t)len;
        d->nulls[i] = 0;
        d->v.str[i].len = (uint32_t)len;
    }
    sbuf_publish(e, d);
}

static void fn_to_timestamp(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    const struct node *k = nd->kids[0];
    struct vec x = eval_get(k, e);
    switch (k->type) {
    case CF_TYPE_STRING:
        for (uint32_t i = 0; i < n; i++) {
            d->nulls[i] =
                x.nulls[i] || cf_ts_parse(x.v.str[i].ptr, x.v.str[i].len, &d->v.i64[i]) != 0;
        }
        break;
    case CF_TYPE_DOUBLE:
        for (uint32_t i = 0; i < n; i++) {
            double v = x.v.f64[i];
            /* [-2^63, 2^63) converts exactly; NaN fails both tests. */
            uint8_t ok = !x.nulls[i] && v >= -9223372036854775808.0 && v < 9223372036854775808.0;
            d->v.i64[i] = ok ? (int64_t)v : 0;
            d->nulls[i] = !ok;
        }
        break;
    default: vec_copy(CF_TYPE_INT, d, &x, n); break;
    }
}

static void eval_func(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    if (nd->op == FN_CONCAT) {
        fn_concat(nd, e, d);
        return;
    }
    if (nd->op == FN_COALESCE) {
        fn_coalesce(nd, e, d);
        return;
    }
    if (nd->op == FN_SUBSTR) {
        fn_substr(nd, e, d);
        return;
    }
    if (nd->op == FN_DATE_FORMAT) {
        fn_date_format(nd, e, d);
        return;
    }
    if (nd->op == FN_TO_TIMESTAMP) {
        fn_to_timestamp(nd, e, d);
        return;
    }
    struct vec x = eval_get(nd->kids[0], e);
    enum cf_type at = nd->kids[0]->type;
    switch (nd->op) {
    case FN_LOWER:
    case FN_UPPER: fn_case_map(e, &x, d, nd->op == FN_UPPER); break;
    case FN_TRIM: fn_trim(e, &x, d); break;
    case FN_LENGTH:
        for (uint32_t i = 0; i < n; i++) {
            d->nulls[i] = x.nulls[i];
            d->v.i64[i] = x.nulls[i] ? 0 : x.v.str[i].len;
        }
        break;
    case FN_ABS:
        if (at == CF_TYPE_DOUBLE) {
            for (uint32_t i = 0; i < n; i++) {
                d->nulls[i] = x.nulls[i];
                d->v.f64[i] = fabs(x.v.f64[i]);
            }
        } else {
            for (uint32_t i = 0; i < n; i++) {
                int64_t v = x.v.i64[i];
                uint8_t of = v == INT64_MIN;
                d->nulls[i] = x.nulls[i] | of;
                d->v.i64[i] = of ? 0 : (v < 0 ? -v : v);
            }
        }
        break;
    case FN_FLOOR:
    case FN_CEIL:
        /* Only doubles get here: floor/ceil of an int is the int (folded at bind). */
        for (uint32_t i = 0; i < n; i++) {
            d->nulls[i] = x.nulls[i];
            d->v.f64[i] = nd->op == FN_FLOOR ? floor(x.v.f64[i]) : ceil(x.v.f64[i]);
        }
        break;
    case FN_ROUND: {
        struct vec dg = {0};
        if (nd->nkids > 1) {
            dg = eval_get(nd->kids[1], e);
        }
        for (uint32_t i = 0; i < n; i++) {
            uint8_t nul = x.nulls[i] | (dg.nulls ? dg.nulls[i] : 0);
            int64_t digits = dg.nulls ? dg.v.i64[i] : 0;
            if (at == CF_TYPE_DOUBLE) {
                d->v.f64[i] = nul ? 0.0 : round_double(x.v.f64[i], digits);
            } else {
                uint8_t of = 0;
                d->v.i64[i] = nul ? 0 : round_int(x.v.i64[i], digits, &of);
                nul |= of;
            }
            d->nulls[i] = nul;
        }
        break;
    }
    case FN_HOUR:
        for (uint32_t i = 0; i < n; i++) {
            d->nulls[i] = x.nulls[i];
            d->v.i64[i] = floor_mod(x.v.i64[i], 86400000) / 3600000;
        }
        break;
    case FN_DAY_OF_WEEK:
        for (uint32_t i = 0; i < n; i++) {
            int64_t ms = x.v.i64[i];
            int64_t days = ms / 86400000 - (ms % 86400000 < 0);
            d->nulls[i] = x.nulls[i];
            /* 1970-01-01 was a Thursday (ISO 4). */
            d->v.i64[i] = (floor_mod(days, 7) + 3) % 7 + 1;
        }
        break;
    default: cf_assert(!"unknown function");
    }
}

/* Computes a non-field, non-literal node into d (n rows). */
static void eval_into(const struct node *nd, struct env *e, const struct vec *d)
{
    uint32_t n = e->n;
    switch (nd->kind) {
    case N_NEG: {
        struct vec a = eval_get(nd->kids[0], e);
        if (nd->type == CF_TYPE_DOUBLE) {
            for (uint32_t i = 0; i < n; i++) {
                d->v.f64[i] = -a.v.f64[i];
                d->nulls[i] = a.nulls[i];
            }
        } else {
            for (uint32_t i = 0; i < n; i++) {
                uint8_t of = a.v.i64[i] == INT64_MIN;
                d->v.i64[i] = of ? 0 : -a.v.i64[i];
                d->nulls[i] = a.nulls[i] | of;
            }
        }
        break;
    }
    case N_ARITH: {
        struct vec a = eval_get(nd->kids[0], e);
        struct vec b = eval_get(nd->kids[1], e);
        if (nd->type == CF_TYPE_DOUBLE) {
            arith_f64(nd->op, &a, &b, d, n);
        } else {
            arith_i64(nd->op, &a, &b, d, n);
        }
        break;
    }
    case N_CMP: {
        struct vec a = eval_get(nd->kids[0], e);
        struct vec b = eval_get(nd->kids[1], e);
        cmp_kernel(nd->op, dom_of(nd->kids[0]->type), &a, &b, d, n);
        break;
    }
    case N_AND:
    case N_OR: {
        struct vec a = eval_get(nd->kids[0], e);
        struct vec b = eval_get(nd->kids[1], e);
        if (nd->kind == N_AND) {
            and3(&a, &b, d, n);
        } else {
            or3(&a, &b, d, n);
        }
        break;
    }
    case N_NOT: {
        struct vec a = eval_get(nd->kids[0], e);
        not3(&a, d, n);
        break;
    }
    case N_ISNULL: {
        struct vec a = eval_get(nd->kids[0], e);
        for (uint32_t i = 0; i < n; i++) {
            d->v.b[i] = a.nulls[i] ^ nd->negate;
        }
        memset(d->nulls, 0, n);
        break;
    }
    case N_LIKE: eval_like(nd, e, d); break;
    case N_IN: eval_in(nd, e, d); break;
    case N_BETWEEN: eval_between(nd, e, d); break;
    case N_CASE: eval_case(nd, e, d); break;
    case N_FUNC: eval_func(nd, e, d); break;
    case N_CONV: eval_conv(nd, e, d); break;
    default: {
        /* A field or literal as the root of an evaluation. */
        struct vec v = eval_get(nd, e);
        vec_copy(nd->type, d, &v, n);
        break;
    }
    }
}

/* The node's values for the slice: a view of a field, a literal's broadcast slot, or the
 * node computed into its slot. */
static struct vec eval_get(const struct node *nd, struct env *e)
{
    struct vec v;
    if (nd->kind == N_FIELD) {
        const struct cf_col *col = &e->in->cols[nd->u.field];
        cf_assert((uint32_t)nd->u.field < e->in->schema->nfields && col->type == nd->type);
        v.nulls = col->nulls + e->base;
        v.v.data = (char *)col->v.data + (size_t)e->base * cf_type_width(nd->type);
        return v;
    }
    v = e->ctx->slots[nd->slot];
    if (nd->kind == N_LIT) {
        if (nd->escape) {
            /* A literal that may reach the output: give the batch its own copy. */
            const struct cf_str *s = &nd->u.lit.v.s;
            char *m = str_alloc(e, s->len);
            memcpy(m, s->ptr, s->len);
            for (uint32_t i = 0; i < e->n; i++) {
                v.v.str[i].ptr = m;
                v.v.str[i].len = s->len;
            }
        }
        return v;
    }
    eval_into(nd, e, &v);
    return v;
}

/* ------------------------------------------------------------------------------------------
 * Eval contexts
 * ------------------------------------------------------------------------------------------ */

static uint32_t node_extra_slots(const struct node *nd)
{
    switch (nd->kind) {
    case N_BETWEEN: return 2;
    case N_IN: return nd->u.set ? 0 : 1;
    case N_CASE: return 2;
    case N_FUNC: return nd->op == FN_COALESCE ? 1 : 0;
    default: return 0;
    }
}

/* Numbers the slots of a subtree: every node but fields gets one, some get scratch too. */
static void assign_slots(struct node *nd, int *next)
{
    for (uint32_t i = 0; i < nd->nkids; i++) {
        assign_slots(nd->kids[i], next);
    }
    nd->slot = -1;
    nd->xslot = -1;
    if (nd->kind == N_FIELD) {
        return;
    }
    nd->slot = (*next)++;
    nd->xslot = *next;
    *next += (int)node_extra_slots(nd);
}

static void slot_widths(const struct node *nd, size_t *w)
{
    for (uint32_t i = 0; i < nd->nkids; i++) {
        slot_widths(nd->kids[i], w);
    }
    if (nd->slot < 0) {
        return;
    }
    w[nd->slot] = cf_type_width(nd->type);
    for (uint32_t i = 0; i < node_extra_slots(nd); i++) {
        w[nd->xslot + (int)i] = 1;
    }
}

/* Broadcasts each literal into its slot. */
static void slot_fill_lits(const struct node *nd, struct cf_expr_eval_ctx *ctx)
{
    for (uint32_t i = 0; i < nd->nkids; i++) {
        slot_fill_lits(nd->kids[i], ctx);
    }
    if (nd->kind != N_LIT) {
        return;
    }
    struct vec v = ctx->slots[nd->slot];
    const struct lit *l = &nd->u.lit;
    memset(v.nulls, l->null, CF_BATCH_ROWS);
    if (l->null || nd->type == CF_TYPE_NULL) {
        memset(v.v.data, 0, CF_BATCH_ROWS * cf_type_width(nd->type));
        return;
    }
    for (uint32_t i = 0; i < CF_BATCH_ROWS; i++) {
        switch (nd->type) {
        case CF_TYPE_INT:
        case CF_TYPE_TIMESTAMP: v.v.i64[i] = l->v.i; break;
        case CF_TYPE_DOUBLE: v.v.f64[i] = l->v.f; break;
        case CF_TYPE_BOOL: v.v.b[i] = l->v.b; break;
        default: v.v.str[i] = l->v.s; break;
        }
    }
}

static struct cf_expr_eval_ctx *ctx_create(const struct node *root, int nslots)
{
    struct cf_expr_eval_ctx *ctx = cf_new(struct cf_expr_eval_ctx);
    ctx->root = root;
    ctx->nslots = nslots;
    ctx->slots = cf_calloc(nslots ? (size_t)nslots : 1, sizeof(*ctx->slots));
    size_t *w = cf_calloc(nslots ? (size_t)nslots : 1, sizeof(*w));
    slot_widths(root, w);
    size_t total = 0;
    for (int s = 0; s < nslots; s++) {
        total += CF_BATCH_ROWS + w[s] * CF_BATCH_ROWS;
        total = (total + 63) & ~(size_t)63;
    }
    ctx->mem = cf_calloc(total ? total : 1, 1);
    size_t off = 0;
    for (int s = 0; s < nslots; s++) {
        /* Values first: each slot starts 64-byte aligned. */
        ctx->slots[s].v.data = ctx->mem + off;
        ctx->slots[s].nulls = (uint8_t *)ctx->mem + off + w[s] * CF_BATCH_ROWS;
        off += CF_BATCH_ROWS + w[s] * CF_BATCH_ROWS;
        off = (off + 63) & ~(size_t)63;
    }
    cf_free(w);
    slot_fill_lits(root, ctx);
    cf_buf_init(&ctx->sbuf);
    cf_buf_init(&ctx->fbuf);
    cf_buf_reserve(&ctx->sbuf, 4096);
    return ctx;
}

struct cf_expr_eval_ctx *cf_expr_eval_ctx_create(const struct cf_expr *expr)
{
    cf_assert(expr && expr->root);
    return ctx_create(expr->root, expr->nslots);
}

void cf_expr_eval_ctx_destroy(struct cf_expr_eval_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    cf_buf_destroy(&ctx->sbuf);
    cf_buf_destroy(&ctx->fbuf);
    cf_free(ctx->mem);
    cf_free(ctx->slots);
    cf_free(ctx);
}

int cf_expr_eval(const struct cf_expr *expr, struct cf_expr_eval_ctx *ctx,
                 const struct cf_batch *in, struct cf_col *out, struct cf_arena *arena)
{
    const struct node *root = expr->root;
    cf_assert(root && ctx->root == root && out->type == root->type);
    size_t w = cf_type_width(root->type);
    for (uint32_t base = 0; base < in->n; base += CF_BATCH_ROWS) {
        uint32_t n = in->n - base < CF_BATCH_ROWS ? in->n - base : CF_BATCH_ROWS;
        if (root->type == CF_TYPE_NULL) {
            memset(out->nulls + base, 1, n);
            continue;
        }
        struct env e = {ctx, in, base, n, arena};
        struct vec d;
        d.nulls = out->nulls + base;
        d.v.data = (char *)out->v.data + base * w;
        eval_into(root, &e, &d);
    }
    return 0;
}

int cf_expr_eval_filter(const struct cf_expr *expr, struct cf_expr_eval_ctx *ctx,
                        const struct cf_batch *in, uint8_t *keep, struct cf_arena *scratch)
{
    const struct node *root = expr->root;
    cf_assert(root && ctx->root == root);
    cf_assert(root->type == CF_TYPE_BOOL || root->type == CF_TYPE_NULL);
    int kept = 0;
    if (root->type == CF_TYPE_NULL) {
        memset(keep, 0, in->n);
        return 0;
    }
    for (uint32_t base = 0; base < in->n; base += CF_BATCH_ROWS) {
        uint32_t n = in->n - base < CF_BATCH_ROWS ? in->n - base : CF_BATCH_ROWS;
        struct env e = {ctx, in, base, n, scratch};
        struct vec v = eval_get(root, &e);
        uint8_t *k = keep + base;
        for (uint32_t i = 0; i < n; i++) {
            k[i] = !v.nulls[i] & (v.v.b[i] != 0);
            kept += k[i];
        }
    }
    return kept;
}

/* ------------------------------------------------------------------------------------------
 * Binder
 * ------------------------------------------------------------------------------------------ */

struct binder {
    const struct cf_schema *schema;
    struct cf_err *err;
    struct cf_arena *arena;
    const char *text;
};

/* The source text of a node for messages, cut at SNIP_MAX bytes. */
static const char *snip(const struct binder *b, const struct node *nd, char *buf, size_t size)
{
    size_t len = nd->end > nd->pos ? nd->end - nd->pos : 0;
    int cut = len > SNIP_MAX;
    snprintf(buf, size, "%.*s%s", (int)(cut ? SNIP_MAX : len), b->text + nd->pos, cut ? "..." : "");
    return buf;
}

static int berr(struct binder *b, int code, const struct node *nd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets "<message> in '<text of nd>'" and returns code. */
static int berr(struct binder *b, int code, const struct node *nd, const char *fmt, ...)
{
    char msg[CF_ERR_MSG_MAX];
    char where[SNIP_MAX + 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (nd) {
        return cf_err_set(b->err, code, "%s in '%s'", msg, snip(b, nd, where, sizeof(where)));
    }
    return cf_err_set(b->err, code, "%s", msg);
}

static struct node *clone_tree(struct cf_arena *arena, const struct node *src)
{
    struct node *nd = cf_arena_alloc(arena, sizeof(*nd));
    *nd = *src;
    if (src->nkids) {
        nd->kids = cf_arena_alloc(arena, src->nkids * sizeof(*nd->kids));
        for (uint32_t i = 0; i < src->nkids; i++) {
            nd->kids[i] = clone_tree(arena, src->kids[i]);
        }
    }
    return nd;
}

static int is_lit(const struct node *nd)
{
    return nd->kind == N_LIT;
}

static int is_null_lit(const struct node *nd)
{
    return nd->kind == N_LIT && nd->u.lit.null;
}

static struct node *lit_new(struct binder *b, enum cf_type type, const struct node *span)
{
    struct node *nd = node_new(b->arena, N_LIT, span->pos, span->end);
    nd->type = type;
    return nd;
}

static struct node *null_lit(struct binder *b, enum cf_type type, const struct node *span)
{
    struct node *nd = lit_new(b, type, span);
    nd->u.lit.null = 1;
    return nd;
}

/*
 * Replaces *pp, whose kids are all literals, with its value: evaluates it once over one row
 * in a throwaway context. Strings are copied into the bind arena.
 */
static void fold(struct binder *b, struct node **pp)
{
    struct node *nd = *pp;
    int nslots = 0;
    assign_slots(nd, &nslots);
    struct cf_expr_eval_ctx *ctx = ctx_create(nd, nslots);
    struct cf_arena tmp;
    cf_arena_init(&tmp, 1024);
    struct env e = {ctx, NULL, 0, 1, &tmp};
    struct vec v = eval_get(nd, &e);
    struct node *lit = lit_new(b, nd->type, nd);
    lit->u.lit.null = nd->type == CF_TYPE_NULL || v.nulls[0];
    if (!lit->u.lit.null) {
        switch (nd->type) {
        case CF_TYPE_INT:
        case CF_TYPE_TIMESTAMP: lit->u.lit.v.i = v.v.i64[0]; break;
        case CF_TYPE_DOUBLE: lit->u.lit.v.f = v.v.f64[0]; break;
        case CF_TYPE_BOOL: lit->u.lit.v.b = v.v.b[0] != 0; break;
        default:
            lit->u.lit.v.s.ptr = cf_arena_strndup(b->arena, v.v.str[0].ptr, v.v.str[0].len);
            lit->u.lit.v.s.len = v.v.str[0].len;
            break;
        }
    }
    cf_arena_destroy(&tmp);
    cf_expr_eval_ctx_destroy(ctx);
    *pp = lit;
}

static void fold_if_const(struct binder *b, struct node **pp)
{
    struct node *nd = *pp;
    if (nd->kind == N_LIT || nd->kind == N_FIELD) {
        return;
    }
    for (uint32_t i = 0; i < nd->nkids; i++) {
        if (!is_lit(nd->kids[i])) {
            return;
        }
    }
    fold(b, pp);
}

/* Strict operators: a NULL literal argument makes the whole node a NULL of its type. */
static int strict_null(struct binder *b, struct node **pp)
{
    struct node *nd = *pp;
    for (uint32_t i = 0; i < nd->nkids; i++) {
        if (is_null_lit(nd->kids[i])) {
            *pp = null_lit(b, nd->type, nd);
            return 1;
        }
    }
    return 0;
}

/* Wraps *pp in a conversion to `type` (double or string), folding literals. */
static void conv_to(struct binder *b, struct node **pp, enum cf_type type)
{
    struct node *k = *pp;
    if (k->type == type) {
        return;
    }
    if (is_null_lit(k) || k->type == CF_TYPE_NULL) {
        *pp = null_lit(b, type, k);
        return;
    }
    struct node *nd = node_new(b->arena, N_CONV, k->pos, k->end);
    node_set_kids(b->arena, nd, &k, 1);
    nd->op = (uint8_t)type;
    nd->type = type;
    *pp = nd;
    fold_if_const(b, pp);
}

/* A string literal where a timestamp is expected: parse it now. */
static int ts_literal(struct binder *b, struct node **pp, const struct node *where)
{
    struct node *k = *pp;
    if (k->kind != N_LIT || k->type != CF_TYPE_STRING) {
        return 0;
    }
    struct node *lit = lit_new(b, CF_TYPE_TIMESTAMP, k);
    lit->u.lit.null = k->u.lit.null;
    if (!k->u.lit.null && cf_ts_parse(k->u.lit.v.s.ptr, k->u.lit.v.s.len, &lit->u.lit.v.i) != 0) {
        uint32_t len = k->u.lit.v.s.len;
        return berr(b, CF_ETYPE, where, "cannot parse '%.*s%s' as a timestamp",
                    (int)(len > 40 ? 40 : len), k->u.lit.v.s.ptr, len > 40 ? "..." : "");
    }
    *pp = lit;
    return 0;
}

/*
 * Brings operands that are compared with each other (a = b, x IN (...), x BETWEEN a AND b,
 * CASE x WHEN ...) to one domain: string literals meeting a timestamp are parsed, ints and
 * timestamps meeting a double become doubles, NULL literals get the domain's type.
 */
static int cmp_unify(struct binder *b, const struct node *where, struct node **ops, uint32_t n,
                     enum dom *out)
{
    int has_ts = 0;
    for (uint32_t i = 0; i < n; i++) {
        has_ts |= ops[i]->type == CF_TYPE_TIMESTAMP;
    }
    if (has_ts) {
        for (uint32_t i = 0; i < n; i++) {
            int rc = ts_literal(b, &ops[i], where);
            if (rc) {
                return rc;
            }
        }
    }
    enum dom dom = D_NONE;
    enum cf_type rep = CF_TYPE_NULL;
    for (uint32_t i = 0; i < n; i++) {
        enum cf_type t = ops[i]->type;
        if (t == CF_TYPE_NULL) {
            continue;
        }
        enum dom d = dom_of(t);
        if (dom == D_NONE) {
            dom = d;
            rep = t;
        } else if (d == dom || ((d == D_I64 || d == D_F64) && (dom == D_I64 || dom == D_F64))) {
            if (d == D_F64) {
                dom = D_F64;
            }
        } else {
            int hint = (rep == CF_TYPE_TIMESTAMP && t == CF_TYPE_STRING) ||
                       (rep == CF_TYPE_STRING && t == CF_TYPE_TIMESTAMP);
            return berr(b, CF_ETYPE, where, "cannot compare %s with %s%s", cf_type_name(rep),
                        cf_type_name(t), hint ? " (use to_timestamp())" : "");
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (ops[i]->type == CF_TYPE_NULL) {
            enum cf_type t = dom == D_F64   ? CF_TYPE_DOUBLE
                             : dom == D_I64 ? CF_TYPE_INT
                             : dom == D_STR ? CF_TYPE_STRING
                                            : CF_TYPE_BOOL;
            ops[i] = null_lit(b, t, ops[i]);
        } else if (dom == D_F64) {
            conv_to(b, &ops[i], CF_TYPE_DOUBLE);
        }
    }
    *out = dom == D_NONE ? D_BOOL : dom;
    return 0;
}

/*
 * The common type of values that may replace each other (CASE branches, coalesce args):
 * equal types, or ints and doubles (-> double). NULL literals take the common type.
 */
static int result_unify(struct binder *b, const struct node *where, struct node **ops, uint32_t n,
                        const char *what, enum cf_type *out)
{
    enum cf_type t = CF_TYPE_NULL;
    for (uint32_t i = 0; i < n; i++) {
        enum cf_type k = ops[i]->type;
        if (k == CF_TYPE_NULL || k == t) {
            continue;
        }
        if (t == CF_TYPE_NULL) {
            t = k;
        } else if ((t == CF_TYPE_INT && k == CF_TYPE_DOUBLE) ||
                   (t == CF_TYPE_DOUBLE && k == CF_TYPE_INT)) {
            t = CF_TYPE_DOUBLE;
        } else {
            return berr(b, CF_ETYPE, where, "%s have incompatible types %s and %s", what,
                        cf_type_name(t), cf_type_name(k));
        }
    }
    for (uint32_t i = 0; i < n && t != CF_TYPE_NULL; i++) {
        if (ops[i]->type == CF_TYPE_NULL) {
            ops[i] = null_lit(b, t, ops[i]);
        } else if (ops[i]->type != t) {
            conv_to(b, &ops[i], t);
        }
    }
    *out = t;
    return 0;
}

static int build_inset(struct binder *b, struct node *nd, enum dom dom)
{
    struct inset *set = cf_arena_alloc(b->arena, sizeof(*set));
    memset(set, 0, sizeof(*set));
    set->dom = dom;
    uint32_t cap = nd->nkids - 1;
    size_t w = dom == D_STR ? sizeof(struct cf_str) : sizeof(int64_t);
    void *vals = cf_arena_alloc(b->arena, (cap ? cap : 1) * w);
    set->v.i64 = vals;
    uint32_t n = 0;
    for (uint32_t i = 1; i < nd->nkids; i++) {
        const struct lit *l = &nd->kids[i]->u.lit;
        if (l->null) {
            set->has_null = 1;
            continue;
        }
        switch (dom) {
        case D_I64: set->v.i64[n++] = l->v.i; break;
        case D_F64:
            if (!isnan(l->v.f)) {
                set->v.f64[n++] = l->v.f; /* NaN equals nothing */
            }
            break;
        case D_STR: set->v.str[n++] = l->v.s; break;
        default:
            if (l->v.b) {
                set->has_true = 1;
            } else {
                set->has_false = 1;
            }
            break;
        }
    }
    int (*cmp)(const void *, const void *) = dom == D_I64   ? cmp_i64
                                             : dom == D_F64 ? cmp_f64
                                                            : cmp_str;
    if (n > 1 && dom != D_BOOL) {
        qsort(vals, n, w, cmp);
        uint32_t u = 1;
        for (uint32_t i = 1; i < n; i++) {
            if (cmp((char *)vals + (u - 1) * w, (char *)vals + i * w) != 0) {
                memcpy((char *)vals + u * w, (char *)vals + i * w, w);
                u++;
            }
        }
        n = u;
    }
    set->n = n;
    nd->u.set = set;
    return 0;
}

static int bind_node(struct binder *b, struct node **pp);

static int want_bool(struct binder *b, struct node *nd, struct node **kp, const char *what)
{
    enum cf_type t = (*kp)->type;
    if (t == CF_TYPE_NULL) {
        *kp = null_lit(b, CF_TYPE_BOOL, *kp);
        return 0;
    }
    if (t != CF_TYPE_BOOL) {
        return berr(b, CF_ETYPE, nd, "%s needs bool operands, got %s", what, cf_type_name(t));
    }
    return 0;
}

static int bind_arith(struct binder *b, struct node *nd)
{
    enum cf_type ta = nd->kids[0]->type, tb = nd->kids[1]->type, res;
    int op = nd->op;
    int ok = 1;
    if (ta == CF_TYPE_STRING || ta == CF_TYPE_BOOL || tb == CF_TYPE_STRING || tb == CF_TYPE_BOOL) {
        ok = 0;
    } else if (ta == CF_TYPE_NULL || tb == CF_TYPE_NULL) {
        res = ta == CF_TYPE_NULL ? tb : ta; /* folded to a NULL of this type below */
    } else if (ta == CF_TYPE_TIMESTAMP || tb == CF_TYPE_TIMESTAMP) {
        if (op == OP_ADD && ((ta == CF_TYPE_TIMESTAMP && tb == CF_TYPE_INT) ||
                             (ta == CF_TYPE_INT && tb == CF_TYPE_TIMESTAMP))) {
            res = CF_TYPE_TIMESTAMP;
        } else if (op == OP_SUB && ta == CF_TYPE_TIMESTAMP && tb == CF_TYPE_INT) {
            res = CF_TYPE_TIMESTAMP;
        } else if (op == OP_SUB && ta == CF_TYPE_TIMESTAMP && tb == CF_TYPE_TIMESTAMP) {
            res = CF_TYPE_INT;
        } else {
            ok = 0;
        }
    } else if (ta == CF_TYPE_DOUBLE || tb == CF_TYPE_DOUBLE) {
        res = CF_TYPE_DOUBLE;
    } else {
        res = CF_TYPE_INT;
    }
    if (!ok) {
        return berr(b, CF_ETYPE, nd, "cannot apply '%s' to %s and %s", op_text[op],
                    cf_type_name(ta), cf_type_name(tb));
    }
    nd->type = res;
    if (res == CF_TYPE_DOUBLE) {
        conv_to(b, &nd->kids[0], CF_TYPE_DOUBLE);
        conv_to(b, &nd->kids[1], CF_TYPE_DOUBLE);
    }
    return 0;
}

enum arg_kind { A_STRING, A_INT, A_NUMBER, A_TIMESTAMP };
static const char *const arg_kind_name[] = {"string", "int", "number", "timestamp"};

/* Checks the type of argument i of a function (NULL always fits); a string literal where a
 * timestamp is wanted is parsed. The message names the function and the position. */
static int want_arg(struct binder *b, struct node *nd, uint32_t i, enum arg_kind kind)
{
    struct node **kp = &nd->kids[i];
    enum cf_type t = (*kp)->type;
    const char *want = arg_kind_name[kind];
    int ok;
    if (t == CF_TYPE_NULL) {
        return 0;
    }
    switch (kind) {
    case A_STRING: ok = t == CF_TYPE_STRING; break;
    case A_INT: ok = t == CF_TYPE_INT; break;
    case A_NUMBER: ok = t == CF_TYPE_INT || t == CF_TYPE_DOUBLE; break;
    default: {
        int rc = ts_literal(b, kp, nd);
        if (rc) {
            return rc;
        }
        t = (*kp)->type;
        ok = t == CF_TYPE_TIMESTAMP;
        break;
    }
    }
    if (!ok) {
        if (fn_table[nd->op].max_args == 1) {
            return berr(b, CF_ETYPE, nd, "%s() needs a %s argument, got %s", fn_table[nd->op].name,
                        want, cf_type_name(t));
        }
        return berr(b, CF_ETYPE, nd, "%s() argument %u must be %s, got %s", fn_table[nd->op].name,
                    i + 1, want, cf_type_name(t));
    }
    return 0;
}

static int bind_func(struct binder *b, struct node **pp)
{
    struct node *nd = *pp;
    int rc = 0;
    switch (nd->op) {
    case FN_LOWER:
    case FN_UPPER:
    case FN_TRIM:
        rc = want_arg(b, nd, 0, A_STRING);
        nd->type = CF_TYPE_STRING;
        break;
    case FN_LENGTH:
        rc = want_arg(b, nd, 0, A_STRING);
        nd->type = CF_TYPE_INT;
        break;
    case FN_CONCAT:
        for (uint32_t i = 0; i < nd->nkids; i++) {
            if (nd->kids[i]->type != CF_TYPE_NULL) {
                conv_to(b, &nd->kids[i], CF_TYPE_STRING);
            }
        }
        nd->type = CF_TYPE_STRING;
        break;
    case FN_SUBSTR:
        rc = want_arg(b, nd, 0, A_STRING);
        for (uint32_t i = 1; i < nd->nkids && !rc; i++) {
            rc = want_arg(b, nd, i, A_INT);
        }
        nd->type = CF_TYPE_STRING;
        break;
    case FN_COALESCE: {
        enum cf_type t;
        rc = result_unify(b, nd, nd->kids, nd->nkids, "coalesce() arguments", &t);
        if (rc) {
            return rc;
        }
        nd->type = t;
        /* Drop NULL literals, and everything after the first non-NULL literal. */
        uint32_t n = 0;
        for (uint32_t i = 0; i < nd->nkids; i++) {
            struct node *k = nd->kids[i];
            if (is_null_lit(k)) {
                continue;
            }
            nd->kids[n++] = k;
            if (is_lit(k)) {
                break;
            }
        }
        nd->nkids = n;
        if (n == 0) {
            *pp = null_lit(b, t, nd);
        } else if (n == 1) {
            *pp = nd->kids[0];
        }
        return 0;
    }
    case FN_ABS:
    case FN_FLOOR:
    case FN_CEIL:
    case FN_ROUND:
        rc = want_arg(b, nd, 0, A_NUMBER);
        if (!rc && nd->nkids > 1) {
            rc = want_arg(b, nd, 1, A_INT);
        }
        nd->type = nd->kids[0]->type;
        if (!rc && (nd->op == FN_FLOOR || nd->op == FN_CEIL) && nd->type == CF_TYPE_INT) {
            *pp = nd->kids[0];
            return 0;
        }
        break;
    case FN_HOUR:
    case FN_DAY_OF_WEEK:
        rc = want_arg(b, nd, 0, A_TIMESTAMP);
        nd->type = CF_TYPE_INT;
        break;
    case FN_DATE_FORMAT:
        rc = want_arg(b, nd, 0, A_TIMESTAMP);
        if (!rc) {
            rc = want_arg(b, nd, 1, A_STRING);
        }
        nd->type = CF_TYPE_STRING;
        if (!rc && is_lit(nd->kids[1]) && !nd->kids[1]->u.lit.null) {
            const char *fmt = nd->kids[1]->u.lit.v.s.ptr, *bad = NULL;
            if (strlen(fmt) != nd->kids[1]->u.lit.v.s.len) {
                return berr(b, CF_ETYPE, nd, "date_format() format contains a NUL byte");
            }
            if (cf_ts_strftime_check(fmt, &bad) != 0) {
                int blen = bad[1] ? 2 : 1;
                return berr(b, CF_ETYPE, nd,
                            "date_format() format has an unknown conversion '%.*s' (known: "
                            "%%Y %%m %%d %%H %%M %%S %%L %%j %%a %%u %%w %%y %%e %%F %%T %%s "
                            "%%%%)",
                            blen, bad);
            }
        }
        break;
    case FN_TO_TIMESTAMP: {
        enum cf_type t = nd->kids[0]->type;
        if (t == CF_TYPE_BOOL) {
            return berr(b, CF_ETYPE, nd,
                        "to_timestamp() needs an int, double, string or timestamp argument, "
                        "got bool");
        }
        nd->type = CF_TYPE_TIMESTAMP;
        if (t == CF_TYPE_TIMESTAMP) {
            *pp = nd->kids[0];
            return 0;
        }
        break;
    }
    default: cf_assert(!"unknown function");
    }
    if (rc) {
        return rc;
    }
    if (nd->type == CF_TYPE_NULL) {
        *pp = null_lit(b, CF_TYPE_NULL, nd);
        return 0;
    }
    strict_null(b, pp);
    return 0;
}

static int bind_case(struct binder *b, struct node *nd)
{
    uint32_t k = nd->operand;
    uint32_t nwhen = (nd->nkids - k - nd->has_else) / 2;
    int rc;
    if (nd->operand) {
        /* The operand and every WHEN value are compared: one domain. */
        struct node **ops = cf_arena_alloc(b->arena, (nwhen + 1) * sizeof(*ops));
        ops[0] = nd->kids[0];
        for (uint32_t w = 0; w < nwhen; w++) {
            ops[w + 1] = nd->kids[k + 2 * w];
        }
        enum dom dom;
        rc = cmp_unify(b, nd, ops, nwhen + 1, &dom);
        if (rc) {
            return rc;
        }
        nd->kids[0] = ops[0];
        for (uint32_t w = 0; w < nwhen; w++) {
            nd->kids[k + 2 * w] = ops[w + 1];
        }
    } else {
        for (uint32_t w = 0; w < nwhen; w++) {
            struct node **cp = &nd->kids[2 * w];
            if ((*cp)->type == CF_TYPE_NULL) {
                *cp = null_lit(b, CF_TYPE_BOOL, *cp);
            } else if ((*cp)->type != CF_TYPE_BOOL) {
                return berr(b, CF_ETYPE, *cp, "CASE WHEN condition must be bool, got %s",
                            cf_type_name((*cp)->type));
            }
        }
    }
    /* Result values: the THENs and the ELSE. */
    uint32_t nv = nwhen + nd->has_else;
    struct node **vals = cf_arena_alloc(b->arena, (nv ? nv : 1) * sizeof(*vals));
    for (uint32_t w = 0; w < nwhen; w++) {
        vals[w] = nd->kids[k + 2 * w + 1];
    }
    if (nd->has_else) {
        vals[nwhen] = nd->kids[nd->nkids - 1];
    }
    enum cf_type t;
    rc = result_unify(b, nd, vals, nv, "CASE branches", &t);
    if (rc) {
        return rc;
    }
    for (uint32_t w = 0; w < nwhen; w++) {
        nd->kids[k + 2 * w + 1] = vals[w];
    }
    if (nd->has_else) {
        nd->kids[nd->nkids - 1] = vals[nwhen];
    }
    nd->type = t;
    return 0;
}

static int bind_node(struct binder *b, struct node **pp)
{
    struct node *nd = *pp;
    int rc;
    for (uint32_t i = 0; i < nd->nkids; i++) {
        if ((rc = bind_node(b, &nd->kids[i])) != 0) {
            return rc;
        }
    }
    switch (nd->kind) {
    case N_LIT:
    case N_FIELD: return 0;
    case N_IDENT: {
        int idx = cf_schema_find(b->schema, nd->u.name);
        if (idx < 0) {
            return cf_err_set(b->err, CF_ENOENT, "unknown field '%s'", nd->u.name);
        }
        nd->kind = N_FIELD;
        nd->u.field = idx;
        nd->type = b->schema->fields[idx].type;
        return 0;
    }
    case N_NEG: {
        enum cf_type t = nd->kids[0]->type;
        if (t != CF_TYPE_INT && t != CF_TYPE_DOUBLE && t != CF_TYPE_NULL) {
            return berr(b, CF_ETYPE, nd, "cannot negate %s", cf_type_name(t));
        }
        nd->type = t;
        break;
    }
    case N_ARITH:
        if ((rc = bind_arith(b, nd)) != 0) {
            return rc;
        }
        break;
    case N_CMP: {
        enum dom dom;
        nd->type = CF_TYPE_BOOL;
        if ((rc = cmp_unify(b, nd, nd->kids, 2, &dom)) != 0) {
            return rc;
        }
        break;
    }
    case N_AND:
    case N_OR:
        nd->type = CF_TYPE_BOOL;
        for (uint32_t i = 0; i < 2; i++) {
            rc = want_bool(b, nd, &nd->kids[i], nd->kind == N_AND ? "AND" : "OR");
            if (rc) {
                return rc;
            }
        }
        fold_if_const(b, pp);
        return 0;
    case N_NOT:
        nd->type = CF_TYPE_BOOL;
        if ((rc = want_bool(b, nd, &nd->kids[0], "NOT")) != 0) {
            return rc;
        }
        break;
    case N_ISNULL:
        nd->type = CF_TYPE_BOOL;
        fold_if_const(b, pp);
        return 0;
    case N_LIKE:
        nd->type = CF_TYPE_BOOL;
        for (uint32_t i = 0; i < 2; i++) {
            enum cf_type t = nd->kids[i]->type;
            if (t != CF_TYPE_STRING && t != CF_TYPE_NULL) {
                return berr(b, CF_ETYPE, nd, "LIKE needs string operands, got %s", cf_type_name(t));
            }
        }
        if (strict_null(b, pp)) {
            return 0;
        }
        if (is_lit(nd->kids[1])) {
            nd->u.like = cf_arena_alloc(b->arena, sizeof(*nd->u.like));
            like_compile(b->arena, nd->u.like, nd->kids[1]->u.lit.v.s.ptr,
                         nd->kids[1]->u.lit.v.s.len);
        }
        fold_if_const(b, pp);
        return 0;
    case N_IN:
    case N_BETWEEN: {
        enum dom dom;
        nd->type = CF_TYPE_BOOL;
        if ((rc = cmp_unify(b, nd, nd->kids, nd->nkids, &dom)) != 0) {
            return rc;
        }
        if (is_null_lit(nd->kids[0])) {
            *pp = null_lit(b, CF_TYPE_BOOL, nd);
            return 0;
        }
        if (nd->kind == N_IN) {
            int all = 1;
            for (uint32_t i = 1; i < nd->nkids; i++) {
                all &= is_lit(nd->kids[i]);
            }
            if (all) {
                build_inset(b, nd, dom);
            }
        }
        fold_if_const(b, pp);
        return 0;
    }
    case N_CASE:
        if ((rc = bind_case(b, nd)) != 0) {
            return rc;
        }
        if (nd->type == CF_TYPE_NULL) {
            *pp = null_lit(b, CF_TYPE_NULL, nd);
            return 0;
        }
        fold_if_const(b, pp);
        return 0;
    case N_FUNC:
        if ((rc = bind_func(b, pp)) != 0) {
            return rc;
        }
        fold_if_const(b, pp);
        return 0;
    default: /* N_CONV is made by the binder, never found in a parsed tree */
        cf_assert(!"unexpected node");
    }
    /* Strict operators: NEG, ARITH, CMP, NOT. */
    if (nd->type == CF_TYPE_NULL) {
        *pp = null_lit(b, CF_TYPE_NULL, nd);
        return 0;
    }
    if (strict_null(b, pp)) {
        return 0;
    }
    fold_if_const(b, pp);
    return 0;
}

/* Marks the string literals whose value can become the result (as opposed to only being
 * compared or copied from), so evaluation copies them into the output arena. */
static void mark_escape(struct node *nd, int esc)
{
    if (nd->kind == N_LIT) {
        nd->escape = (uint8_t)(esc && nd->type == CF_TYPE_STRING && !nd->u.lit.null);
        return;
    }
    for (uint32_t i = 0; i < nd->nkids; i++) {
        int kesc = 0;
        if (esc) {
            if (nd->kind == N_CASE) {
                uint32_t j = i - nd->operand;
                int is_else = nd->has_else && i == nd->nkids - 1;
                kesc = i >= nd->operand && (is_else || j % 2 == 1);
            } else if (nd->kind == N_FUNC) {
                kesc =
                    nd->op == FN_COALESCE || ((nd->op == FN_SUBSTR || nd->op == FN_TRIM) && i == 0);
            }
        }
        mark_escape(nd->kids[i], kesc);
    }
}

int cf_expr_bind(struct cf_expr *expr, const struct cf_schema *input, struct cf_err *err)
{
    cf_arena_reset(&expr->bind_arena);
    expr->root = NULL;
    expr->nslots = 0;
    struct binder b = {input, err, &expr->bind_arena, expr->text};
    struct node *root = clone_tree(&expr->bind_arena, expr->parsed);
    int rc = bind_node(&b, &root);
    if (rc) {
        cf_arena_reset(&expr->bind_arena);
        return rc;
    }
    mark_escape(root, 1);
    int nslots = 0;
    assign_slots(root, &nslots);
    if (nslots > MAX_SLOTS) {
        cf_arena_reset(&expr->bind_arena);
        return cf_err_set(err, CF_ERANGE,
                          "expression too large (%d intermediate columns, at "
                          "most %d)",
                          nslots, MAX_SLOTS);
    }
    expr->root = root;
    expr->nslots = nslots;
    return 0;
}

enum cf_type cf_expr_type(const struct cf_expr *expr)
{
    return expr->root ? expr->root->type : CF_TYPE_NULL;
}

const char *cf_expr_text(const struct cf_expr *expr)
{
    return expr->text;
}

int cf_expr_field_index(const struct cf_expr *expr)
{
    return expr->root && expr->root->kind == N_FIELD ? expr->root->u.field : -1;
}

static void mark_fields(const struct node *nd, uint8_t *used)
{
    if (nd->kind == N_FIELD) {
        used[nd->u.field] = 1;
    }
    for (uint32_t k = 0; k < nd->nkids; k++) {
        mark_fields(nd->kids[k], used);
    }
}

void cf_expr_mark_fields(const struct cf_expr *expr, uint8_t *used)
{
    cf_assert(expr->root);
    mark_fields(expr->root, used);
}

void cf_expr_destroy(struct cf_expr *expr)
{
    if (!expr) {
        return;
    }
    cf_arena_destroy(&expr->parse_arena);
    cf_arena_destroy(&expr->bind_arena);
    cf_free(expr->text);
    cf_free(expr);
}
