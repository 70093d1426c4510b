/* _fastscan: one pass over the op lines of a chatsim history, into columns.
 *
 * Theory of operation
 * -------------------
 * The checkers' reference path decodes every line into Python objects; at a
 * million lines that alone costs more than a second. This module reads the
 * bytes once, in C, and gives back integer columns that numpy can judge
 * (invariants/fast.py). It recognises exactly the line layout chatsim's own
 * HistoryWriter writes (msgspec's compact encoding of an Op):
 *
 *   {"index":N,"time":T,"process":"..","type":"..","f":"..","value":{..}}\n
 *
 * and nothing else. Every literal byte is compared; every string is checked
 * as JSON (escapes decoded, UTF-8 validated strictly, control characters
 * refused); every value this module does not read is still validated as
 * JSON, its numbers held to the range msgspec's generic decoder accepts.
 * Whatever it does not fully recognise -- another key order,
 * whitespace, a blank line, a decreasing time, a lone surrogate, a field
 * checkers read with an unexpected type, directory records, a deliver,
 * stored, connect or disconnect that is not an event -- makes scan()
 * return None ("not mine"), and the caller runs the reference path, which
 * then gives the exact error or verdict. Accepting is therefore always a
 * subset of what the reference parser accepts.
 *
 * Strings are interned as they are met (open-addressing hash tables over
 * the decoded bytes, compared in full, so ids are exact): process and
 * channel names share one table, message ids and texts have their own.
 * (process, channel) pairs of deliver and read rows are interned too, and
 * each deliver row links to the previous deliver of its pair, so a client's
 * live view of a channel can be walked without sorting. A msgs list (final
 * reads, store reports) goes to CSR arrays, with a flag per list that says
 * whether it repeats an id (found with a per-id stamp, no sorting).
 *
 * Memory safety on hostile input: every read is bounds-checked against the
 * end of the buffer, every growth is checked for overflow and allocation
 * failure, and nesting of skipped values is limited. bench/asan_fastscan.sh
 * runs the fuzz tests against an ASan + UBSan build. The GIL is released
 * during the scan (the buffer is held through the buffer protocol).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char *ptr;

/* op type codes and f codes: the numbering invariants/fast.py relies on */
enum { T_INVOKE, T_OK, T_FAIL, T_INFO, T_EVENT };
enum { F_OTHER, F_SEND, F_READ, F_DELIVER, F_STORED, F_CONNECT, F_DISCONNECT };

#define MAX_DEPTH 64            /* nesting of values this module skips */
#define MAX_ROWS 0x7fffff00LL   /* ids and rows are int32 */

/* ---- growable byte vectors ---------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap; /* bytes */
} vec;

static int vec_reserve(vec *v, size_t add) {
    if (add > SIZE_MAX / 2 - v->n) return -1;
    size_t need = v->n + add;
    if (need <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 4096;
    while (cap < need) cap *= 2;
    char *p = realloc(v->p, cap);
    if (!p) return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

static int vec_put(vec *v, const void *x, size_t k) {
    if (!k) return 0; /* an empty vector may have no buffer: memcpy(NULL, ..) is undefined even for 0 bytes */
    if (vec_reserve(v, k)) return -1;
    memcpy(v->p + v->n, x, k);
    v->n += k;
    return 0;
}

static int put_i32(vec *v, int32_t x) { return vec_put(v, &x, 4); }
static int put_i64(vec *v, int64_t x) { return vec_put(v, &x, 8); }
static int put_u8(vec *v, uint8_t x) { return vec_put(v, &x, 1); }
#define I32(v) ((int32_t *)(v).p)
#define I64(v) ((int64_t *)(v).p)

/* ---- hashing ------------------------------------------------------------- */
static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(ptr s, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix(h ^ w) | 1; /* 0 marks an empty slot */
}

/* ---- string interning ------------------------------------------------------ */
/* A slot holds everything a probe compares, so a look-up touches one slot
 * and, on a hash match, the string's bytes. */
typedef struct {
    uint64_t hash; /* 0 = empty */
    int64_t off;   /* start in arena */
    uint32_t len;
    int32_t id;
} slot;

typedef struct {
    slot *slots;
    size_t mask;
    int32_t count;
    slot last; /* the string looked up last: consecutive lines repeat the same
                  message, text and channel (one send's deliveries) */
    vec arena; /* the strings' bytes */
    vec offs;  /* int64 start of each string in arena, count + 1 entries */
} strtab;

static int tab_init(strtab *t, size_t slots) {
    memset(t, 0, sizeof *t);
    t->slots = calloc(slots, sizeof(slot));
    t->mask = slots - 1;
    if (!t->slots) return -1;
    /* the arena always has a buffer: empty strings compare against arena.p + off */
    if (vec_reserve(&t->arena, 1)) return -1;
    return put_i64(&t->offs, 0);
}

static void tab_free(strtab *t) {
    free(t->slots);
    free(t->arena.p);
    free(t->offs.p);
}

static int tab_grow(strtab *t) {
    size_t n = (t->mask + 1) * 2;
    slot *slots = calloc(n, sizeof(slot));
    if (!slots) return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].hash) continue;
        size_t j = t->slots[i].hash & (n - 1);
        while (slots[j].hash) j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = n - 1;
    return 0;
}

