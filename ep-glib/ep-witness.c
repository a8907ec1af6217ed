/* ep-witness.c: the evidence that a refused event is at fault (SPEC section 4)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-witness-private.h for the rule. The endpoint counts only matter
 * relative to the records' snapshots, so an empty ledger is never dirty:
 * a healthy drain saves nothing.
 */
#include "config.h"

#include <string.h>

#include "ep-witness-private.h"

#define STATE_VERSION 1
/* (version, [(confirmed, proven_wrong)] per endpoint, [endpoint] per open
 *  refusal, [(id, endpoint, refusals, specific, confirmed_at, wrong_at,
 *  first_us, last_us, [index of each open refusal of it])]) */
#define STATE_TYPE "(ua(tt)aya(syuuuttxxau))"
/* The most events an endpoint count can reach in a file (2^53: a billion
 * events a day for 24,000 years). */
#define MAX_COUNT (G_GUINT64_CONSTANT (1) << 53)

typedef struct {
  guint64 confirmed;     /* events confirmed */
  guint64 proven_wrong;  /* refusals whose events it all confirmed later */
} Endpoint;

/* One refusal (a request, or an entry), linked from the record of each
 * event it refused that is not confirmed yet: one reference each. */
typedef struct {
  gint     ref_count;
  guint8   endpoint;
  gboolean dead;         /* an event of it left unconfirmed, or it was counted already */
  guint    index;        /* while saving */
} Refusal;

typedef struct {
  guint8     endpoint;      /* where it was refused */
  guint32    refusals;      /* every refusal of a request that carried it */
  guint32    specific;      /* of those, its own */
  guint32    solo_open;     /* refusals of it alone (no Refusal object), all open */
  guint64    confirmed_at;  /* the endpoint's confirmed count at the first refusal */
  guint64    wrong_at;      /* the endpoint's proven_wrong count at the first refusal */
  gint64     first_us;      /* wall clock of the first refusal */
  gint64     last_us;       /* wall clock of the latest */
  GPtrArray *links;         /* (element-type Refusal) owned refs, oldest first */
} Record;

struct _EpWitness {
  Endpoint    endpoints[2];
  GHashTable *records;   /* (element-type utf8 Record) owned */
  gboolean    dirty;       /* a record changed (or a refusal was proven wrong) */
  gboolean    counted;     /* only the confirmation counts moved */
};

/* A record's counts stop at their maximum (a file's counts may start
 * there): specific and solo_open never pass refusals, and a save always
 * loads back. */
static void
count (guint32 *n)
{
  if (*n < G_MAXUINT32)
    (*n)++;
}

/* An endpoint's counts stop at MAX_COUNT, which a file's may hold. */
static void
count_up (guint64 *n,
          guint64  by)
{
  *n = MIN (*n + MIN (by, MAX_COUNT), MAX_COUNT);
}

static Endpoint *
endpoint_of (EpWitness *self,
             guint      endpoint)
{
  return &self->endpoints[endpoint != 0 ? 1 : 0];
}

static Refusal *
refusal_new (guint8 endpoint)
{
  Refusal *refusal = g_new0 (Refusal, 1);

  refusal->endpoint = endpoint;
  return refusal;
}

/* How an event lets go of a refusal it was part of. */
typedef enum {
  LET_GO_CONFIRMED,   /* the event was confirmed */
  LET_GO_LOST,        /* it left unconfirmed: the refusal can never be proven wrong */
  LET_GO_EVICTED,     /* the ledger is full: counted as proven wrong now, never again */
} LetGo;

static void
refusal_let_go (EpWitness *self,
                Refusal   *refusal,
                LetGo      how)
{
  if (how == LET_GO_LOST)
    refusal->dead = TRUE;
  else if (how == LET_GO_EVICTED && !refusal->dead)
    {
      count_up (&endpoint_of (self, refusal->endpoint)->proven_wrong, 1);
      refusal->dead = TRUE;
    }
  if (--refusal->ref_count > 0)
    return;
  /* Its last event was confirmed: every event it refused was taken. */
  if (how == LET_GO_CONFIRMED && !refusal->dead)
    count_up (&endpoint_of (self, refusal->endpoint)->proven_wrong, 1);
  g_free (refusal);
}

