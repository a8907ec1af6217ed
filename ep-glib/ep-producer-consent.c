/* ep-producer-consent.c: consent applied to the queue, at start and on change
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The submitter drops new sends of a blocked category; this file makes the
 * queue follow the same state (SPEC section 4, consent revocation):
 *
 * - At start, the consent state in force (the defaults, PERFORMANCE and
 *   TARGETING blocked, or with persist-consent the state the last run
 *   saved) applies to the queue as a later revocation would: the queued
 *   events of a blocked category are deleted and counted, during
 *   construction, and those deletions are synced before init returns.
 * - A revocation (ep_producer_set_consent_blocked() with TRUE) deletes the
 *   queued events of the category and revokes those in flight (deleted when
 *   given back, see ep_queue_remove_category()). Before it returns, the
 *   revocation is durable: the seq below which the category is revoked is
 *   saved in the queue's state blob "consent.gvariant" (written, fsynced,
 *   renamed, directory fsynced). If the process dies before the in-flight
 *   events' requests end, the next start deletes every event of the
 *   category below that seq, whatever the consent state then.
 *
 * The blob: a GVariant a{sv} with
 *   "revoked-below" (ttt)  per EpConsentCategory, the seq below which its
 *                          events are revoked (0: none); cleared at the
 *                          next start once applied and synced
 *   "purged-below"  t      the seq below which every event is purged
 *                          (ep_producer_purge_async(), all categories);
 *                          absent when 0; cleared like "revoked-below"
 *   "blocked"       u      the blocked categories (bit per category), the
 *                          last state set; saved only with persist-consent,
 *                          restored only with persist-consent.
 * An unreadable blob is moved aside ("consent.gvariant.corrupt"): the
 * defaults apply (everything but NECESSARY blocked, so nothing the user
 * revoked can leave).
 *
 * Two sources block a category: the application (app_blocked, what
 * set_consent_blocked() set; the only state saved with persist-consent)
 * and, with follow-desktop-privacy, GNOME's send-software-usage-stats
 * (desktop_blocked, for PERFORMANCE and TARGETING; read again at each
 * start, never saved). The submitter drops what either blocks: effective
 * = app_blocked OR desktop_blocked. The desktop turning to "no" revokes
 * as set_consent_blocked (TRUE) would; turning back to "yes" unblocks
 * only what the application has not blocked itself.
 *
 * Main context or any thread; the producer's consent_lock serialises the
 * changes and the saves.
 */
#include "config.h"

#include <string.h>

#include "ep-producer-internal.h"
#include "ep-queue-state-private.h"

#define CONSENT_BLOB_NAME "consent.gvariant"
#define N_CATEGORIES      (EP_CONSENT_CATEGORY_TARGETING + 1)

typedef struct {
  gboolean has_blocked;               /* "blocked" was there */
  guint    blocked;                   /* bit per EpConsentCategory */
  guint64  revoked_below[N_CATEGORIES];
  guint64  purged_below;
} ConsentState;

static GVariant *
consent_state_serialize (const ConsentState *state)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "revoked-below",
                         g_variant_new ("(ttt)", state->revoked_below[0], state->revoked_below[1],
                                        state->revoked_below[2]));
  if (state->purged_below > 0)
    g_variant_builder_add (&builder, "{sv}", "purged-below", g_variant_new_uint64 (state->purged_below));
  if (state->has_blocked)
    g_variant_builder_add (&builder, "{sv}", "blocked", g_variant_new_uint32 (state->blocked));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean
consent_state_parse (GBytes       *contents,
                     ConsentState *state)
{
  g_autoptr(GVariant) raw = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT,
                                                                         contents, FALSE));
  g_autoptr(GVariant) dict = g_variant_get_normal_form (raw);
  g_autoptr(GVariant) revoked = NULL;

  if (g_variant_get_size (dict) != g_bytes_get_size (contents))
    return FALSE;
  revoked = g_variant_lookup_value (dict, "revoked-below", G_VARIANT_TYPE ("(ttt)"));
  if (revoked == NULL)
    return FALSE;
  g_variant_get (revoked, "(ttt)", &state->revoked_below[0], &state->revoked_below[1],
                 &state->revoked_below[2]);
  state->has_blocked = g_variant_lookup (dict, "blocked", "u", &state->blocked);
  if (!g_variant_lookup (dict, "purged-below", "t", &state->purged_below))
    state->purged_below = 0;
  return TRUE;
}

/* The saved state; the defaults (nothing saved) when there is none or it
 * cannot be read (then moved aside). */
