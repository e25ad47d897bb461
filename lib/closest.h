/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "Did you mean": the known word nearest to a mistyped one (vbusctl verbs and options, drivers). */
#pragma once

#include <stddef.h>

/*
 * The word of CANDS (N of them; NULL entries are skipped) nearest to WORD: the one at the
 * smallest edit distance (insertions, deletions, substitutions and swaps of two neighbours count
 * one each), when that distance is at most 1 for words of up to 4 characters and at most 2 for
 * longer ones, or else the only candidate WORD is a prefix of (at least 3 characters). NULL when
 * none is near enough, or when WORD itself is one of CANDS.
 */
const char *vbus_closest(const char *word, const char *const *cands, size_t n);
