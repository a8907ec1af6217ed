/* bench-fdatasync.c: bench-suite's own fdatasync (), which counts the calls
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * BEWARE: this definition replaces libc's fdatasync () for the whole of
 * bench-suite, not only for one phase: every call in the process resolves
 * to it (an executable's symbols come first in the dynamic lookup order),
 * ep-glib's (the group commit, the sync thread's zero-filling and
 * background syncs), SQLite's and the sync floor's alike. It makes the same
 * system call and adds one atomic increment. Only table 2b reads the count
 * (bench_fdatasync_count (), before and after each sync-on-send run), to
 * say how many sends one fdatasync covered.
 *
 * Why not the queue's test hook (ep_queue_set_sync_hook_for_testing ())? It fires once
 * per group commit, while table 2b counts fdatasync calls: a commit that
 * spans two segments syncs two files, and the sync thread's syncs of the
 * zeros ahead of the log are no group commits (with one sending thread they
 * make the difference between 176 sends and 178 calls). Counting through
 * the hooks would change what the column says.
 *
 * Kept in a file of its own so that it is not mistaken for a helper of one
 * phase; bench-send and bench-gateway do not link it.
 */
#include "config.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "bench-suite.h"

static gint fdatasync_calls;

int
fdatasync (int fd)
{
  g_atomic_int_inc (&fdatasync_calls);
  return (int) syscall (SYS_fdatasync, fd);
}

guint
bench_fdatasync_count (void)
{
  return (guint) g_atomic_int_get (&fdatasync_calls);
}
