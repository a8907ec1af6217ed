/* test-witness.c: the refusal ledger's edges (ep-witness-private.h): a full
 * ledger, a wall clock that went back, counts at their limits, files it
 * must refuse, and the same verdicts whether the producer restarted or not
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The rule itself, and delivery behind flaky consumers, are in
 * test-delivery-witness.c; arbitrary files in tests/fuzz/fuzz-witness.c.
 */
#include "config.h"

#include <string.h>

#include "ep-witness-private.h"
#include "ep-test-util.h"

#define STATE_TYPE "(ua(tt)aya(syuuuttxxau))"
/* 2100-01-01: records dated after any test's "now". */
#define AHEAD_US G_GINT64_CONSTANT (4102444800000000)

#define P(id) ((const char * const[]) { id })

typedef struct {
  const char *id;
  guint8      endpoint;
  guint32     refusals, specific, solo_open;
  guint64     confirmed_at, wrong_at;
  gint64      first_us, last_us;
  guint32     links[EP_WITNESS_MAX_LINKS];   /* refusals 0.. (of endpoint 0) */
  guint       n_links;
} TestRecord;

/* A ledger file: @n_records records (@make fills the i-th, and may link
 * it to the refusals 0..EP_WITNESS_MAX_LINKS-1, all of endpoint 0; each
 * must be linked), the endpoints' counts as given. */
static GBytes *
ledger_blob (guint64   confirmed,
             guint64   proven_wrong,
             guint     n_records,
             void    (*make) (guint i, TestRecord *record, char *id))
{
  GVariantBuilder endpoints, records;
  g_autoptr(GVariant) state = NULL;
  static const guint8 no_endpoints[EP_WITNESS_MAX_LINKS] = { 0 };
  gsize n_refusals = 0;
  char id[32];

  g_variant_builder_init (&endpoints, G_VARIANT_TYPE ("a(tt)"));
  g_variant_builder_add (&endpoints, "(tt)", confirmed, proven_wrong);
  g_variant_builder_add (&endpoints, "(tt)", (guint64) 0, (guint64) 0);
  g_variant_builder_init (&records, G_VARIANT_TYPE ("a(syuuuttxxau)"));
  for (guint i = 0; i < n_records; i++)
    {
      TestRecord r = { id, 0, 1, 0, 1, 0, 0, AHEAD_US, AHEAD_US };

      g_snprintf (id, sizeof id, "old%u", i);
      if (make != NULL)
        make (i, &r, id);
      g_variant_builder_add (&records, "(syuuuttxx@au)", r.id, r.endpoint, r.refusals, r.specific,
                             r.solo_open, r.confirmed_at, r.wrong_at, r.first_us, r.last_us,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, r.links, r.n_links,
                                                        sizeof (guint32)));
      n_refusals = MAX (n_refusals, r.n_links);
    }
  state = g_variant_ref_sink (g_variant_new ("(u@a(tt)@aya(syuuuttxxau))", 1u,
                                             g_variant_builder_end (&endpoints),
                                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, no_endpoints,
                                                                        n_refusals, 1),
                                             &records));
  return g_variant_get_data_as_bytes (state);
}

static GBytes *
save (EpWitness *witness)
{
  g_autoptr(GVariant) state = g_variant_ref_sink (ep_witness_save (witness));

  return g_variant_get_data_as_bytes (state);
}

static EpWitness *
restarted (EpWitness *witness)
{
  g_autoptr(GBytes) blob = save (witness);
  EpWitness *copy = ep_witness_new ();

  g_assert_true (ep_witness_load (copy, blob));
  return copy;
}

static void
assert_same_description (EpWitness  *a,
                         EpWitness  *b,
                         const char *id)
{
  g_autofree char *describe_a = ep_witness_describe (a, id);
  g_autofree char *describe_b = ep_witness_describe (b, id);

  g_assert_cmpstr (describe_a, ==, describe_b);
}

/* A full ledger, its records dated after now (the wall clock went back, or
 * the file came from a machine ahead): a request of two new events refused
 * together evicts the first one's new record to make room for the second.
 * The refusal was freed while the second record still had to link it (a
 * use after free, then a double free when that record let go of it). */
static void
test_full_ledger_clock_went_back (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(GBytes) blob = ledger_blob (10, 0, EP_WITNESS_MAX_RECORDS, NULL);
  const char *pair[] = { "new1", "new2" };
  const char *trio[] = { "new3", "new4", "new5" };
  g_autoptr(GBytes) saved = NULL;
  g_autofree char *described = NULL;

  g_assert_true (ep_witness_load (witness, blob));
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, EP_WITNESS_MAX_RECORDS);
  ep_witness_note_refused (witness, 0, pair, 2, FALSE);
  ep_witness_note_refused (witness, 0, trio, 3, FALSE);
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, EP_WITNESS_MAX_RECORDS);
  /* Each new record but the last was evicted by the next one. */
  g_assert_cmpuint (ep_witness_get_specific (witness, "new1"), ==, 0);
  described = ep_witness_describe (witness, "new5");
  g_assert_nonnull (strstr (described, "refused 1 time"));
  /* The survivors' confirmations let go of the refusals they linked. */
  ep_witness_note_confirmed (witness, 0, "new2");
  ep_witness_note_confirmed (witness, 0, "new5");
  saved = save (witness);
  g_assert_true (ep_witness_load (witness, saved));
}

