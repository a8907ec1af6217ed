/* ep-producer-send.c: the calls any thread makes, handed to the send path
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The public API that an application calls from any thread while it runs:
 * send an event, block or unblock a consent category, replace the
 * credentials. Each checks its arguments and hands over to the submitter
 * (ep-submitter.c) or, for consent, to ep-producer-consent.c. Public API:
 * scanned for the GIR with ep-producer.c.
 */
#include "config.h"

#include "ep-producer-internal.h"

/**
 * ep_producer_send_event:
 * @self: an #EpProducer
 * @name: the event type, e.g. `playback_session`
 * @category: the event's consent category
 * @payload: the business data, normally JSON, sent verbatim
 * @headers: (nullable) (element-type utf8 utf8): headers that override or
 *   extend the default headers
 *
 * Sends an event: fire-and-forget, safe to call from any thread, and cheap
 * (a few microseconds; it never waits for the network).
 *
 * A blocked category drops the event before it touches the disk. Otherwise
 * the event gets an id and the default headers, is validated (at most
 * %EP_MAX_EVENT_SIZE bytes, valid UTF-8, XML 1.0 characters only) and is
 * appended to the queue. Every dropped event is counted by reason.
 *
 * Returns: what happened to the event
 */
EpSendResult
ep_producer_send_event (EpProducer        *self,
                        const char        *name,
                        EpConsentCategory  category,
                        const char        *payload,
                        GHashTable        *headers)
{
  return ep_producer_send_event_full (self, name, category, payload, headers, NULL);
}

/**
 * ep_producer_send_event_full:
 * @self: an #EpProducer
 * @name: the event type, e.g. `playback_session`
 * @category: the event's consent category
 * @payload: the business data, normally JSON, sent verbatim
 * @headers: (nullable) (element-type utf8 utf8): headers that override or
 *   extend the default headers
 * @id: (out) (optional) (nullable) (transfer full): the event's id (its SQS
 *   entry `Id`) when it was stored, else %NULL
 *
 * Like ep_producer_send_event(), and also tells the id the event got, to
 * correlate it with what the consumer received.
 *
 * Returns: what happened to the event
 */
EpSendResult
ep_producer_send_event_full (EpProducer        *self,
                             const char        *name,
                             EpConsentCategory  category,
                             const char        *payload,
                             GHashTable        *headers,
                             char             **id)
{
  if (id != NULL)
    *id = NULL;
  g_return_val_if_fail (EP_IS_PRODUCER (self), EP_SEND_RESULT_VALIDATION_FAILED);
  if (!ep_producer_check_initialized (self, G_STRFUNC))
    return EP_SEND_RESULT_STORING_FAILED;
  g_return_val_if_fail (name != NULL, EP_SEND_RESULT_VALIDATION_FAILED);
  g_return_val_if_fail (payload != NULL, EP_SEND_RESULT_VALIDATION_FAILED);
  g_return_val_if_fail (category <= EP_CONSENT_CATEGORY_TARGETING, EP_SEND_RESULT_VALIDATION_FAILED);

  return ep_submitter_submit (self->submitter, name, category, payload, headers, id);
}

/**
 * ep_producer_set_consent_blocked:
 * @self: an #EpProducer
 * @category: a consent category
 * @blocked: whether events of @category are dropped
 *
 * Blocks or unblocks a consent category, effective for the next send on
 * any thread. Blocking a category (again) also deletes the queued events of
 * that category that are not being delivered at that moment, and counts
 * them as consent-filtered; those in flight may complete (a confirmation
 * cannot be taken back), and whatever the reply they are never sent again:
 * if their delivery fails they are deleted too, also if the category was
 * unblocked meanwhile.
 *
 * The revocation is durable when this returns: it is written to a file
 * beside the queue and synced (a few milliseconds on a real disk), so a
 * crash right after it never lets the category's events out after a
 * restart, not even those that were in flight. With
 * [property@Ep.Producer:persist-consent] the new state is saved too.
 *
 * %EP_CONSENT_CATEGORY_PERFORMANCE and %EP_CONSENT_CATEGORY_TARGETING are
 * blocked until the application unblocks them (at every start, unless
 * [property@Ep.Producer:persist-consent] restores the state saved last);
 * %EP_CONSENT_CATEGORY_NECESSARY can never be blocked (asking for it is
 * ignored with a warning).
 *
 * With [property@Ep.Producer:follow-desktop-privacy], GNOME's
 * usage-statistics setting blocks %EP_CONSENT_CATEGORY_PERFORMANCE and
 * %EP_CONSENT_CATEGORY_TARGETING too: unblocking a category here does not
 * unblock it while that setting says no.
 */
void
ep_producer_set_consent_blocked (EpProducer        *self,
                                 EpConsentCategory  category,
                                 gboolean           blocked)
{
  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (category <= EP_CONSENT_CATEGORY_TARGETING);

  if (category == EP_CONSENT_CATEGORY_NECESSARY)
    {
      if (blocked)
        g_warning ("The NECESSARY consent category cannot be blocked; ignored");
      return;
    }
  ep_producer_consent_changed (self, category, blocked);
}

/**
 * ep_producer_get_consent_blocked:
 * @self: an #EpProducer
 * @category: a consent category
 *
 * Tells whether a consent category is blocked: by the application
 * ([method@Ep.Producer.set_consent_blocked]) or by GNOME's usage-statistics
 * setting ([property@Ep.Producer:follow-desktop-privacy]).
 *
 * Returns: whether events of @category are dropped; always %FALSE for
 *   %EP_CONSENT_CATEGORY_NECESSARY
 */
gboolean
ep_producer_get_consent_blocked (EpProducer        *self,
                                 EpConsentCategory  category)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), FALSE);
  g_return_val_if_fail (category <= EP_CONSENT_CATEGORY_TARGETING, FALSE);

  return ep_submitter_get_consent_blocked (self->submitter, category);
}

/**
 * ep_producer_set_credentials:
 * @self: an #EpProducer
 * @credentials: (nullable): the new credentials, or %NULL when logged out
 *
 * Replaces the credentials. Events sent from now on carry the new client id
 * and token; events already stored keep the headers they were stored with.
 * Requests from now on use the new token. Safe to call from any thread;
 * `notify::credentials` is emitted on the producer's main context.
 */
void
ep_producer_set_credentials (EpProducer    *self,
                             EpCredentials *credentials)
{
  gboolean changed;

  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (credentials == NULL || EP_IS_CREDENTIALS (credentials));

  /* One critical section, so stored events and requests never disagree on
   * which credentials are current. */
  g_mutex_lock (&self->credentials_lock);
  changed = ep_submitter_set_credentials (self->submitter, credentials);
  if (changed && self->scheduler != NULL)
    ep_scheduler_set_credentials (self->scheduler, credentials);
  g_mutex_unlock (&self->credentials_lock);

  if (changed)
    ep_producer_call_on_main (self, 0, ep_producer_notify_credentials);
}

/**
 * ep_producer_dup_credentials:
 * @self: an #EpProducer
 *
 * Gets the current credentials.
 *
 * Returns: (transfer full) (nullable): the current credentials
 */
EpCredentials *
ep_producer_dup_credentials (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  return ep_submitter_dup_credentials (self->submitter);
}
