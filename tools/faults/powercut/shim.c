/* A file layer that remembers only what was made durable, for the `powercut` fault row.
 *
 * Loaded with LD_PRELOAD into the gateway. Every fsync or fdatasync of a file or folder under
 * $POWERCUT_DATA is recorded in $POWERCUT_SHADOW before the call returns:
 *   - a regular file: its content then, in shadow/ino-KEY;
 *   - a folder: its entries then (type, KEY, name), in shadow/dir-KEY;
 * where KEY is the inode number and birth time (an inode number alone can be reused).
 * After kill -9 (the cut) the data folder is rebuilt from these records alone (disk.py): what
 * was written but never synced is gone, as after a power cut. shadow/root holds the data
 * folder's own KEY, written when the library loads.
 *
 * A file's record is updated in place, page by page, only where it differs: a cut in the middle
 * of a sync leaves a mix of old and new pages, as a disk can. sync_file_range makes nothing
 * durable (it does not flush metadata or the disk cache), so it is passed through unrecorded.
 * sync and syncfs record the whole data folder.
 *
 * $POWERCUT_IGNORE (tests only): an fnmatch pattern over paths relative to the data folder whose
 * syncs are passed through but not recorded, as if the program never asked for them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096

static char data_dir[PATH_MAX];
static size_t data_len;
static char shadow_dir[PATH_MAX];
static const char *ignore_pattern;
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);

static void fail(const char *what, const char *path) {
    /* A record that cannot be written would make the row lie: stop the process loudly. */
    fprintf(stderr, "powercut shim: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

static void key_of(const struct statx *st, char *out, size_t n) {
    long long sec = (st->stx_mask & STATX_BTIME) ? (long long)st->stx_btime.tv_sec : 0;
    unsigned nsec = (st->stx_mask & STATX_BTIME) ? st->stx_btime.tv_nsec : 0;
    snprintf(out, n, "%llu.%lld.%u", (unsigned long long)st->stx_ino, sec, nsec);
}

static void write_all(int fd, const char *buf, size_t len, off_t off, const char *path) {
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail("write", path);
        }
        buf += w;
        len -= (size_t)w;
        off += w;
    }
}

