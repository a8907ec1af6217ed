/* ep-error.c: the EP_ERROR domain
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-error.h"

/**
 * ep_error_quark:
 *
 * The error domain of ep-glib's errors, %EP_ERROR.
 *
 * Returns: the quark of the %EP_ERROR domain
 */
G_DEFINE_QUARK (ep-error-quark, ep_error)