/* "dup" refused EP_WITNESS_MAX_LINKS times, each time with one of
 * o0..o15; the rest fill the ledger. All dated ahead. */
static void
dup_full_of_links (guint       i,
                   TestRecord *record,
                   char       *id)
{
  if (i == 0)
    {
      record->id = "dup";
      record->refusals = EP_WITNESS_MAX_LINKS;
      record->solo_open = 0;
      for (guint j = 0; j < EP_WITNESS_MAX_LINKS; j++)
        record->links[j] = j;
      record->n_links = EP_WITNESS_MAX_LINKS;
    }
  else if (i <= EP_WITNESS_MAX_LINKS)
    {
      g_snprintf (id, 32, "o%u", i - 1);
      record->solo_open = 0;
      record->links[0] = i - 1;
      record->n_links = 1;
    }
}

/* The same, with an event twice in the request (BatchEntryIdsNotDistinct
 * exists: the queue can hold two copies): the refusal, counted at once
 * because the first new record was evicted, was let go of as a dead link
 * of "dup" while the second copy was being linked, and freed under it. */
static void
test_full_ledger_duplicate_ids (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(GBytes) blob = ledger_blob (10, 0, EP_WITNESS_MAX_RECORDS, dup_full_of_links);
  const char *ids[] = { "new1", "dup", "dup", "new2" };
  g_autoptr(GBytes) saved = NULL;

  g_assert_true (ep_witness_load (witness, blob));
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, EP_WITNESS_MAX_RECORDS);
  ep_witness_note_refused (witness, 0, ids, G_N_ELEMENTS (ids), FALSE);
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, EP_WITNESS_MAX_RECORDS);
  ep_witness_note_confirmed (witness, 0, "dup");
  ep_witness_note_confirmed (witness, 0, "new2");
  saved = save (witness);
  g_assert_true (ep_witness_load (witness, saved));
}

static void
dated_last (guint       i,
            TestRecord *record,
            char       *id)
{
  record->first_us = record->last_us = G_MAXINT64;
}

/* Records dated G_MAXINT64 (a file's dates): the oldest one is still
 * found, and the ledger stays bounded (it grew past its bound). */
static void
test_full_ledger_dated_last (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(GBytes) blob = ledger_blob (10, 0, EP_WITNESS_MAX_RECORDS, dated_last);

  g_assert_true (ep_witness_load (witness, blob));
  ep_witness_note_refused (witness, 0, P ("new"), 1, TRUE);
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, EP_WITNESS_MAX_RECORDS);
  g_assert_cmpuint (ep_witness_get_specific (witness, "new"), ==, 1);
}

static void
many_refusals (guint       i,
               TestRecord *record,
               char       *id)
{
  record->refusals = G_MAXUINT32;
  record->specific = G_MAXUINT32 - 1;
  record->solo_open = G_MAXUINT32;
  record->confirmed_at = G_GUINT64_CONSTANT (1) << 53;
  record->last_us = G_MININT64;   /* now - last_us overflowed */
  record->first_us = AHEAD_US;
  if (i == 0)
    {
      /* kept: dated ahead */
      record->last_us = AHEAD_US;
      record->first_us = G_MININT64;
    }
}

/* Counts at their limits (a file may hold them): they stop there, and what
 * is saved loads back (a wrapped count made a save the next start refused:
 * the evidence was lost). */
static void
test_counts_at_limits (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(EpWitness) copy = NULL;
  g_autoptr(GBytes) blob = ledger_blob (G_GUINT64_CONSTANT (1) << 53, G_GUINT64_CONSTANT (1) << 53,
                                        2, many_refusals);

  g_assert_true (ep_witness_load (witness, blob));
  /* The record dated G_MININT64 is older than 30 days: gone. */
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, 1);
  ep_witness_note_refused (witness, 0, P ("old0"), 1, TRUE);
  ep_witness_note_refused (witness, 0, P ("old0"), 1, TRUE);
  ep_witness_note_confirmed (witness, 0, "someone");
  g_assert_cmpuint (ep_witness_get_specific (witness, "old0"), ==, G_MAXUINT32);
  copy = restarted (witness);
  assert_same_description (witness, copy, "old0");
  /* Evicting it adds G_MAXUINT32 refusals proven wrong to a count at its
   * bound. */
  ep_witness_note_refused (copy, 1, P ("old0"), 1, TRUE);
  ep_witness_free (restarted (copy));

  /* Counts past the bound, or a record whose snapshot is ahead of its
   * endpoint's count, are no ledger this code wrote. */
  {
    g_autoptr(GBytes) past = ledger_blob (G_MAXUINT64, 0, 1, NULL);

    g_assert_false (ep_witness_load (witness, past));
    g_assert_cmpuint (ep_witness_get_specific (witness, "old0"), ==, G_MAXUINT32);
  }
}