static void
load_state (EpProducer   *self,
            ConsentState *state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) aside_error = NULL;
  g_autoptr(GBytes) contents = ep_queue_state_load (self->queue, CONSENT_BLOB_NAME, &error);

  *state = (ConsentState) { 0 };
  if (contents == NULL && error == NULL)
    return;
  if (contents != NULL && consent_state_parse (contents, state))
    {
      self->consent_saved = g_steal_pointer (&contents);
      return;
    }
  *state = (ConsentState) { 0 };
  if (self->read_only)
    return;
  if (contents != NULL && !ep_queue_state_move_aside (self->queue, CONSENT_BLOB_NAME, &aside_error))
    g_message ("The consent state in %s cannot be read or moved aside (%s): the default "
               "consent applies", self->queue_dir, aside_error->message);
  else
    g_message ("The consent state in %s cannot be read (%s): moved aside, the default "
               "consent applies", self->queue_dir,
               error != NULL ? error->message : "unexpected format");
}

#define DESKTOP_MASK ((1u << EP_CONSENT_CATEGORY_PERFORMANCE) | (1u << EP_CONSENT_CATEGORY_TARGETING))

/* With consent_lock held (or before anything runs): the submitter drops
 * what the application or the followed desktop setting blocks. */
static void
apply_effective_locked (EpProducer *self)
{
  guint effective = self->app_blocked | (self->desktop_blocked ? DESKTOP_MASK : 0);

  for (guint c = EP_CONSENT_CATEGORY_PERFORMANCE; c < N_CATEGORIES; c++)
    ep_submitter_set_consent_blocked (self->submitter, c, (effective & (1u << c)) != 0);
}

/* With consent_lock held: saves @state durably unless it is what the blob
 * holds already. FALSE (logged) when it could not be saved. */
static gboolean
save_state_locked (EpProducer         *self,
                   const ConsentState *state)
{
  g_autoptr(GVariant) variant = consent_state_serialize (state);
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (variant);
  g_autoptr(GError) error = NULL;

  if (self->consent_saved != NULL && g_bytes_equal (bytes, self->consent_saved))
    return TRUE;
  /* nothing to remember, and nothing saved before: no file */
  if (self->consent_saved == NULL && !state->has_blocked && state->purged_below == 0 &&
      state->revoked_below[0] == 0 &&
      state->revoked_below[1] == 0 && state->revoked_below[2] == 0)
    return TRUE;
  if (!ep_queue_state_save (self->queue, CONSENT_BLOB_NAME, g_bytes_get_data (bytes, NULL),
                            g_bytes_get_size (bytes), &error))
    {
      g_message ("Cannot save the consent state in %s: %s", self->queue_dir, error->message);
      return FALSE;
    }
  g_clear_pointer (&self->consent_saved, g_bytes_unref);
  self->consent_saved = g_steal_pointer (&bytes);
  return TRUE;
}

/* The state to save now: the queue's revocations and, with
 * persist-consent, the blocked categories. */
static void
current_state (EpProducer   *self,
               ConsentState *state)
{
  *state = (ConsentState) { 0 };
  for (guint c = 0; c < N_CATEGORIES; c++)
    state->revoked_below[c] = ep_queue_get_revoked_below (self->queue, c);
  state->purged_below = ep_queue_get_purged_below (self->queue);
  state->has_blocked = self->persist_consent;
  state->blocked = self->app_blocked;   /* the application's choice, never the desktop's */
}

/* Deletes @category's queued events below @below_seq and counts them;
 * TRUE if any was deleted. */
static gboolean
remove_category (EpProducer        *self,
                 EpConsentCategory  category,
                 guint64            below_seq)
{
  g_autoptr(GError) error = NULL;
  GHashTable *counts = ep_queue_remove_category (self->queue, category, below_seq, &error);
  gboolean any = g_hash_table_size (counts) > 0;

  if (error != NULL)
    g_message ("Queue %s: %s", self->queue_dir, error->message);
  ep_producer_count_consent_drops (self, counts);
  if (any)
    /* the deleted events' ids, if collected, are reported from there */
    ep_producer_schedule_update (self);
  return any;
}

