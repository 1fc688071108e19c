/*
 * A TF-LSTMCell-compatible LSTM in C, speaking lstm-conformance's exec protocol
 * (docs/exec-protocol.md):  lstm CASES.npz RESULTS.npz
 *
 * Supports forget_bias, non-zero initial state, peepholes, cell_clip, projection and
 * proj_clip, in float32 and float64 (tanh only).  Computes in double, keeps the state in
 * the case's dtype between steps.  Build variants that are wrong on purpose:
 *   -DDROP_FORGET_BIAS   never adds forget_bias (the classic porting mistake)
 *
 * The .npz reader handles what numpy.savez writes (a stored, uncompressed zip); the
 * writer produces one.  No dependencies beyond libc and libm.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg, const char *detail) {
    fprintf(stderr, "lstm.c: %s%s%s\n", msg, detail ? " " : "", detail ? detail : "");
    exit(3);
}

/* ---------------------------------------------------------------- reading .npz */
typedef struct { char name[128]; const unsigned char *data; uint32_t size; } Entry;
typedef struct { unsigned char *buf; long len; Entry *entries; int count; } Npz;

static uint32_t rd16(const unsigned char *p) { return p[0] | (p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static Npz npz_read(const char *path) {
    Npz z = {0};
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    fseek(f, 0, SEEK_END);
    z.len = ftell(f);
    fseek(f, 0, SEEK_SET);
    z.buf = malloc(z.len);
    if (fread(z.buf, 1, z.len, f) != (size_t)z.len) die("cannot read", path);
    fclose(f);
    long eocd = -1;
    for (long i = z.len - 22; i >= 0 && i >= z.len - 22 - 65535; i--)
        if (rd32(z.buf + i) == 0x06054b50) { eocd = i; break; }
    if (eocd < 0) die("not a zip file:", path);
    int n = rd16(z.buf + eocd + 10);
    uint32_t cd = rd32(z.buf + eocd + 16);
    z.entries = calloc(n, sizeof(Entry));
    z.count = n;
    const unsigned char *p = z.buf + cd;
    for (int k = 0; k < n; k++) {
        if (rd32(p) != 0x02014b50) die("bad zip central directory in", path);
        if (rd16(p + 10) != 0) die("compressed zip entries are not supported:", path);
        uint32_t size = rd32(p + 24), nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
        uint32_t local = rd32(p + 42);
        if (nlen >= sizeof z.entries[k].name) die("zip entry name too long in", path);
        memcpy(z.entries[k].name, p + 46, nlen);
        const unsigned char *lh = z.buf + local;
        z.entries[k].data = lh + 30 + rd16(lh + 26) + rd16(lh + 28);
        z.entries[k].size = size;
        p += 46 + nlen + xlen + clen;
    }
    return z;
}

typedef struct { char kind; int bytes; int ndim; long shape[4]; const unsigned char *data; long n; } Array;

/* The array stored as NAME.npy, or an array with ndim -1 if absent. */
static Array npz_get(const Npz *z, const char *name) {
    Array a = {0};
    a.ndim = -1;
    char want[160];
    snprintf(want, sizeof want, "%s.npy", name);
    for (int k = 0; k < z->count; k++) {
        if (strcmp(z->entries[k].name, want) != 0) continue;
        const unsigned char *d = z->entries[k].data;
        if (memcmp(d, "\x93NUMPY", 6) != 0) die("not an npy entry:", want);
        uint32_t hlen = d[6] == 1 ? rd16(d + 8) : rd32(d + 8);
        const char *h = (const char *)d + (d[6] == 1 ? 10 : 12);
        char header[512];
        if (hlen >= sizeof header) die("npy header too long:", want);
        memcpy(header, h, hlen);
        header[hlen] = 0;
        const char *descr = strstr(header, "'descr': '");
        if (!descr) die("npy header without descr:", want);
        descr += 10;
        if (descr[0] != '<' && descr[0] != '|') die("big-endian arrays are not supported:", want);
        a.kind = descr[1];
        a.bytes = atoi(descr + 2);
        if (strstr(header, "'fortran_order': True")) die("fortran-order arrays are not supported:", want);
        const char *s = strstr(header, "'shape': (");
        if (!s) die("npy header without shape:", want);
        s += 10;
        a.ndim = 0;
        a.n = 1;
        while (*s && *s != ')') {
            if (*s >= '0' && *s <= '9') {
                long v = strtol(s, (char **)&s, 10);
                if (a.ndim == 4) die("too many dimensions:", want);
                a.shape[a.ndim++] = v;
                a.n *= v;
            } else {
                s++;
            }
        }
        a.data = (const unsigned char *)h + hlen;
        return a;
    }
    return a;
}

static double elem(const Array *a, long i) {
    if (a->kind == 'f' && a->bytes == 4) { float v; memcpy(&v, a->data + 4 * i, 4); return v; }
    if (a->kind == 'f' && a->bytes == 8) { double v; memcpy(&v, a->data + 8 * i, 8); return v; }
    if (a->kind == 'i' && a->bytes == 8) { int64_t v; memcpy(&v, a->data + 8 * i, 8); return (double)v; }
    die("unsupported array dtype", NULL);
    return 0;
}

/* A case array as doubles (NULL if absent and optional). */
static double *load(const Npz *z, int k, const char *name, long expect, int required) {
    char full[64];
    snprintf(full, sizeof full, "case%d/%s", k, name);
    Array a = npz_get(z, full);
    if (a.ndim < 0) {
        if (required) die("missing array", full);
        return NULL;
    }
    if (a.n != expect) die("array has an unexpected size:", full);
    double *out = malloc(sizeof(double) * (expect ? expect : 1));
    for (long i = 0; i < expect; i++) out[i] = elem(&a, i);
    return out;
}

static double scalar(const Npz *z, const char *name) {
    Array a = npz_get(z, name);
    if (a.ndim != 0) die("missing scalar", name);
    return elem(&a, 0);
}

/* ---------------------------------------------------------------- writing .npz */
static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}
static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

typedef struct { char name[128]; unsigned char *data; uint32_t size, crc, offset; } OutEntry;
typedef struct { OutEntry e[4096]; int count; } OutZip;

static void wr16(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; }
static void wr32(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

/* Add NAME.npy holding n values of dtype descr ("<f4", "<f8", "|S<len>") with the given shape text. */
static void add_npy(OutZip *z, const char *name, const char *descr, const char *shape, const void *values,
                    size_t nbytes) {
    if (z->count == 4096) die("too many output arrays", NULL);
    char header[256];
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    OutEntry *e = &z->e[z->count++];
    snprintf(e->name, sizeof e->name, "%s.npy", name);
    e->size = total + pad + nbytes;
    e->data = malloc(e->size);
    memcpy(e->data, "\x93NUMPY\x01\x00", 8);
    wr16(e->data + 8, len + pad + 1);
    memcpy(e->data + 10, header, len);
    memset(e->data + 10 + len, ' ', pad);
    e->data[10 + len + pad] = '\n';
    memcpy(e->data + total + pad, values, nbytes);
    e->crc = crc32(e->data, e->size);
}

static void add_floats(OutZip *z, const char *name, int bytes, const double *v, long n, const char *shape) {
    void *buf = malloc(n * bytes + 1);
    for (long i = 0; i < n; i++) {
        if (bytes == 4) ((float *)buf)[i] = (float)v[i];
        else ((double *)buf)[i] = v[i];
    }
    add_npy(z, name, bytes == 4 ? "<f4" : "<f8", shape, buf, n * bytes);
    free(buf);
}

static void zip_write(const OutZip *z, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    unsigned char h[46];
    uint32_t offset = 0;
    uint32_t *offsets = malloc(sizeof(uint32_t) * (z->count + 1));
    for (int k = 0; k < z->count; k++) {
        const OutEntry *e = &z->e[k];
        size_t nlen = strlen(e->name);
        memset(h, 0, 30);
        wr32(h, 0x04034b50); wr16(h + 4, 20);
        wr32(h + 14, e->crc); wr32(h + 18, e->size); wr32(h + 22, e->size); wr16(h + 26, nlen);
        offsets[k] = offset;
        fwrite(h, 1, 30, f); fwrite(e->name, 1, nlen, f); fwrite(e->data, 1, e->size, f);
        offset += 30 + nlen + e->size;
    }
    uint32_t cd = offset, cdsize = 0;
    for (int k = 0; k < z->count; k++) {
        const OutEntry *e = &z->e[k];
        size_t nlen = strlen(e->name);
        memset(h, 0, 46);
        wr32(h, 0x02014b50); wr16(h + 4, 20); wr16(h + 6, 20);
        wr32(h + 16, e->crc); wr32(h + 20, e->size); wr32(h + 24, e->size); wr16(h + 28, nlen);
        wr32(h + 42, offsets[k]);
        fwrite(h, 1, 46, f); fwrite(e->name, 1, nlen, f);
        cdsize += 46 + nlen;
    }
    memset(h, 0, 22);
    wr32(h, 0x06054b50); wr16(h + 8, z->count); wr16(h + 10, z->count); wr32(h + 12, cdsize); wr32(h + 16, cd);
    fwrite(h, 1, 22, f);
    if (fclose(f) != 0) die("cannot finish", path);
    free(offsets);
}

/* ---------------------------------------------------------------- the LSTM */
static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double clip(double x, double c) { return c > 0 ? (x < -c ? -c : x > c ? c : x) : x; }
/* Round to the case's dtype, as a native-precision implementation stores its state. */
static double keep(double x, int bytes) { return bytes == 4 ? (double)(float)x : x; }

static void run_case(const Npz *in, OutZip *out, int k) {
    char key[64];
#define S(field) (snprintf(key, sizeof key, "case%d/" field, k), scalar(in, key))
    long B = S("batch"), T = S("time"), I = S("input_size"), H = S("num_units"), P = S("output_size");
    int dtype_id = S("dtype_id"), peep = S("use_peepholes"), proj = S("num_proj") > 0;
    double fb = S("forget_bias"), cell_clip = S("cell_clip"), proj_clip = S("proj_clip");
#undef S
    if (dtype_id != 2 && dtype_id != 3) {
        snprintf(key, sizeof key, "case%d/error", k);
        const char *msg = "only float32 and float64 are implemented";
        char shape[32];
        snprintf(shape, sizeof shape, "()");
        char descr[16];
        snprintf(descr, sizeof descr, "|S%zu", strlen(msg));
        add_npy(out, key, descr, shape, msg, strlen(msg));
        return;
    }
    int bytes = dtype_id == 2 ? 4 : 8;
#ifdef DROP_FORGET_BIAS
    fb = 0.0; /* the bug this variant exists to show */
#endif
    double *x = load(in, k, "inputs", B * T * I, 1), *W = load(in, k, "kernel", (I + P) * 4 * H, 1);
    double *b = load(in, k, "bias", 4 * H, 1), *c0 = load(in, k, "c0", B * H, 1), *h0 = load(in, k, "h0", B * P, 1);
    double *wi = peep ? load(in, k, "w_i_diag", H, 1) : NULL, *wf = peep ? load(in, k, "w_f_diag", H, 1) : NULL;
    double *wo = peep ? load(in, k, "w_o_diag", H, 1) : NULL, *Wp = proj ? load(in, k, "proj_kernel", H * P, 1) : NULL;
    double *outputs = calloc(B * T * P, sizeof(double)), *z = malloc(sizeof(double) * 4 * H);
    double *m = malloc(sizeof(double) * H), *c = malloc(sizeof(double) * B * H), *h = malloc(sizeof(double) * B * P);
    memcpy(c, c0, sizeof(double) * B * H);
    memcpy(h, h0, sizeof(double) * B * P);
    for (long t = 0; t < T; t++) {
        for (long r = 0; r < B; r++) {
            for (long g = 0; g < 4 * H; g++) { /* z = [x_t, h] @ kernel + bias; gates i, j, f, o */
                double s = b[g];
                for (long q = 0; q < I; q++) s += x[(r * T + t) * I + q] * W[q * 4 * H + g];
                for (long q = 0; q < P; q++) s += h[r * P + q] * W[(I + q) * 4 * H + g];
                z[g] = s;
            }
            for (long u = 0; u < H; u++) {
                double cp = c[r * H + u];
                double gi = z[u] + (peep ? wi[u] * cp : 0), gj = z[H + u];
                double gf = z[2 * H + u] + fb + (peep ? wf[u] * cp : 0), go = z[3 * H + u];
                double cn = keep(clip(sigm(gf) * cp + sigm(gi) * tanh(gj), cell_clip), bytes);
                c[r * H + u] = cn;
                m[u] = sigm(go + (peep ? wo[u] * cn : 0)) * tanh(cn); /* output peephole sees the new c */
            }
            for (long q = 0; q < P; q++) {
                double v = m[q < H ? q : 0];
                if (proj) {
                    v = 0;
                    for (long u = 0; u < H; u++) v += m[u] * Wp[u * P + q];
                    v = clip(v, proj_clip);
                }
                h[r * P + q] = keep(v, bytes);
                outputs[(r * T + t) * P + q] = h[r * P + q];
            }
        }
    }
    char shape[64];
    snprintf(key, sizeof key, "case%d/outputs", k);
    snprintf(shape, sizeof shape, "(%ld, %ld, %ld)", B, T, P);
    add_floats(out, key, bytes, outputs, B * T * P, shape);
    snprintf(key, sizeof key, "case%d/c", k);
    snprintf(shape, sizeof shape, "(%ld, %ld)", B, H);
    add_floats(out, key, bytes, c, B * H, shape);
    snprintf(key, sizeof key, "case%d/h", k);
    snprintf(shape, sizeof shape, "(%ld, %ld)", B, P);
    add_floats(out, key, bytes, h, B * P, shape);
    free(x); free(W); free(b); free(c0); free(h0); free(wi); free(wf); free(wo); free(Wp);
    free(outputs); free(z); free(m); free(c); free(h);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES.npz RESULTS.npz\n", argv[0]);
        return 2;
    }
    crc_init();
    Npz in = npz_read(argv[1]);
    static OutZip out;
    if (scalar(&in, "describe") != 0) {
        const char *info =
#ifdef DROP_FORGET_BIAS
            "{\"name\": \"c-lstm-drop-forget-bias\", "
#else
            "{\"name\": \"c-lstm\", "
#endif
            "\"description\": \"TF LSTMCell in C (tests/c/lstm.c)\", "
            "\"features\": [\"forget_bias\", \"initial_state\", \"peepholes\", \"cell_clip\", \"projection\", "
            "\"proj_clip\"], \"dtypes\": [\"float32\", \"float64\"]}";
        char descr[16];
        snprintf(descr, sizeof descr, "|S%zu", strlen(info));
        add_npy(&out, "info", descr, "()", info, strlen(info));
    } else {
        long count = (long)scalar(&in, "count");
        for (long k = 0; k < count; k++) run_case(&in, &out, (int)k);
    }
    zip_write(&out, argv[2]);
    return 0;
}