/* The id of string s[0:n], adding it if new; -1 when out of memory or ids. */
static int32_t intern(strtab *t, ptr s, size_t n) {
    if (n > UINT32_MAX) return -1;
    if (t->last.hash && t->last.len == n && memcmp(t->arena.p + t->last.off, s, n) == 0) return t->last.id;
    uint64_t h = hash_bytes(s, n);
    size_t j = h & t->mask;
    while (t->slots[j].hash) {
        slot *e = &t->slots[j];
        if (e->hash == h && e->len == n && memcmp(t->arena.p + e->off, s, n) == 0) {
            t->last = *e;
            return e->id;
        }
        j = (j + 1) & t->mask;
    }
    if (t->count >= MAX_ROWS) return -1;
    int64_t off = (int64_t)t->arena.n;
    if (vec_put(&t->arena, s, n) || put_i64(&t->offs, (int64_t)t->arena.n)) return -1;
    t->slots[j] = (slot){h, off, (uint32_t)n, t->count};
    t->last = t->slots[j];
    t->count++;
    if ((size_t)t->count * 2 > t->mask + 1 && tab_grow(t)) return -1;
    return t->count - 1;
}

/* ---- integer keys to ids -------------------------------------------------------
 * An open-addressing multimap from nonzero 64-bit keys (already well mixed)
 * to int32 ids: (process, channel) pairs, and msgs lists by the hash of their
 * bytes (several lists may share a hash: callers compare what the id names). */
typedef struct {
    uint64_t *key; /* 0 = empty */
    int32_t *id;
    size_t mask, count;
} idmap;

static int idmap_init(idmap *m, size_t slots) {
    m->key = calloc(slots, sizeof(uint64_t));
    m->id = malloc(slots * sizeof(int32_t));
    m->mask = slots - 1;
    m->count = 0;
    return (m->key && m->id) ? 0 : -1;
}

static void idmap_free(idmap *m) {
    free(m->key);
    free(m->id);
}

static void idmap_place(uint64_t *key, int32_t *id, size_t mask, uint64_t k, int32_t v) {
    size_t j = k & mask;
    while (key[j]) j = (j + 1) & mask;
    key[j] = k;
    id[j] = v;
}

static int idmap_add(idmap *m, uint64_t k, int32_t v) {
    if ((m->count + 1) * 2 > m->mask + 1) {
        idmap big;
        if (idmap_init(&big, (m->mask + 1) * 2)) {
            idmap_free(&big);
            return -1;
        }
        for (size_t i = 0; i <= m->mask; i++)
            if (m->key[i]) idmap_place(big.key, big.id, big.mask, m->key[i], m->id[i]);
        big.count = m->count;
        idmap_free(m);
        *m = big;
    }
    idmap_place(m->key, m->id, m->mask, k, v);
    m->count++;
    return 0;
}

/* ---- (process, channel) pairs ------------------------------------------------ */
typedef struct {
    idmap map;            /* mix((proc << 32 | chan) + 1) -> pair id (fmix64 is a bijection) */
    int32_t count;
    vec proc, chan, last; /* int32 per pair; last = latest deliver row or -1 */
} pairtab;