/* Files the loader must refuse, leaving the ledger as it was: more records
 * than the ledger keeps (a hundred thousand took minutes: each one over the
 * bound scanned every record), a record never refused, a refusal linked
 * from a record of the other endpoint. */
static void
never_refused (guint       i,
               TestRecord *record,
               char       *id)
{
  record->refusals = record->solo_open = 0;
}

static void
test_refused_files (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(GBytes) too_many = ledger_blob (10, 0, EP_WITNESS_MAX_RECORDS + 1, NULL);
  g_autoptr(GBytes) zero = ledger_blob (10, 0, 1, never_refused);
  g_autoptr(GVariant) cross = NULL;
  g_autoptr(GBytes) cross_blob = NULL;

  ep_witness_note_refused (witness, 0, P ("mine"), 1, TRUE);
  g_assert_false (ep_witness_load (witness, too_many));
  g_assert_false (ep_witness_load (witness, zero));
  cross = g_variant_ref_sink (g_variant_new_parsed (
    "(uint32 1, [(uint64 3, uint64 0), (0, 0)], [byte 1], "
    "[('a', byte 0, uint32 1, uint32 0, uint32 0, uint64 0, uint64 0, int64 4102444800000000, "
    "int64 4102444800000000, [uint32 0])])"));
  g_assert_true (g_variant_is_of_type (cross, G_VARIANT_TYPE (STATE_TYPE)));
  cross_blob = g_variant_get_data_as_bytes (cross);
  g_assert_false (ep_witness_load (witness, cross_blob));
  g_assert_cmpuint (ep_witness_get_n_records (witness), ==, 1);
  g_assert_cmpuint (ep_witness_get_specific (witness, "mine"), ==, 1);
}

/* A refusal that can never count (an event of it left unconfirmed) is not
 * saved; while it ran, the ledger kept it among an event's
 * EP_WITNESS_MAX_LINKS refusals, so a new refusal let go of a live one
 * (counted as proven wrong) where the restarted ledger let go of none:
 * the two disagreed about every suspect. */
static void
test_restart_same_verdicts (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(EpWitness) copy = NULL;
  char other[16];

  ep_witness_note_refused (witness, 0, P ("suspect"), 1, TRUE);
  ep_witness_note_confirmed (witness, 0, "x");
  /* "h" refused EP_WITNESS_MAX_LINKS times with one other event each. */
  for (guint i = 0; i < EP_WITNESS_MAX_LINKS; i++)
    {
      const char *pair[] = { "h", other };

      g_snprintf (other, sizeof other, "o%u", i);
      ep_witness_note_refused (witness, 0, pair, 2, FALSE);
    }
  /* One of the others left unconfirmed (dropped, purged): that refusal
   * can never be proven wrong. */
  ep_witness_forget (witness, "o5");
  copy = restarted (witness);
  assert_same_description (witness, copy, "suspect");
  /* One more refusal of "h", in both. */
  {
    const char *pair[] = { "h", "o99" };

    ep_witness_note_refused (witness, 0, pair, 2, FALSE);
    ep_witness_note_refused (copy, 0, pair, 2, FALSE);
  }
  assert_same_description (witness, copy, "suspect");
  assert_same_description (witness, copy, "h");
  /* And "h" confirmed: its refusals whose other event was confirmed too
   * are proven wrong, the same ones in both. */
  for (guint i = 0; i < EP_WITNESS_MAX_LINKS; i++)
    {
      g_snprintf (other, sizeof other, "o%u", i);
      ep_witness_note_confirmed (witness, 0, other);
      ep_witness_note_confirmed (copy, 0, other);
    }
  ep_witness_note_confirmed (witness, 0, "h");
  ep_witness_note_confirmed (copy, 0, "h");
  assert_same_description (witness, copy, "suspect");
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/witness/ledger/full-clock-went-back", test_full_ledger_clock_went_back);
  g_test_add_func ("/ep/witness/ledger/full-duplicate-ids", test_full_ledger_duplicate_ids);
  g_test_add_func ("/ep/witness/ledger/full-dated-last", test_full_ledger_dated_last);
  g_test_add_func ("/ep/witness/ledger/counts-at-limits", test_counts_at_limits);
  g_test_add_func ("/ep/witness/ledger/refused-files", test_refused_files);
  g_test_add_func ("/ep/witness/ledger/restart-same-verdicts", test_restart_same_verdicts);

  return g_test_run ();
}