void
ep_producer_consent_start (EpProducer *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->consent_lock);
  g_autoptr(GError) error = NULL;
  ConsentState saved, now;
  gboolean removed = FALSE;

  load_state (self, &saved);
  if (self->persist_consent && saved.has_blocked)
    self->app_blocked = saved.blocked & DESKTOP_MASK;
  apply_effective_locked (self);
  if (self->read_only)
    return;
  self->consent_started = TRUE;

  /* A purge whose in-flight events may not all have gone: every event
   * stored before it goes now. */
  if (saved.purged_below > 0)
    {
      guint64 n = ep_queue_purge (self->queue, saved.purged_below, &error);

      if (error != NULL)
        {
          g_message ("Queue %s: %s", self->queue_dir, error->message);
          g_clear_error (&error);
        }
      else if (n > 0)
        {
          g_info ("Queue %s: %" G_GUINT64_FORMAT " event(s) deleted by a purge of the last run",
                  self->queue_dir, n);
          removed = TRUE;
          ep_producer_schedule_update (self);
        }
    }
  for (guint c = EP_CONSENT_CATEGORY_PERFORMANCE; c < N_CATEGORIES; c++)
    {
      if (ep_submitter_get_consent_blocked (self->submitter, c))
        removed |= remove_category (self, c, G_MAXUINT64);
      else if (saved.revoked_below[c] > 0)
        removed |= remove_category (self, c, saved.revoked_below[c]);
    }
  current_state (self, &now);
  /* Synced, the deletions need no revocation record any more. */
  if (!removed || ep_queue_sync (self->queue, &error))
    {
      memset (now.revoked_below, 0, sizeof now.revoked_below);
      now.purged_below = 0;
    }
  else
    g_message ("Queue %s: cannot sync the deletion of events of blocked consent categories "
               "(kept as a revocation to apply at the next start): %s",
               self->queue_dir, error->message);
  save_state_locked (self, &now);
}

/* A thread of its own (blocking: deletions, the record, a sync). The
 * record is saved once the queue knows the purge (ep_queue_purge() sets
 * the seq current_state() reads), under consent_lock like every save. */
guint64
ep_producer_consent_purge (EpProducer  *self,
                           GError     **error)
{
  guint64 below = ep_queue_get_next_seq (self->queue);
  g_autoptr(GError) purge_error = NULL;
  g_autoptr(GError) sync_error = NULL;
  gboolean saved;
  ConsentState now;
  guint64 n;

  n = ep_queue_purge (self->queue, below, &purge_error);
  g_mutex_lock (&self->consent_lock);
  current_state (self, &now);
  saved = save_state_locked (self, &now);
  g_mutex_unlock (&self->consent_lock);
  ep_queue_sync (self->queue, &sync_error);
  ep_producer_schedule_update (self);

  if (purge_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&purge_error));
      return 0;
    }
  if (sync_error != NULL)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The purge of %s is not durable (the events may come back after a crash): %s",
                   self->queue_dir, sync_error->message);
      return 0;
    }
  if (!saved)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The purge record of %s could not be saved: the events that were in flight "
                   "may be sent if the application stops before their requests end",
                   self->queue_dir);
      return 0;
    }
  return n;
}

void
ep_producer_consent_changed (EpProducer        *self,
                             EpConsentCategory  category,
                             gboolean           blocked)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->consent_lock);
  ConsentState now;

  if (blocked)
    self->app_blocked |= 1u << category;
  else
    self->app_blocked &= ~(1u << category);
  apply_effective_locked (self);
  if (self->queue == NULL || self->read_only)
    return;
  if (blocked)
    {
      /* revocation reaches the queue: its stored events go, counted */
      remove_category (self, category, G_MAXUINT64);
      ep_producer_schedule_update (self);
    }
  current_state (self, &now);
  save_state_locked (self, &now);
}

/* The followed desktop setting changed (main context), or was read at
 * start (before ep_producer_consent_start(), which applies it to the
 * queue). Saying no revokes PERFORMANCE and TARGETING exactly as
 * ep_producer_set_consent_blocked() would; saying yes again unblocks only
 * what the application has not blocked. */
void
ep_producer_consent_set_desktop_blocked (EpProducer *self,
                                         gboolean    blocked)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->consent_lock);
  ConsentState now;

  blocked = !!blocked;
  if (self->desktop_blocked == blocked)
    return;
  self->desktop_blocked = blocked;
  apply_effective_locked (self);
  g_info ("GNOME's send-software-usage-stats is %s: PERFORMANCE and TARGETING are %s",
          blocked ? "off" : "on",
          blocked ? "blocked" : "back to the application's choice");
  /* at start, ep_producer_consent_start() applies it to the queue */
  if (!self->consent_started)
    return;
  if (blocked)
    {
      remove_category (self, EP_CONSENT_CATEGORY_PERFORMANCE, G_MAXUINT64);
      remove_category (self, EP_CONSENT_CATEGORY_TARGETING, G_MAXUINT64);
      ep_producer_schedule_update (self);
    }
  current_state (self, &now);
  save_state_locked (self, &now);
}
