/* rel-fault.c: failing fdatasync, fsync and writes for the queue's files
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The test programs link the library's objects statically, so these
 * definitions replace the C library's for the queue (and, being exported
 * from the executable, for GLib's g_file_set_contents too). When no fault is
 * set they are the plain system calls. They decide by the file's path
 * (/proc/self/fd), so only the directory under test is affected.
 */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE 1
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rel-common.h"

static GMutex fault_lock;
static gint fault_active;           /* atomic: any fault or observer set */
static char *fault_prefix;          /* under fault_lock */
static RelFaultOps fault_ops;
static int fault_errno;
static guint fault_count;
static double fault_probability;
static GRand *fault_rand;
static guint fault_hits;
static RelSyncObserver sync_observer;

void
rel_fault_set (const char  *path_prefix,
               RelFaultOps  ops,
               int          errsv,
               guint        count,
               double       probability,
               GRand       *rand)
{
  g_mutex_lock (&fault_lock);
  g_free (fault_prefix);
  fault_prefix = g_strdup (path_prefix);
  fault_ops = ops;
  fault_errno = errsv;
  fault_count = count;
  fault_probability = probability;
  fault_rand = rand;
  g_atomic_int_set (&fault_active, 1);
  g_mutex_unlock (&fault_lock);
}

void
rel_fault_clear (void)
{
  g_mutex_lock (&fault_lock);
  g_clear_pointer (&fault_prefix, g_free);
  fault_count = 0;
  g_atomic_int_set (&fault_active, sync_observer != NULL);
  g_mutex_unlock (&fault_lock);
}

guint
rel_fault_get_hits (void)
{
  guint hits;

  g_mutex_lock (&fault_lock);
  hits = fault_hits;
  g_mutex_unlock (&fault_lock);
  return hits;
}

void
rel_fault_set_sync_observer (RelSyncObserver observer)
{
  g_mutex_lock (&fault_lock);
  sync_observer = observer;
  g_atomic_int_set (&fault_active, observer != NULL || fault_prefix != NULL);
  g_mutex_unlock (&fault_lock);
}

static gboolean
fd_path (int    fd,
         char  *path,
         gsize  size)
{
  char link[64];
  ssize_t n;

  g_snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, size - 1);
  if (n <= 0)
    return FALSE;
  path[n] = '\0';
  return TRUE;
}

/* Whether this call on @fd fails; sets errno then. */
static gboolean
should_fail (int         fd,
             RelFaultOps op)
{
  char path[4096];
  gboolean fail = FALSE;

  if (!g_atomic_int_get (&fault_active))
    return FALSE;
  if (!fd_path (fd, path, sizeof path))
    return FALSE;
  g_mutex_lock (&fault_lock);
  if (fault_prefix != NULL && fault_count > 0 && (fault_ops & op) != 0 &&
      g_str_has_prefix (path, fault_prefix) &&
      (fault_probability >= 1.0 || g_rand_double (fault_rand) < fault_probability))
    {
      fail = TRUE;
      fault_hits++;
      if (fault_count != G_MAXUINT)
        fault_count--;
    }
  g_mutex_unlock (&fault_lock);
  if (fail)
    errno = fault_errno;
  return fail;
}

static void
observe_sync (int fd)
{
  RelSyncObserver observer;
  char path[4096];
  struct stat st;

  if (!g_atomic_int_get (&fault_active))
    return;
  g_mutex_lock (&fault_lock);
  observer = sync_observer;
  g_mutex_unlock (&fault_lock);
  if (observer != NULL && fstat (fd, &st) == 0 && S_ISREG (st.st_mode) &&
      fd_path (fd, path, sizeof path))
    observer (path, st.st_size);
}

int
fdatasync (int fd)
{
  if (should_fail (fd, REL_FAULT_SYNC))
    return -1;
  if (syscall (SYS_fdatasync, fd) != 0)
    return -1;
  observe_sync (fd);
  return 0;
}

int
fsync (int fd)
{
  if (should_fail (fd, REL_FAULT_SYNC))
    return -1;
  if (syscall (SYS_fsync, fd) != 0)
    return -1;
  observe_sync (fd);
  return 0;
}

ssize_t
write (int         fd,
       const void *buf,
       size_t      count)
{
  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  return syscall (SYS_write, fd, buf, count);
}

ssize_t
pwrite (int         fd,
        const void *buf,
        size_t      count,
        off_t       offset)
{
  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  return syscall (SYS_pwrite64, fd, buf, count, offset);
}

ssize_t
pwrite64 (int         fd,
          const void *buf,
          size_t      count,
          off64_t     offset)
{
  return pwrite (fd, buf, count, offset);
}

ssize_t
pwritev (int                 fd,
         const struct iovec *iov,
         int                 iovcnt,
         off_t               offset)
{
  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  return syscall (SYS_pwritev, fd, iov, iovcnt, (long) offset, (long) ((guint64) offset >> 32));
}

ssize_t
pwritev64 (int                 fd,
           const struct iovec *iov,
           int                 iovcnt,
           off64_t             offset)
{
  return pwritev (fd, iov, iovcnt, offset);
}

int
ftruncate (int   fd,
           off_t length)
{
  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  return syscall (SYS_ftruncate, fd, length);
}

int
ftruncate64 (int     fd,
             off64_t length)
{
  return ftruncate (fd, length);
}