static void pairs_free(pairtab *t) {
    idmap_free(&t->map);
    free(t->proc.p);
    free(t->chan.p);
    free(t->last.p);
}

static int32_t pair_of(pairtab *t, int32_t proc, int32_t chan) {
    uint64_t k = mix((((uint64_t)(uint32_t)proc << 32) | (uint32_t)chan) + 1);
    for (size_t j = k & t->map.mask; t->map.key[j]; j = (j + 1) & t->map.mask)
        if (t->map.key[j] == k) return t->map.id[j];
    if (t->count >= MAX_ROWS) return -1;
    if (put_i32(&t->proc, proc) || put_i32(&t->chan, chan) || put_i32(&t->last, -1) ||
        idmap_add(&t->map, k, t->count))
        return -1;
    return t->count++;
}

/* ---- scanner state ------------------------------------------------------------ */
typedef struct {
    ptr end;
    strtab names, msgs, texts;
    pairtab pairs;
    vec typ, fc;                               /* uint8 per row */
    vec proc, chan, msg, text, pair, prev;     /* int32 per row */
    vec list_row, list_off, list_msgs, list_dup; /* CSR of msgs lists */
    vec stamp;                                 /* int32 per msg id: last list + 1 */
    vec scratch;                               /* decoded strings with escapes */
    int32_t nlists;
    /* lists seen, by the hash of their raw bytes: a final read usually
     * repeats the store report (or another reader's list) byte for byte */
    vec seen_raw;   /* per list: ptr start, size_t len */
    idmap seen;     /* hash -> index into seen_raw */
} S;

/* ---- JSON pieces -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), 0 if none. */
static int utf8_len(ptr p, ptr end) {
    unsigned c = p[0];
    ptrdiff_t left = end - p;
    if (c >= 0xc2 && c <= 0xdf) return (left >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || (p[2] & 0xc0) != 0x80) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;
}

static int hex4(ptr p, ptr end, unsigned *out) {
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* A JSON string at p (which must be '"'). Returns the byte after the closing
 * quote, with the decoded text in *out and *len (the input itself when it has no
 * escapes, else s->scratch, valid until the next call); NULL if malformed. */
static ptr str(S *s, ptr p, ptr *out, size_t *len) {
    ptr end = s->end;
    if (p >= end || *p != '"') return NULL;
    ptr start = ++p;
    /* eight plain bytes at a time: none is '"', '\\', a control byte or non-ASCII */
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t special = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
        if (special & high) break;
        p += 8;
    }
    for (;;) {
        if (p >= end) return NULL;
        unsigned c = *p;
        if (c == '"') {
            *out = start;
            *len = (size_t)(p - start);
            return p + 1;
        }
        if (c == '\\') break;
        if (c < 0x20) return NULL;
        if (c < 0x80) {
            p++;
        } else {
            int k = utf8_len(p, end);
            if (!k) return NULL;
            p += k;
        }
    }
    /* escapes: decoded text is never longer than the raw text */
    ptr q = p;
    while (q < end && *q != '"') {
        if (*q == '\\') {
            if (end - q < 2) return NULL;
            q += 2;
        } else {
            q++;
        }
    }
    if (q >= end) return NULL;
    s->scratch.n = 0;
    if (vec_reserve(&s->scratch, (size_t)(q - start))) return NULL;
    char *o = s->scratch.p;
    memcpy(o, start, (size_t)(p - start));
    o += p - start;
    for (;;) {
        if (p >= end) return NULL;
        unsigned c = *p;
        if (c == '"') break;
        if (c < 0x20) return NULL;
        if (c >= 0x80) {
            int k = utf8_len(p, end);
            if (!k) return NULL;
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (end - p < 2) return NULL;
        unsigned e = p[1];
        p += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, end, &cp)) return NULL;
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) return NULL; /* lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo)) return NULL;
                if (lo < 0xdc00 || lo > 0xdfff) return NULL;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            return NULL;
        }
    }
    *out = (ptr)s->scratch.p;
    *len = (size_t)(o - s->scratch.p);
    return p + 1;
}

/* A JSON number per the grammar; NULL if malformed. */
static ptr number(ptr p, ptr end) {
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The value of the number [p, q) when it can be computed exactly with one
 * correctly rounded IEEE operation (mantissa < 2^53, |exponent| <= 22: the
 * same double any correctly rounded parser gives); -1 otherwise. */
static int exact_double(ptr p, ptr q, double *out) {
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    uint64_t mant = 0;
    int digits = 0, seen_dot = 0;
    int64_t frac = 0; /* one per fraction digit: a line of zeros must not overflow it */
    int64_t exp = 0;
    for (; p < q && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            seen_dot = 1;
            continue;
        }
        if (mant == 0 && *p == '0') { /* leading zeros carry no digits */
            if (seen_dot) frac++;
            continue;
        }
        if (++digits > 15) return -1;
        mant = mant * 10 + (uint64_t)(*p - '0');
        if (seen_dot) frac++;
    }
    if (p < q) { /* exponent */
        p++;
        int eneg = 0;
        if (*p == '+' || *p == '-') eneg = (*p++ == '-');
        for (; p < q; p++) {
            exp = exp * 10 + (*p - '0');
            if (exp > 1000) return -1;
        }
        if (eneg) exp = -exp;
    }
    int64_t e10 = exp - frac;
    double v = (double)mant;
    if (mant == 0) e10 = 0;
    if (e10 > 22 || e10 < -22) return -1;
    v = e10 >= 0 ? v * POW10[e10] : v / POW10[-e10];
    *out = neg ? -v : v;
    return 0;
}