static void
record_let_go_all (EpWitness *self,
                   Record    *record,
                   LetGo      how)
{
  /* Its refusals alone: proven wrong by its confirmation alone. */
  if (how != LET_GO_LOST)
    count_up (&endpoint_of (self, record->endpoint)->proven_wrong, record->solo_open);
  record->solo_open = 0;
  for (guint i = 0; i < record->links->len; i++)
    refusal_let_go (self, g_ptr_array_index (record->links, i), how);
  g_ptr_array_set_size (record->links, 0);
}

static Record *
record_new (void)
{
  Record *record = g_new0 (Record, 1);

  record->links = g_ptr_array_new ();
  return record;
}

/* Frees a record whose links were let go. */
static void
record_free (Record *record)
{
  g_assert (record->links->len == 0);
  g_ptr_array_unref (record->links);
  g_free (record);
}

/* Removes @id's record, letting go of its refusals @how. */
static gboolean
remove_record (EpWitness  *self,
               const char *id,
               LetGo       how)
{
  Record *record = g_hash_table_lookup (self->records, id);

  if (record == NULL)
    return FALSE;
  record_let_go_all (self, record, how);
  g_hash_table_remove (self->records, id);
  return TRUE;
}

EpWitness *
ep_witness_new (void)
{
  EpWitness *self = g_new0 (EpWitness, 1);

  self->records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) record_free);
  return self;
}

static void
clear_records (EpWitness *self)
{
  GHashTableIter iter;
  gpointer value;

  /* Memory only: nothing is counted. */
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Record *record = value;

      for (guint i = 0; i < record->links->len; i++)
        {
          Refusal *refusal = g_ptr_array_index (record->links, i);

          if (--refusal->ref_count == 0)
            g_free (refusal);
        }
      g_ptr_array_set_size (record->links, 0);
    }
  g_hash_table_remove_all (self->records);
}

void
ep_witness_free (EpWitness *self)
{
  if (self == NULL)
    return;
  clear_records (self);
  g_hash_table_unref (self->records);
  g_free (self);
}

void
ep_witness_note_confirmed (EpWitness  *self,
                           guint       endpoint,
                           const char *id)
{
  count_up (&endpoint_of (self, endpoint)->confirmed, 1);
  if (g_hash_table_size (self->records) == 0)
    return;
  /* The counts matter relative to the records' snapshots. */
  self->counted = TRUE;
  if (remove_record (self, id, LET_GO_CONFIRMED))
    self->dirty = TRUE;
}

/* Forgets the record refused first: that can only postpone a drop (its
 * refusals count as proven wrong). */
static void
evict_oldest (EpWitness *self)
{
  GHashTableIter iter;
  gpointer key, value;
  g_autofree char *oldest = NULL;
  gint64 oldest_us = G_MAXINT64;

  /* Any record when every one is dated G_MAXINT64 (a file's dates). */
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (oldest == NULL || ((Record *) value)->first_us < oldest_us)
      {
        oldest_us = ((Record *) value)->first_us;
        g_free (oldest);
        oldest = g_strdup (key);
      }
  if (oldest != NULL)
    remove_record (self, oldest, LET_GO_EVICTED);
}

/* Lets go of @record's refusals that can never count (an event of theirs
 * left unconfirmed): a save leaves them out, so a ledger behaves the same
 * after a restart. */
static void
drop_dead_links (EpWitness *self,
                 Record    *record)
{
  guint kept = 0;

  for (guint i = 0; i < record->links->len; i++)
    {
      Refusal *refusal = g_ptr_array_index (record->links, i);

      if (refusal->dead)
        refusal_let_go (self, refusal, LET_GO_LOST);
      else
        g_ptr_array_index (record->links, kept++) = refusal;
    }
  g_ptr_array_set_size (record->links, kept);
}

/* @id's record at @endpoint, made if needed. */
static Record *
ensure_record (EpWitness  *self,
               guint8      endpoint,
               const char *id,
               gint64      now)
{
  Record *record = g_hash_table_lookup (self->records, id);
  Endpoint *at = endpoint_of (self, endpoint);

  if (record != NULL && record->endpoint != endpoint)
    {
      /* What one endpoint did says nothing about the other. */
      remove_record (self, id, LET_GO_EVICTED);
      record = NULL;
    }
  if (record != NULL)
    return record;
  if (g_hash_table_size (self->records) >= EP_WITNESS_MAX_RECORDS)
    evict_oldest (self);
  record = record_new ();
  record->endpoint = endpoint;
  record->confirmed_at = at->confirmed;
  record->wrong_at = at->proven_wrong;
  record->first_us = now;
  g_hash_table_insert (self->records, g_strdup (id), record);
  return record;
}