static ssize_t read_full(int fd, char *buf, size_t len, off_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Write `text` to shadow/name through a temporary name and a rename, so a cut leaves the old or
 * the new record whole. */
static void replace_record(const char *name, const char *text, size_t len) {
    char path[PATH_MAX + 256], tmp[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", shadow_dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.tmp", shadow_dir, name, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fail("open", tmp);
    write_all(fd, text, len, 0, tmp);
    close(fd);
    if (rename(tmp, path) != 0) fail("rename", path);
}

static void record_file(int fd, const struct statx *st) {
    char key[96], path[PATH_MAX + 256];
    key_of(st, key, sizeof key);
    snprintf(path, sizeof path, "%s/ino-%s", shadow_dir, key);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int src = open(self, O_RDONLY | O_CLOEXEC); /* the caller's fd may be write-only */
    if (src < 0) fail("reopen", self);
    int dst = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (dst < 0) fail("open", path);
    static char now[PAGE], was[PAGE];
    off_t off = 0;
    for (;;) {
        ssize_t n = read_full(src, now, PAGE, off);
        if (n < 0) fail("read", self);
        if (n == 0) break;
        ssize_t m = read_full(dst, was, (size_t)n, off);
        if (m < 0) fail("read", path);
        if (m != n || memcmp(now, was, (size_t)n) != 0) write_all(dst, now, (size_t)n, off, path);
        off += n;
    }
    if (ftruncate(dst, off) != 0) fail("truncate", path);
    close(dst);
    close(src);
}

static void record_dir(int fd, const struct statx *st) {
    char key[96], name[128];
    key_of(st, key, sizeof key);
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset for readdir */
    if (dfd < 0) fail("open folder", key);
    DIR *dir = fdopendir(dfd);
    if (!dir) fail("fdopendir", key);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    if (!text) fail("malloc", key);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct statx est;
        if (statx(dfd, e->d_name, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_TYPE | STATX_BTIME,
                  &est) != 0)
            continue; /* removed meanwhile */
        char ekey[96];
        key_of(&est, ekey, sizeof ekey);
        char type = S_ISDIR(est.stx_mode) ? 'd' : S_ISREG(est.stx_mode) ? 'f' : 'o';
        size_t need = len + strlen(ekey) + strlen(e->d_name) + 8;
        if (need > cap) {
            while (need > cap) cap *= 2;
            text = realloc(text, cap);
            if (!text) fail("realloc", key);
        }
        len += (size_t)sprintf(text + len, "%c %s %s", type, ekey, e->d_name) + 1; /* NUL ends */
    }
    closedir(dir);
    snprintf(name, sizeof name, "dir-%s", key);
    replace_record(name, text, len);
    free(text);
}

/* The path of fd relative to the data folder, or NULL when it lies outside. */
static const char *relative(int fd, char *buf, size_t n) {
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(self, buf, n - 1);
    if (len < 0) return NULL;
    buf[len] = 0;
    if (strncmp(buf, data_dir, data_len) != 0) return NULL;
    if (buf[data_len] == 0) return "";
    if (buf[data_len] != '/') return NULL;
    return buf + data_len + 1;
}

static void record(int fd) {
    if (!data_len) return;
    char buf[PATH_MAX];
    const char *rel = relative(fd, buf, sizeof buf);
    if (!rel) return;
    if (ignore_pattern && fnmatch(ignore_pattern, rel, 0) == 0) return;
    struct statx st;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_TYPE | STATX_BTIME, &st) != 0) return;
    pthread_mutex_lock(&lock);
    if (S_ISREG(st.stx_mode))
        record_file(fd, &st);
    else if (S_ISDIR(st.stx_mode))
        record_dir(fd, &st);
    pthread_mutex_unlock(&lock);
}

/* Everything under the data folder, as a sync of the whole file system makes it durable. */
static void record_tree(int dirfd) {
    record(dirfd);
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    DIR *dir = fdopendir(dfd);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int child = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) continue;
        struct stat st;
        if (fstat(child, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                record_tree(child);
            else if (S_ISREG(st.st_mode))
                record(child);
        }
        close(child);
    }
    closedir(dir);
}

static void record_all(void) {
    if (!data_len) return;
    int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    pthread_mutex_lock(&lock);
    record_tree(fd);
    pthread_mutex_unlock(&lock);
    close(fd);
}

__attribute__((constructor)) static void init(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_syncfs = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    real_sync = (void (*)(void))dlsym(RTLD_NEXT, "sync");
    const char *data = getenv("POWERCUT_DATA"), *shadow = getenv("POWERCUT_SHADOW");
    if (!data || !shadow) return;
    if (!realpath(data, data_dir)) fail("realpath", data);
    if (!realpath(shadow, shadow_dir)) fail("realpath", shadow);
    ignore_pattern = getenv("POWERCUT_IGNORE");
    if (ignore_pattern && !*ignore_pattern) ignore_pattern = NULL;
    struct statx st;
    if (statx(AT_FDCWD, data_dir, 0, STATX_INO | STATX_BTIME, &st) != 0) fail("stat", data_dir);
    char key[96];
    key_of(&st, key, sizeof key);
    data_len = strlen(data_dir);
    replace_record("root", key, strlen(key));
}

int fsync(int fd) {
    int rc = real_fsync(fd);
    if (rc == 0) record(fd);
    return rc;
}

int fdatasync(int fd) {
    int rc = real_fdatasync(fd);
    if (rc == 0) record(fd);
    return rc;
}

int syncfs(int fd) {
    int rc = real_syncfs(fd);
    if (rc == 0) record_all();
    return rc;
}

void sync(void) {
    real_sync();
    record_all();
}
