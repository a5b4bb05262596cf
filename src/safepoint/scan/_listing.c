/* safepoint.scan._listing: list one directory with lstat, packed (see listing.py).
 *
 * list_dir(path) -> bytes. Every entry except "." and "..", fstatat(AT_SYMLINK_NOFOLLOW)'ed,
 * sorted by the name's bytes, packed per entry as struct "<HIIIQqqq" (name_len, st_mode,
 * st_uid, st_gid, st_ino, st_size, mtime_ns, ctime_ns) followed by the name. An entry that
 * vanishes before its fstatat (ENOENT) is left out. The pure-Python twin in listing.py must give
 * the same bytes and the same exceptions; change both together.
 *
 * list_dirs(paths, threads) -> list: list_dir of each path (None where it fails), read by up to
 * `threads` threads of its own at once, without the GIL until all are done.
 *
 * The syscalls and the sort run without the GIL; the result and any exception are built with it.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define HEADER_SIZE 46 /* struct.calcsize("<HIIIQqqq") */
#define NAME_LEN_MAX 65535
#define NS_PER_S INT64_C(1000000000)

typedef struct {
    const char *name; /* into the arena; set once collection is over (the arena moves) */
    size_t name_off;
    size_t name_len;
    uint32_t mode, uid, gid;
    uint64_t ino;
    int64_t size, mtime_ns, ctime_ns;
} entry_t;

typedef enum {
    FAIL_NONE = 0,
    FAIL_DIR,      /* open/fdopendir/readdir: errno, filename = the directory */
    FAIL_ENTRY,    /* fstatat: errno, filename = directory/name */
    FAIL_NOMEM,    /* malloc/realloc */
    FAIL_NAME,     /* name longer than NAME_LEN_MAX: ENAMETOOLONG, filename = directory/name */
    FAIL_OVERFLOW, /* a timestamp in ns outside int64: OverflowError naming directory/name */
} fail_t;

typedef struct {
    entry_t *entries;
    size_t count, cap;
    char *arena;
    size_t arena_len, arena_cap;
    fail_t fail;
    int err;          /* errno of FAIL_DIR / FAIL_ENTRY */
    char *bad_name;   /* malloc'ed copy of the entry a FAIL_ENTRY/NAME/OVERFLOW is about */
    size_t bad_len;
} listing_t;

static void
listing_free(listing_t *l)
{
    free(l->entries);
    free(l->arena);
    free(l->bad_name);
}

/* Grow *buf (of *cap elements of size elem) to hold at least need elements. 0 or -1. */
static int
grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 64;
    void *nbuf;
    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return -1;
    nbuf = realloc(*buf, ncap * elem);
    if (nbuf == NULL)
        return -1;
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

static void
remember_bad(listing_t *l, fail_t fail, int err, const char *name, size_t len)
{
    l->fail = fail;
    l->err = err;
    l->bad_name = malloc(len ? len : 1);
    if (l->bad_name == NULL) {
        l->fail = FAIL_NOMEM;
        return;
    }
    memcpy(l->bad_name, name, len);
    l->bad_len = len;
}

/* sec * 1e9 + nsec into *out, as Python's st_mtime_ns; -1 if it does not fit in int64. */
static int
to_ns(int64_t sec, int64_t nsec, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(sec, NS_PER_S, &r) || __builtin_add_overflow(r, nsec, &r))
        return -1;
    *out = r;
    return 0;
}

static int
compare_entries(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Read the whole directory into l. Runs without the GIL: no Python calls here. */
static void
collect(const char *path, listing_t *l)
{
    int fd, dfd;
    DIR *dir;
    struct dirent *de;
    struct stat st;
    size_t i;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        l->fail = FAIL_DIR;
        l->err = errno;
        return;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        l->fail = FAIL_DIR;
        l->err = errno;
        close(fd);
        return;
    }
    dfd = dirfd(dir);

    for (;;) {
        const char *name;
        size_t len;
        entry_t *e;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0) {
                l->fail = FAIL_DIR;
                l->err = errno;
            }
            break;
        }
        name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        len = strlen(name);
        if (len > NAME_LEN_MAX) {
            remember_bad(l, FAIL_NAME, ENAMETOOLONG, name, len);
            break;
        }
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* gone since readdir */
            remember_bad(l, FAIL_ENTRY, errno, name, len);
            break;
        }
        if (grow((void **)&l->entries, &l->cap, l->count + 1, sizeof(entry_t)) < 0
            || grow((void **)&l->arena, &l->arena_cap, l->arena_len + len + 1, 1) < 0) {
            l->fail = FAIL_NOMEM;
            break;
        }
        e = &l->entries[l->count];
        if (to_ns((int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec, &e->mtime_ns) < 0
            || to_ns((int64_t)st.st_ctim.tv_sec, (int64_t)st.st_ctim.tv_nsec, &e->ctime_ns) < 0) {
            remember_bad(l, FAIL_OVERFLOW, 0, name, len);
            break;
        }
        memcpy(l->arena + l->arena_len, name, len);
        e->name = NULL;
        e->name_off = l->arena_len;
        e->name_len = len;
        e->mode = (uint32_t)st.st_mode;
        e->uid = (uint32_t)st.st_uid;
        e->gid = (uint32_t)st.st_gid;
        e->ino = (uint64_t)st.st_ino;
        e->size = (int64_t)st.st_size;
        l->arena_len += len;
        l->count++;
    }
    closedir(dir); /* closes fd too */

    if (l->fail != FAIL_NONE || l->count == 0)
        return;
    for (i = 0; i < l->count; i++)
        l->entries[i].name = l->arena + l->entries[i].name_off;
    qsort(l->entries, l->count, sizeof(entry_t), compare_entries);
}