void
ep_witness_note_refused (EpWitness          *self,
                         guint               endpoint,
                         const char * const *ids,
                         guint               n_ids,
                         gboolean            specific)
{
  Refusal *refusal;
  gint64 now = g_get_real_time ();

  g_return_if_fail (n_ids > 0);
  g_return_if_fail (!specific || n_ids == 1);

  endpoint = endpoint != 0 ? 1 : 0;
  if (n_ids == 1)
    {
      Record *record = ensure_record (self, endpoint, ids[0], now);

      count (&record->refusals);
      count (&record->solo_open);
      if (specific)
        count (&record->specific);
      record->last_us = now;
      self->dirty = TRUE;
      return;
    }
  /* Held by this call too, so that no let-go below frees it (a dead link
   * of a record that lists an event twice, say). */
  refusal = refusal_new (endpoint);
  refusal->ref_count = 1;
  /* Each event first (the records may evict), then the links. */
  for (guint i = 0; i < n_ids; i++)
    {
      Record *record = ensure_record (self, endpoint, ids[i], now);

      count (&record->refusals);
      if (specific)
        count (&record->specific);
      record->last_us = now;
    }
  for (guint i = 0; i < n_ids; i++)
    {
      Record *record = g_hash_table_lookup (self->records, ids[i]);

      if (record == NULL)
        {
          /* Evicted by a later one of @ids (the records dated after now:
           * the wall clock went back): this refusal can never be proven
           * wrong by its confirmation, so count it now. Not through
           * refusal_let_go(): this record holds no reference to it. */
          if (!refusal->dead)
            {
              count_up (&endpoint_of (self, endpoint)->proven_wrong, 1);
              refusal->dead = TRUE;
            }
          continue;
        }
      if (record->links->len >= EP_WITNESS_MAX_LINKS)
        drop_dead_links (self, record);
      if (record->links->len >= EP_WITNESS_MAX_LINKS)
        {
          refusal_let_go (self, g_ptr_array_index (record->links, 0), LET_GO_EVICTED);
          g_ptr_array_remove_index (record->links, 0);
        }
      refusal->ref_count++;
      g_ptr_array_add (record->links, refusal);
    }
  if (--refusal->ref_count == 0)
    g_free (refusal);
  self->dirty = TRUE;
}

gboolean
ep_witness_has_witness_for_testing (EpWitness  *self,
                                    const char *id)
{
  Record *record = g_hash_table_lookup (self->records, id);

  return record != NULL && endpoint_of (self, record->endpoint)->confirmed > record->confirmed_at;
}

gboolean
ep_witness_is_suspect (EpWitness  *self,
                       const char *id,
                       gboolean    witnessed)
{
  Record *record = g_hash_table_lookup (self->records, id);
  Endpoint *at;
  guint64 confirmed, wrong;

  if (record == NULL || record->specific == 0)
    return FALSE;
  at = endpoint_of (self, record->endpoint);
  confirmed = at->confirmed - record->confirmed_at;
  wrong = at->proven_wrong - record->wrong_at;
  return (witnessed || confirmed > 0) && wrong * EP_WITNESS_FALSE_RATIO_DENOM <= confirmed;
}

gboolean
ep_witness_proves_fault (EpWitness  *self,
                         const char *id)
{
  Record *record = g_hash_table_lookup (self->records, id);
  Endpoint *at;
  guint64 confirmed, wrong;

  if (record == NULL || record->specific < EP_WITNESS_MIN_SPECIFIC)
    return FALSE;
  at = endpoint_of (self, record->endpoint);
  confirmed = at->confirmed - record->confirmed_at;
  wrong = at->proven_wrong - record->wrong_at;
  return confirmed >= EP_WITNESS_MIN_CONFIRMED &&
         wrong * EP_WITNESS_FALSE_RATIO_DENOM <= confirmed;
}

guint
ep_witness_get_specific (EpWitness  *self,
                         const char *id)
{
  Record *record = g_hash_table_lookup (self->records, id);

  return record != NULL ? record->specific : 0;
}

void
ep_witness_forget (EpWitness  *self,
                   const char *id)
{
  if (remove_record (self, id, LET_GO_LOST))
    self->dirty = TRUE;
}

