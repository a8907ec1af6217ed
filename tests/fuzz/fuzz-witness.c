/* fuzz-witness.c: libFuzzer target for the refusal ledger's file (witness.gvariant)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: u8 N, N bytes of operations, then the bytes of a ledger as
 * ep_witness_save() writes it (the file beside the queue). The target
 * first fills a ledger with records and shared refusals, then loads the
 * input into it:
 *   - a blob ep_witness_load() refuses leaves that ledger exactly as it
 *     was (same state, same dirty flags);
 *   - a blob it takes gives a ledger within the limits the code keeps
 *     (EP_WITNESS_MAX_RECORDS, EP_WITNESS_MAX_LINKS) that saves and loads
 *     back to the same state, with the same verdicts for every event;
 *   - the operations (refusals alone and shared, confirmations, forgets,
 *     runs of confirmations) then run on the loaded ledger, and on the one
 *     loaded from its save, and both give the same verdicts after each
 *     one; now and then that copy restarts (is loaded again from a save
 *     of the first) and goes on: a ledger behaves the same whether the
 *     producer restarted or not. A last save and load gives them too.
 * ASan, UBSan and LeakSanitizer watch every path, refusals freed on a
 * failed load halfway included. The seeds (tests/fuzz/make-corpus.py) are
 * valid ledgers with records and refusals shared between events.
 */
#include "config.h"

#include <string.h>

#include "ep-witness-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

#define N_FRESH 4
#define MAX_IDS 12

static gint
compare_records (gconstpointer a,
                 gconstpointer b)
{
  g_autoptr(GVariant) id_a = g_variant_get_child_value (*(GVariant **) a, 0);
  g_autoptr(GVariant) id_b = g_variant_get_child_value (*(GVariant **) b, 0);

  return strcmp (g_variant_get_string (id_a, NULL), g_variant_get_string (id_b, NULL));
}

/* The saved state with its refusals numbered in a canonical order (records
 * sorted by id, refusals by first link), so that two saves of the same
 * ledger compare equal whatever their hash tables' order; without
 * @times, the records' wall-clock times are left out (two ledgers given
 * the same operations a few µs apart). */
static GVariant *
canonical (GVariant *state,
           gboolean  times)
{
  g_autoptr(GVariant) endpoints = g_variant_get_child_value (state, 1);
  g_autoptr(GVariant) refusals = g_variant_get_child_value (state, 2);
  g_autoptr(GVariant) records = g_variant_get_child_value (state, 3);
  gsize n_records = g_variant_n_children (records);
  gsize n_refusals = 0;
  const guint8 *refusal_at = g_variant_get_fixed_array (refusals, &n_refusals, 1);
  g_autofree guint32 *renumber = g_new (guint32, n_refusals + 1);
  g_autoptr(GPtrArray) sorted = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GVariantBuilder new_refusals, new_records;
  guint32 next = 0;

  for (gsize i = 0; i < n_refusals; i++)
    renumber[i] = G_MAXUINT32;
  for (gsize i = 0; i < n_records; i++)
    g_ptr_array_add (sorted, g_variant_get_child_value (records, i));
  /* ids are unique (the loader refuses duplicates) */
  g_ptr_array_sort (sorted, compare_records);
  g_variant_builder_init (&new_refusals, G_VARIANT_TYPE ("ay"));
  g_variant_builder_init (&new_records, G_VARIANT_TYPE ("a(syuuuttxxau)"));
  for (guint i = 0; i < sorted->len; i++)
    {
      GVariant *record = g_ptr_array_index (sorted, i);
      g_autoptr(GVariant) links = g_variant_get_child_value (record, 9);
      gsize n_links;
      const guint32 *index = g_variant_get_fixed_array (links, &n_links, sizeof (guint32));
      GVariantBuilder new_links;
      GVariant *fields[10];

      g_variant_builder_init (&new_links, G_VARIANT_TYPE ("au"));
      for (gsize j = 0; j < n_links; j++)
        {
          g_assert_cmpuint (index[j], <, n_refusals);
          if (renumber[index[j]] == G_MAXUINT32)
            {
              renumber[index[j]] = next++;
              g_variant_builder_add (&new_refusals, "y", refusal_at[index[j]]);
            }
          g_variant_builder_add (&new_links, "u", renumber[index[j]]);
        }
      for (guint f = 0; f < 9; f++)
        fields[f] = g_variant_get_child_value (record, f);
      for (guint f = 7; !times && f < 9; f++)
        {
          g_variant_unref (fields[f]);
          fields[f] = g_variant_ref_sink (g_variant_new_int64 (0));
        }
      fields[9] = g_variant_builder_end (&new_links);
      g_variant_builder_add_value (&new_records, g_variant_new_tuple (fields, 10));
      for (guint f = 0; f < 9; f++)
        g_variant_unref (fields[f]);
    }
  /* every refusal saved is linked */
  g_assert_cmpuint (next, ==, n_refusals);
  return g_variant_ref_sink (g_variant_new ("(u@a(tt)@ay@a(syuuuttxxau))", 1u, endpoints,
                                            g_variant_builder_end (&new_refusals),
                                            g_variant_builder_end (&new_records)));
}

