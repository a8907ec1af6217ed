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
#include <stdio.h>  /* renameat, renameat2 */
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
static RelWriteObserver write_observer;
static RelRenameObserver rename_observer;
static GMutex serial_lock;          /* not fault_lock: observers write reports */
static guint64 write_serial;        /* under serial_lock: the last write's serial */

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
rel_fault_set_observers (RelSyncObserver   sync_obs,
                         RelWriteObserver  write_obs,
                         RelRenameObserver rename_obs)
{
  g_mutex_lock (&fault_lock);
  sync_observer = sync_obs;
  write_observer = write_obs;
  rename_observer = rename_obs;
  g_atomic_int_set (&fault_active, sync_obs != NULL || fault_prefix != NULL);
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

/* The serial of the last write that returned (see rel_fault_set_observers()). */
static guint64
last_write_serial (void)
{
  guint64 serial;

  g_mutex_lock (&serial_lock);
  serial = write_serial;
  g_mutex_unlock (&serial_lock);
  return serial;
}

static void
observe_sync (int     fd,
              guint64 serial)
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
    observer (path, st.st_size, serial);
}

/* After a write of @length bytes at @offset returned. */
static void
observe_write (int      fd,
               guint64  offset,
               ssize_t  length)
{
  RelWriteObserver observer;
  char path[4096];
  guint64 serial;

  if (length <= 0 || !g_atomic_int_get (&fault_active))
    return;
  g_mutex_lock (&fault_lock);
  observer = write_observer;
  g_mutex_unlock (&fault_lock);
  if (observer == NULL || !fd_path (fd, path, sizeof path) || !g_str_has_suffix (path, ".journal"))
    return;
  /* The serial is taken and reported under one lock, so that serials
   * reach the observer in order, and a sync that reads the last serial
   * comes after its report. (Not fault_lock: the observer's own report
   * goes through write(), which takes it.) */
  g_mutex_lock (&serial_lock);
  serial = ++write_serial;
  observer (path, offset, length, serial);
  g_mutex_unlock (&serial_lock);
}

static void
observe_rename (int         from_dir,
                const char *from,
                int         to_dir,
                const char *to)
{
  RelRenameObserver observer;
  char dir[4096];
  g_autofree char *from_path = NULL;
  g_autofree char *to_path = NULL;

  if (!g_atomic_int_get (&fault_active) || !g_str_has_suffix (to, ".journal"))
    return;
  g_mutex_lock (&fault_lock);
  observer = rename_observer;
  g_mutex_unlock (&fault_lock);
  if (observer == NULL)
    return;
  from_path = from[0] == '/' || !fd_path (from_dir, dir, sizeof dir) ? g_strdup (from)
                                                                    : g_build_filename (dir, from, NULL);
  to_path = to[0] == '/' || !fd_path (to_dir, dir, sizeof dir) ? g_strdup (to)
                                                              : g_build_filename (dir, to, NULL);
  observer (from_path, to_path);
}

int
fdatasync (int fd)
{
  if (should_fail (fd, REL_FAULT_SYNC))
    return -1;
  guint64 serial = last_write_serial ();

  if (syscall (SYS_fdatasync, fd) != 0)
    return -1;
  observe_sync (fd, serial);
  return 0;
}

int
fsync (int fd)
{
  if (should_fail (fd, REL_FAULT_SYNC))
    return -1;
  guint64 serial = last_write_serial ();

  if (syscall (SYS_fsync, fd) != 0)
    return -1;
  observe_sync (fd, serial);
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
  ssize_t n;

  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  n = syscall (SYS_pwrite64, fd, buf, count, offset);
  observe_write (fd, offset, n);
  return n;
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
  ssize_t n;

  if (should_fail (fd, REL_FAULT_WRITE))
    return -1;
  n = syscall (SYS_pwritev, fd, iov, iovcnt, (long) offset, (long) ((guint64) offset >> 32));
  observe_write (fd, offset, n);
  return n;
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

int
renameat2 (int           from_dir,
           const char   *from,
           int           to_dir,
           const char   *to,
           unsigned int  flags)
{
  if (syscall (SYS_renameat2, from_dir, from, to_dir, to, flags) != 0)
    return -1;
  observe_rename (from_dir, from, to_dir, to);
  return 0;
}

int
renameat (int         from_dir,
          const char *from,
          int         to_dir,
          const char *to)
{
  return renameat2 (from_dir, from, to_dir, to, 0);
}