static unsigned char *
put_le(unsigned char *p, uint64_t v, int nbytes)
{
    int i;
    for (i = 0; i < nbytes; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    return p + nbytes;
}

/* directory/name as the path's type (bytes if os.fspath(path) is bytes, else str), as os.scandir's
 * DirEntry.path joins them: no separator added after a trailing '/'. New reference or NULL. */
static PyObject *
entry_path(PyObject *fspath, const char *dir, Py_ssize_t dir_len, const char *name, size_t len)
{
    PyObject *res;
    int sep = dir_len > 0 && dir[dir_len - 1] != '/';
    size_t total = (size_t)dir_len + (size_t)sep + len;
    char *buf = PyMem_Malloc(total ? total : 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    memcpy(buf, dir, (size_t)dir_len);
    if (sep)
        buf[dir_len] = '/';
    memcpy(buf + dir_len + sep, name, len);
    if (PyBytes_Check(fspath))
        res = PyBytes_FromStringAndSize(buf, (Py_ssize_t)total);
    else
        res = PyUnicode_DecodeFSDefaultAndSize(buf, (Py_ssize_t)total);
    PyMem_Free(buf);
    return res;
}

/* Set the exception for l->fail. The directory's own errors name os.fspath(path) (as
 * os.scandir does); an entry's, the joined path (as DirEntry.stat does). Always NULL. */
static PyObject *
raise_failure(const listing_t *l, PyObject *fspath, const char *dir, Py_ssize_t dir_len)
{
    PyObject *filename;

    switch (l->fail) {
    case FAIL_NOMEM:
        return PyErr_NoMemory();
    case FAIL_DIR:
        errno = l->err;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, fspath);
    default:
        break;
    }
    filename = entry_path(fspath, dir, dir_len, l->bad_name, l->bad_len);
    if (filename == NULL)
        return NULL;
    if (l->fail == FAIL_OVERFLOW) {
        PyErr_Format(PyExc_OverflowError, "timestamp of %R does not fit in the listing format",
                     filename);
    }
    else {
        errno = l->err;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
    }
    Py_DECREF(filename);
    return NULL;
}

/* The size of a completed listing once packed; (size_t)-1 if more than a bytes object holds. */
static size_t
packed_size(const listing_t *l)
{
    size_t total = 0, i;
    for (i = 0; i < l->count; i++) {
        size_t add = HEADER_SIZE + l->entries[i].name_len;
        if (total > (size_t)PY_SSIZE_T_MAX - add)
            return (size_t)-1;
        total += add;
    }
    return total;
}

/* Pack a completed listing into p (packed_size bytes). Needs no GIL. */
static void
fill(const listing_t *l, unsigned char *p)
{
    size_t i;
    for (i = 0; i < l->count; i++) {
        const entry_t *e = &l->entries[i];
        p = put_le(p, e->name_len, 2);
        p = put_le(p, e->mode, 4);
        p = put_le(p, e->uid, 4);
        p = put_le(p, e->gid, 4);
        p = put_le(p, e->ino, 8);
        p = put_le(p, (uint64_t)e->size, 8);
        p = put_le(p, (uint64_t)e->mtime_ns, 8);
        p = put_le(p, (uint64_t)e->ctime_ns, 8);
        memcpy(p, e->name, e->name_len);
        p += e->name_len;
    }
}

/* The packed bytes of a listing that collect() completed. New reference or NULL. */
static PyObject *
pack(const listing_t *l)
{
    PyObject *result;
    unsigned char *p;
    size_t total = packed_size(l);

    if (total == (size_t)-1)
        return PyErr_NoMemory();
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (result == NULL)
        return NULL;
    p = (unsigned char *)PyBytes_AsString(result);
    if (p == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    fill(l, p);
    return result;
}

static PyObject *
list_dir(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyObject *fspath, *path_bytes = NULL, *result = NULL;
    listing_t l;
    const char *path;
    Py_ssize_t path_len;

    memset(&l, 0, sizeof(l));
    fspath = PyOS_FSPath(arg);
    if (fspath == NULL)
        return NULL;
    if (!PyUnicode_FSConverter(fspath, &path_bytes))
        goto done;
    if (PyBytes_AsStringAndSize(path_bytes, (char **)&path, &path_len) < 0)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    collect(path, &l);
    Py_END_ALLOW_THREADS

    if (l.fail != FAIL_NONE)
        raise_failure(&l, fspath, path, path_len);
    else
        result = pack(&l);

done:
    listing_free(&l);
    Py_XDECREF(path_bytes);
    Py_DECREF(fspath);
    return result;
}

/* Many directories listed by threads that share one counter: no GIL until all are done. Each
 * listing is packed as soon as it is read (a listing_t holds room for 64 entries at least: kept
 * for every directory of a large tree at once, that would cost far more than the listings). */
typedef struct {
    unsigned char *data; /* malloc'ed packed listing, NULL if the directory failed */
    size_t len;
} packed_t;

typedef struct {
    const char **paths;
    packed_t *out;
    size_t count;
    size_t next;
} batch_t;

static void *
work(void *arg)
{
    batch_t *b = arg;
    size_t i;
    while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->count) {
        listing_t l;
        size_t len;
        memset(&l, 0, sizeof(l));
        collect(b->paths[i], &l);
        if (l.fail == FAIL_NONE && (len = packed_size(&l)) != (size_t)-1) {
            b->out[i].data = malloc(len ? len : 1);
            if (b->out[i].data != NULL) {
                fill(&l, b->out[i].data);
                b->out[i].len = len;
            }
        }
        listing_free(&l);
    }
    return NULL;
}

#define THREADS_MAX 64

static PyObject *
list_dirs(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *paths, *encoded = NULL, *result = NULL;
    int threads, started = 0, t;
    Py_ssize_t n, i;
    batch_t b;
    pthread_t ids[THREADS_MAX];

    memset(&b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "O!i", &PyList_Type, &paths, &threads))
        return NULL;
    n = PyList_Size(paths);
    encoded = PyList_New(n);
    b.paths = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    b.out = PyMem_Calloc((size_t)n + 1, sizeof(packed_t));
    if (encoded == NULL || b.paths == NULL || b.out == NULL) {
        if (encoded != NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *fspath = PyOS_FSPath(PyList_GetItem(paths, i)), *path_bytes = NULL;
        int ok = fspath != NULL && PyUnicode_FSConverter(fspath, &path_bytes);
        Py_XDECREF(fspath);
        if (!ok)
            goto done;
        PyList_SetItem(encoded, i, path_bytes); /* steals the reference */
        b.paths[i] = PyBytes_AsString(path_bytes);
        if (b.paths[i] == NULL)
            goto done;
    }
    b.count = (size_t)n;
    threads = threads < 1 ? 1 : threads > THREADS_MAX ? THREADS_MAX : threads;

    Py_BEGIN_ALLOW_THREADS
    for (t = 1; t < threads && (Py_ssize_t)t < n; t++) {
        if (pthread_create(&ids[started], NULL, work, &b) != 0)
            break; /* fewer threads: this one does the rest */
        started++;
    }
    work(&b);
    for (t = 0; t < started; t++)
        pthread_join(ids[t], NULL);
    Py_END_ALLOW_THREADS

    result = PyList_New(n);
    if (result == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        PyObject *item;
        if (b.out[i].data != NULL) {
            item = PyBytes_FromStringAndSize((const char *)b.out[i].data, (Py_ssize_t)b.out[i].len);
            free(b.out[i].data);
            b.out[i].data = NULL;
            if (item == NULL) {
                Py_CLEAR(result);
                goto done;
            }
        }
        else {
            item = Py_None;
            Py_INCREF(item);
        }
        PyList_SetItem(result, i, item);
    }

done:
    if (b.out != NULL)
        for (i = 0; i < n; i++)
            free(b.out[i].data);
    PyMem_Free(b.out);
    PyMem_Free(b.paths);
    Py_XDECREF(encoded);
    return result;
}

static PyMethodDef listing_methods[] = {
    {"list_dir", list_dir, METH_O,
     "list_dir(path, /)\n--\n\n"
     "The packed lstat listing of one directory (see safepoint.scan.listing)."},
    {"list_dirs", list_dirs, METH_VARARGS,
     "list_dirs(paths, threads, /)\n--\n\n"
     "The packed listings of many directories, None where one fails (see safepoint.scan.listing)."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot listing_slots[] = {
    {0, NULL},
};

static struct PyModuleDef listing_module = {
    PyModuleDef_HEAD_INIT,
    "safepoint.scan._listing",
    "C implementation of safepoint.scan.listing.list_dir and list_dirs.",
    0,
    listing_methods,
    listing_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__listing(void)
{
    return PyModuleDef_Init(&listing_module);
}