static GVariant *
save_canonical (EpWitness *witness,
                gboolean   times)
{
  g_autoptr(GVariant) state = g_variant_ref_sink (ep_witness_save (witness));

  return canonical (state, times);
}

static GBytes *
save_bytes (EpWitness *witness)
{
  g_autoptr(GVariant) state = g_variant_ref_sink (ep_witness_save (witness));

  return g_variant_get_data_as_bytes (state);
}

/* Everything a caller can ask about @id agrees in @a and @b. */
static void
assert_same_verdicts (EpWitness  *a,
                      EpWitness  *b,
                      const char *id)
{
  g_autofree char *describe_a = ep_witness_describe (a, id);
  g_autofree char *describe_b = ep_witness_describe (b, id);

  g_assert_cmpint (ep_witness_is_suspect (a, id, FALSE), ==, ep_witness_is_suspect (b, id, FALSE));
  g_assert_cmpint (ep_witness_is_suspect (a, id, TRUE), ==, ep_witness_is_suspect (b, id, TRUE));
  g_assert_cmpint (ep_witness_proves_fault (a, id), ==, ep_witness_proves_fault (b, id));
  g_assert_cmpint (ep_witness_has_witness_for_testing (a, id),
                   ==, ep_witness_has_witness_for_testing (b, id));
  g_assert_cmpuint (ep_witness_get_specific (a, id), ==, ep_witness_get_specific (b, id));
  g_assert_cmpstr (describe_a, ==, describe_b);
}

static void
assert_same (EpWitness *a,
             EpWitness *b,
             GPtrArray *ids,
             gboolean   times)
{
  g_autoptr(GVariant) state_a = save_canonical (a, times);
  g_autoptr(GVariant) state_b = save_canonical (b, times);

  g_assert_cmpuint (ep_witness_get_n_records (a), ==, ep_witness_get_n_records (b));
  if (!g_variant_equal (state_a, state_b))
    {
      g_autofree char *text_a = g_variant_print (state_a, FALSE);
      g_autofree char *text_b = g_variant_print (state_b, FALSE);

      g_error ("the states differ:\n%s\n%s", text_a, text_b);
    }
  for (guint i = 0; i < ids->len; i++)
    assert_same_verdicts (a, b, g_ptr_array_index (ids, i));
}

/* What the code keeps, whatever it loaded. */
static void
assert_bounded (EpWitness *witness)
{
  g_autoptr(GVariant) state = g_variant_ref_sink (ep_witness_save (witness));
  g_autoptr(GVariant) records = g_variant_get_child_value (state, 3);
  GVariantIter iter;
  GVariant *record;

  g_assert_cmpuint (g_variant_n_children (records), <=, EP_WITNESS_MAX_RECORDS);
  g_variant_iter_init (&iter, records);
  while ((record = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) links = g_variant_get_child_value (record, 9);

      g_assert_cmpuint (g_variant_n_children (links), <=, EP_WITNESS_MAX_LINKS);
      g_variant_unref (record);
    }
}

/* A save, then a load into a fresh ledger: the same state and verdicts. */
static EpWitness *
round_trip (EpWitness *witness,
            GPtrArray *ids)
{
  g_autoptr(GBytes) blob = save_bytes (witness);
  EpWitness *copy = ep_witness_new ();

  g_assert_true (ep_witness_load (copy, blob));
  g_assert_false (ep_witness_is_dirty (copy));
  assert_same (witness, copy, ids, TRUE);
  return copy;
}

/* A ledger with records and shared refusals, as a drain behind a flaky
 * consumer leaves it. */
