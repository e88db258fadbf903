/*
 * Optional C version of PreparedIndex.renderer()'s hot path (ipgeo/prepared.py), in the
 * manner of MarkupSafe's _speedups: same input, same bytes, same exceptions, and the pure
 * Python version is used wherever this module was not built.
 *
 * A Renderer holds a buffer export of the index's mmap; PreparedIndex.close() calls
 * release() on every renderer before it closes the map.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    const uint64_t *keys;
    Py_ssize_t n;
    const uint32_t *bounds;
    Py_ssize_t nbounds;
    int shift;
    const uint64_t *tails;
    Py_ssize_t records;
    const char *blob;
    Py_ssize_t blob_size;
} Renderer;

static PyObject *inet_error(void)
{
    /* socket.inet_pton's error: callers catch OSError to take the general path. */
    PyErr_SetString(PyExc_OSError, "illegal IP address string passed to inet_pton");
    return NULL;
}

static int section(Renderer *self, Py_ssize_t off, Py_ssize_t count, Py_ssize_t width,
                   const char *name)
{
    if (off < 0 || count < 0 || off % 8 || off > self->view.len ||
        count > (self->view.len - off) / width) {
        PyErr_Format(PyExc_ValueError, "section %s lies outside the index", name);
        return -1;
    }
    return 0;
}

static int Renderer_init(Renderer *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"buffer", "keys", "n", "bounds", "shift", "tails", "records",
                             "blob", "blob_size", NULL};
    PyObject *buffer;
    Py_ssize_t keys, n, bounds, tails, records, blob, blob_size;
    int shift;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Onnninnnn", kwlist, &buffer, &keys, &n,
                                     &bounds, &shift, &tails, &records, &blob, &blob_size))
        return -1;
    if (shift != 12 && shift != 16) {
        PyErr_SetString(PyExc_ValueError, "shift must be 12 or 16");
        return -1;
    }
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_SIMPLE) < 0)
        return -1;
    self->has_view = 1;
    self->nbounds = ((Py_ssize_t)1 << (32 - shift)) + 1;
    if (section(self, keys, n, 8, "keys") || section(self, bounds, self->nbounds, 4, "bounds") ||
        section(self, tails, records, 8, "tails") || section(self, blob, blob_size, 1, "blob")) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
        return -1;
    }
    const char *base = self->view.buf;
    self->keys = (const uint64_t *)(base + keys);
    self->n = n;
    self->bounds = (const uint32_t *)(base + bounds);
    self->shift = shift;
    self->tails = (const uint64_t *)(base + tails);
    self->records = records;
    self->blob = base + blob;
    self->blob_size = blob_size;
    return 0;
}

static void Renderer_dealloc(Renderer *self)
{
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Canonical dotted quad, as glibc's inet_pton accepts it: no leading zeros, 0-255. */
static int parse_ipv4(const char *s, Py_ssize_t len, uint32_t *out)
{
    uint32_t value = 0;
    int octets = 0;
    Py_ssize_t i = 0;
    if (len < 7 || len > 15)
        return -1;
    while (octets < 4) {
        Py_ssize_t start = i;
        unsigned octet = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            octet = octet * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        Py_ssize_t digits = i - start;
        if (digits == 0 || digits > 3 || octet > 255 || (digits > 1 && s[start] == '0'))
            return -1;
        value = (value << 8) | octet;
        octets++;
        if (octets < 4) {
            if (i >= len || s[i] != '.')
                return -1;
            i++;
        }
    }
    if (i != len)
        return -1;
    *out = value;
    return 0;
}

static char *put_octet(char *p, unsigned v)
{
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        *p++ = (char)('0' + (v / 10) % 10);
    } else if (v >= 10) {
        *p++ = (char)('0' + v / 10);
    }
    *p++ = (char)('0' + v % 10);
    return p;
}

static const char HEAD[] = "{\"ip\":\"";
static const char MID[] = "\",\"network\":\"";