/* Whether msgspec's generic decoder (what the reference uses for a value
 * when any op's value does not have the slim shape) takes the number [p, q)
 * without "out of range": a float below 10^308 in magnitude, an integer of
 * at most 600 digits (Python refuses int conversions longer than its
 * int_max_str_digits, 640 at the least). Bounds are conservative: a number
 * near a limit is declined, which only costs the fast path. */
static int number_in_range(ptr p, ptr q) {
    if (*p == '-') p++;
    int nonzero = 0, is_float = 0;
    int64_t digits = 0, zeros = 0, e = 0; /* integer digits; fraction zeros before the first nonzero */
    for (; p < q && *p >= '0' && *p <= '9'; p++) {
        nonzero |= *p != '0';
        digits += nonzero;
    }
    if (p < q && *p == '.') {
        is_float = 1;
        for (p++; p < q && *p >= '0' && *p <= '9'; p++) {
            if (*p != '0') nonzero = 1;
            else if (!nonzero) zeros++;
        }
    }
    if (p < q) { /* 'e' or 'E': number() checked the grammar */
        is_float = 1;
        int neg = 0;
        p++;
        if (*p == '+' || *p == '-') neg = (*p++ == '-');
        for (; p < q; p++)
            if (e < 1000000) e = e * 10 + (*p - '0'); /* saturates: only the sign of the bound matters */
        if (neg) e = -e;
    }
    if (!nonzero) return 1; /* a zero, however spelled */
    if (!is_float) return digits <= 600;
    /* |value| < 10^(digits + e), or 10^(e - zeros) when the integer part is 0 */
    return (digits ? digits : -zeros) + e <= 308;
}

/* After an item of an array or object: 1 at ',' (more follow), 0 at `close`
 * (done), -1 otherwise; *pp moves past the separator. */
static int next_item(ptr *pp, ptr end, unsigned close) {
    if (*pp >= end) return -1;
    if (**pp == ',') {
        ++*pp;
        return 1;
    }
    if (**pp == close) {
        ++*pp;
        return 0;
    }
    return -1;
}

static ptr skip_value(S *s, ptr p, int depth);

static ptr skip_container(S *s, ptr p, int depth) {
    ptr end = s->end;
    unsigned close = (*p == '{') ? '}' : ']';
    int obj = (*p == '{');
    p++;
    if (p < end && *p == close) return p + 1;
    for (;;) {
        if (obj) {
            ptr k;
            size_t kl;
            p = str(s, p, &k, &kl);
            if (!p || p >= end || *p != ':') return NULL;
            p++;
        }
        if (!(p = skip_value(s, p, depth + 1))) return NULL;
        int more = next_item(&p, end, close);
        if (more < 0) return NULL;
        if (!more) return p;
    }
}