static void
fill (EpWitness *witness)
{
  const char *ab[] = { "a", "b" };
  const char *bcd[] = { "b", "c", "d" };

  ep_witness_note_confirmed (witness, 0, "x");
  ep_witness_note_refused (witness, 0, ab, 2, FALSE);
  ep_witness_note_refused (witness, 0, bcd, 3, FALSE);
  ep_witness_note_refused (witness, 0, ab, 1, TRUE);
  ep_witness_note_refused (witness, 1, bcd + 2, 1, TRUE);
  ep_witness_note_confirmed (witness, 0, "c");
  ep_witness_note_confirmed (witness, 1, "y");
}

static const char *
pick (GPtrArray   *ids,
      guint8       op)
{
  return g_ptr_array_index (ids, (op >> 4) % ids->len);
}

static void
apply (EpWitness *witness,
       guint8     op,
       GPtrArray *ids)
{
  guint endpoint = (op >> 3) & 1;
  const char *group[3];

  switch (op & 7)
    {
    case 0:
      ep_witness_note_confirmed (witness, endpoint, pick (ids, op));
      break;
    case 1:
    case 2:
      {
        const char *id = pick (ids, op);

        ep_witness_note_refused (witness, endpoint, &id, 1, (op & 7) == 1);
      }
      break;
    case 3:
    case 4:
      for (guint i = 0; i < 1 + (op & 7) - 2; i++)
        group[i] = g_ptr_array_index (ids, ((op >> 4) + i * 5) % ids->len);
      ep_witness_note_refused (witness, endpoint, group, 1 + (op & 7) - 2, FALSE);
      break;
    case 5:
      ep_witness_forget (witness, pick (ids, op));
      break;
    case 6:
      /* enough confirmations of others for the rule */
      for (guint i = 0; i < EP_WITNESS_MIN_CONFIRMED; i++)
        ep_witness_note_confirmed (witness, endpoint, "someone else");
      break;
    default:
      ep_witness_mark_saved (witness);
      break;
    }
}

/* Operation 7 with bit 3 set: a restart (a save and a load). */
static gboolean
is_restart (guint8 op)
{
  return (op & 0xf) == 0xf;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();
  g_autoptr(EpWitness) copy = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) before = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GVariant) records = NULL;
  g_autoptr(GBytes) blob = NULL;
  const guint8 *ops;
  gsize n_ops;
  gboolean dirty, counted;

  if (size < 1 || (gsize) data[0] + 1 > size)
    return 0;
  n_ops = data[0];
  ops = data + 1;
  blob = g_bytes_new (data + 1 + n_ops, size - 1 - n_ops);

  fill (witness);
  before = save_canonical (witness, TRUE);
  dirty = ep_witness_is_dirty (witness);
  counted = ep_witness_has_unsaved_counts (witness);
  if (!ep_witness_load (witness, blob))
    {
      g_autoptr(GVariant) after = save_canonical (witness, TRUE);

      g_assert_true (g_variant_equal (before, after));
      g_assert_cmpint (dirty, ==, ep_witness_is_dirty (witness));
      g_assert_cmpint (counted, ==, ep_witness_has_unsaved_counts (witness));
      return 0;
    }
  g_assert_false (ep_witness_is_dirty (witness));
  g_assert_false (ep_witness_has_unsaved_counts (witness));
  assert_bounded (witness);

  /* The events it knows (a few), events it does not, and one of fill()'s. */
  state = g_variant_ref_sink (ep_witness_save (witness));
  records = g_variant_get_child_value (state, 3);
  for (gsize i = 0; i < g_variant_n_children (records) && ids->len < MAX_IDS - N_FRESH - 1; i++)
    {
      const char *id;

      g_variant_get_child (records, i, "(&syuuuttxxau)", &id, NULL, NULL, NULL, NULL, NULL, NULL,
                           NULL, NULL, NULL);
      g_ptr_array_add (ids, g_strdup (id));
    }
  for (guint i = 0; i < N_FRESH; i++)
    g_ptr_array_add (ids, g_strdup_printf ("fresh-%u", i));
  g_ptr_array_add (ids, g_strdup ("b"));

  copy = round_trip (witness, ids);
  for (gsize i = 0; i < n_ops; i++)
    {
      apply (witness, ops[i], ids);
      if (is_restart (ops[i]))
        {
          /* The copy restarts: it goes on from what was saved. */
          ep_witness_free (copy);
          copy = round_trip (witness, ids);
        }
      else
        apply (copy, ops[i], ids);
      assert_same (witness, copy, ids, FALSE);
    }
  assert_bounded (witness);
  ep_witness_free (round_trip (witness, ids));
  return 0;
}
