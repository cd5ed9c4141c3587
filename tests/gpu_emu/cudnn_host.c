/* A host stand-in for the part of cuDNN that lrn's GPU comparison calls
 * (lrn/_bench_cudnn.py), written from cuDNN's API reference: the same prototypes, and
 * cudnnLRNCrossChannelForward/Backward computed on host memory through the tensor
 * descriptor's dims (N, C, spatial...) and strides, lrnAlpha divided by lrnN, the window
 * [c - (lrnN - 1) / 2, c + lrnN / 2] (lrn's "onnx" convention), the blending factors
 * alpha and beta read as double for double data and as float otherwise.  float and
 * double only (half: CUDNN_STATUS_NOT_SUPPORTED).  Built by tests/test_bench.py with the
 * host C compiler, so that the ctypes wrapper runs end to end without a GPU. */
#include <math.h>
#include <stdlib.h>

enum { SUCCESS = 0, BAD_PARAM = 2000, NOT_SUPPORTED = 3000 };
enum { MAX_DIMS = 8 };

typedef struct { int type, nd, dims[MAX_DIMS], strides[MAX_DIMS]; } Tensor;
typedef struct { unsigned n; double alpha, beta, k; } Norm;
typedef struct { void *stream; } Handle;

size_t cudnnGetVersion(void) { return 90000; }

const char *cudnnGetErrorString(int status) {
    switch (status) {
    case SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_UNKNOWN";
    }
}

static int create(void **out, size_t size) {
    *out = calloc(1, size);
    return *out ? SUCCESS : BAD_PARAM;
}

int cudnnCreate(void **handle) { return create(handle, sizeof(Handle)); }
int cudnnDestroy(void *handle) { free(handle); return SUCCESS; }
int cudnnSetStream(void *handle, void *stream) { ((Handle *)handle)->stream = stream; return SUCCESS; }
int cudnnCreateTensorDescriptor(void **desc) { return create(desc, sizeof(Tensor)); }
int cudnnDestroyTensorDescriptor(void *desc) { free(desc); return SUCCESS; }
int cudnnCreateLRNDescriptor(void **desc) { return create(desc, sizeof(Norm)); }
int cudnnDestroyLRNDescriptor(void *desc) { free(desc); return SUCCESS; }

int cudnnSetTensorNdDescriptor(void *desc, int type, int nd, const int *dims,
                               const int *strides) {
    Tensor *t = desc;
    if (nd < 4 || nd > MAX_DIMS || type < 0 || type > 2) return BAD_PARAM;
    t->type = type;
    t->nd = nd;
    for (int i = 0; i < nd; i++) {
        if (dims[i] < 1 || strides[i] < 1) return BAD_PARAM;
        t->dims[i] = dims[i];
        t->strides[i] = strides[i];
    }
    return SUCCESS;
}

int cudnnSetLRNDescriptor(void *desc, unsigned n, double alpha, double beta, double k) {
    Norm *d = desc;
    if (n < 1 || n > 16 || k < 1e-5 || beta < 0.01) return BAD_PARAM;
    d->n = n; d->alpha = alpha; d->beta = beta; d->k = k;
    return SUCCESS;
}

static double get(const Tensor *t, const void *p, long i) {
    return t->type == 1 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void put(const Tensor *t, void *p, long i, double v) {
    if (t->type == 1) ((double *)p)[i] = v; else ((float *)p)[i] = (float)v;
}

static double factor(const Tensor *t, const void *p) {
    return t->type == 1 ? *(const double *)p : *(const float *)p;
}

/* the offset of element (n, 0, spatial position `pos`) */
static long row_offset(const Tensor *t, long n, long pos) {
    long off = n * t->strides[0];
    for (int d = t->nd - 1; d >= 2; d--) {
        off += (pos % t->dims[d]) * t->strides[d];
        pos /= t->dims[d];
    }
    return off;
}

static long positions(const Tensor *t) {
    long s = 1;
    for (int d = 2; d < t->nd; d++) s *= t->dims[d];
    return s;
}

static double scale_at(const Norm *d, const Tensor *t, const void *x, long off, int c) {
    int pre = (d->n - 1) / 2, post = d->n - 1 - pre;
    double sum = 0;
    for (int j = c - pre; j <= c + post; j++)
        if (j >= 0 && j < t->dims[1]) {
            double v = get(t, x, off + (long)j * t->strides[1]);
            sum += v * v;
        }
    return d->k + d->alpha / d->n * sum;
}

static int same(const Tensor *a, const Tensor *b) {
    if (a->type != b->type || a->nd != b->nd) return 0;
    for (int i = 0; i < a->nd; i++)
        if (a->dims[i] != b->dims[i] || a->strides[i] != b->strides[i]) return 0;
    return 1;
}

int cudnnLRNCrossChannelForward(void *handle, void *norm, int mode, const void *alpha,
                                void *xDesc, const void *x, const void *beta, void *yDesc,
                                void *y) {
    const Norm *d = norm;
    const Tensor *t = xDesc;
    (void)handle;
    if (mode != 0 || !same(t, yDesc)) return BAD_PARAM;
    if (t->type == 2) return NOT_SUPPORTED;
    double a = factor(t, alpha), b = factor(t, beta);
    for (long n = 0; n < t->dims[0]; n++)
        for (long s = 0; s < positions(t); s++) {
            long off = row_offset(t, n, s);
            for (int c = 0; c < t->dims[1]; c++) {
                long i = off + (long)c * t->strides[1];
                double v = get(t, x, i) * pow(scale_at(d, t, x, off, c), -d->beta);
                put(t, y, i, a * v + (b != 0 ? b * get(t, y, i) : 0));
            }
        }
    return SUCCESS;
}

int cudnnLRNCrossChannelBackward(void *handle, void *norm, int mode, const void *alpha,
                                 void *yDesc, const void *y, void *dyDesc, const void *dy,
                                 void *xDesc, const void *x, const void *beta, void *dxDesc,
                                 void *dx) {
    const Norm *d = norm;
    const Tensor *t = xDesc;
    int pre = (d->n - 1) / 2, post = d->n - 1 - pre;
    (void)handle;
    if (mode != 0 || !same(t, yDesc) || !same(t, dyDesc) || !same(t, dxDesc))
        return BAD_PARAM;
    if (t->type == 2) return NOT_SUPPORTED;
    double a = factor(t, alpha), b = factor(t, beta);
    double coef = 2 * d->alpha * d->beta / d->n;
    for (long n = 0; n < t->dims[0]; n++)
        for (long s = 0; s < positions(t); s++) {
            long off = row_offset(t, n, s);
            for (int c = 0; c < t->dims[1]; c++) {
                long i = off + (long)c * t->strides[1];
                double sum = 0;   /* over the windows that contain c */
                for (int j = c - post; j <= c + pre; j++)
                    if (j >= 0 && j < t->dims[1]) {
                        long k = off + (long)j * t->strides[1];
                        sum += get(t, dy, k) * get(t, y, k) / scale_at(d, t, x, off, j);
                    }
                double g = get(t, dy, i) * pow(scale_at(d, t, x, off, c), -d->beta)
                           - coef * get(t, x, i) * sum;
                put(t, dx, i, a * g + (b != 0 ? b * get(t, dx, i) : 0));
            }
        }
    return SUCCESS;
}
