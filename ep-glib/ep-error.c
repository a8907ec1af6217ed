/* ep-error.c: the EP_ERROR domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-error.h"

G_DEFINE_QUARK (ep-error-quark, ep_error)