static PyObject *Renderer_call(Renderer *self, PyObject *args, PyObject *kwds)
{
    PyObject *text;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "render() takes no keyword arguments");
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "render() takes exactly one argument");
        return NULL;
    }
    text = PyTuple_GET_ITEM(args, 0);
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "inet_pton() argument 2 must be str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the prepared index is closed");
        return NULL;
    }
    /* Non-ASCII text is never a dotted quad (inet_pton would refuse its UTF-8 too). */
    if (PyUnicode_READY(text) < 0)
        return NULL;
    if (!PyUnicode_IS_ASCII(text))
        return inet_error();
    Py_ssize_t tlen = PyUnicode_GET_LENGTH(text);
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    uint32_t value;
    if (parse_ipv4(s, tlen, &value) < 0)
        return inet_error();

    Py_ssize_t k = value >> self->shift;
    Py_ssize_t lo = self->bounds[k], hi = self->bounds[k + 1];
    if (lo > hi || hi > self->n) {
        PyErr_SetString(PyExc_IndexError, "index bound out of range");
        return NULL;
    }
    /* bisect_right(keys, value << 32 | 0xFFFFFFFF, lo, hi) - 1 */
    uint64_t probe = ((uint64_t)value << 32) | 0xFFFFFFFFu;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (probe < self->keys[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    Py_ssize_t i = lo - 1;
    if (i < 0)
        Py_RETURN_NONE;
    uint64_t key = self->keys[i];
    uint32_t start = (uint32_t)(key >> 32);
    unsigned plen = (unsigned)(key & 63);
    if (plen > 32) {
        PyErr_SetString(PyExc_IndexError, "prefix length out of range");
        return NULL;
    }
    if (plen < 32 && ((uint64_t)(value - start) >> (32 - plen)))
        Py_RETURN_NONE;
    if (plen == 32 && value != start)
        Py_RETURN_NONE;
    Py_ssize_t rec = (Py_ssize_t)((key >> 6) & 0x3FFFFFF);
    if (rec >= self->records) {
        PyErr_SetString(PyExc_IndexError, "record number out of range");
        return NULL;
    }
    uint64_t tail = self->tails[rec];
    Py_ssize_t toff = (Py_ssize_t)(tail >> 16), tl = (Py_ssize_t)(tail & 0xFFFF);
    /* The Python version slices the map: a tail past the blob is cut at the map's end. */
    const char *end = (const char *)self->view.buf + self->view.len;
    const char *tp = self->blob + toff;
    if (toff > self->view.len || tp > end)
        tl = 0;
    else if (tl > end - tp)
        tl = end - tp;

    char net[24];
    char *p = net;
    p = put_octet(p, start >> 24);
    *p++ = '.';
    p = put_octet(p, (start >> 16) & 255);
    *p++ = '.';
    p = put_octet(p, (start >> 8) & 255);
    *p++ = '.';
    p = put_octet(p, start & 255);
    *p++ = '/';
    p = put_octet(p, plen);
    Py_ssize_t nl = p - net;

    Py_ssize_t size = (Py_ssize_t)(sizeof(HEAD) - 1) + tlen + (Py_ssize_t)(sizeof(MID) - 1) + nl +
                      2 + tl;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    memcpy(o, HEAD, sizeof(HEAD) - 1);
    o += sizeof(HEAD) - 1;
    memcpy(o, s, (size_t)tlen);
    o += tlen;
    memcpy(o, MID, sizeof(MID) - 1);
    o += sizeof(MID) - 1;
    memcpy(o, net, (size_t)nl);
    o += nl;
    *o++ = '"';
    *o++ = ',';
    if (tl)
        memcpy(o, tp, (size_t)tl);
    return out;
}

static PyObject *Renderer_release(Renderer *self, PyObject *Py_UNUSED(ignored))
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Renderer_methods[] = {
    {"release", (PyCFunction)Renderer_release, METH_NOARGS,
     "Give the index's buffer back; calling the renderer afterwards raises ValueError."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RendererType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipgeo._speedups.Renderer",
    .tp_doc = "render(text) -> bytes | None: the lookup JSON of a dotted-quad IPv4 address.",
    .tp_basicsize = sizeof(Renderer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Renderer_init,
    .tp_dealloc = (destructor)Renderer_dealloc,
    .tp_call = (ternaryfunc)Renderer_call,
    .tp_methods = Renderer_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ipgeo._speedups",
    .m_doc = "C version of the prepared index's renderer.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    if (PyType_Ready(&RendererType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RendererType);
    if (PyModule_AddObject(m, "Renderer", (PyObject *)&RendererType) < 0) {
        Py_DECREF(&RendererType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