/* Validate and skip any JSON value (no whitespace: chatsim writes none). */
static ptr skip_value(S *s, ptr p, int depth) {
    ptr end = s->end;
    if (p >= end || depth > MAX_DEPTH) return NULL;
    switch (*p) {
    case '"': {
        ptr v;
        size_t n;
        return str(s, p, &v, &n);
    }
    case '{':
    case '[':
        return skip_container(s, p, depth);
    case 't':
        return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;
    case 'f':
        return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;
    case 'n':
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    default: {
        ptr q = number(p, end);
        return (q && number_in_range(p, q)) ? q : NULL;
    }
    }
}

#define EQ(k, kl, lit) ((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)
#define EXPECT(lit)                                                                     \
    do {                                                                                \
        if ((size_t)(end - p) < sizeof(lit) - 1 || memcmp(p, lit, sizeof(lit) - 1)) return -1; \
        p += sizeof(lit) - 1;                                                           \
    } while (0)

/* A string-or-null field: *id = interned id (tab != NULL), -1 for null. */
static ptr str_or_null(S *s, ptr p, strtab *tab, int32_t *id) {
    ptr end = s->end;
    if (p < end && *p == 'n') {
        *id = -1;
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    }
    ptr v;
    size_t n;
    p = str(s, p, &v, &n);
    if (!p) return NULL;
    *id = tab ? intern(tab, v, n) : 0;
    if (*id < 0) return NULL;
    return p;
}

typedef struct {
    ptr raw;
    size_t len;
    int32_t list;
} span;

/* The end of the array at p (past its ']'), strings skipped unvalidated;
 * NULL if there is none. Only a span the full parse accepted is ever reused. */
static ptr array_end(ptr p, ptr end) {
    for (p++; p < end; p++) {
        if (*p == ']') return p + 1;
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && ++p >= end) return NULL;
            if (p >= end) return NULL;
        }
    }
    return NULL;
}

/* Record list `list` (already in the CSR) as the first with these raw bytes. */
static int remember(S *s, ptr raw, size_t len, uint64_t h, int32_t list) {
    span sp = {raw, len, list};
    return vec_put(&s->seen_raw, &sp, sizeof sp) || idmap_add(&s->seen, h, (int32_t)s->seen.count);
}

/* Append list `list`'s ids again as a new list for `row`. */
static int repeat_list(S *s, int32_t list, int32_t row) {
    const int64_t *off = I64(s->list_off);
    size_t a = (size_t)off[list], b = (size_t)off[list + 1];
    if (b > a) { /* an empty list: list_msgs may have no buffer yet */
        if (vec_reserve(&s->list_msgs, (b - a) * 4)) return -1;
        memcpy(s->list_msgs.p + s->list_msgs.n, s->list_msgs.p + a * 4, (b - a) * 4);
        s->list_msgs.n += (b - a) * 4;
    }
    uint8_t dup = ((uint8_t *)s->list_dup.p)[list];
    if (put_i32(&s->list_row, row) || put_i64(&s->list_off, (int64_t)(s->list_msgs.n / 4)) ||
        put_u8(&s->list_dup, dup))
        return -1;
    s->nlists++;
    return 0;
}