guint
ep_witness_get_n_records (EpWitness *self)
{
  return g_hash_table_size (self->records);
}

gboolean
ep_witness_has_records (EpWitness *self)
{
  return g_hash_table_size (self->records) > 0;
}

char *
ep_witness_describe (EpWitness  *self,
                     const char *id)
{
  Record *record = g_hash_table_lookup (self->records, id);
  Endpoint *at;

  if (record == NULL)
    return g_strdup ("never refused");
  at = endpoint_of (self, record->endpoint);
  return g_strdup_printf ("refused %u %s (%u on its own); since the first refusal the consumer "
                          "confirmed %" G_GUINT64_FORMAT " other events and %" G_GUINT64_FORMAT
                          " of its refusals proved wrong",
                          record->refusals, record->refusals == 1 ? "time" : "times",
                          record->specific, at->confirmed - record->confirmed_at,
                          at->proven_wrong - record->wrong_at);
}

GVariant *
ep_witness_save (EpWitness *self)
{
  GVariantBuilder endpoints, refusals, records;
  GHashTableIter iter;
  gpointer key, value;
  guint n_refusals = 0;

  g_variant_builder_init (&endpoints, G_VARIANT_TYPE ("a(tt)"));
  for (guint i = 0; i < G_N_ELEMENTS (self->endpoints); i++)
    g_variant_builder_add (&endpoints, "(tt)", self->endpoints[i].confirmed,
                           self->endpoints[i].proven_wrong);

  /* Open refusals get indexes in the order first met. */
  g_variant_builder_init (&refusals, G_VARIANT_TYPE ("ay"));
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Record *record = value;

      for (guint i = 0; i < record->links->len; i++)
        ((Refusal *) g_ptr_array_index (record->links, i))->index = G_MAXUINT;
    }
  g_variant_builder_init (&records, G_VARIANT_TYPE ("a(syuuuttxxau)"));
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Record *r = value;
      GVariantBuilder links;

      g_variant_builder_init (&links, G_VARIANT_TYPE ("au"));
      for (guint i = 0; i < r->links->len; i++)
        {
          Refusal *refusal = g_ptr_array_index (r->links, i);

          if (refusal->dead)
            continue;   /* can never count: not worth keeping */
          if (refusal->index == G_MAXUINT)
            {
              refusal->index = n_refusals++;
              g_variant_builder_add (&refusals, "y", refusal->endpoint);
            }
          g_variant_builder_add (&links, "u", refusal->index);
        }
      g_variant_builder_add (&records, "(syuuuttxx@au)", (const char *) key, r->endpoint,
                             r->refusals, r->specific, r->solo_open, r->confirmed_at, r->wrong_at,
                             r->first_us, r->last_us, g_variant_builder_end (&links));
    }
  return g_variant_new ("(u@a(tt)@ay@a(syuuuttxxau))", (guint32) STATE_VERSION,
                        g_variant_builder_end (&endpoints), g_variant_builder_end (&refusals),
                        g_variant_builder_end (&records));
}