/* A msgs list: null (*have = 0) or an array of strings, appended to the CSR. */
static ptr msgs_list(S *s, ptr p, int32_t row, int record, int *have) {
    ptr end = s->end;
    if (p < end && *p == 'n') {
        *have = 0;
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    }
    if (!record || p >= end || *p != '[') return NULL;
    *have = 1;
    ptr raw = p, raw_end = array_end(p, end);
    if (!raw_end) return NULL;
    size_t raw_len = (size_t)(raw_end - raw);
    uint64_t h = hash_bytes(raw, raw_len);
    const span *spans = (const span *)s->seen_raw.p;
    for (size_t j = h & s->seen.mask; s->seen.key[j]; j = (j + 1) & s->seen.mask) {
        const span *k = &spans[s->seen.id[j]];
        if (s->seen.key[j] == h && k->len == raw_len && memcmp(k->raw, raw, raw_len) == 0)
            return repeat_list(s, k->list, row) ? NULL : raw_end;
    }
    p++;
    int32_t list = s->nlists;
    int32_t stamp = list + 1;
    uint8_t dup = 0;
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            ptr v;
            size_t n;
            p = str(s, p, &v, &n);
            if (!p) return NULL;
            int32_t m = intern(&s->msgs, v, n);
            if (m < 0) return NULL;
            size_t known = s->stamp.n / 4;
            if ((size_t)m >= known) {
                size_t more = (size_t)m + 1 - known;
                if (vec_reserve(&s->stamp, more * 4)) return NULL;
                memset(s->stamp.p + s->stamp.n, 0, more * 4);
                s->stamp.n += more * 4;
            }
            if (I32(s->stamp)[m] == stamp) dup = 1;
            I32(s->stamp)[m] = stamp;
            if (put_i32(&s->list_msgs, m)) return NULL;
            int more = next_item(&p, end, ']');
            if (more < 0) return NULL;
            if (!more) break;
        }
    }
    if (put_i32(&s->list_row, row) || put_i64(&s->list_off, (int64_t)(s->list_msgs.n / 4)) ||
        put_u8(&s->list_dup, dup) || remember(s, raw, raw_len, h, list))
        return NULL;
    s->nlists++;
    if (p != raw_end) return NULL; /* cannot happen: both stop at the same ']' */
    return p;
}

/* One op line at *pp for row `row`. 0 = recognised, -1 = not mine, -2 = no memory. */
static int line(S *s, ptr *pp, int32_t row, double *last_time) {
    ptr p = *pp, end = s->end, v;
    size_t n;
    EXPECT("{\"index\":");
    /* the index: canonical digits equal to the row */
    {
        ptr q = p;
        int64_t x = 0;
        while (q < end && *q >= '0' && *q <= '9' && q - p < 18) x = x * 10 + (*q++ - '0');
        if (q == p || (q - p > 1 && *p == '0') || x != row) return -1;
        if (q < end && *q >= '0' && *q <= '9') return -1;
        p = q;
    }
    EXPECT(",\"time\":");
    {
        ptr q = number(p, end);
        double t;
        if (!q || exact_double(p, q, &t)) return -1;
        if (t < *last_time) return -1; /* the reference names this error */
        *last_time = t;
        p = q;
    }
    EXPECT(",\"process\":");
    if (!(p = str(s, p, &v, &n))) return -1;
    int32_t proc = intern(&s->names, v, n);
    if (proc < 0) return -2;
    EXPECT(",\"type\":");
    if (!(p = str(s, p, &v, &n))) return -1;
    int typ;
    if (EQ(v, n, "invoke")) typ = T_INVOKE;
    else if (EQ(v, n, "ok")) typ = T_OK;
    else if (EQ(v, n, "fail")) typ = T_FAIL;
    else if (EQ(v, n, "info")) typ = T_INFO;
    else if (EQ(v, n, "event")) typ = T_EVENT;
    else return -1;
    EXPECT(",\"f\":");
    if (!(p = str(s, p, &v, &n))) return -1;
    int f = F_OTHER;
    if (EQ(v, n, "send")) f = F_SEND;
    else if (EQ(v, n, "read")) f = F_READ;
    else if (EQ(v, n, "deliver")) f = F_DELIVER;
    else if (EQ(v, n, "stored")) f = F_STORED;
    else if (EQ(v, n, "connect")) f = F_CONNECT;
    else if (EQ(v, n, "disconnect")) f = F_DISCONNECT;
    else if (EQ(v, n, "directory") || EQ(v, n, "directory-truth")) return -1; /* boot consistency: reference */
    /* DESIGN §6: these are events; another type makes an op checkers ignore,
     * which the reference path judges (rare: not worth a column) */
    if (typ != T_EVENT && (f == F_DELIVER || f == F_STORED || f == F_CONNECT || f == F_DISCONNECT)) return -1;
    EXPECT(",\"value\":");
    int32_t chan = -1, msg = -1, text = -1, pair = -1, prev = -1;
    if (p >= end || *p != '{') return -1;
    if (f == F_OTHER || f == F_CONNECT || f == F_DISCONNECT) {
        if (!(p = skip_value(s, p, 1))) return -1;
    } else {
        /* the fields checkers read, with the types the reference decodes */
        int seen = 0, have_list = 0;
        int rec_list = (f == F_STORED) || (f == F_READ && typ == T_OK);
        int ids = (f == F_SEND || f == F_DELIVER);
        p++;
        if (p < end && *p == '}') {
            p++;
        } else {
            for (;;) {
                if (!(p = str(s, p, &v, &n))) return -1;
                if (p >= end || *p != ':') return -1;
                p++;
                int bit;
                if (EQ(v, n, "channel")) {
                    bit = 1;
                    p = str_or_null(s, p, &s->names, &chan);
                } else if (EQ(v, n, "msg")) {
                    bit = 2;
                    p = str_or_null(s, p, ids ? &s->msgs : NULL, &msg);
                } else if (EQ(v, n, "text")) {
                    bit = 4;
                    p = str_or_null(s, p, ids ? &s->texts : NULL, &text);
                } else if (EQ(v, n, "msgs")) {
                    bit = 8;
                    p = msgs_list(s, p, row, rec_list, &have_list);
                } else if (EQ(v, n, "version") || EQ(v, n, "channels")) {
                    return -1;
                } else {
                    bit = 0;
                    p = skip_value(s, p, 2);
                }
                if (!p || (seen & bit)) return -1; /* duplicate keys: leave them to the reference */
                seen |= bit;
                int more = next_item(&p, end, '}');
                if (more < 0) return -1;
                if (!more) break;
            }
        }
        if (!ids) msg = text = -1;
        /* what the reference's index requires (else it raises, so not mine) */
        if ((f == F_SEND || f == F_DELIVER) && (chan < 0 || msg < 0)) return -1;
        if (f == F_STORED && (chan < 0 || !have_list)) return -1;
        if (f == F_READ && typ == T_INVOKE && chan < 0) return -1;
        if (f == F_READ && typ == T_OK && (chan < 0 || !have_list)) return -1;
        if (f == F_DELIVER || (f == F_READ && (typ == T_INVOKE || typ == T_OK))) {
            pair = pair_of(&s->pairs, proc, chan);
            if (pair < 0) return -2;
            if (f == F_DELIVER) {
                prev = I32(s->pairs.last)[pair];
                I32(s->pairs.last)[pair] = row;
            }
        }
    }
    EXPECT("}");
    if (p < end) {
        if (*p != '\n') return -1;
        p++;
    }
    if (put_u8(&s->typ, (uint8_t)typ) || put_u8(&s->fc, (uint8_t)f) || put_i32(&s->proc, proc) ||
        put_i32(&s->chan, chan) || put_i32(&s->msg, msg) || put_i32(&s->text, text) ||
        put_i32(&s->pair, pair) || put_i32(&s->prev, prev))
        return -2;
    *pp = p;
    return 0;
}

static void state_free(S *s) {
    tab_free(&s->names);
    tab_free(&s->msgs);
    tab_free(&s->texts);
    pairs_free(&s->pairs);
    idmap_free(&s->seen);
    vec *vs[] = {&s->typ, &s->fc, &s->proc, &s->chan, &s->msg, &s->text, &s->pair, &s->prev, &s->list_row,
                 &s->list_off, &s->list_msgs, &s->list_dup, &s->stamp, &s->scratch, &s->seen_raw};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) free(vs[i]->p);
}

static PyObject *bytes_of(vec *v) {
    return PyBytes_FromStringAndSize(v->p ? v->p : "", (Py_ssize_t)v->n);
}

/* The bytes of v as a Python bytes object, v's memory given back at once:
 * the result's copies never sit beside all the vectors they were made from
 * (a large history's columns would otherwise be held twice for a moment). */
static PyObject *take(vec *v) {
    PyObject *b = bytes_of(v);
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
    return b;
}

/* d[k] = v, consuming v; -1 (an exception set) if v is NULL or on failure. */
static int put(PyObject *d, const char *k, PyObject *v) {
    if (!v) return -1;
    int rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *names_list(strtab *t) {
    PyObject *out = PyList_New(t->count);
    if (!out) return NULL;
    const int64_t *offs = I64(t->offs);
    for (int32_t i = 0; i < t->count; i++) {
        PyObject *u = PyUnicode_DecodeUTF8(t->arena.p + offs[i], (Py_ssize_t)(offs[i + 1] - offs[i]), "strict");
        if (!u) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, u);
    }
    return out;
}