gboolean
ep_witness_load (EpWitness *self,
                 GBytes    *blob)
{
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GVariant) endpoints = NULL;
  g_autoptr(GVariant) refusal_endpoints = NULL;
  g_autoptr(GVariant) records = NULL;
  g_autoptr(GPtrArray) refusals = NULL;
  EpWitness *loaded;
  gint64 now = g_get_real_time ();
  GVariantIter iter;
  guint32 version;
  gsize n_refusals;
  const guint8 *refusal_at;
  const char *id;
  GVariant *links;
  Record r = { 0 };

  state = g_variant_new_from_bytes (G_VARIANT_TYPE (STATE_TYPE), blob, FALSE);
  if (!g_variant_is_normal_form (state))
    return FALSE;
  g_variant_get (state, "(u@a(tt)@ay@a(syuuuttxxau))", &version, &endpoints, &refusal_endpoints,
                 &records);
  if (version != STATE_VERSION || g_variant_n_children (endpoints) != 2 ||
      g_variant_n_children (records) > EP_WITNESS_MAX_RECORDS)
    return FALSE;

  loaded = ep_witness_new ();
  refusals = g_ptr_array_new ();
  for (guint i = 0; i < 2; i++)
    {
      g_variant_get_child (endpoints, i, "(tt)", &loaded->endpoints[i].confirmed,
                           &loaded->endpoints[i].proven_wrong);
      /* Counts no producer reaches (and their products with
       * EP_WITNESS_FALSE_RATIO_DENOM would wrap). */
      if (loaded->endpoints[i].confirmed > MAX_COUNT || loaded->endpoints[i].proven_wrong > MAX_COUNT)
        goto bad;
    }
  refusal_at = g_variant_get_fixed_array (refusal_endpoints, &n_refusals, 1);
  for (gsize i = 0; i < n_refusals; i++)
    {
      if (refusal_at[i] > 1)
        goto bad;
      g_ptr_array_add (refusals, refusal_new (refusal_at[i]));
    }

  g_variant_iter_init (&iter, records);
  while (g_variant_iter_next (&iter, "(&syuuuttxx@au)", &id, &r.endpoint, &r.refusals, &r.specific,
                              &r.solo_open, &r.confirmed_at, &r.wrong_at, &r.first_us, &r.last_us, &links))
    {
      g_autoptr(GVariant) owned_links = links;
      Endpoint *at;
      Record *record;
      const guint32 *index;
      gsize n_links;

      if (r.endpoint > 1 || *id == '\0' || g_hash_table_contains (loaded->records, id))
        goto bad;
      at = &loaded->endpoints[r.endpoint];
      /* Snapshots ahead of their counters, or more refusals of its own
       * than refusals: not a ledger this code wrote. */
      if (r.confirmed_at > at->confirmed || r.wrong_at > at->proven_wrong || r.specific > r.refusals ||
          r.solo_open > r.refusals || r.refusals == 0)
        goto bad;
      index = g_variant_get_fixed_array (owned_links, &n_links, sizeof (guint32));
      if (n_links > EP_WITNESS_MAX_LINKS)
        goto bad;
      record = record_new ();
      record->endpoint = r.endpoint;
      record->refusals = r.refusals;
      record->specific = r.specific;
      record->solo_open = r.solo_open;
      record->confirmed_at = r.confirmed_at;
      record->wrong_at = r.wrong_at;
      record->first_us = r.first_us;
      record->last_us = r.last_us;
      g_hash_table_insert (loaded->records, g_strdup (id), record);
      for (gsize i = 0; i < n_links; i++)
        {
          Refusal *refusal;

          if (index[i] >= refusals->len)
            goto bad;
          refusal = g_ptr_array_index (refusals, index[i]);
          /* A refusal is of one endpoint, as each event it refused. */
          if (refusal->endpoint != r.endpoint)
            goto bad;
          refusal->ref_count++;
          g_ptr_array_add (record->links, refusal);
        }
    }
  /* A refusal no record links: not a ledger this code wrote. */
  for (guint i = 0; i < refusals->len; i++)
    if (((Refusal *) g_ptr_array_index (refusals, i))->ref_count == 0)
      goto bad;
  /* Old records go (their refusals counted as proven wrong: the safe side). */
  {
    GHashTableIter old;
    gpointer key, value;
    g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func (g_free);

    g_hash_table_iter_init (&old, loaded->records);
    while (g_hash_table_iter_next (&old, &key, &value))
      if (((Record *) value)->last_us < now - EP_WITNESS_MAX_AGE_US)
        g_ptr_array_add (stale, g_strdup (key));
    for (guint i = 0; i < stale->len; i++)
      remove_record (loaded, g_ptr_array_index (stale, i), LET_GO_EVICTED);
  }

  clear_records (self);
  memcpy (self->endpoints, loaded->endpoints, sizeof self->endpoints);
  g_hash_table_unref (self->records);
  self->records = g_steal_pointer (&loaded->records);
  loaded->records = g_hash_table_new (g_str_hash, g_str_equal);
  ep_witness_free (loaded);
  self->dirty = FALSE;
  self->counted = FALSE;
  return TRUE;

bad:
  /* Refusals not linked yet are freed here; linked ones with the records. */
  for (guint i = 0; i < refusals->len; i++)
    if (((Refusal *) g_ptr_array_index (refusals, i))->ref_count == 0)
      g_free (g_ptr_array_index (refusals, i));
  ep_witness_free (loaded);
  return FALSE;
}

gboolean
ep_witness_is_dirty (EpWitness *self)
{
  return self->dirty;
}

gboolean
ep_witness_has_unsaved_counts (EpWitness *self)
{
  return self->dirty || self->counted;
}

void
ep_witness_mark_saved (EpWitness *self)
{
  self->dirty = FALSE;
  self->counted = FALSE;
}