PyDoc_STRVAR(scan_doc,
"scan(data, start) -> dict | None\n\n"
"Columns of the op lines of ``data[start:]`` (a chatsim history after its\n"
"header), or None when any line is not exactly chatsim's own layout.\n"
"Keys: n, typ and fc (uint8 bytes), proc, chan, msg, text, pair, prev\n"
"(int32 bytes, -1 = absent), names (list of str), n_msgs, n_texts,\n"
"pair_proc, pair_chan (int32 bytes), list_row (int32), list_off (int64,\n"
"one more than lists), list_msgs (int32), list_dup (uint8).");

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &start)) return NULL;
    if (start < 0 || start > buf.len) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "start out of range");
        return NULL;
    }
    S s;
    memset(&s, 0, sizeof s);
    int rc = 0;
    if (tab_init(&s.names, 1024) || tab_init(&s.msgs, 1 << 16) || tab_init(&s.texts, 1 << 16) ||
        idmap_init(&s.pairs.map, 1024) || idmap_init(&s.seen, 64) || put_i64(&s.list_off, 0))
        rc = -2;
    ptr p = (ptr)buf.buf + start;
    s.end = (ptr)buf.buf + buf.len;
    int32_t row = 0;
    if (rc == 0) {
        Py_BEGIN_ALLOW_THREADS
        double last = -1.0 / 0.0;
        while (p < s.end) {
            if (row >= MAX_ROWS) {
                rc = -1;
                break;
            }
            rc = line(&s, &p, row, &last);
            if (rc) break;
            row++;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&buf);
    if (rc) {
        state_free(&s);
        if (rc == -2) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    int n_msgs = (int)s.msgs.count, n_texts = (int)s.texts.count;
    /* What the result does not hold goes first; then each column is copied
     * and its vector freed in turn (take), so the peak is the columns once
     * plus the largest of them, not twice over. */
    tab_free(&s.msgs);
    memset(&s.msgs, 0, sizeof s.msgs);
    tab_free(&s.texts);
    memset(&s.texts, 0, sizeof s.texts);
    idmap_free(&s.seen);
    memset(&s.seen, 0, sizeof s.seen);
    idmap_free(&s.pairs.map);
    memset(&s.pairs.map, 0, sizeof s.pairs.map);
    vec *spent[] = {&s.stamp, &s.scratch, &s.seen_raw, &s.pairs.last};
    for (size_t i = 0; i < sizeof spent / sizeof *spent; i++) {
        free(spent[i]->p);
        spent[i]->p = NULL;
    }
    PyObject *out = PyDict_New();
    if (out && (put(out, "n", PyLong_FromSsize_t((Py_ssize_t)row)) || put(out, "typ", take(&s.typ)) ||
                put(out, "fc", take(&s.fc)) || put(out, "proc", take(&s.proc)) ||
                put(out, "chan", take(&s.chan)) || put(out, "msg", take(&s.msg)) ||
                put(out, "text", take(&s.text)) || put(out, "pair", take(&s.pair)) ||
                put(out, "prev", take(&s.prev)) || put(out, "names", names_list(&s.names)) ||
                put(out, "n_msgs", PyLong_FromLong(n_msgs)) || put(out, "n_texts", PyLong_FromLong(n_texts)) ||
                put(out, "pair_proc", take(&s.pairs.proc)) || put(out, "pair_chan", take(&s.pairs.chan)) ||
                put(out, "list_row", take(&s.list_row)) || put(out, "list_off", take(&s.list_off)) ||
                put(out, "list_msgs", take(&s.list_msgs)) || put(out, "list_dup", take(&s.list_dup)))) {
        Py_DECREF(out);
        out = NULL;
    }
    state_free(&s);
    return out;
}

static PyMethodDef methods[] = {{"scan", scan, METH_VARARGS, scan_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan",
                                    "Native scanner of chatsim's history lines (see invariants/fast.py).", -1,
                                    methods, NULL, NULL, NULL, NULL};

/* Bumped whenever scan()'s columns change: invariants/fast.py refuses a stale build. */
#define FASTSCAN_ABI 2

PyMODINIT_FUNC PyInit__fastscan(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI", FASTSCAN_ABI)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
